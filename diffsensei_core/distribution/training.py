"""One training step and the loop: encode the K prompts, fit μ/σ, draw M reparameterised samples, denoising loss
(host-supplied) + orthogonality loss, one optimiser step. Non-finite losses or contexts stop training and leave
the last good state in place; an exception from the step or the step callback (e.g. the host's interrupt) does too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .gaussian import PromptGaussian, fit, sample, standard_noise
from .losses import ORTHOGONALITY_WEIGHT, orthogonality_loss
from .soft_prompts import PromptEncoder, SoftPrompts

log = logging.getLogger("diffsensei")

DenoiseLoss = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
"""``loss(hidden (S, L, D), pooled (S, P), generator) → scalar``: the frozen UNet's noise-prediction MSE for the S
sampled conditionings (S = ``TrainConfig.samples``) on reference images the host picks, noises and times with
``generator`` (the Train node: S = B images × M samples, each image with its own M)."""


@dataclass(frozen=True)
class StepResult:
    step: int  # 1-based
    loss: float
    denoise: float
    orthogonality: float

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss)


@dataclass
class TrainConfig:
    steps: int = 1000
    learning_rate: float = 1e-3
    samples: int = 3  # reparameterised samples drawn per step (M per image × images per step)
    seed: int = 0
    orthogonality_weight: float = ORTHOGONALITY_WEIGHT


def training_step(prompts: SoftPrompts, encoder: PromptEncoder, denoise_loss: DenoiseLoss,
                  optimizer: torch.optim.Optimizer, *, samples: int, generator: torch.Generator,
                  orthogonality_weight: float = ORTHOGONALITY_WEIGHT, step: int = 1) -> StepResult:
    """One step; the optimiser only steps when the loss is finite."""
    encoded = encoder(prompts.tensors())
    gaussian = fit(encoded)
    hidden, pooled = sample(gaussian, *standard_noise(gaussian, samples, generator=generator))
    denoise = denoise_loss(hidden, pooled, generator)
    orthogonality = orthogonality_loss(encoded.pooled)
    loss = denoise + orthogonality_weight * orthogonality
    result = StepResult(step, float(loss.detach()), float(denoise.detach()), float(orthogonality.detach()))
    if result.finite:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return result


@dataclass
class Trainer:
    """Runs :func:`training_step` ``config.steps`` times. After :meth:`run` returns or raises, ``prompts`` hold the
    last good state (the contexts after the last finite step), ``history`` the finite steps' results and
    ``stopped`` why training ended early, e.g. "step 4: loss nan" (None when all steps ran)."""

    prompts: SoftPrompts
    encoder: PromptEncoder
    denoise_loss: DenoiseLoss
    config: TrainConfig
    on_step: Callable[[StepResult], None] | None = None
    history: list[StepResult] = field(default_factory=list)
    stopped: str | None = None

    @property
    def steps_done(self) -> int:
        return len(self.history)

    @property
    def last_loss(self) -> float | None:
        return self.history[-1].loss if self.history else None

    def run(self) -> Trainer:
        config = self.config
        optimizer = torch.optim.AdamW(self.prompts.parameters(), lr=config.learning_rate, weight_decay=0.0)
        generator = torch.Generator().manual_seed(config.seed)
        good = self.prompts.snapshot()
        try:
            for step in range(1, config.steps + 1):
                result = training_step(self.prompts, self.encoder, self.denoise_loss, optimizer,
                                       samples=config.samples, generator=generator,
                                       orthogonality_weight=config.orthogonality_weight, step=step)
                if not result.finite or not self.prompts.is_finite():
                    what = f"loss {result.loss}" if not result.finite else "contexts became non-finite"
                    self.stopped = f"step {step}: {what}"
                    log.warning("prompt distribution: %s; training stopped, the state after step %d is kept (try a "
                                "lower learning rate)", self.stopped, step - 1)
                    break
                good = self.prompts.snapshot()
                self.history.append(result)
                if self.on_step is not None:
                    self.on_step(result)
        finally:
            self.prompts.restore(good)
        return self

    def fitted(self) -> PromptGaussian:
        """μ/σ of the current (last good) contexts, without gradients."""
        with torch.no_grad():
            return fit(self.encoder(self.prompts.tensors()))
