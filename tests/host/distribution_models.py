"""Tiny ComfyUI MODELs for the prompt-distribution host tests (call inside a ComfyUI process).

* :func:`tiny_sdxl_unet`: the real SDXL UNet code at a tiny width and a chosen context width, seeded random weights.
  Good for proving that training runs through the real UNet, useless for proving that it learns anything: a random
  UNet barely reacts to its conditioning.
* :func:`reading_unet`: an SDXL ``BaseModel`` (ComfyUI's model sampling, ADM encoding and ``apply_model``) whose
  diffusion network is a :class:`PromptReadingDenoiser`, a stand-in whose noise prediction is driven by the prompt,
  so the best conditioning depends on the reference images.
* :func:`tiny_sd1_unet`: ComfyUI's SD1.x model class with a tiny UNet (no ADM input).
"""

from __future__ import annotations

import comfy.ops
import torch
from torch import nn

from tests.support import random_models

ops = comfy.ops.disable_weight_init  # what ComfyUI's UNet layers use: the Train node's weight wrappers apply

SMALL_SDXL = {"transformer_depth": [0, 0, 1, 1, 1, 1], "transformer_depth_middle": 1,
              "transformer_depth_output": [0, 0, 0, 1, 1, 1, 1, 1, 1]}
TINY_SD1 = {
    "use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 32,
    "num_res_blocks": [1, 1], "channel_mult": [1, 2], "transformer_depth": [1, 1], "transformer_depth_middle": 1,
    "transformer_depth_output": [1, 1, 1, 1], "num_head_channels": 8, "use_linear_in_transformer": False,
    "use_spatial_transformer": True, "legacy": False, "adm_in_channels": None,
    "use_temporal_attention": False, "use_temporal_resblock": False,
}


def _fill(diffusion_model: nn.Module, seed: int) -> None:
    """Seeded weights at a sane activation scale (ComfyUI's ops leave parameters uninitialised)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in diffusion_model.named_parameters():
            values = torch.randn(p.shape, generator=generator)
            p.copy_(values / p[0].numel() ** 0.5 if p.ndim > 1 else (1 + 0.1 * values if name.endswith("weight")
                                                                         else 0.02 * values))


def _patcher(model):
    from comfy import model_patcher

    cpu = torch.device("cpu")
    return model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)


def _sdxl_model(context_dim: int, layout: dict, seed: int):
    from comfy import supported_models

    config = supported_models.SDXL({**random_models.SDXL_LAYOUT, "model_channels": 32, "context_dim": context_dim,
                                    **layout})
    config.unet_config["num_head_channels"] = 8
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, device=torch.device("cpu"))
    _fill(model.diffusion_model, seed)
    return model


def tiny_sdxl_unet(seed: int = 0, *, context_dim: int = 64):
    """random_models' tiny SDXL-layout UNet (all 70 cross-attention sites) with the given context width."""
    return _patcher(_sdxl_model(context_dim, {}, seed))


def tiny_sd1_unet(seed: int = 0, *, context_dim: int = 32):
    """ComfyUI's SD1.x model (EPS, no ADM) with a two-level UNet of cross-attention width ``context_dim``."""
    from comfy import supported_models

    config = supported_models.SD15({**TINY_SD1, "context_dim": context_dim})
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, device=torch.device("cpu"))
    _fill(model.diffusion_model, seed)
    return _patcher(model)


class PromptReadingDenoiser(nn.Module):
    """A diffusion network whose clean-latent estimate comes from the prompt (the ``diffusion_model`` interface).

    m = A·flatten(context) + B·pooled, reshaped to the latent (4, h, w); the noise prediction is that of the exact
    posterior-mean denoiser for latents x₀ ~ N(m, s²): ε̂ = σ(x − m)/(s² + σ²), with x = x_in·√(σ² + 1) (EPS model
    input scaling). The noise-prediction loss is lowest when m is the reference latents' mean, so a prompt that
    lowers it has learned something about the references. ``target`` (latent (4, h, w)) replaces m: the best any
    prompt could do, for comparison.
    """

    def __init__(self, sampling, *, context: tuple[int, int], pooled: int, latent: tuple[int, int],
                 data_std: float = 0.2, scale: float = 0.3, seed: int = 0):
        super().__init__()
        self.sigma_of = sampling.sigma  # a bound method, so model_sampling is not registered twice
        self.latent, self.data_std, self.pooled = latent, data_std, pooled
        outputs = 4 * latent[0] * latent[1]
        inputs = context[0] * context[1]
        self.from_context = ops.Linear(inputs, outputs)
        self.from_pooled = ops.Linear(pooled, outputs, bias=False)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.from_context.weight.copy_(torch.randn(outputs, inputs, generator=generator) * scale / inputs**0.5)
            self.from_context.bias.zero_()
            self.from_pooled.weight.copy_(torch.randn(outputs, pooled, generator=generator) * scale / pooled**0.5)
        self.target: torch.Tensor | None = None

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def forward(self, x_in, timesteps, context=None, y=None, **kwargs):
        sigma = self.sigma_of(timesteps).view(-1, 1, 1, 1)
        x = x_in * (sigma**2 + 1) ** 0.5
        if self.target is not None:
            m = self.target.expand_as(x)
        else:  # SDXL's ADM vector starts with the pooled text vector
            m = (self.from_context(context.flatten(1)) + self.from_pooled(y[:, :self.pooled])).view(-1, 4,
                                                                                                   *self.latent)
        return sigma * (x - m) / (self.data_std**2 + sigma**2)


def reading_unet(*, context_dim: int = 64, pooled: int = 1280, latent: tuple[int, int] = (8, 8), seed: int = 0):
    """An SDXL MODEL whose diffusion network is a :class:`PromptReadingDenoiser` (77 tokens of ``context_dim``)."""
    model = _sdxl_model(context_dim, SMALL_SDXL, seed)
    model.diffusion_model = PromptReadingDenoiser(model.model_sampling, context=(77, context_dim), pooled=pooled,
                                                  latent=latent, seed=seed)
    return _patcher(model)
