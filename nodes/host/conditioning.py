"""ComfyUI CONDITIONING helpers shared by the photo nodes (Manga style preset, Photo to manga)."""

from __future__ import annotations

import logging

import torch

from ...diffsensei_core.errors import InputShapeError

log = logging.getLogger("diffsensei")


def concat_conditioning(first: list, second: list, where: str) -> list:
    """ComfyUI CONDITIONING ``first`` with the tokens of ``second``'s first entry appended (as ConditioningConcat):
    ``(b, n, c)`` + ``(b', m, c)`` → ``(max b, n + m, c)``; the pooled vector and size info stay ``first``'s."""
    if not second:
        return first
    if len(second) > 1:
        log.warning("%s: the style conditioning has %d entries; only the first is appended", where, len(second))
    extra = second[0][0]
    out = []
    for tokens, info in first:
        if tokens.shape[-1] != extra.shape[-1]:
            raise InputShapeError(
                f"{where}: the text conditioning is {tokens.shape[-1]} wide but the style conditioning is "
                f"{extra.shape[-1]} wide; expected the same text encoders for both (a distribution trained for "
                "this checkpoint's CLIP)."
            )
        batch = max(tokens.shape[0], extra.shape[0])
        if {tokens.shape[0], extra.shape[0]} - {1, batch}:
            raise InputShapeError(f"{where}: conditioning batches {tokens.shape[0]} and {extra.shape[0]} differ; "
                                  "expected equal batches or a batch of 1.")
        joined = torch.cat([tokens.expand(batch, -1, -1), extra.to(tokens).expand(batch, -1, -1)], dim=1)
        out.append([joined, info.copy()])
    return out
