"""The Magi ViT-MAE crop encoder (model spec §2.3.3, §10 items 3–5).

:class:`MagiEncoder` wraps ``ViTMAEModel`` → CLS after the final LayerNorm, with the MAE random masking made
reproducible (noise drawn from a caller-provided generator) or switched off. :func:`normalize_magi_keys` reads the
released checkpoint in either transformers key layout; :func:`build_vit_mae_config` reads its config.

Shape legend: b images, p patches, c_magi feature width (768 for the released model).

transformers is imported lazily (inside functions), so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import InputShapeError, WeightsError
from .character_images import check_image_batch, magi_preprocess, size_pair, to_grayscale_rgb
from .resampler import load_strict
from .weights_file import load_state_dict_file, read_json_object

if TYPE_CHECKING:
    from transformers import ViTMAEConfig, ViTMAEModel

logger = logging.getLogger("diffsensei")

MAGI_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


# --------------------------------------------------------------------------------------------------
# ViT-MAE key names

# transformers ≥ 5 names the ViT-MAE encoder parameters differently from the checkpoints written by
# earlier versions (the released Magi encoder among them). Both directions, applied in order.
_NAME_PAIRS = (  # (legacy fragment, current fragment); dots are literal, layer numbers are kept
    ("encoder.layer.", "layers."),
    (".attention.attention.query.", ".attention.q_proj."),
    (".attention.attention.key.", ".attention.k_proj."),
    (".attention.attention.value.", ".attention.v_proj."),
    (".attention.output.dense.", ".attention.o_proj."),
    (".intermediate.dense.", ".mlp.fc1."),
    (".output.dense.", ".mlp.fc2."),
)


def _rules(pairs) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each fragment as a regex; a fragment starting with a word is anchored at the key's start."""
    return tuple(
        (re.compile(("^" if source[0] != "." else "") + re.escape(source)), target) for source, target in pairs
    )


_LEGACY_TO_CURRENT = _rules(_NAME_PAIRS)
_CURRENT_TO_LEGACY = _rules((current, legacy) for legacy, current in _NAME_PAIRS)


def _rename(key: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    for pattern, replacement in rules:
        key = pattern.sub(replacement, key)
    return key


def normalize_magi_keys(
    state_dict: Mapping[str, torch.Tensor], *, legacy_names: bool = False, source: str = "magi_image_encoder"
) -> dict[str, torch.Tensor]:
    """Map a ViT-MAE checkpoint's keys onto ``ViTMAEModel``'s parameter names.

    Strips a ``vit.`` prefix (``ViTMAEForPreTraining`` checkpoints), drops ``decoder.*`` keys (the MAE
    pixel decoder, unused for features; their count is logged), and renames between the legacy layout
    (``encoder.layer.{i}.attention.attention.query``, written by transformers < 5) and the current one
    (``layers.{i}.attention.q_proj``). ``legacy_names`` selects the target layout: the one the installed
    transformers' ``ViTMAEModel`` uses.
    """
    dropped = 0
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        name = key.removeprefix("vit.")
        if name.startswith("decoder."):
            dropped += 1
            continue
        name = _rename(name, _LEGACY_TO_CURRENT)
        if legacy_names:
            name = _rename(name, _CURRENT_TO_LEGACY)
        if name in out:
            raise WeightsError(
                f"{source}: two keys map to the same parameter {name!r} (the second is {key!r}); expected one "
                "tensor per parameter. The file mixes two checkpoints — use the released file unchanged."
            )
        out[name] = tensor
    if dropped:
        logger.info("%s: dropped %d MAE decoder tensors (decoder.*), not used for features", source, dropped)
    return out


# --------------------------------------------------------------------------------------------------
# config


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise WeightsError(
            f"{path}: config.json is missing; expected the ViT-MAE config beside the weights. Download "
            "image_generator/magi_image_encoder/config.json from the DiffSensei release into this folder."
        )
    return read_json_object(path, what="the ViT-MAE config", fix="re-download config.json.")


def build_vit_mae_config(raw: Mapping[str, Any], *, source: str = "config.json") -> ViTMAEConfig:
    """``ViTMAEConfig`` from a config dict, for both the ``ViTMAEModel`` and ``ViTMAEForPreTraining`` styles.

    ``architectures`` is ignored (the encoder alone is built either way); decoder fields are kept but unused.
    """
    from transformers import ViTMAEConfig

    values = dict(raw)
    values.pop("architectures", None)
    model_type = values.pop("model_type", "vit_mae")
    if model_type != "vit_mae":
        raise WeightsError(
            f"{source}: model_type is {model_type!r}; expected 'vit_mae' (the Magi crop encoder is a ViT-MAE). "
            "Point the loader at image_generator/magi_image_encoder."
        )
    try:
        return ViTMAEConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise WeightsError(
            f"{source}: not a valid ViT-MAE config ({error}). Re-download magi_image_encoder/config.json."
        ) from error


# --------------------------------------------------------------------------------------------------
# the encoder


class MagiEncoder(nn.Module):
    """The Magi crop encoder: a ``transformers.ViTMAEModel``; features = CLS after the final LayerNorm.

    ``forward(pixel_values)`` with pixel_values (b, 3, H, W) from :func:`magi_preprocess` returns (b, c_magi)
    (768 for the released model).

    MAE random masking: ``ViTMAEModel`` always keeps only ``int(p·(1 − mask_ratio))`` randomly chosen
    patches (p = 196, mask_ratio 0.75 in the released config ⇒ 49 patches), in training and inference
    alike, and the reference never seeds it (spec §2.3.3, §10.4). Here:

    * ``masking=True`` keeps the trained behaviour but draws the masking noise (b, p) from ``generator``
      (the caller seeds it from the panel seed): same seed ⇒ same features. Row i of the noise does not
      depend on the batch size. Without a generator the global torch RNG is used, as in the reference.
    * ``masking=False`` keeps every patch (mask_ratio 0) in their original order: deterministic without a
      generator. This is a deviation from how the model was trained.
    """

    def __init__(self, model: ViTMAEModel):
        super().__init__()
        self.model = model
        self.mask_ratio = float(model.config.mask_ratio)

    # ---- sizes

    @property
    def image_size(self) -> tuple[int, int]:
        return size_pair(self.model.config.image_size)

    @property
    def num_patches(self) -> int:
        return int(self.model.embeddings.patch_embeddings.num_patches)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return self.model.embeddings.cls_token.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.embeddings.cls_token.dtype

    # ---- loading

    @classmethod
    def from_state_dict(
        cls,
        config: Mapping[str, Any],
        state_dict: Mapping[str, torch.Tensor],
        *,
        dtype: torch.dtype = torch.float32,
        source: str = "magi_image_encoder",
    ) -> MagiEncoder:
        """Build from a config dict (``config.json`` contents) and a state dict, loading strictly.

        Keys may carry a ``vit.`` prefix, include ``decoder.*`` tensors and use either transformers key
        layout (see :func:`normalize_magi_keys`); anything else missing or unexpected raises
        :class:`WeightsError` naming ``source`` and the first offending keys.
        """
        from transformers import ViTMAEModel

        vit_config = build_vit_mae_config(config, source=source)
        with torch.device("meta"):
            model = ViTMAEModel(vit_config)
        legacy_names = any(key.startswith("encoder.layer.") for key in model.state_dict())
        weights = normalize_magi_keys(state_dict, legacy_names=legacy_names, source=source)
        weights = {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}
        load_strict(model, weights, source)
        model.eval().requires_grad_(False)
        return cls(model)

    @classmethod
    def from_folder(cls, folder: str | Path, dtype: torch.dtype = torch.float32) -> MagiEncoder:
        """Load ``config.json`` + ``model.safetensors`` or ``pytorch_model.bin`` from a folder, on CPU.

        Accepts the released ``image_generator/magi_image_encoder`` folder in any of its published forms
        (spec §1.2): ``ViTMAEModel``-style or ``ViTMAEForPreTraining``-style config, weights with or without
        a ``vit.`` prefix and decoder tensors.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise WeightsError(
                f"{folder}: the Magi encoder folder does not exist; expected a folder with config.json and "
                f"one of {', '.join(MAGI_WEIGHT_FILES)}. Download image_generator/magi_image_encoder."
            )
        config = _read_config(folder / "config.json")
        weight_path = next((folder / name for name in MAGI_WEIGHT_FILES if (folder / name).is_file()), None)
        if weight_path is None:
            raise WeightsError(
                f"{folder}: no Magi encoder weights; expected one of {', '.join(MAGI_WEIGHT_FILES)}, found "
                f"{sorted(p.name for p in folder.iterdir())[:8]}. Download magi_image_encoder/pytorch_model.bin "
                "from the DiffSensei release into this folder."
            )
        logger.debug("loading the Magi encoder from %s", weight_path)
        return cls.from_state_dict(config, load_state_dict_file(weight_path), dtype=dtype, source=str(weight_path))

    # ---- inference

    @contextlib.contextmanager
    def _mask_ratio(self, ratio: float) -> Iterator[None]:
        # ViTMAEEmbeddings.random_masking reads config.mask_ratio at call time; restore it afterwards.
        config = self.model.embeddings.config
        saved = config.mask_ratio
        config.mask_ratio = ratio
        try:
            yield
        finally:
            config.mask_ratio = saved

    def _check_pixels(self, pixel_values: torch.Tensor) -> None:
        height, width = self.image_size
        channels = int(self.model.config.num_channels)
        if (
            not isinstance(pixel_values, torch.Tensor)
            or pixel_values.ndim != 4
            or tuple(pixel_values.shape[1:]) != (channels, height, width)
        ):
            got = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
            raise InputShapeError(
                f"Magi encoder: expected pixel values (batch, {channels}, {height}, {width}); got {got}. "
                f"Preprocess IMAGE tensors with magi_preprocess(images, image_size=({height}, {width})) "
                "or call encode() instead."
            )

    @torch.no_grad()
    def forward(
        self, pixel_values: torch.Tensor, *, generator: torch.Generator | None = None, masking: bool = True
    ) -> torch.Tensor:
        """pixel_values: (b, 3, H, W) → CLS features (b, c_magi), in the encoder's dtype."""
        self._check_pixels(pixel_values)
        batch = pixel_values.shape[0]
        pixel_values = pixel_values.to(device=self.device, dtype=self.dtype)
        if masking:
            # ViTMAEModel.forward(noise=(b, p)): patches are ranked by argsort(noise) and the lowest kept.
            noise_device = generator.device if generator is not None else self.device
            noise = torch.rand(batch, self.num_patches, generator=generator, device=noise_device)
            ratio = self.mask_ratio
        else:
            # increasing noise keeps the patch order; with ratio 0 every patch is kept
            noise = torch.arange(self.num_patches, dtype=torch.float32).expand(batch, -1)
            ratio = 0.0
        with self._mask_ratio(ratio):
            output = self.model(pixel_values=pixel_values, noise=noise.to(self.device))
        return output.last_hidden_state[:, 0]

    @torch.no_grad()
    def encode(
        self,
        images: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        masking: bool = True,
        grayscale: bool = True,
    ) -> torch.Tensor:
        """IMAGE (b, h, w, 3) in 0..1 → Magi features (b, c_magi): [grayscale →] preprocess → forward.

        ``grayscale=True`` reproduces the reference demo, which converts every reference image to
        grayscale-RGB first (spec §10.1).
        """
        check_image_batch(images, "Magi encoder")
        images = images.to(device=self.device, dtype=torch.float32)
        if grayscale:
            images = to_grayscale_rgb(images)
        pixels = magi_preprocess(images, self.image_size)
        return self(pixels, generator=generator, masking=masking)
