"""Character-image preprocessing and the Magi ViT-MAE encoder (model spec §2.3, §10 items 1–5).

ComfyUI hands images over as IMAGE tensors: float (b, h, w, 3) in 0..1. This module turns them into
what DiffSensei's character branch expects:

* :func:`to_grayscale_rgb` — the demo's PIL ``convert("L").convert("RGB")``.
* :func:`magi_preprocess` — HF ``ViTImageProcessor()`` defaults (squash to 224², mean/std 0.5).
* :class:`MagiEncoder` — ``ViTMAEModel`` → CLS after the final LayerNorm, with the MAE random masking
  made reproducible (noise drawn from a caller-provided generator) or switched off.
* :func:`pad_character_features` — fill the character slots, zeroing the padded ones.

Shape legend: b images, h/w pixel size, n real characters, k slots, s CLIP tokens, p patches,
c_clip / c_magi feature widths.

transformers is imported lazily (inside functions), so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputShapeError, WeightsError
from .checkpoint import load_state_dict_file
from .resampler import load_strict

if TYPE_CHECKING:
    from transformers import ViTMAEConfig, ViTMAEModel

logger = logging.getLogger("diffsensei")

MAGI_MEAN = 0.5
MAGI_STD = 0.5
MAGI_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TRAINED_SLOTS = 4

# Pillow's RGB→L is ITU-R 601-2 luma in 16-bit fixed point with round-half-up:
# L = (R·19595 + G·38470 + B·7471 + 2^15) >> 16, the weights being 0.299/0.587/0.114 · 2^16 (sum 2^16).
_LUMA_WEIGHTS = (19595, 38470, 7471)
_LUMA_HALF = 1 << 15
_LUMA_SHIFT = 16


# --------------------------------------------------------------------------------------------------
# image preprocessing


def check_image_batch(images: torch.Tensor, what: str, *, allow_alpha: bool = False) -> None:
    """Raise InputShapeError unless ``images`` is a non-empty float IMAGE batch (b, h, w, 3) (or 4 with alpha)."""
    channels = (3, 4) if allow_alpha else (3,)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in channels:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputShapeError(
            f"{what}: expected an IMAGE tensor (batch, height, width, 3) with values in 0..1; got {got}. "
            "Connect an RGB IMAGE (drop an alpha channel or convert a mask to an image first)."
        )
    if not images.is_floating_point():
        raise InputShapeError(
            f"{what}: expected a floating-point IMAGE in 0..1; got dtype {images.dtype}. "
            "Divide 8-bit pixel values by 255 before connecting them."
        )
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise InputShapeError(
            f"{what}: the images are empty, size {tuple(images.shape[1:3])}; expected at least 1×1 pixels. "
            "Connect a non-empty reference image."
        )


def to_grayscale_rgb(images: torch.Tensor) -> torch.Tensor:
    """Grayscale, replicated to three channels, exactly like PIL ``.convert("L").convert("RGB")``.

    images: (b, h, w, 3) float in 0..1 → (b, h, w, 3) of the same dtype, every channel equal.

    The reference demo converts every character image this way before encoding (spec §2.1, §10.1).
    Values are first quantised to 8-bit (round(x·255), as a saved 8-bit image would be), then mapped
    with Pillow's fixed-point ITU-R 601-2 luma L = R·299/1000 + G·587/1000 + B·114/1000, so the
    result is on the 1/255 grid and equals PIL for 8-bit inputs.
    """
    check_image_batch(images, "to_grayscale_rgb")
    levels = (images.float().clamp(0.0, 1.0) * 255.0).round().to(torch.int32)
    weights = torch.tensor(_LUMA_WEIGHTS, dtype=torch.int32, device=images.device)
    luma = ((levels * weights).sum(dim=-1, keepdim=True) + _LUMA_HALF) >> _LUMA_SHIFT
    gray = luma.to(torch.float32) / 255.0
    return gray.expand(-1, -1, -1, 3).to(images.dtype).contiguous()


def _pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def magi_preprocess(images: torch.Tensor, image_size: int | tuple[int, int] = 224) -> torch.Tensor:
    """IMAGE → Magi encoder pixel values, like HF ``ViTImageProcessor()`` defaults.

    images: (b, h, w, 3) float in 0..1 → (b, 3, H, W) float32 with (H, W) = ``image_size`` (the encoder
    config's ``image_size``, 224 for the released model), values in -1..1.

    Steps: squash-resize to (H, W) (no crop, aspect ratio not kept), then normalise with mean 0.5 and
    std 0.5 per channel (not ImageNet statistics; spec §2.3.3, §10.2).

    Deviation: the reference resizes an 8-bit PIL image with PIL bilinear and keeps 8-bit results; here
    the resize is ``F.interpolate(mode="bilinear", antialias=True, align_corners=False)`` on floats, a
    close match to PIL's bilinear filter (differences around one 8-bit level), without requantising.
    """
    check_image_batch(images, "magi_preprocess")
    height, width = _pair(image_size)
    pixels = images.float().permute(0, 3, 1, 2)
    if pixels.shape[-2:] != (height, width):
        pixels = F.interpolate(pixels, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return ((pixels - MAGI_MEAN) / MAGI_STD).contiguous()


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
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(
            f"{path}: could not parse the config ({error}); expected a JSON object. Re-download config.json."
        ) from error
    if not isinstance(raw, dict):
        raise WeightsError(f"{path}: expected a JSON object; got {type(raw).__name__}. Re-download config.json.")
    return raw


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
        return _pair(self.model.config.image_size)

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


# --------------------------------------------------------------------------------------------------
# slots


def pad_character_features(
    clip: torch.Tensor, magi: torch.Tensor, num_slots: int = TRAINED_SLOTS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Place n characters' features into k = max(num_slots, n) slots, padded slots zeroed.

    clip: (n, s, c_clip), magi: (n, c_magi) → (1, k, s, c_clip), (1, k, c_magi).

    The non-MLLM reference pipeline overwrites the features of padded slots with zeros (spec §2.3.4),
    which makes them identical to the unconditional branch. n = 0 gives all-zero slots. n > num_slots keeps
    every character (the reference would drop the extra ones); the model was trained with 4 slots, so
    this is logged as outside the trained regime.
    """
    if not isinstance(clip, torch.Tensor) or clip.ndim != 3:
        got = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
        raise InputShapeError(
            f"CLIP character features: expected (characters, tokens, width), e.g. (n, 257, 1280); got {got}. "
            "Pass one row of penultimate CLIP hidden states per character image."
        )
    if not isinstance(magi, torch.Tensor) or magi.ndim != 2 or magi.shape[0] != clip.shape[0]:
        got = tuple(magi.shape) if isinstance(magi, torch.Tensor) else type(magi).__name__
        raise InputShapeError(
            f"Magi character features: expected ({clip.shape[0]}, width), one CLS vector per character to match "
            f"the CLIP features {tuple(clip.shape)}; got {got}. Encode every reference image with both encoders."
        )
    if num_slots < 1:
        raise InputShapeError(
            f"num_slots: expected at least 1 character slot (the released model uses {TRAINED_SLOTS}); got "
            f"{num_slots}. Pass num_slots={TRAINED_SLOTS}."
        )
    count = clip.shape[0]
    slots = max(num_slots, count)
    if count > num_slots:
        logger.info(
            "%d characters in %d slots: more than the %d slots the model was trained with, outside the trained "
            "regime (the reference drops characters beyond the 4th)",
            count,
            slots,
            num_slots,
        )
    clip_slots = clip.new_zeros((1, slots, *clip.shape[1:]))
    magi_slots = magi.new_zeros((1, slots, magi.shape[1]))
    clip_slots[0, :count] = clip
    magi_slots[0, :count] = magi
    return clip_slots, magi_slots
