"""Demo-only stand-ins that ``run_workflow.py --demo`` uses at run time (never part of the node pack).

The demo weights have no trained text encoder and no real VAE. Two ways to run a graph on them anyway:

* ``workflows/diffsensei_demo.json`` uses two explicit demo nodes: :class:`DiffSenseiDemoConditioning` (seeded
  random tokens of the tiny UNet's context width plus an SDXL pooled vector) and
  :class:`DiffSenseiDemoLatentPreview` (first three latent channels as RGB, scaled up to pixel size).
* The example workflows use the stock SDXL nodes. For them the runner swaps ``CheckpointLoaderSimple`` for
  :class:`DiffSenseiDemoCheckpointLoader` (and ``VAELoader`` for :class:`DiffSenseiDemoVAELoader`): the tiny
  DiffSensei UNet as MODEL, :func:`demo_clip` — ComfyUI's own SDXL text encoder classes with tiny random
  transformers (hidden width = the tiny UNet's context width, pooled 1280; differentiable, so prompt-distribution
  training runs on it too) — and a :class:`DemoVAE` that the
  stock ``VAEDecode``/``VAEEncode`` nodes can call (a fixed channel mix and an 8× resampling, no network).

Everything here exists only so the whole DiffSensei graph runs on a CPU in seconds; the pictures are noise.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("diffsensei")

CATEGORY = "DiffSensei/demo (runner only)"
DEMO_CONTEXT_DIM = 64  # the tiny UNet's cross-attention width (headless/demo_weights.py DEMO_UNET_CONFIG)
POOLED_DIM = 1280  # SDXL's pooled text vector (part of the 2816-wide ADM input)
DEMO_MODEL = "diffsensei_demo/image_generator"  # what the runner builds under models/diffsensei


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


# ------------------------------------------------------------------------------------------------ demo CLIP


def demo_clip(context_dim: int = DEMO_CONTEXT_DIM, seed: int = 3):
    """A real ``comfy.sd.CLIP`` (SDXL structure, ComfyUI's tokenizer) with tiny random transformers whose
    concatenated hidden width is ``context_dim`` and whose pooled vector is SDXL's 1280 (headless/tiny_text_encoders).
    """
    from headless.tiny_text_encoders import tiny_sdxl_clip

    width_l = context_dim // 2
    return tiny_sdxl_clip(seed, width_l=width_l, width_g=context_dim - width_l, pooled_width=POOLED_DIM)


# ------------------------------------------------------------------------------------------------- demo VAE


class DemoVAE:
    """An "autoencoder" with the interface of ``comfy.sd.VAE`` that the stock VAE nodes use, without a network.

    ``decode``: 4 latent channels → 3 image channels through a fixed mix (roughly SDXL's latent-to-RGB look), a
    sigmoid, and an 8× bilinear enlargement; ``encode``: 8× average pooling and the inverse mix. Images are
    ``(B, H, W, 3)`` in [0, 1], latents ``(B, 4, H/8, W/8)``.
    """

    downscale_ratio = 8
    upscale_ratio = 8
    latent_channels = 4
    output_channels = 3
    MIX = torch.tensor([[0.30, 0.25, 0.20], [0.15, 0.30, 0.10], [-0.10, 0.05, 0.35], [-0.20, -0.15, -0.25]])

    def throw_exception_if_invalid(self) -> None:
        return None

    def spacial_compression_decode(self) -> int:
        return self.upscale_ratio

    def spacial_compression_encode(self) -> int:
        return self.downscale_ratio

    def temporal_compression_decode(self):
        return None

    def temporal_compression_encode(self):
        return None

    def vae_encode_crop_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        h = (pixels.shape[1] // 8) * 8
        w = (pixels.shape[2] // 8) * 8
        return pixels[:, :h, :w]

    def decode(self, samples: torch.Tensor, **kwargs) -> torch.Tensor:
        latent = samples.float().cpu()
        if latent.ndim != 4 or latent.shape[1] != self.latent_channels:
            raise ValueError(f"demo VAE: expected a (B, 4, h, w) latent, got {tuple(latent.shape)}")
        rgb = torch.einsum("bchw,cd->bdhw", latent, self.MIX)
        rgb = torch.sigmoid(2.0 * rgb)
        rgb = torch.nn.functional.interpolate(rgb, scale_factor=self.upscale_ratio, mode="bilinear",
                                              align_corners=False)
        return rgb.clamp(0, 1).movedim(1, -1).contiguous()

    def encode(self, pixels: torch.Tensor, **kwargs) -> torch.Tensor:
        image = self.vae_encode_crop_pixels(pixels[..., :3].float().cpu()).movedim(-1, 1)
        image = torch.nn.functional.avg_pool2d(image, self.downscale_ratio)
        centred = torch.logit(image.clamp(0.02, 0.98)) / 2.0
        return torch.einsum("bdhw,dc->bchw", centred, torch.linalg.pinv(self.MIX))

    def decode_tiled(self, samples, *args, **kwargs) -> torch.Tensor:
        return self.decode(samples)

    def encode_tiled(self, pixels, *args, **kwargs) -> torch.Tensor:
        return self.encode(pixels)


# ------------------------------------------------------------------------------------------ loader stand-ins


def _load_diffsensei_model(model_name: str):
    """The tiny DiffSensei UNet as a MODEL, through the pack's own loader node (looked up in ComfyUI's registry)."""
    import nodes  # ComfyUI's nodes.py: the runner and the server import it before any node runs

    loader = nodes.NODE_CLASS_MAPPINGS["DiffSenseiLoadModel"]
    output = loader.execute(model_name=model_name, weight_dtype="default")
    return output.args[0]


class DiffSenseiDemoCheckpointLoader:
    """Stand-in for CheckpointLoaderSimple: tiny DiffSensei UNet, :func:`demo_clip`, :class:`DemoVAE`."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"ckpt_name": ("STRING", {"default": "sd_xl_base_1.0.safetensors",
                                                  "tooltip": "The checkpoint the workflow asked for (not read)."})},
            "optional": {
                "model_name": ("STRING", {"default": DEMO_MODEL,
                                          "tooltip": "The demo DiffSensei release whose UNet is the MODEL output."}),
                "context_dim": ("INT", {"default": DEMO_CONTEXT_DIM, "min": 2, "max": 8192}),
            },
        }

    def load(self, ckpt_name, model_name=DEMO_MODEL, context_dim=DEMO_CONTEXT_DIM):
        log.warning("DEMO: checkpoint %r replaced by the tiny demo UNet (%s), a tiny random SDXL text encoder (context "
                    "width %d) and a demo VAE", ckpt_name, model_name, context_dim)
        return (_load_diffsensei_model(model_name), demo_clip(context_dim), DemoVAE())


class DiffSenseiDemoVAELoader:
    """Stand-in for VAELoader: a :class:`DemoVAE`."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("VAE",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae_name": ("STRING", {"default": "sdxl_vae.safetensors"})}}

    def load(self, vae_name):
        log.warning("DEMO: VAE %r replaced by the demo VAE (no network)", vae_name)
        return (DemoVAE(),)


DEMO_CLIP_VISION = {"model_type": "clip_vision_model", "hidden_size": 48, "intermediate_size": 96,
                    "num_hidden_layers": 2, "num_attention_heads": 2, "num_channels": 3, "image_size": 224,
                    "patch_size": 14, "hidden_act": "gelu", "layer_norm_eps": 1e-5, "projection_dim": POOLED_DIM}


def tiny_clip_vision(seed: int = 5, **config):
    """A real ``comfy.clip_vision.ClipVisionModel`` with tiny seeded random weights; ``image_embeds`` are
    ``projection_dim`` wide (1280 by default, pairing with :func:`demo_clip`'s CLIP-G pooled vector)."""
    import json
    import os
    import tempfile

    import comfy.clip_vision

    handle, path = tempfile.mkstemp(prefix="diffsensei_demo_clip_vision_", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({**DEMO_CLIP_VISION, **config}, out)
        clip_vision = comfy.clip_vision.ClipVisionModel(path)
    finally:
        os.unlink(path)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(clip_vision.model.named_parameters()):
            if "norm" in name:
                parameter.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                values = torch.randn(parameter.shape, generator=generator) * (0.02 if name.endswith("bias") else 0.2)
                parameter.copy_(values.to(parameter.dtype))
    return clip_vision


class DiffSenseiDemoCLIPVisionLoader:
    """Stand-in for CLIPVisionLoader: :func:`tiny_clip_vision` (random; zero-shot scores from it are noise)."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("CLIP_VISION",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip_name": ("STRING", {"default": "clip_vision_g.safetensors",
                                                      "tooltip": "The CLIP vision file the workflow asked for."})}}

    def load(self, clip_name):
        log.warning("DEMO: CLIP vision %r replaced by a tiny random CLIP vision model (projection %d)", clip_name,
                    POOLED_DIM)
        return (tiny_clip_vision(),)


NODE_CLASS_MAPPINGS = {
    "DiffSenseiDemoConditioning": DiffSenseiDemoConditioning,
    "DiffSenseiDemoLatentPreview": DiffSenseiDemoLatentPreview,
    "DiffSenseiDemoCheckpointLoader": DiffSenseiDemoCheckpointLoader,
    "DiffSenseiDemoVAELoader": DiffSenseiDemoVAELoader,
    "DiffSenseiDemoCLIPVisionLoader": DiffSenseiDemoCLIPVisionLoader,
}
