"""Prompt distributions (DreamDistribution) for SDXL-style text encoders: learn K soft prompts from reference
images, fit a diagonal Gaussian after the encoders, sample, scale, mix, re-encode with new text. Pure torch: the
text encoders and the denoising loss come from the host."""

from .artifact import (
    DistributionInfo,
    PromptDistribution,
    TrainingSettings,
    check_encoders,
    describe_training,
    load,
    save,
)
from .gaussian import PromptGaussian, check_gamma, draw, fit, mix, sample, standard_noise
from .losses import ORTHOGONALITY_WEIGHT, noise_mse, orthogonality_loss
from .soft_prompts import EncodedPrompts, EncoderIdentity, PromptEncoder, SoftPrompts, weights_fingerprint
from .training import StepResult, TrainConfig, Trainer, training_step

__all__ = [
    "ORTHOGONALITY_WEIGHT", "DistributionInfo", "EncodedPrompts", "EncoderIdentity", "PromptDistribution",
    "PromptEncoder", "PromptGaussian", "SoftPrompts", "StepResult", "TrainConfig", "Trainer", "TrainingSettings",
    "check_encoders", "check_gamma", "describe_training", "draw", "fit", "load", "mix", "noise_mse",
    "orthogonality_loss", "sample", "save", "standard_noise", "training_step", "weights_fingerprint",
]
