"""The masks that place characters and dialog bubbles (model spec §4.3 and §5).

* the character attention bias over a token grid h×w: (h·w, num_dummy + k·q) additive bias,
  0 where a token may be attended, ``MASKED`` elsewhere;
* the dialog region at feature resolution: (h, w) booleans, with the reference's ``int()``
  truncation and exclusive end;
* the token grid the bias is laid on: the true one (default) or the reference's guess.
"""

from __future__ import annotations

import math

import torch

from ..errors import LayoutError

MASKED = -10000.0
"""The reference's additive bias for hidden tokens: large and finite, never -inf."""

TOKEN_GRIDS = ("true", "reference")
"""How an attention site's token grid is found: the host's true (h, w), or the reference's guess from the token
count and the latent's aspect ratio (:func:`reference_token_grid`), for exact reproduction of the official code."""


def character_attention_bias(
    boxes: torch.Tensor,
    grid_h: int,
    grid_w: int,
    *,
    num_dummy_tokens: int = 16,
    tokens_per_character: int = 16,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Additive attention bias for the character tokens on an explicit grid_h × grid_w token grid.

    boxes: (k, 4) relative [x1, y1, x2, y2], one per slot (zero boxes for padded slots).
    Returns (grid_h·grid_w, num_dummy + k·q), token order [dummy, slot 0, slot 1, …], rows in
    row-major grid order. Grid points are linspace(0, 1, ·) (edges included) and the box test is
    inclusive, so a zero box still covers the top-left point, as in the released model (§4.3).
    """
    boxes = boxes.to(device=device, dtype=torch.float32)
    xs = torch.linspace(0, 1, grid_w, device=boxes.device)
    ys = torch.linspace(0, 1, grid_h, device=boxes.device)
    x1, y1, x2, y2 = (boxes[:, i, None] for i in range(4))
    in_x = (x1 <= xs) & (xs <= x2)  # (k, w)
    in_y = (y1 <= ys) & (ys <= y2)  # (k, h)
    inside = (in_y[:, :, None] & in_x[:, None, :]).flatten(1).T  # (h·w, k)
    visible = torch.cat(
        (
            (~inside.any(dim=1, keepdim=True)).expand(-1, num_dummy_tokens),
            inside.repeat_interleave(tokens_per_character, dim=1),
        ),
        dim=1,
    )
    bias = torch.zeros(visible.shape, dtype=dtype, device=boxes.device)
    return bias.masked_fill_(~visible, MASKED)


def dialog_region(
    boxes: torch.Tensor,
    height: int,
    width: int,
    *,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """(height, width) bool: the union of the dialog boxes at feature resolution.

    Like the reference (§5): box × size computed in ``dtype`` (the UNet's), truncated with int(),
    start inclusive, end exclusive, clamped to the map.
    """
    region = torch.zeros(height, width, dtype=torch.bool, device=boxes.device)
    scale = torch.tensor([width, height, width, height], dtype=dtype, device=boxes.device)
    for x1, y1, x2, y2 in (boxes.to(dtype) * scale).trunc().long().tolist():
        region[max(y1, 0) : min(y2, height), max(x1, 0) : min(x2, width)] = True
    return region


def reference_token_grid(num_tokens: int, aspect_ratio: float) -> tuple[int, int]:
    """The reference's guess of a feature map's (h, w) from its token count and H/W ratio (§4.3).

    Kept for parity studies only: it can return a wrong, even transposed, grid for odd latent
    sizes (17×60 → level 2 gives 3×25 instead of 5×15). The pack uses the true grid.
    """
    w = int(math.sqrt(num_tokens / aspect_ratio))
    h = num_tokens // w
    while w * h != num_tokens:
        w += 1 if w * h < num_tokens else -1
        h = num_tokens // w
    return h, w


def site_token_grid(kind: str, grid_h: int, grid_w: int, latent_h: int, latent_w: int) -> tuple[int, int]:
    """The (h, w) grid a site's bias is built on: the true ``grid_h × grid_w``, or with ``kind == "reference"`` the
    official code's guess from the token count and the latent's aspect ratio ``latent_h / latent_w``."""
    if kind == "true":
        return grid_h, grid_w
    if kind == "reference":
        return reference_token_grid(grid_h * grid_w, latent_h / latent_w)
    raise LayoutError(f"token grid must be one of {TOKEN_GRIDS}; got {kind!r}.")
