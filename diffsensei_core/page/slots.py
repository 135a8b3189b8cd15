"""Where a speech bubble goes: the hand-off between layouts (panel or page) and lettering."""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]  # (x1, y1, x2, y2) in pixels of the image being lettered, x1 < x2, y1 < y2


@dataclass(frozen=True)
class DialogSlot:
    """One dialog box to letter, in pixels of the target image.

    box: the dialog box (DiffSensei leaves it blank for the bubble);
    characters: the character boxes of the same panel, in their layout order (tail targets: index 0 = character 1);
    panel: reading index of the panel the slot belongs to (0 for a single panel);
    panel_box: that panel's rectangle, or None when the image is the panel itself (the bubble must stay inside it);
    cast: the character numbers the character boxes show, in box order (a page panel's "cast"), or None when box k
    shows character k.
    """

    box: Box
    characters: tuple[Box, ...] = ()
    panel: int = 0
    panel_box: Box | None = None
    cast: tuple[int, ...] | None = None
