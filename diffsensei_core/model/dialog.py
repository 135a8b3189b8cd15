"""Dialog-layout embedding (model spec §5).

One learned vector (the width of the UNet's first block, 320 for SDXL) is added to the features
right after the UNet's input convolution, inside the union of the panel's dialog boxes, for
conditional rows only; unconditional rows get nothing.
"""

from __future__ import annotations

import torch

from ..errors import InputShapeError


def add_dialog_embedding(h: torch.Tensor, embedding: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """h: (b, c, H, W) features after conv_in; embedding: (c,); region: (b, 1, H, W) 0/1 per row.

    Returns h + region · embedding (a new tensor). The reference sets the vector into a zero map and
    adds it once, so overlapping boxes add it once too: ``region`` is a union, never a count.
    """
    if embedding.ndim != 1 or embedding.shape[0] != h.shape[1]:
        raise InputShapeError(
            f"the dialog embedding has {tuple(embedding.shape)} values but the UNet's first block has "
            f"{h.shape[1]} channels; the adapter belongs to a UNet of another width."
        )
    if region.shape != (h.shape[0], 1, *h.shape[2:]):
        raise InputShapeError(
            f"dialog region is {tuple(region.shape)}, expected {(h.shape[0], 1, *h.shape[2:])} for features "
            f"{tuple(h.shape)}."
        )
    vector = embedding.to(device=h.device, dtype=h.dtype).view(1, -1, 1, 1)
    return h + region.to(h.dtype) * vector
