"""A diffusers ``UNet2DConditionModel`` config → the ``unet_config`` of ComfyUI's SDXL-family UNet.

ComfyUI's UNet is one fixed architecture with a few knobs (widths, depths, heads, context, ADM). Every field of the
diffusers config either maps onto a knob, must hold the one value ComfyUI's UNet computes with (else the model would
load — GroupNorm weights are per channel, so the key check passes — and compute something else), or is metadata.
Anything else is refused, naming the field, its value and what is supported. Pure Python: no ComfyUI import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import WeightsError

MAPPED = frozenset({
    "block_out_channels", "down_block_types", "up_block_types", "layers_per_block", "transformer_layers_per_block",
    "reverse_transformer_layers_per_block", "num_attention_heads", "attention_head_dim", "cross_attention_dim",
    "mid_block_type", "in_channels", "out_channels", "use_linear_projection", "projection_class_embeddings_input_dim",
})
"""Fields that become knobs of ComfyUI's UNet."""

FIXED: dict[str, tuple] = {
    "norm_num_groups": (32,),
    "norm_eps": (1e-5,),
    "act_fn": ("silu",),
    "center_input_sample": (False,),
    "flip_sin_to_cos": (True,),
    "freq_shift": (0,),
    "downsample_padding": (1,),
    "mid_block_scale_factor": (1,),
    "upcast_attention": (None, False),
    "resnet_time_scale_shift": ("default",),
    "resnet_skip_time_act": (False,),
    "resnet_out_scale_factor": (1.0,),
    "time_embedding_type": ("positional",),
    "time_embedding_dim": (None,),
    "time_embedding_act_fn": (None,),
    "timestep_post_act": (None,),
    "time_cond_proj_dim": (None,),
    "conv_in_kernel": (3,),
    "conv_out_kernel": (3,),
    "class_embed_type": (None,),
    "num_class_embeds": (None,),
    "class_embeddings_concat": (False,),
    "addition_embed_type": (None, "text_time"),
    "addition_time_embed_dim": (None, 256),
    "encoder_hid_dim": (None,),
    "encoder_hid_dim_type": (None,),
    "dual_cross_attention": (False,),
    "only_cross_attention": (False,),
    "mid_block_only_cross_attention": (None, False),
    "cross_attention_norm": (None,),
    "attention_type": ("default",),
}
"""Fields ComfyUI's UNet has no knob for: the values it computes with (absent fields take diffusers' defaults,
which are these)."""

METADATA = frozenset({"sample_size", "dropout", "addition_embed_type_num_heads"})
"""Fields that do not change inference (and names starting with ``_``)."""


def check_fields(config: Mapping) -> None:
    """Refuse a config with a field ComfyUI's UNet cannot represent (value outside FIXED, or an unknown field)."""
    for name, value in config.items():
        if name.startswith("_") or name in MAPPED or name in METADATA:
            continue
        if name not in FIXED:
            raise WeightsError(
                f"the UNet config.json has the field {name!r} = {value!r}, which this pack does not know how to map "
                "onto ComfyUI's UNet; expected a diffusers UNet2DConditionModel config of the SDXL family. Remove the "
                "field if it is at its diffusers default, or load the model with a loader that supports it")
        if not _equal_to_one_of(value, FIXED[name]):
            supported = " or ".join(repr(v) for v in FIXED[name])
            raise WeightsError(
                f"the UNet config.json has {name} = {value!r}, but ComfyUI's UNet always computes with {supported}; "
                "this model would load and then compute something else, so it is refused. Use a model with "
                f"{name} = {FIXED[name][-1]!r} (SDXL's)")


def _equal_to_one_of(value, allowed: tuple) -> bool:
    return any(_same(value, option) for option in allowed)


def _same(value, option) -> bool:
    """JSON-aware equality: 1 and 1.0 are the same number, but true is not 1 and null is only null."""
    if option is None or isinstance(option, bool):
        return value is option
    if isinstance(option, str):
        return value == option
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isclose(value, option)


def _as_list(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def unet_config_from_diffusers(config: Mapping) -> tuple[dict, int]:
    """ComfyUI ``unet_config`` and head width for an SDXL-style diffusers ``UNet2DConditionModel`` config.

    Returns ``(unet_config, num_head_channels)``; the head width must be set on the constructed model config
    because ComfyUI's model classes overwrite it with their defaults. Raises WeightsError for any field ComfyUI's UNet
    cannot represent (:func:`check_fields`).
    """
    check_fields(config)
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
