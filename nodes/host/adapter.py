"""DIFFSENSEI_ADAPTER: the per-site character weights, the dialog embedding and the resampler, managed
by ComfyUI's memory manager (a ModelPatcher moves them to the GPU with the UNet and back)."""

from __future__ import annotations

import logging

import comfy.model_management as mm
import comfy.model_patcher
import torch
from torch import nn

from ...diffsensei_core.model.checkpoint import AdapterWeights

log = logging.getLogger("diffsensei")


class AdapterModule(nn.Module):
    """Holds the tensors. site_k[i] / site_v[i]: (inner_i, c_ctx); dialog_embedding: (c0,)."""

    def __init__(self, weights: AdapterWeights, dtype: torch.dtype):
        super().__init__()
        self.site_k = nn.ParameterList(nn.Parameter(s.to_k.to(dtype), requires_grad=False) for s in weights.sites)
        self.site_v = nn.ParameterList(nn.Parameter(s.to_v.to(dtype), requires_grad=False) for s in weights.sites)
        self.dialog_embedding = nn.Parameter(weights.dialog_embedding.to(dtype), requires_grad=False)
        self.resampler = weights.resampler().to(dtype).eval().requires_grad_(False)


class DiffSenseiAdapter:
    """What Load model / Load adapter output. Immutable after construction (caches aside)."""

    def __init__(self, weights: AdapterWeights, *, dtype: torch.dtype, source: str, unet=None):
        self.source = source
        self.site_keys = tuple(site.key for site in weights.sites)
        self.site_shapes = tuple(tuple(site.to_k.shape) for site in weights.sites)
        self.context_dim = weights.context_dim
        self.module = AdapterModule(weights, dtype)
        self.patcher = comfy.model_patcher.ModelPatcher(
            self.module, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device()
        )
        self.trained_unet = unet
        """The diffusion model this adapter was loaded with (None for Load adapter)."""
        self._uncond_tokens: dict[tuple[int, int], torch.Tensor] = {}

    @property
    def num_sites(self) -> int:
        return len(self.site_keys)

    @property
    def dtype(self) -> torch.dtype:
        return self.module.dialog_embedding.dtype

    def unconditional_tokens(self, num_slots: int, clip_tokens: int) -> torch.Tensor:
        """(1, m, c) resampler-of-zeros tokens; computed once per slot count for this checkpoint."""
        key = (num_slots, clip_tokens)
        if key not in self._uncond_tokens:
            mm.load_models_gpu([self.patcher])
            tokens = self.module.resampler.unconditional_tokens(num_slots, clip_tokens=clip_tokens)
            self._uncond_tokens[key] = tokens.to(mm.intermediate_device())
        return self._uncond_tokens[key]

    def __deepcopy__(self, memo):
        return self  # weights are shared, never copied (ComfyUI deep-copies model_options on clone)
