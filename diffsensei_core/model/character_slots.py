"""Character slots: n characters' features placed into the k slots the resampler reads (model spec §2.3.4).

Shape legend: n real characters, k slots, s CLIP tokens, c_clip / c_magi feature widths.
"""

from __future__ import annotations

import logging

import torch

from ..errors import InputShapeError

logger = logging.getLogger("diffsensei")

TRAINED_SLOTS = 4


def pad_character_features(
    clip: torch.Tensor, magi: torch.Tensor, num_slots: int = TRAINED_SLOTS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Place n characters' features into k = max(num_slots, n) slots, padded slots zeroed.

    clip: (n, s, c_clip), magi: (n, c_magi) → (1, k, s, c_clip), (1, k, c_magi).

    The non-MLLM reference pipeline overwrites the features of padded slots with zeros (spec §2.3.4),
    which makes them identical to the unconditional branch. n = 0 gives all-zero slots. n > num_slots keeps
    every character (the reference would drop the extra ones); the model was trained with 4 slots, so
    this is logged as outside the trained regime.
    """
    if not isinstance(clip, torch.Tensor) or clip.ndim != 3:
        got = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
        raise InputShapeError(
            f"CLIP character features: expected (characters, tokens, width), e.g. (n, 257, 1280); got {got}. "
            "Pass one row of penultimate CLIP hidden states per character image."
        )
    if not isinstance(magi, torch.Tensor) or magi.ndim != 2 or magi.shape[0] != clip.shape[0]:
        got = tuple(magi.shape) if isinstance(magi, torch.Tensor) else type(magi).__name__
        raise InputShapeError(
            f"Magi character features: expected ({clip.shape[0]}, width), one CLS vector per character to match "
            f"the CLIP features {tuple(clip.shape)}; got {got}. Encode every reference image with both encoders."
        )
    if num_slots < 1:
        raise InputShapeError(
            f"num_slots: expected at least 1 character slot (the released model uses {TRAINED_SLOTS}); got "
            f"{num_slots}. Pass num_slots={TRAINED_SLOTS}."
        )
    count = clip.shape[0]
    slots = max(num_slots, count)
    if count > num_slots:
        logger.info(
            "%d characters in %d slots: more than the %d slots the model was trained with, outside the trained "
            "regime (the reference drops characters beyond the 4th)",
            count,
            slots,
            num_slots,
        )
    clip_slots = clip.new_zeros((1, slots, *clip.shape[1:]))
    magi_slots = magi.new_zeros((1, slots, magi.shape[1]))
    clip_slots[0, :count] = clip
    magi_slots[0, :count] = magi
    return clip_slots, magi_slots
