"""Character boxes in a panel from its cast and shot, and where each character's head is.

Boxes are relative to the panel (0..1) as in a panel layout. The shot sets how much of the panel's height a figure
takes and where its head is: a close-up fills the panel with a big head, an establishing shot shows small figures in
the lower half. Figures stand side by side in cast order from where reading starts (right for ``rtl``), so the first
speaker's bubble can open the panel; their widths follow the panel's shape (a figure keeps its proportions in a wide
or a tall panel).
"""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Frame:
    """How a shot frames a figure, relative to the panel: the box's top and bottom, its width per unit of height
    (in pixels), and the share of the box's height the head takes (from its top)."""

    top: float
    bottom: float
    width_per_height: float
    head: float


FRAMES = {
    "close-up": Frame(0.12, 1.0, 0.75, 0.55),
    "medium": Frame(0.26, 1.0, 0.5, 0.3),
    "wide shot": Frame(0.34, 0.97, 0.38, 0.2),
    "establishing": Frame(0.56, 0.95, 0.36, 0.2),
}
SIDE = 0.04
"""Figures keep this share of the panel's width free at both sides."""
OVERLAP = 0.15
"""Neighbouring figures may overlap by this share of their width when the panel is narrow."""
HEAD_SIDES = 0.2
"""The head region leaves this share of the box's width out at each side."""
LONE_FIGURE_AT = 0.6
"""A single figure stands this far along the reading direction, leaving the start of the panel to its bubble."""


def default_shot(cast_size: int) -> str:
    return "medium" if cast_size <= 2 else "wide shot"


def character_boxes(count: int, shot: str, aspect: float, direction: str,
                    span: tuple[float, float] = (0.0, 1.0)) -> list[Box]:
    """``count`` boxes in cast order for a panel of width/height ``aspect``, within the horizontal ``span``
    (relative; narrower than the panel when an inset covers one side)."""
    if count == 0:
        return []
    frame = FRAMES[shot]
    lo, hi = span
    side = SIDE * (hi - lo)
    usable = hi - lo - 2 * side
    height = frame.bottom - frame.top
    width = min(frame.width_per_height * height / aspect, usable / count * (1 + OVERLAP), usable)
    boxes = []
    for k in range(count):
        along = LONE_FIGURE_AT if count == 1 else (k + 0.5) / count
        centre = lo + side + usable * (1 - along if direction == "rtl" else along)
        left = min(max(centre - width / 2, lo + side / 2), hi - side / 2 - width)
        boxes.append((left, frame.top, left + width, frame.bottom))
    return boxes


def head_region(box: Box, shot: str) -> Box:
    """The part of a character box where the head is (any coordinates: relative or pixels)."""
    x1, y1, x2, y2 = box
    w = x2 - x1
    return (x1 + HEAD_SIDES * w, y1, x2 - HEAD_SIDES * w, y1 + FRAMES[shot].head * (y2 - y1))
