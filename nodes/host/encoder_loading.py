"""Loading DiffSensei's two character encoders into ComfyUI: the CLIP ViT-H/14 image encoder as a ComfyUI
CLIP_VISION model (from the release's HF folder, loaded strictly) and the Magi ViT-MAE in a ModelPatcher."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import comfy.clip_vision
import comfy.model_management as mm
import comfy.model_patcher
import comfy.utils
import torch
from torch import nn

from ...diffsensei_core.errors import WeightsError
from ...diffsensei_core.model.checkpoint import ENCODER_FILE_NAMES, load_state_dict_file
from ...diffsensei_core.model.encoders import MagiEncoder
from . import folders

log = logging.getLogger("diffsensei")

CLIP_FOLDER = "clip_image_encoder"
MAGI_FOLDER = "magi_image_encoder"
MAGI_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}

# HF CLIPVisionConfig defaults: a config.json written by save_pretrained leaves out fields equal to these.
_HF_CLIP_VISION_DEFAULTS: dict[str, Any] = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "projection_dim": 512,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
_ARCHITECTURE_FIELDS = (
    "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_channels", "image_size",
    "patch_size", "hidden_act",
)
# ComfyUI's CLIP vision LayerNorms use torch's default eps; its CLIPMLP knows these activations.
_COMFY_LAYER_NORM_EPS = 1e-5
_COMFY_ACTIVATIONS = ("quick_gelu", "gelu", "gelu_pytorch_tanh")
# keys of an HF CLIP checkpoint that the vision tower does not use
_IGNORED_KEY_PREFIXES = ("text_model.", "text_projection.", "logit_scale", "vision_model.embeddings.position_ids")


# ------------------------------------------------------------------------------------------------ value object


class MagiModule(nn.Module):
    """The Magi encoder as ComfyUI's ModelPatcher wants it: a module with a writable ``device`` attribute."""

    def __init__(self, encoder: MagiEncoder):
        super().__init__()
        self.encoder = encoder


@dataclass(frozen=True, eq=False)
class DiffSenseiEncoders:
    """DIFFSENSEI_ENCODERS: the two character encoders and their output sizes.

    clip_vision: ``comfy.clip_vision.ClipVisionModel`` (CLIP ViT with a class token);
    magi_patcher: ModelPatcher around :class:`MagiModule`;
    clip_tokens / clip_width: s and c_clip of the CLIP features (257 and 1280 for ViT-H/14 at 224 px);
    magi_width: c_magi (768 for the released Magi encoder).
    """

    clip_vision: Any
    magi_patcher: comfy.model_patcher.ModelPatcher
    clip_tokens: int
    clip_width: int
    magi_width: int
    source: str

    @property
    def magi(self) -> MagiEncoder:
        return self.magi_patcher.model.encoder


# --------------------------------------------------------------------------------------------- folder lookup


def encoder_folders(choice: str) -> tuple[Path, Path]:
    """(clip folder, magi folder) for a model choice: an image_generator folder or a converted adapter file."""
    path = folders.resolve(choice)
    base = path.parent if path.is_file() else path
    if not path.is_file() and not (base / MAGI_FOLDER).exists() and (base / "image_generator").is_dir():
        base = base / "image_generator"
    return base / CLIP_FOLDER, base / MAGI_FOLDER


def _weights_file(folder: Path, what: str, download: str) -> Path:
    if not folder.is_dir():
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': the {what} folder {folder} does not exist; expected a "
            f"folder "
            f"with config.json and one of {', '.join(ENCODER_FILE_NAMES)}. Download {download} from the DiffSensei "
            "release (image_generator/) into that place."
        )
    if not (folder / "config.json").is_file():
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': {folder / 'config.json'} is missing; expected the {what} "
            f"config beside its weights, found {sorted(p.name for p in folder.iterdir())[:8]}. Download "
            f"{download}/config.json from the DiffSensei release."
        )
    weights = next((folder / name for name in ENCODER_FILE_NAMES if (folder / name).is_file()), None)
    if weights is None:
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': no {what} weights in {folder}; looked for "
            f"{', '.join(ENCODER_FILE_NAMES)}, found {sorted(p.name for p in folder.iterdir())[:8]}. Download "
            f"the weights of {download} from the DiffSensei release into that folder."
        )
    return weights


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': could not read {path} ({error}); expected a JSON object. "
            "Re-download config.json."
        ) from error
    if not isinstance(raw, dict):
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': {path} holds a {type(raw).__name__}; expected a JSON "
            f"object. "
            "Re-download config.json."
        )
    return raw


# ------------------------------------------------------------------------------------------------ CLIP vision


def comfy_clip_vision_config(hf_config: dict[str, Any], *, with_projection: bool, source: str) -> dict[str, Any]:
    """Translate an HF ``CLIPVisionConfig`` (or a ``CLIPConfig`` holding one) into ComfyUI's config format.

    ComfyUI's ``ClipVisionModel`` reads the same field names but has no defaults for most of them and ignores
    ``layer_norm_eps``; fields HF leaves out are filled with HF's defaults, and anything ComfyUI cannot build
    raises :class:`WeightsError`.
    """
    config = hf_config
    if config.get("model_type") == "clip" and isinstance(config.get("vision_config"), dict):
        config = config["vision_config"]
    model_type = config.get("model_type", "clip_vision_model")
    if model_type != "clip_vision_model":
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': {source} has model_type {model_type!r}; expected "
            "'clip_vision_model' (DiffSensei's character encoder is CLIP ViT-H/14). Use the clip_image_encoder "
            "folder of the DiffSensei release."
        )
    values = {key: config.get(key, default) for key, default in _HF_CLIP_VISION_DEFAULTS.items()}
    if values["hidden_act"] not in _COMFY_ACTIVATIONS:
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': {source} uses hidden_act {values['hidden_act']!r}; "
            f"ComfyUI's "
            f"CLIP vision model supports {', '.join(_COMFY_ACTIVATIONS)}. Use the clip_image_encoder of the release."
        )
    if abs(float(values["layer_norm_eps"]) - _COMFY_LAYER_NORM_EPS) > 1e-12:
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': {source} has layer_norm_eps {values['layer_norm_eps']}; "
            f"ComfyUI's CLIP vision model always uses {_COMFY_LAYER_NORM_EPS}. Use the clip_image_encoder of the "
            "release, or load a compatible encoder with Load CLIP Vision and connect it to clip_vision."
        )
    out = {key: values[key] for key in _ARCHITECTURE_FIELDS}
    out["model_type"] = "clip_vision_model"
    out["layer_norm_eps"] = _COMFY_LAYER_NORM_EPS
    if with_projection:
        out["projection_dim"] = values["projection_dim"]
    return out


def _comfy_config_file(config: dict[str, Any]) -> str | None:
    """ComfyUI's own config file describing the same architecture (the ViT-H one for the release), if any."""
    folder = Path(comfy.clip_vision.__file__).resolve().parent
    for name in ("clip_vision_config_h.json", "clip_vision_config_g.json", "clip_vision_config_vitl.json"):
        path = folder / name
        if not path.is_file():
            continue
        known = json.loads(path.read_text(encoding="utf-8"))
        if all(known.get(key) == config.get(key) for key in (*_ARCHITECTURE_FIELDS, "projection_dim")):
            return str(path)
    return None


def _clip_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    state_dict = load_state_dict_file(weights)
    kept = {k: v for k, v in state_dict.items() if not k.startswith(_IGNORED_KEY_PREFIXES)}
    if len(kept) != len(state_dict):
        log.debug("%s: ignored %d keys the vision tower does not use", weights, len(state_dict) - len(kept))
    return kept


def load_clip_vision_folder(folder: Path):
    """ComfyUI ``ClipVisionModel`` from an HF ``CLIPVisionModelWithProjection`` folder, loaded strictly.

    ComfyUI's own ``comfy.clip_vision.load`` recognises only the standard sizes (by layer count) and loads with
    ``strict=False``, logging missing keys as a warning; here the folder's config.json decides the architecture
    (ComfyUI's shipped config file is used when it describes the same one, e.g. ViT-H) and every parameter must
    be present with the right shape.
    """
    weights = _weights_file(folder, "CLIP image encoder", f"image_generator/{CLIP_FOLDER}")
    state_dict = _clip_state_dict(weights)
    with_projection = "visual_projection.weight" in state_dict
    config = comfy_clip_vision_config(
        _read_json(folder / "config.json"), with_projection=with_projection, source=str(folder / "config.json")
    )
    config_file = _comfy_config_file(config)
    if config_file is not None:
        clip_vision = comfy.clip_vision.ClipVisionModel(config_file)
    else:
        handle, config_file = tempfile.mkstemp(prefix="diffsensei_clip_vision_", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(config, out)
            clip_vision = comfy.clip_vision.ClipVisionModel(config_file)
        finally:
            Path(config_file).unlink(missing_ok=True)
    try:
        missing, unexpected = clip_vision.load_sd(state_dict)
    except RuntimeError as error:  # shape mismatches raise even with strict=False
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': {weights} does not fit the architecture in "
            f"{folder / 'config.json'} ({str(error).splitlines()[-1].strip()}). The weights and config.json come "
            "from different models; re-download the clip_image_encoder folder."
        ) from error
    if missing or unexpected:
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'model_name': {weights} does not match a CLIP vision model "
            f"({len(missing)} missing keys, e.g. {sorted(missing)[:3]}; {len(unexpected)} unexpected keys, e.g. "
            f"{sorted(unexpected)[:3]}); expected an HF CLIPVisionModelWithProjection checkpoint. Re-download "
            "image_generator/clip_image_encoder."
        )
    log.info("loaded the CLIP image encoder from %s (%s)", weights, Path(config_file).name)
    return clip_vision


def clip_output_size(clip_vision, *, input_name: str = "clip_vision") -> tuple[int, int]:
    """(tokens, width) of the penultimate hidden states of a ComfyUI CLIP ViT, or a WeightsError for other encoders."""
    vision = getattr(getattr(clip_vision, "model", None), "vision_model", None)
    embeddings = getattr(vision, "embeddings", None)
    if (
        embeddings is None
        or getattr(embeddings, "class_embedding", None) is None
        or getattr(clip_vision, "return_all_hidden_states", False)
    ):
        raise WeightsError(
            f"DiffSensei: Load Encoders ({input_name}): expected a CLIP ViT image encoder with a class token "
            f"(DiffSensei was trained with CLIP ViT-H/14, e.g. IP-Adapter's CLIP-ViT-H-14-laion2B-s32B-b79K); got "
            f"{type(getattr(clip_vision, 'model', clip_vision)).__name__} (SigLIP and DINOv2 are not usable). "
            f"Load the ViT-H file with Load CLIP Vision, or disconnect {input_name} to use the shipped encoder."
        )
    tokens, width = embeddings.position_embedding.weight.shape
    return int(tokens), int(width)


# ------------------------------------------------------------------------------------------------------ Magi


def _default_magi_dtype(device: torch.device) -> torch.dtype:
    # the reference runs every model in fp16; keep fp32 where fp16 is slow or unsupported (CPU, old GPUs)
    return torch.float16 if mm.should_use_fp16(device, prioritize_performance=False) else torch.float32


def load_magi(folder: Path, dtype_name: str) -> comfy.model_patcher.ModelPatcher:
    _weights_file(folder, "Magi image encoder", f"image_generator/{MAGI_FOLDER}")
    load_device = mm.text_encoder_device()
    offload_device = mm.text_encoder_offload_device()
    dtype = MAGI_DTYPES.get(dtype_name) or _default_magi_dtype(load_device)
    encoder = MagiEncoder.from_folder(folder, dtype=dtype)
    log.info("loaded the Magi image encoder from %s (%s, runs on %s)", folder, dtype, load_device)
    return comfy.model_patcher.ModelPatcher(MagiModule(encoder), load_device=load_device, offload_device=offload_device)


def check_against_shipped_clip(clip_folder: Path, clip_width: int) -> None:
    """A connected clip_vision must be as wide as the release's own CLIP encoder (the resampler reads that width)."""
    config_path = clip_folder / "config.json"
    if not config_path.is_file():
        return
    shipped = _read_json(config_path)
    shipped = shipped.get("vision_config", shipped) if shipped.get("model_type") == "clip" else shipped
    expected = shipped.get("hidden_size", _HF_CLIP_VISION_DEFAULTS["hidden_size"])
    if expected != clip_width:
        raise WeightsError(
            f"DiffSensei: Load Encoders, input 'clip_vision': the connected CLIP vision model is {clip_width} wide but "
            f"the release's encoder ({config_path}) is {expected} wide; DiffSensei's resampler needs the release's "
            "width. Load CLIP ViT-H/14 with Load CLIP Vision, or disconnect clip_vision."
        )
