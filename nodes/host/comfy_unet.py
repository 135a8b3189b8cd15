"""Host glue: turn a diffusers-layout SDXL UNet state dict into a ComfyUI MODEL, and list its attn2 sites.

Only imported inside ComfyUI. Two ways to build the model:

1. ComfyUI's own detection (``comfy.sd.load_diffusion_model_state_dict``). It recognises the real SDXL widths,
   which is what the released DiffSensei UNet has.
2. When detection finds nothing (narrow test models, unusual widths) and the diffusers ``config.json`` is at
   hand, the ComfyUI ``unet_config`` is derived from it and the model is built through ComfyUI's SDXL model
   class, with the weights renamed by ``comfy.utils.unet_to_diffusers``.

Both ways load strictly: a missing or unexpected key raises ``WeightsError`` naming the first offenders.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import comfy.model_management
import comfy.model_patcher
import comfy.sd
import comfy.supported_models
import comfy.utils
import torch
from comfy.ldm.modules.attention import SpatialTransformer

from ...diffsensei_core.errors import WeightsError
from ...diffsensei_core.model.unet_config import unet_config_from_diffusers

log = logging.getLogger("diffsensei")

# The options of ComfyUI's stock UNETLoader ``weight_dtype`` combo, plus fp16/bf16/fp32:
# option -> (weight dtype, fp8 matmul optimisations). "default" lets ComfyUI pick for the device.
WEIGHT_DTYPE_OPTIONS: dict[str, tuple[torch.dtype | None, bool]] = {
    "default": (None, False),
    "fp16": (torch.float16, False),
    "bf16": (torch.bfloat16, False),
    "fp32": (torch.float32, False),
    "fp8_e4m3fn": (torch.float8_e4m3fn, False),
    "fp8_e4m3fn_fast": (torch.float8_e4m3fn, True),
    "fp8_e5m2": (torch.float8_e5m2, False),
}

_SHOW_KEYS = 5


def weight_dtype_option(name: str) -> tuple[torch.dtype | None, bool]:
    """Map a ``weight_dtype`` combo value to ``(dtype, fp8_optimizations)`` for :func:`build_sdxl_model`."""
    try:
        return WEIGHT_DTYPE_OPTIONS[name]
    except KeyError:
        raise WeightsError(
            f"unknown weight dtype {name!r}; expected one of {', '.join(WEIGHT_DTYPE_OPTIONS)}"
        ) from None


def _check_keys(missing_ldm, unexpected, mapping: Mapping[str, str]) -> None:
    """Raise WeightsError for keys the model lacks or does not know; missing ones named in diffusers terms."""
    if missing_ldm or unexpected:
        to_diffusers = {v: k for k, v in mapping.items()}
        missing = sorted(to_diffusers.get(k, k) for k in missing_ldm)
        unexpected = sorted(unexpected)
        raise WeightsError(
            f"the UNet state dict does not match the model: {len(missing)} missing key(s) "
            f"{missing[:_SHOW_KEYS]}, {len(unexpected)} unexpected key(s) {unexpected[:_SHOW_KEYS]}; "
            "expected a diffusers SDXL UNet without DiffSensei's extra keys (split them off first)"
        )


def _detect(sd: dict, model_options: dict) -> comfy.model_patcher.ModelPatcher | None:
    """ComfyUI's own detection on a copy (it pops what it uses); None when it does not recognise the UNet."""
    work = dict(sd)
    try:
        patcher = comfy.sd.load_diffusion_model_state_dict(work, model_options=model_options)
    except Exception as e:  # detection of odd shapes can fail anywhere inside ComfyUI
        log.info("ComfyUI could not detect the UNet config (%s: %s)", type(e).__name__, e)
        return None
    if patcher is None:
        return None
    model = patcher.model
    mapping = comfy.utils.unet_to_diffusers(model.model_config.unet_config)
    # Keys outside the diffusers map were LDM-layout already (ComfyUI accepts both; it strips this prefix).
    loaded = {mapping.get(k, k.removeprefix("model.diffusion_model.")) for k in sd}
    _check_keys(set(model.diffusion_model.state_dict()) - loaded, set(work), mapping)
    return patcher


def _build_from_config(
    sd: dict, config: Mapping, weight_dtype: torch.dtype | None, fp8_optimizations: bool
) -> comfy.model_patcher.ModelPatcher:
    unet_config, head_channels = unet_config_from_diffusers(config)
    model_config = comfy.supported_models.SDXL(unet_config)
    model_config.unet_config["num_head_channels"] = head_channels  # the class forces 64 on construction

    mapping = comfy.utils.unet_to_diffusers(model_config.unet_config)
    unexpected = [k for k in sd if k not in mapping]
    ldm_sd = {mapping[k]: v for k, v in sd.items() if k in mapping}

    load_device = comfy.model_management.get_torch_device()
    offload_device = comfy.model_management.unet_offload_device()
    supported = list(model_config.supported_inference_dtypes)
    if weight_dtype is None:
        weight_dtype = comfy.model_management.unet_dtype(
            model_params=comfy.utils.calculate_parameters(sd),
            supported_dtypes=supported,
            weight_dtype=comfy.utils.weight_dtype(sd),
        )
    manual_cast = comfy.model_management.unet_manual_cast(weight_dtype, load_device, supported)
    model_config.set_inference_dtype(weight_dtype, manual_cast)
    if fp8_optimizations:
        model_config.optimizations["fp8"] = True

    model = model_config.get_model(ldm_sd, "").to(offload_device)
    missing, more_unexpected = model.diffusion_model.load_state_dict(ldm_sd, strict=False)
    _check_keys(missing, [*unexpected, *more_unexpected], mapping)
    return comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)


def build_sdxl_model(
    unet_state_dict: dict,
    unet_config: dict | None = None,
    *,
    weight_dtype: torch.dtype | None = None,
    fp8_optimizations: bool = False,
) -> comfy.model_patcher.ModelPatcher:
    """Build a ComfyUI SDXL MODEL from a diffusers-layout UNet state dict (DiffSensei's extra keys removed).

    ``unet_config`` is the diffusers ``config.json`` dict, used only when ComfyUI cannot detect the UNet from
    its keys. ``weight_dtype`` (None: ComfyUI's choice for the device) and ``fp8_optimizations`` behave like
    the stock UNETLoader's ``weight_dtype`` option (see :func:`weight_dtype_option`). The input dict is not
    modified. Raises ``WeightsError`` if the UNet is not recognised or its keys do not match strictly.
    """
    sd = dict(unet_state_dict)
    model_options: dict = {}
    if weight_dtype is not None:
        model_options["dtype"] = weight_dtype
    if fp8_optimizations:
        model_options["fp8_optimizations"] = True

    patcher = _detect(sd, model_options)
    if patcher is not None:
        log.info("built the SDXL UNet through ComfyUI's model detection")
        return patcher
    if unet_config is None:
        raise WeightsError(
            f"ComfyUI does not recognise this UNet ({len(sd)} keys) as a supported SDXL layout and no "
            "config.json was given; keep unet/config.json next to the weights"
        )
    log.info("ComfyUI did not detect the UNet; building it from config.json")
    return _build_from_config(sd, unet_config, weight_dtype, fp8_optimizations)


def attn2_sites(diffusion_model: torch.nn.Module) -> list[tuple[tuple[str, int, int], torch.nn.Module]]:
    """``((block, number, block_index), attn2 module)`` for every cross-attention of a ComfyUI UNet, in execution order.

    Derived by walking ``input_blocks``/``middle_block``/``output_blocks`` and the transformer blocks of every
    SpatialTransformer in them, matching the tags ``UNetModel`` sets at run time (the middle block is
    ``("middle", 0)`` whatever index its transformer has inside ``middle_block``).
    """
    groups: list[tuple[str, int, torch.nn.Module]] = []
    groups += [("input", i, m) for i, m in enumerate(getattr(diffusion_model, "input_blocks", []))]
    middle = getattr(diffusion_model, "middle_block", None)
    if middle is not None:
        groups.append(("middle", 0, middle))
    groups += [("output", i, m) for i, m in enumerate(getattr(diffusion_model, "output_blocks", []))]

    sites = []
    for name, number, block in groups:
        for layer in block.children():
            if isinstance(layer, SpatialTransformer):
                for index, tb in enumerate(layer.transformer_blocks):
                    if getattr(tb, "attn2", None) is not None:
                        sites.append(((name, number, index), tb.attn2))
    return sites


def attn2_site_keys(diffusion_model: torch.nn.Module) -> list[tuple[str, int, int]]:
    """The attn2 patch keys of :func:`attn2_sites`."""
    return [key for key, _ in attn2_sites(diffusion_model)]
