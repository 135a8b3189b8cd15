"""A real ComfyUI SDXL text encoder (``comfy.sd.CLIP``) with narrow widths and seeded random weights.

ComfyUI's own classes run unchanged — SDXL tokenizer (CLIP BPE from ComfyUI's bundled files), ``SDXLClipModel``
with a CLIP-L and an OpenCLIP-G transformer, penultimate-layer hidden states, projected pooled vector — only the
widths and depths are shrunk through ComfyUI's ``clip_l_model_config`` / ``clip_g_model_config`` model options:

* hidden states ``(1, 77·chunks, width_l + width_g)`` = 32 + 32 = 64 by default, the demo UNet's context width;
* pooled ``(1, pooled_width)``: CLIP-G's text projection is swapped for a ``width_g → pooled_width`` linear map
  (1280 by default), so the vector fits SDXL's 2816-wide ADM input like the real one.

Its weights are frozen. ComfyUI's own CLIP layers add residuals in place, so autograd cannot run through
``CLIP.encode_from_tokens``; prompt-distribution training (nodes/text_embeds.py) runs the same layers out of place and
a host test checks both agree. No file is read except the tokenizer ComfyUI ships; nothing is downloaded.

:func:`tiny_sd1_clip` does the same for SD1.x (``SD1ClipModel``: CLIP-L alone, last layer, pooled = the end
token's unprojected state, so pooled width = hidden width).
"""

from __future__ import annotations

import torch

TINY_WIDTH_L = 32
TINY_WIDTH_G = 32
POOLED_WIDTH = 1280
TINY_LAYERS = 3  # SDXL takes the penultimate layer, so at least 2


def _text_config(width: int, layers: int, heads: int) -> dict:
    return {"hidden_size": width, "intermediate_size": 2 * width, "num_hidden_layers": layers,
            "num_attention_heads": heads}


def randomise_weights(module: torch.nn.Module, seed: int) -> None:
    """Seeded weights for every parameter (ComfyUI's ops skip initialisation, leaving memory uninitialised)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(module.named_parameters()):
            if "layer_norm" in name or "norm" in name.split(".")[-2]:
                parameter.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                parameter.zero_()
            elif name.endswith("logit_scale"):
                parameter.fill_(4.6055)
            else:
                values = torch.randn(parameter.shape, generator=generator, dtype=torch.float32) * 0.02
                if "embedding" in name:
                    values *= 50.0  # token/position rows of unit scale, as in trained CLIPs
                parameter.copy_(values.to(parameter.dtype))


def tiny_sdxl_clip(seed: int = 0, *, width_l: int = TINY_WIDTH_L, width_g: int = TINY_WIDTH_G,
                   pooled_width: int = POOLED_WIDTH, layers: int = TINY_LAYERS, heads: int = 2):
    """``comfy.sd.CLIP`` of SDXL's structure with tiny random transformers (call inside a ComfyUI process)."""
    import comfy.ops
    import comfy.sd
    import comfy.sdxl_clip
    import comfy.supported_models_base

    target = comfy.supported_models_base.ClipTarget(comfy.sdxl_clip.SDXLTokenizer, comfy.sdxl_clip.SDXLClipModel)
    options = {
        "clip_l_model_config": _text_config(width_l, layers, heads),
        "clip_g_model_config": _text_config(width_g, layers, heads),
        "dtype": torch.float32,
    }
    clip = comfy.sd.CLIP(target=target, model_options=options)
    encoder_g = clip.cond_stage_model.clip_g.transformer
    device = encoder_g.text_projection.weight.device
    encoder_g.text_projection = comfy.ops.manual_cast.Linear(width_g, pooled_width, bias=False, device=device,
                                                             dtype=torch.float32)
    randomise_weights(clip.cond_stage_model, seed)
    for parameter in clip.cond_stage_model.parameters():
        parameter.requires_grad_(False)
    return clip


def tiny_sd1_clip(seed: int = 0, *, width: int = TINY_WIDTH_L, layers: int = TINY_LAYERS, heads: int = 2):
    """``comfy.sd.CLIP`` of SD1.x's structure (tokenizer + CLIP-L) with a tiny random transformer: hidden states
    ``(1, 77·chunks, width)``, pooled ``(1, width)`` (call inside a ComfyUI process)."""
    import comfy.sd
    import comfy.sd1_clip
    import comfy.supported_models_base

    target = comfy.supported_models_base.ClipTarget(comfy.sd1_clip.SD1Tokenizer, comfy.sd1_clip.SD1ClipModel)
    options = {"clip_l_model_config": _text_config(width, layers, heads), "dtype": torch.float32}
    clip = comfy.sd.CLIP(target=target, model_options=options)
    randomise_weights(clip.cond_stage_model, seed)
    for parameter in clip.cond_stage_model.parameters():
        parameter.requires_grad_(False)
    return clip
