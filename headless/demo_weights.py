"""Tiny random DiffSensei weights in the released ``image_generator/`` layout, for demos and tests.

Nothing is downloaded and no real weights are read: the UNet keys are generated from a config (an SDXL block
layout narrowed to channels 32/64/64 with context width 64, including the 70 ``attn2.processor.to_{k,v}_ip``
pairs and ``dialog_bbox_embedding``), the resampler is a small :class:`diffsensei_core.model.resampler.Resampler`, and
the two encoders are narrow Hugging Face models with their own random initialisation. Everything is seeded.

The output of a model built from these files is noise. Use::

    python -m headless.demo_weights OUT_DIR [--seed N]        (from the repository root)
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

from diffsensei_core.model.resampler import Resampler

log = logging.getLogger("diffsensei")

MARKER = "DEMO_WEIGHTS.txt"

# The tiny UNet: SDXL's block types and transformer depths (1, 2, 10 per block; 70 cross-attention sites) with
# narrow channels. Same content as the golden tiny model's unet/config.json.
DEMO_UNET_CONFIG: dict = {
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [1, 2, 2],
    "block_out_channels": [32, 64, 64],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 64,
    "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 32,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": True,
    "_class_name": "UNet2DConditionModel",
}

# Resampler of the demo release (the golden tiny model's widths): CLIP width 48, Magi width 24, output 64.
DEMO_RESAMPLER = {"dim": 64, "depth": 2, "dim_head": 16, "heads": 4, "num_queries": 16, "num_dummy_tokens": 16,
                  "clip_dim": 48, "magi_dim": 24, "output_dim": 64, "ff_mult": 2}
# Resampler of tests/core/tiny_release.py (smaller still; output width set by the caller).
TEST_RESAMPLER = {"dim": 32, "depth": 2, "dim_head": 16, "heads": 2, "num_queries": 4, "num_dummy_tokens": 4,
                  "clip_dim": 24, "magi_dim": 16, "output_dim": 64, "ff_mult": 2}
DEMO_CLIP = {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 2,
             "image_size": 224, "patch_size": 14, "projection_dim": 32, "hidden_act": "gelu", "layer_norm_eps": 1e-5}
DEMO_MAGI = {"hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2,
             "image_size": 32, "patch_size": 16, "mask_ratio": 0.75}


# ------------------------------------------------------------------------------------------------- UNet keys


def _per_block(value, count: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * count


def _resnet(prefix: str, c_in: int, c_out: int, c_time: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield from ((f"{prefix}.norm1.{p}", (c_in,)) for p in ("weight", "bias"))
    yield f"{prefix}.conv1.weight", (c_out, c_in, 3, 3)
    yield f"{prefix}.conv1.bias", (c_out,)
    yield f"{prefix}.time_emb_proj.weight", (c_out, c_time)
    yield f"{prefix}.time_emb_proj.bias", (c_out,)
    yield from ((f"{prefix}.norm2.{p}", (c_out,)) for p in ("weight", "bias"))
    yield f"{prefix}.conv2.weight", (c_out, c_out, 3, 3)
    yield f"{prefix}.conv2.bias", (c_out,)
    if c_in != c_out:
        yield f"{prefix}.conv_shortcut.weight", (c_out, c_in, 1, 1)
        yield f"{prefix}.conv_shortcut.bias", (c_out,)


def _attention(prefix: str, inner: int, c_ctx: int, ip: bool) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield f"{prefix}.to_q.weight", (inner, inner)
    yield f"{prefix}.to_k.weight", (inner, c_ctx)
    yield f"{prefix}.to_v.weight", (inner, c_ctx)
    yield f"{prefix}.to_out.0.weight", (inner, inner)
    yield f"{prefix}.to_out.0.bias", (inner,)
    if ip:
        yield f"{prefix}.processor.to_k_ip.weight", (inner, c_ctx)
        yield f"{prefix}.processor.to_v_ip.weight", (inner, c_ctx)


def _transformer(prefix: str, channels: int, depth: int, c_ctx: int, linear: bool):
    yield from ((f"{prefix}.norm.{p}", (channels,)) for p in ("weight", "bias"))
    proj = (channels, channels) if linear else (channels, channels, 1, 1)
    yield f"{prefix}.proj_in.weight", proj
    yield f"{prefix}.proj_in.bias", (channels,)
    for t in range(depth):
        block = f"{prefix}.transformer_blocks.{t}"
        for norm in ("norm1", "norm2", "norm3"):
            yield from ((f"{block}.{norm}.{p}", (channels,)) for p in ("weight", "bias"))
        yield from _attention(f"{block}.attn1", channels, channels, ip=False)
        yield from _attention(f"{block}.attn2", channels, c_ctx, ip=True)
        yield f"{block}.ff.net.0.proj.weight", (channels * 8, channels)  # GEGLU: two halves of 4×channels
        yield f"{block}.ff.net.0.proj.bias", (channels * 8,)
        yield f"{block}.ff.net.2.weight", (channels, channels * 4)
        yield f"{block}.ff.net.2.bias", (channels,)
    yield f"{prefix}.proj_out.weight", proj
    yield f"{prefix}.proj_out.bias", (channels,)


def unet_shapes(config: dict | None = None) -> dict[str, tuple[int, ...]]:
    """Key → shape of DiffSensei's released UNet file for a diffusers ``UNet2DConditionModel`` config.

    The standard diffusers SDXL keys, plus ``attn2.processor.to_k_ip/to_v_ip.weight`` at every cross-attention site
    and ``dialog_bbox_embedding`` (width of the first block).
    """
    cfg = DEMO_UNET_CONFIG if config is None else config
    channels = list(cfg["block_out_channels"])
    n = len(channels)
    c0, c_time, c_ctx = channels[0], channels[0] * 4, cfg["cross_attention_dim"]
    depths = _per_block(cfg.get("transformer_layers_per_block", 1), n)
    layers = cfg["layers_per_block"]
    linear = bool(cfg.get("use_linear_projection", False))
    shapes: dict[str, tuple[int, ...]] = {"dialog_bbox_embedding": (c0,)}

    def add(items):
        shapes.update(items)

    add([("conv_in.weight", (c0, cfg["in_channels"], 3, 3)), ("conv_in.bias", (c0,)),
         ("time_embedding.linear_1.weight", (c_time, c0)), ("time_embedding.linear_1.bias", (c_time,)),
         ("time_embedding.linear_2.weight", (c_time, c_time)), ("time_embedding.linear_2.bias", (c_time,))])
    if cfg.get("addition_embed_type") == "text_time":
        add([("add_embedding.linear_1.weight", (c_time, cfg["projection_class_embeddings_input_dim"])),
             ("add_embedding.linear_1.bias", (c_time,)),
             ("add_embedding.linear_2.weight", (c_time, c_time)), ("add_embedding.linear_2.bias", (c_time,))])

    c_out = c0
    for i, block_type in enumerate(cfg["down_block_types"]):
        c_in, c_out = c_out, channels[i]
        for j in range(layers):
            add(_resnet(f"down_blocks.{i}.resnets.{j}", c_in if j == 0 else c_out, c_out, c_time))
            if block_type.startswith("CrossAttn"):
                add(_transformer(f"down_blocks.{i}.attentions.{j}", c_out, depths[i], c_ctx, linear))
        if i < n - 1:
            add([(f"down_blocks.{i}.downsamplers.0.conv.weight", (c_out, c_out, 3, 3)),
                 (f"down_blocks.{i}.downsamplers.0.conv.bias", (c_out,))])

    c_mid = channels[-1]
    add(_resnet("mid_block.resnets.0", c_mid, c_mid, c_time))
    add(_transformer("mid_block.attentions.0", c_mid, depths[-1], c_ctx, linear))
    add(_resnet("mid_block.resnets.1", c_mid, c_mid, c_time))

    reversed_channels, reversed_depths = channels[::-1], depths[::-1]
    prev = reversed_channels[0]
    for i, block_type in enumerate(cfg["up_block_types"]):
        c_out = reversed_channels[i]
        c_skip_last = reversed_channels[min(i + 1, n - 1)]
        for j in range(layers + 1):
            c_res_in = prev if j == 0 else c_out
            c_skip = c_skip_last if j == layers else c_out
            add(_resnet(f"up_blocks.{i}.resnets.{j}", c_res_in + c_skip, c_out, c_time))
            if block_type.startswith("CrossAttn"):
                add(_transformer(f"up_blocks.{i}.attentions.{j}", c_out, reversed_depths[i], c_ctx, linear))
        if i < n - 1:
            add([(f"up_blocks.{i}.upsamplers.0.conv.weight", (c_out, c_out, 3, 3)),
                 (f"up_blocks.{i}.upsamplers.0.conv.bias", (c_out,))])
        prev = c_out

    add([("conv_norm_out.weight", (c0,)), ("conv_norm_out.bias", (c0,)),
         ("conv_out.weight", (cfg["out_channels"], c0, 3, 3)), ("conv_out.bias", (cfg["out_channels"],))])
    return shapes


# ----------------------------------------------------------------------------------------------- random values


def random_tensors(shapes: dict[str, tuple[int, ...]], seed: int, *, scaled: bool = True) -> dict[str, torch.Tensor]:
    """Seeded random tensors for ``shapes``.

    ``scaled=False``: plain standard normal values. ``scaled=True``: values that keep activations at a sane scale
    through a deep network (weights ~ N(0, 1/fan_in), norm weights near 1, small biases), so sampling stays finite.
    """
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        values = torch.randn(shape, generator=generator)
        if scaled:
            if len(shape) > 1:
                values = values / (torch.Size(shape[1:]).numel() ** 0.5)
            elif "norm" in key and key.endswith("weight"):
                values = 1 + 0.05 * values
            else:
                values = 0.02 * values
        out[key] = values
    return out


def random_unet(seed: int = 0, config: dict | None = None, *, scaled: bool = True) -> dict[str, torch.Tensor]:
    """A random state dict with the released UNet file's keys and shapes for ``config`` (default: the demo one)."""
    return random_tensors(unet_shapes(config), seed, scaled=scaled)


def random_resampler(seed: int = 1, *, scaled: bool = False, **dims) -> dict[str, torch.Tensor]:
    """A random ``image_proj_model`` state dict; ``dims`` are :class:`Resampler` arguments (default: TEST_RESAMPLER)."""
    model = Resampler(**{**TEST_RESAMPLER, **dims})
    return random_tensors({k: tuple(t.shape) for k, t in model.state_dict().items()}, seed, scaled=scaled)


def write_tiny_magi(folder: Path, seed: int = 2, **config) -> dict[str, torch.Tensor]:
    """A random ViT-MAE (``config.json`` + ``pytorch_model.bin``); ``config`` overrides ViTMAEConfig fields.

    Defaults: hidden 32, 2 layers, 2 heads, 32 px images in 16 px patches, mask ratio 0.75.
    """
    from transformers import ViTMAEConfig, ViTMAEModel

    fields = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
              "image_size": 32, "patch_size": 16, "mask_ratio": 0.75, **config}
    torch.manual_seed(seed)
    vit_config = ViTMAEConfig(**fields)
    state_dict = {k: v.clone() for k, v in ViTMAEModel(vit_config).state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    vit_config.to_json_file(str(folder / "config.json"))
    torch.save(state_dict, folder / "pytorch_model.bin")
    return state_dict


def write_tiny_clip(folder: Path, seed: int = 3, **config) -> None:
    """A random HF ``CLIPVisionModelWithProjection`` (``config.json`` + ``model.safetensors``); default DEMO_CLIP."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**{**DEMO_CLIP, **config}))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)


def save_weights(state_dict: dict[str, torch.Tensor], path: Path) -> None:
    """``.safetensors`` through safetensors, anything else through ``torch.save`` (the release uses pickles)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    else:
        torch.save(state_dict, path)


def build_demo_release(root: Path, seed: int = 0) -> Path:
    """Write a complete tiny release under ``root/image_generator`` and return that folder.

    Contents: ``unet/{config.json,pytorch_model.bin}``, ``image_proj_model/pytorch_model.bin``,
    ``clip_image_encoder/{config.json,model.safetensors}``, ``magi_image_encoder/{config.json,pytorch_model.bin}``
    and a marker file. Refuses to write into an ``image_generator`` that is not a demo one (real weights).
    """
    folder = Path(root) / "image_generator"
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise FileExistsError(f"{folder} exists and does not hold demo weights; not overwriting it")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(
        "Random DiffSensei demo weights written by headless/demo_weights.py (seed "
        f"{seed}). A model built from them produces noise.\n"
    )
    save_weights(random_unet(seed), folder / "unet" / "pytorch_model.bin")
    (folder / "unet" / "config.json").write_text(json.dumps(copy.deepcopy(DEMO_UNET_CONFIG), indent=2))
    save_weights(random_resampler(seed + 1, scaled=True, **DEMO_RESAMPLER),
                 folder / "image_proj_model" / "pytorch_model.bin")
    write_tiny_clip(folder / "clip_image_encoder", seed + 3)
    write_tiny_magi(folder / "magi_image_encoder", seed + 2, **DEMO_MAGI)
    log.info("wrote tiny random DiffSensei weights to %s", folder)
    return folder


# ----------------------------------------------------------------------------------------- LoRA and ControlNet

DEMO_LORA_RANK = 4
DEMO_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def ldm_attention_prefixes(config: dict | None = None) -> dict[str, str]:
    """Diffusers transformer prefix → ComfyUI's (LDM) prefix, for every cross-attention block of the UNet.

    ``down_blocks.{i}.attentions.{j}`` → ``input_blocks.{i·(n+1)+j+1}.1``, ``mid_block.attentions.0`` →
    ``middle_block.1``, ``up_blocks.{i}.attentions.{j}`` → ``output_blocks.{i·(n+1)+j}.1`` (n = layers_per_block).
    """
    cfg = DEMO_UNET_CONFIG if config is None else config
    layers = cfg["layers_per_block"]
    out = {}
    for i, block_type in enumerate(cfg["down_block_types"]):
        if block_type.startswith("CrossAttn"):
            for j in range(layers):
                out[f"down_blocks.{i}.attentions.{j}"] = f"input_blocks.{i * (layers + 1) + j + 1}.1"
    out["mid_block.attentions.0"] = "middle_block.1"
    for i, block_type in enumerate(cfg["up_block_types"]):
        if block_type.startswith("CrossAttn"):
            for j in range(layers + 1):
                out[f"up_blocks.{i}.attentions.{j}"] = f"output_blocks.{i * (layers + 1) + j}.1"
    return out


def demo_lora(seed: int = 10, config: dict | None = None, rank: int = DEMO_LORA_RANK) -> dict[str, torch.Tensor]:
    """A random LoRA for the tiny UNet in the kohya/ComfyUI key format that the stock LoRA loaders read.

    Keys ``lora_unet_<LDM name with _>.lora_down.weight`` (rank × in), ``.lora_up.weight`` (out × rank) and
    ``.alpha``, for the cross-attention projections (``attn2.to_q/to_k/to_v/to_out.0``) of every transformer block,
    e.g. ``lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_q``.
    """
    shapes = unet_shapes(config)
    prefixes = ldm_attention_prefixes(config)
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        if ".attn2." not in key or not key.endswith(".weight") or ".processor." in key:
            continue
        module = key[: -len(".weight")]
        diffusers_prefix, rest = module.split(".transformer_blocks.", 1)
        if not rest.endswith(DEMO_LORA_TARGETS):
            continue
        name = "lora_unet_" + f"{prefixes[diffusers_prefix]}.transformer_blocks.{rest}".replace(".", "_")
        c_out, c_in = shape
        out[f"{name}.lora_down.weight"] = torch.randn((rank, c_in), generator=generator) / c_in ** 0.5
        out[f"{name}.lora_up.weight"] = 0.2 * torch.randn((c_out, rank), generator=generator) / rank ** 0.5
        out[f"{name}.alpha"] = torch.tensor(float(rank))
    return out


def build_demo_lora(path: Path, seed: int = 10) -> Path:
    """Write :func:`demo_lora` to ``path`` (.safetensors) and return it."""
    path = Path(path)
    state_dict = demo_lora(seed)
    save_weights(state_dict, path)
    log.info("wrote a tiny random LoRA (%d attention projections) to %s", len(state_dict) // 3, path)
    return path


def ldm_encoder_config(config: dict | None = None) -> dict:
    """The encoder half of ComfyUI's ``unet_config`` for the UNet: what ``comfy.cldm.cldm.ControlNet`` takes."""
    cfg = DEMO_UNET_CONFIG if config is None else config
    channels = list(cfg["block_out_channels"])
    n = len(channels)
    depths = _per_block(cfg.get("transformer_layers_per_block", 1), n)
    heads = _per_block(cfg["attention_head_dim"], n)
    layers = cfg["layers_per_block"]
    attn = [t.startswith("CrossAttn") for t in cfg["down_block_types"]]
    head_widths = {channels[i] // heads[i] for i in range(n) if attn[i]}
    adm = cfg.get("projection_class_embeddings_input_dim")
    depth_in = []
    for level in range(n):
        depth_in += [depths[level] if attn[level] else 0] * layers
    return {
        "image_size": 32,
        "in_channels": cfg["in_channels"],
        "model_channels": channels[0],
        "channel_mult": [c // channels[0] for c in channels],
        "num_res_blocks": [layers] * n,
        "transformer_depth": depth_in,
        "transformer_depth_middle": depths[-1],
        "context_dim": cfg["cross_attention_dim"],
        "num_head_channels": head_widths.pop(),
        "use_linear_in_transformer": bool(cfg.get("use_linear_projection", False)),
        "use_spatial_transformer": True,
        "legacy": False,
        "adm_in_channels": adm,
        "num_classes": "sequential" if adm else None,
    }


def demo_controlnet(seed: int = 11, config: dict | None = None, hint_channels: int = 3) -> dict[str, torch.Tensor]:
    """A random ControlNet for the tiny UNet, as ``control_model.*`` keys (the LDM ``.pth`` ControlNet layout).

    Built with ComfyUI's own ``comfy.cldm.cldm.ControlNet`` (so ComfyUI must be importable) for the encoder half of
    the UNet's config, with every weight drawn like :func:`random_tensors` ``scaled=True``; the zero convolutions
    are small rather than zero so the control visibly changes the result. ComfyUI's stock ControlNetLoader detects
    its config from the keys.
    """
    import comfy.cldm.cldm
    import comfy.ops

    model = comfy.cldm.cldm.ControlNet(hint_channels=hint_channels, operations=comfy.ops.disable_weight_init,
                                       device="cpu", dtype=torch.float32, **ldm_encoder_config(config))
    shapes = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    values = random_tensors(shapes, seed)
    for key in values:
        if key.startswith(("zero_convs.", "middle_block_out.", "input_hint_block.14.")):
            values[key] = 0.1 * values[key]
    return {f"control_model.{k}": v for k, v in values.items()}


def build_demo_controlnet(path: Path, seed: int = 11) -> Path:
    """Write :func:`demo_controlnet` to ``path`` (.safetensors; needs ComfyUI importable) and return it."""
    path = Path(path)
    state_dict = demo_controlnet(seed)
    save_weights(state_dict, path)
    log.info("wrote a tiny random ControlNet (%d tensors) to %s", len(state_dict), path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write tiny random DiffSensei weights (released layout).")
    parser.add_argument("root", type=Path, help="folder to write image_generator/ into")
    parser.add_argument("--seed", type=int, default=0)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = build_demo_release(ns.root, ns.seed)
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
