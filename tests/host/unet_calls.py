"""Calling a ComfyUI UNet the way its sampler does, on the golden CFG batch (shared by the host tests)."""

from __future__ import annotations

import torch


def case(golden: dict, name: str) -> dict:
    return {k.split(".", 1)[1]: v for k, v in golden.items() if k.startswith(name + ".")}


def sdxl_adm(model, pooled: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
    """y = [pooled ‖ 256-wide sinusoid of each of the 6 time ids], built by ComfyUI's own SDXL.encode_adm.

    diffusers' time ids (orig h, orig w, crop top, crop left, target h, target w) are exactly the
    height/width/crop_h/crop_w/target_height/target_width that ComfyUI's CLIPTextEncodeSDXL stores.
    """
    names = ("height", "width", "crop_h", "crop_w", "target_height", "target_width")
    rows = []
    for i in range(pooled.shape[0]):
        sizes = {n: float(v) for n, v in zip(names, time_ids[i], strict=True)}
        rows.append(model.encode_adm(pooled_output=pooled[i : i + 1], **sizes))
    return torch.cat(rows)


def unet_eps(patcher, data: dict, transformer_options: dict | None = None) -> torch.Tensor:
    """The bare UNet's noise prediction for the golden CFG batch (rows [uncond, cond]), called as ComfyUI does."""
    model = patcher.model
    dtype = model.get_dtype() if model.manual_cast_dtype is None else model.manual_cast_dtype
    rows = data["text"].shape[0]
    x = data["x"].repeat(rows, 1, 1, 1).to(dtype)
    t = data["t"].float().repeat(rows)
    y = sdxl_adm(model, data["pooled"], data["time_ids"]).to(dtype)
    with torch.inference_mode():
        out = model.diffusion_model(x, t, context=data["text"].to(dtype), y=y,
                                    transformer_options=dict(transformer_options or {}))
    return out.float()
