"""Training losses: the orthogonality term between the K prompts and the noise-prediction MSE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

ORTHOGONALITY_WEIGHT = 1e-3  # the paper's weight


def orthogonality_loss(pooled: torch.Tensor) -> torch.Tensor:
    """Mean squared off-diagonal cosine similarity of the K L2-normalised pooled end-token features (K, P) → scalar."""
    features = F.normalize(pooled.float(), dim=-1)
    similarity = features @ features.T
    count = similarity.shape[0]
    off_diagonal = similarity[~torch.eye(count, dtype=torch.bool, device=similarity.device)]
    return off_diagonal.square().mean()


def noise_mse(predicted: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted and true noise, in float32 (any matching shapes) → scalar."""
    return F.mse_loss(predicted.float(), noise.float())
