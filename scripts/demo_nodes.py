"""Demo-only helper nodes that ``run_workflow.py --demo`` registers at run time (never part of the node pack).

The demo weights have no text encoder and no VAE, so the demo workflow takes its text conditioning from
:class:`DiffSenseiDemoConditioning` (seeded random tokens of the tiny UNet's context width plus an SDXL pooled
vector) and shows the sampled latent through :class:`DiffSenseiDemoLatentPreview` (first three latent channels as
RGB, scaled up to pixel size). Both exist only so the whole DiffSensei graph runs on a CPU in seconds.
"""

from __future__ import annotations

import torch

CATEGORY = "DiffSensei/demo (runner only)"


class DiffSenseiDemoConditioning:
    """Random SDXL-shaped CONDITIONING: ``rows`` tokens of width ``context_dim`` and a 1280-wide pooled vector."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "width": ("INT", {"default": 1024, "min": 8, "max": 16384, "step": 8}),
            "height": ("INT", {"default": 1024, "min": 8, "max": 16384, "step": 8}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF}),
            "context_dim": ("INT", {"default": 2048, "min": 1, "max": 8192}),
            "rows": ("INT", {"default": 77, "min": 1, "max": 1024}),
        }}

    def build(self, width, height, seed, context_dim, rows):
        generator = torch.Generator().manual_seed(seed)
        tokens = torch.randn((1, rows, context_dim), generator=generator)
        pooled = torch.randn((1, 1280), generator=generator)
        extra = {"pooled_output": pooled, "width": width, "height": height, "crop_w": 0, "crop_h": 0,
                 "target_width": width, "target_height": height}
        return ([[tokens, extra]],)


class DiffSenseiDemoLatentPreview:
    """LATENT → IMAGE without a VAE: channels 0–2 min-max scaled to [0, 1], enlarged ``scale`` times (nearest)."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "preview"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "samples": ("LATENT",),
            "scale": ("INT", {"default": 8, "min": 1, "max": 16}),
        }}

    def preview(self, samples, scale):
        latent = samples["samples"].float()[:, :3]
        low = latent.amin(dim=(1, 2, 3), keepdim=True)
        high = latent.amax(dim=(1, 2, 3), keepdim=True)
        rgb = ((latent - low) / (high - low).clamp_min(1e-6)).nan_to_num(0.0)
        rgb = torch.nn.functional.interpolate(rgb, scale_factor=scale, mode="nearest")
        return (rgb.permute(0, 2, 3, 1).contiguous(),)


NODE_CLASS_MAPPINGS = {
    "DiffSenseiDemoConditioning": DiffSenseiDemoConditioning,
    "DiffSenseiDemoLatentPreview": DiffSenseiDemoLatentPreview,
}
