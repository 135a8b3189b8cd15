"""A page in pixels: ``PageLayout`` (size, dpi, reading direction, margins) and its panels (``PagePanel``, each
with its DiffSensei boxes), and the size a panel is generated at. ``layout.py`` builds these from the page JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ..errors import LayoutError
from ..model.panel_layout import MAX_PANEL_SIZE, MIN_PANEL_SIZE, PANEL_SIZE_STEP, Box, PanelLayout, make_layout
from .cast import Cast
from .geometry import Point, rect_polygon
from .presets import CUSTOM
from .slots import DialogSlot

GENERATION_SCALE = 1024
"""DiffSensei (SDXL) was trained around 1024² pixels; panels are generated near that area."""


@dataclass(frozen=True)
class PagePanel:
    """One panel: its rectangle and outline in page pixels, reading index, border and DiffSensei boxes.

    rect: (x1, y1, x2, y2) page pixels (the bounding rectangle of ``polygon`` when there is one);
    polygon: None for a rectangle, else the convex outline, clockwise, in page pixels;
    characters/dialogs: boxes relative to ``rect`` (0..1), as in a panel layout;
    cast: the character numbers (1-based) its character boxes show, in box order, or None for every character
    (see ``cast.py``);
    parent: reading index of the panel an inset lies inside, or None.
    """

    rect: tuple[int, int, int, int]
    index: int
    border: int
    polygon: tuple[tuple[int, int], ...] | None = None
    characters: tuple[Box, ...] = ()
    dialogs: tuple[Box, ...] = ()
    prompt: str = ""
    parent: int | None = None
    cast: Cast | None = None

    @property
    def width(self) -> int:
        return self.rect[2] - self.rect[0]

    @property
    def height(self) -> int:
        return self.rect[3] - self.rect[1]

    @property
    def aspect(self) -> float:
        """Width / height."""
        return self.width / self.height

    @property
    def outline(self) -> tuple[Point, ...]:
        return self.polygon if self.polygon is not None else rect_polygon(self.rect)

    def to_page(self, box: Box) -> Box:
        """A box relative to this panel → page pixels."""
        x1, y1, _, _ = self.rect
        w, h = self.width, self.height
        return (x1 + box[0] * w, y1 + box[1] * h, x1 + box[2] * w, y1 + box[3] * h)

    def panel_layout(self, scale: int = GENERATION_SCALE) -> PanelLayout:
        """The DiffSensei layout to generate this panel with: its boxes at ``generation_size(aspect, scale)``."""
        w, h = generation_size(self.aspect, scale)
        return make_layout(w, h, self.characters, self.dialogs)


@dataclass(frozen=True)
class PageLayout:
    """A page in pixels; ``panels`` sorted in reading order (``panels[k].index == k``)."""

    width: int
    height: int
    dpi: int
    direction: str
    margin: int
    gutter: int
    border: int
    panels: tuple[PagePanel, ...] = field(default_factory=tuple)

    def dialog_slots(self) -> list[DialogSlot]:
        """Every dialog box of the page in reading order (panels in order, each panel's dialogs in layout order),
        with that panel's character boxes, all in page pixels."""
        slots = []
        for panel in self.panels:
            characters = tuple(panel.to_page(c) for c in panel.characters)
            panel_box = tuple(float(c) for c in panel.rect)
            for dialog in panel.dialogs:
                slots.append(DialogSlot(box=panel.to_page(dialog), characters=characters, panel=panel.index,
                                        panel_box=panel_box, cast=panel.cast))
        return slots

    def panel_layouts(self, scale: int = GENERATION_SCALE) -> list[PanelLayout]:
        return [panel.panel_layout(scale) for panel in self.panels]

    def to_dict(self) -> dict:
        def rel(x: float, y: float) -> list[float]:
            return [x / self.width, y / self.height]

        panels = []
        for p in self.panels:
            entry: dict = {"box": [*rel(*p.rect[:2]), *rel(*p.rect[2:])]}
            if p.polygon is not None:
                entry["polygon"] = [rel(x, y) for x, y in p.polygon]
            entry["border"] = p.border
            entry["characters"] = [list(b) for b in p.characters]
            entry["dialogs"] = [list(b) for b in p.dialogs]
            if p.cast is not None:
                entry["cast"] = list(p.cast)
            if p.prompt:
                entry["prompt"] = p.prompt
            panels.append(entry)
        return {"width": self.width, "height": self.height, "dpi": self.dpi, "direction": self.direction,
                "margin": self.margin, "gutter": self.gutter, "border": self.border, "preset": CUSTOM,
                "panels": panels}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def generation_size(aspect: float, scale: int = GENERATION_SCALE) -> tuple[int, int]:
    """(width, height) with width/height ≈ ``aspect`` and area ≈ scale², multiples of 8 within the panel limits.

    Very long panels are clamped to the limits (MIN/MAX_PANEL_SIZE), keeping the aspect while that is possible.
    """
    if not (math.isfinite(aspect) and aspect > 0):
        raise LayoutError(f"a panel's aspect ratio must be a positive number; got {aspect!r}.")
    w, h = scale * math.sqrt(aspect), scale / math.sqrt(aspect)
    shrink = min(1.0, MAX_PANEL_SIZE / w, MAX_PANEL_SIZE / h)
    w, h = w * shrink, h * shrink
    grow = max(1.0, MIN_PANEL_SIZE / w, MIN_PANEL_SIZE / h)
    w, h = w * grow, h * grow

    def snap(side: float) -> int:
        return int(min(MAX_PANEL_SIZE, max(MIN_PANEL_SIZE, round(side / PANEL_SIZE_STEP) * PANEL_SIZE_STEP)))

    return snap(w), snap(h)
