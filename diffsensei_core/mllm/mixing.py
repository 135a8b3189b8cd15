"""Character tokens for the MLLM and the mixing of its output with them (model spec §6.4 steps 1, 7, 8).

Shape legend: k character slots (4), q tokens per character (16), c token width (2048).
"""

from __future__ import annotations

import torch

from ..errors import InputShapeError

DEFAULT_MLLM_SCALE = 0.4


def character_tokens(resampler, clip: torch.Tensor, magi: torch.Tensor) -> torch.Tensor:
    """Resampler tokens of all slots without the dummy tokens: clip (1, k, s, c_clip), magi (1, k, c_magi)
    → (1, k·q, c), slot-major, in the resampler's dtype on its device."""
    weight = resampler.proj_in.weight
    with torch.no_grad():
        tokens = resampler(clip.to(weight.device, weight.dtype), magi.to(weight.device, weight.dtype))
    return tokens[:, resampler.num_dummy_tokens:]


def mix_tokens(adapted: torch.Tensor, original: torch.Tensor, mllm_scale: float = DEFAULT_MLLM_SCALE) -> torch.Tensor:
    """``mllm_scale·adapted + (1 − mllm_scale)·original``, both (1, k·q, c); float32 on ``original``'s device.

    The result replaces the character tokens of the conditional branch only; the unconditional branch keeps the
    resampler-of-zeros tokens.
    """
    if adapted.shape != original.shape:
        raise InputShapeError(
            f"MLLM mixing: adapted tokens {tuple(adapted.shape)} and character tokens {tuple(original.shape)} must "
            "have the same shape (1, slots·16, width). Use the same adapter for the MLLM node and Apply."
        )
    if not 0.0 <= float(mllm_scale) <= 1.0:
        raise InputShapeError(f"MLLM mixing: mllm_scale must lie in 0..1, got {mllm_scale}. 0.4 is the default.")
    original = original.float()
    return mllm_scale * adapted.to(original) + (1.0 - mllm_scale) * original
