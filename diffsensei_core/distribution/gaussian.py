"""The prompt distribution after the text encoders: a diagonal Gaussian over the (L, D) sequence and the pooled vector.

Sampling is μ + γ·ε·σ with an explicit ε; one seed draws the sequence noise and then the pooled noise, so the
same seed always gives the same (sequence, pooled) pair. Mixing weighted distributions sums independent Gaussians:
μ = Σ wᵢμᵢ, σ = √Σ (wᵢγᵢσᵢ)² (weights normalised to sum 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import DistributionError
from .soft_prompts import EncodedPrompts


@dataclass(frozen=True, eq=False)
class PromptGaussian:
    """mean, std: (L, D); pooled_mean, pooled_std: (P,). All float32."""

    mean: torch.Tensor
    std: torch.Tensor
    pooled_mean: torch.Tensor
    pooled_std: torch.Tensor

    @property
    def sequence_shape(self) -> tuple[int, int]:
        return tuple(self.mean.shape)

    @property
    def pooled_width(self) -> int:
        return self.pooled_mean.shape[0]

    def scaled(self, gamma: float) -> PromptGaussian:
        """The same mean with the spread multiplied by γ (γ = 0: the mean prompt only)."""
        check_gamma(gamma)
        return PromptGaussian(self.mean, self.std * gamma, self.pooled_mean, self.pooled_std * gamma)

    def to(self, device: torch.device | str) -> PromptGaussian:
        return PromptGaussian(self.mean.to(device), self.std.to(device), self.pooled_mean.to(device),
                              self.pooled_std.to(device))


def check_gamma(gamma: float, where: str = "gamma") -> None:
    if not (gamma >= 0 and math.isfinite(gamma)):  # also rejects NaN and inf
        raise DistributionError(f"input '{where}': expected a finite γ ≥ 0, got {gamma}; use 0 for the mean prompt, 1 "
                                "for the learned spread, 2 for more variety")


def fit(encoded: EncodedPrompts) -> PromptGaussian:
    """Per-position, per-channel mean and std over the K encoded prompts: hidden (K, L, D), pooled (K, P).

    The std is the unbiased one (divisor K − 1), as the paper's code computes it both in training and when fitting
    for sampling; with K = 32 it is 1.6 % wider than the divisor-K std."""
    if encoded.hidden.shape[0] < 2:
        raise DistributionError(f"fitting a spread needs at least 2 encoded prompts, got {encoded.hidden.shape[0]}")
    hidden, pooled = encoded.hidden.float(), encoded.pooled.float()
    return PromptGaussian(hidden.mean(0), hidden.std(0), pooled.mean(0), pooled.std(0))


def standard_noise(gaussian: PromptGaussian, batch: int, *, seed: int | None = None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """ε for ``batch`` samples: sequence (B, L, D) then pooled (B, P), drawn on the CPU in that order."""
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed or 0))
    eps = torch.randn((batch, *gaussian.mean.shape), generator=generator)
    eps_pooled = torch.randn((batch, gaussian.pooled_width), generator=generator)
    device = gaussian.mean.device
    return eps.to(device), eps_pooled.to(device)


def sample(gaussian: PromptGaussian, eps: torch.Tensor, eps_pooled: torch.Tensor, gamma: float = 1.0
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """μ + γ·(ε·σ): hidden (B, L, D), pooled (B, P). Differentiable in μ and σ (the reparameterisation)."""
    check_gamma(gamma)
    hidden = gaussian.mean + (eps * gaussian.std) * gamma
    pooled = gaussian.pooled_mean + (eps_pooled * gaussian.pooled_std) * gamma
    return hidden, pooled


def draw(gaussian: PromptGaussian, *, batch: int, seed: int, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` samples with the seeded ε: the same seed and γ always give the same tensors."""
    return sample(gaussian, *standard_noise(gaussian, batch, seed=seed), gamma)


def mix(gaussians: Sequence[PromptGaussian], weights: Sequence[float], gammas: Sequence[float]) -> PromptGaussian:
    """μ = Σ wᵢμᵢ, σ = √Σ (wᵢγᵢσᵢ)² with w normalised to sum 1 (a weighted sum of independent Gaussians)."""
    if not (len(gaussians) == len(weights) == len(gammas)) or len(gaussians) < 1:
        raise DistributionError(f"mixing needs one weight and one γ per distribution, got {len(gaussians)} "
                                f"distributions, {len(weights)} weights, {len(gammas)} γ")
    for index, (weight, gamma) in enumerate(zip(weights, gammas, strict=True), start=1):
        if not weight >= 0:
            raise DistributionError(f"input 'weight_{index}': expected a weight ≥ 0, got {weight}; weights are "
                                    "normalised to sum 1, use 0 to leave a distribution out")
        check_gamma(gamma, f"gamma_{index}")
    total = float(sum(weights))
    if total <= 0:
        raise DistributionError(f"mixing weights sum to {total}; give at least one distribution a weight > 0")
    first = gaussians[0]
    for index, other in enumerate(gaussians[1:], start=2):
        if other.mean.shape != first.mean.shape or other.pooled_mean.shape != first.pooled_mean.shape:
            raise DistributionError(
                f"distribution {index} has sequence {tuple(other.mean.shape)} and pooled {other.pooled_width}, "
                f"distribution 1 has {tuple(first.mean.shape)} and {first.pooled_width}; mix only distributions "
                "trained with the same text encoders")
    w = [weight / total for weight in weights]
    mean = sum(wi * g.mean for wi, g in zip(w, gaussians, strict=True))
    var = sum((wi * gi * g.std) ** 2 for wi, gi, g in zip(w, gammas, gaussians, strict=True))
    pooled_mean = sum(wi * g.pooled_mean for wi, g in zip(w, gaussians, strict=True))
    pooled_var = sum((wi * gi * g.pooled_std) ** 2 for wi, gi, g in zip(w, gammas, gaussians, strict=True))
    return PromptGaussian(mean, var.sqrt(), pooled_mean, pooled_var.sqrt())
