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


def _as_list(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def unet_config_from_diffusers(config: Mapping) -> tuple[dict, int]:
    """ComfyUI ``unet_config`` and head width for an SDXL-style diffusers ``UNet2DConditionModel`` config.

    Returns ``(unet_config, num_head_channels)``; the head width must be set on the constructed model config
    because ComfyUI's model classes overwrite it with their defaults.
    """
    try:
        widths = [int(c) for c in config["block_out_channels"]]
        levels = len(widths)
        down_types = list(config["down_block_types"])
        up_types = list(config["up_block_types"])
        res_blocks = [int(n) for n in _as_list(config.get("layers_per_block", 2), levels)]
        depths = [int(d) for d in _as_list(config.get("transformer_layers_per_block", 1), levels)]
        up_depths = config.get("reverse_transformer_layers_per_block")
        # diffusers names the head COUNT attention_head_dim unless num_attention_heads is given.
        heads = _as_list(config.get("num_attention_heads") or config["attention_head_dim"], levels)
        context_dim = int(config["cross_attention_dim"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(
            f"the UNet config.json lacks or mangles {e}; expected a diffusers UNet2DConditionModel config"
        ) from e
    mid = config.get("mid_block_type", "UNetMidBlock2DCrossAttn")
    if mid != "UNetMidBlock2DCrossAttn":
        raise WeightsError(f"unsupported mid_block_type {mid!r}; expected UNetMidBlock2DCrossAttn")

    def has_attn(block_type: str) -> bool:
        return "CrossAttn" in block_type

    depth_in = []
    for lvl in range(levels):
        depth_in += [depths[lvl] if has_attn(down_types[lvl]) else 0] * res_blocks[lvl]
    # Output depths in execution order (deepest up block first, num_res_blocks + 1 layers each);
    # ComfyUI wants them listed the other way round (it pops from the end).
    run_order = []
    for up in range(levels):
        lvl = levels - 1 - up
        n = res_blocks[lvl] + 1
        per_layer = _as_list(up_depths[up], n) if up_depths else [depths[lvl]] * n
        run_order += [int(d) if has_attn(up_types[up]) else 0 for d in per_layer]
    depth_out = run_order[::-1]

    head_widths = {widths[lvl] // int(heads[lvl]) for lvl in range(levels) if has_attn(down_types[lvl])}
    if len(head_widths) != 1:
        raise WeightsError(f"attention head widths differ across levels ({sorted(head_widths)}); ComfyUI needs one")
    head_channels = head_widths.pop()

    adm = config.get("projection_class_embeddings_input_dim")
    unet_config = {
        "use_checkpoint": False,
        "image_size": 32,
        "in_channels": int(config.get("in_channels", 4)),
        "out_channels": int(config.get("out_channels", 4)),
        "model_channels": widths[0],
        "channel_mult": [w // widths[0] for w in widths],
        "num_res_blocks": res_blocks,
        "transformer_depth": depth_in,
        "transformer_depth_middle": depths[-1],
        "transformer_depth_output": depth_out,
        "context_dim": context_dim,
        "num_head_channels": head_channels,
        "use_linear_in_transformer": bool(config.get("use_linear_projection", False)),
        "use_spatial_transformer": True,
        "legacy": False,
        "adm_in_channels": int(adm) if adm else None,
        "num_classes": "sequential" if adm else None,
        "use_temporal_attention": False,
        "use_temporal_resblock": False,
    }
    return unet_config, head_channels


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
