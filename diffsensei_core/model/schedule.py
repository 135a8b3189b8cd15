"""The released sampler's noise schedule (model spec §7), as a sigma list for any Euler sampler.

DiffSensei samples with diffusers' EulerDiscreteScheduler configured like SDXL base: scaled-linear
betas 0.00085 → 0.012 over 1000 steps, "leading" timestep spacing with offset 1, linear sigma
interpolation, no Karras sigmas. With 30 steps it starts at σ ≈ 11.48 (timestep 958), not at
SDXL's σ_max ≈ 14.61 that ComfyUI's built-in schedulers start from.
"""

from __future__ import annotations

import torch

from ..errors import InputShapeError

TRAIN_STEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012
STEPS_OFFSET = 1


def training_sigmas() -> torch.Tensor:
    """(1000,) float32 σ_t = sqrt((1 − ᾱ_t) / ᾱ_t) for t = 0..999, computed in float32 like the reference."""
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, TRAIN_STEPS, dtype=torch.float32) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5


def leading_timesteps(steps: int) -> torch.Tensor:
    """(steps,) int64 descending timesteps with "leading" spacing and offset 1 (30 steps: 958, 925, …, 1)."""
    if not 1 <= steps <= TRAIN_STEPS:
        raise InputShapeError(f"steps must be 1..{TRAIN_STEPS}; got {steps}.")
    ratio = TRAIN_STEPS // steps
    return (torch.arange(steps, dtype=torch.int64) * ratio).flip(0) + STEPS_OFFSET


def reference_sigmas(steps: int) -> torch.Tensor:
    """(steps + 1,) float32: the reference sampler's sigmas, ending with 0."""
    sigmas = training_sigmas()[leading_timesteps(steps)]
    return torch.cat((sigmas, sigmas.new_zeros(1)))
