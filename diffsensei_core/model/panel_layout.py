"""Panel layouts: the boxes JSON a user draws, parsed and validated.

A layout is a panel size in pixels plus boxes ``[x1, y1, x2, y2]`` relative to the panel (0..1,
origin top-left, x horizontal): one box per character, in reference-image order, and any number of
dialog boxes. ``masks.py`` turns the boxes into the attention bias and the dialog region.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import LayoutError

log = logging.getLogger("diffsensei")

Box = tuple[float, float, float, float]

TRAINED_CHARACTER_SLOTS = 4
TRAINED_DIALOG_SLOTS = 8
MAX_BOXES = 64
"""Character and dialog boxes per panel, together (the box editor has the same limit)."""
MIN_PANEL_SIZE = 64
MAX_PANEL_SIZE = 2048
PANEL_SIZE_STEP = 8

# Relative coordinates beyond this range are taken for pixel coordinates, not a small overshoot.
_PLAUSIBLE_RANGE = (-1.0, 2.0)


@dataclass(frozen=True)
class PanelLayout:
    """One panel: size in pixels, character boxes in reference-image order, dialog boxes."""

    width: int
    height: int
    characters: tuple[Box, ...] = ()
    dialogs: tuple[Box, ...] = ()

    @property
    def latent_size(self) -> tuple[int, int]:
        """(h, w) of the SDXL latent: floor(H/8) × floor(W/8)."""
        return self.height // 8, self.width // 8

    def character_boxes(self, num_slots: int) -> torch.Tensor:
        """(num_slots, 4) float32: the character boxes, padded with zero boxes as the reference pads them."""
        if num_slots < len(self.characters):
            raise LayoutError(
                f"{len(self.characters)} character boxes do not fit in {num_slots} slots; "
                "ask for at least as many slots as there are characters."
            )
        boxes = torch.zeros(num_slots, 4, dtype=torch.float32)
        if self.characters:
            boxes[: len(self.characters)] = torch.tensor(self.characters, dtype=torch.float32)
        return boxes

    def dialog_boxes(self) -> torch.Tensor:
        """(n_dialogs, 4) float32."""
        return torch.tensor(self.dialogs, dtype=torch.float32).reshape(-1, 4)

    def to_json(self) -> str:
        return json.dumps(
            {
                "width": self.width,
                "height": self.height,
                "characters": [list(b) for b in self.characters],
                "dialogs": [list(b) for b in self.dialogs],
            }
        )


def make_layout(
    width: int,
    height: int,
    characters: Iterable[Sequence[float]] = (),
    dialogs: Iterable[Sequence[float]] = (),
) -> PanelLayout:
    """Validate and normalise a layout; auto-corrections are logged as warnings."""
    validate_panel_size(width, height)
    chars = tuple(normalise_box(b, f"character box {i + 1}") for i, b in enumerate(characters))
    talks = tuple(normalise_box(b, f"dialog box {i + 1}") for i, b in enumerate(dialogs))
    if len(chars) + len(talks) > MAX_BOXES:
        raise LayoutError(
            f"the layout has {len(chars)} character and {len(talks)} dialog boxes, {len(chars) + len(talks)} in all; "
            f"at most {MAX_BOXES} boxes fit in one panel. Delete some boxes."
        )
    if len(chars) > TRAINED_CHARACTER_SLOTS:
        log.info(
            "%d characters: DiffSensei was trained with at most %d per panel; the extra ones work "
            "(the attention has no slot embedding) but are outside the trained regime.",
            len(chars), TRAINED_CHARACTER_SLOTS,
        )
    if len(talks) > TRAINED_DIALOG_SLOTS:
        log.info(
            "%d dialog boxes: DiffSensei was trained with at most %d; all are drawn, outside the trained regime.",
            len(talks), TRAINED_DIALOG_SLOTS,
        )
    return PanelLayout(int(width), int(height), chars, talks)


def parse_layout(value: str | Mapping, *, width: int | None = None, height: int | None = None) -> PanelLayout:
    """Parse the layout JSON (a string or an already decoded mapping).

    Schema: ``{"width": int, "height": int, "characters": [box, …], "dialogs": [box, …]}`` where a
    box is ``[x1, y1, x2, y2]`` or ``{"box": [x1, y1, x2, y2], …}`` (extra keys are ignored).
    ``width``/``height`` arguments, when given, take the place of missing keys.
    """
    if isinstance(value, str):
        text = value.strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise LayoutError(
                f"the layout is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); expected "
                '{"width": 1024, "height": 768, "characters": [[x1,y1,x2,y2], ...], "dialogs": [...]}. '
                "Fix the text or redraw the boxes on the Panel layout node."
            ) from None
    if not isinstance(value, Mapping):
        raise LayoutError(
            f"the layout must be a JSON object with width, height, characters and dialogs; got {type(value).__name__}."
        )
    unknown = set(value) - {"width", "height", "characters", "dialogs", "version"}
    if unknown:
        raise LayoutError(
            f"the layout has unknown keys {sorted(unknown)}; expected only width, height, characters, dialogs."
        )
    w = value.get("width", width)
    h = value.get("height", height)
    if w is None or h is None:
        raise LayoutError("the layout gives no panel width/height; add \"width\" and \"height\" in pixels.")
    return make_layout(
        _as_int(w, "width"),
        _as_int(h, "height"),
        _box_list(value.get("characters", []), "characters"),
        _box_list(value.get("dialogs", []), "dialogs"),
    )


def validate_panel_size(width: int, height: int) -> None:
    for name, size in (("width", width), ("height", height)):
        if not isinstance(size, int) or isinstance(size, bool):
            raise LayoutError(f"panel {name} must be a whole number of pixels; got {size!r}.")
        if not MIN_PANEL_SIZE <= size <= MAX_PANEL_SIZE:
            raise LayoutError(
                f"panel {name} {size}px is outside {MIN_PANEL_SIZE}..{MAX_PANEL_SIZE}px; "
                f"choose a size in that range (DiffSensei was trained from about 256 to 2048 px per side)."
            )
        if size % PANEL_SIZE_STEP:
            raise LayoutError(
                f"panel {name} {size}px is not a multiple of {PANEL_SIZE_STEP}; "
                f"use {size - size % PANEL_SIZE_STEP} or {size - size % PANEL_SIZE_STEP + PANEL_SIZE_STEP}."
            )


def normalise_box(box: Sequence[float], what: str) -> Box:
    """Check one relative box; sort swapped corners and clamp small overshoots into 0..1 (warned)."""
    if isinstance(box, Mapping):
        box = box.get("box", box.get("bbox"))
    if isinstance(box, str | bytes) or not isinstance(box, Sequence) or len(box) != 4:
        raise LayoutError(f"{what} must be [x1, y1, x2, y2]; got {box!r}.")
    try:
        coords = [float(c) for c in box]
    except (TypeError, ValueError):
        raise LayoutError(f"{what} must hold 4 numbers; got {list(box)!r}.") from None
    if not all(math.isfinite(c) for c in coords):
        raise LayoutError(f"{what} has a NaN or infinite coordinate: {coords}; redraw the box.")
    lo, hi = _PLAUSIBLE_RANGE
    if any(c < lo or c > hi for c in coords):
        raise LayoutError(
            f"{what} {coords} is far outside 0..1; boxes are relative to the panel (0..1), "
            "so divide pixel coordinates by the panel width (x) and height (y)."
        )
    x1, y1, x2, y2 = coords
    if x1 > x2 or y1 > y2:
        log.warning("%s had swapped corners %s; using them sorted.", what, coords)
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
    clamped = [min(max(c, 0.0), 1.0) for c in (x1, y1, x2, y2)]
    if clamped != [x1, y1, x2, y2]:
        log.warning("%s %s reaches outside the panel; clamped to %s.", what, [x1, y1, x2, y2], clamped)
    x1, y1, x2, y2 = clamped
    if x2 <= x1 or y2 <= y1:
        raise LayoutError(
            f"{what} {[x1, y1, x2, y2]} has no area inside the panel; draw it with a width and height above zero."
        )
    return (x1, y1, x2, y2)


def check_character_count(layout: PanelLayout, num_characters: int) -> None:
    """Raise unless there is exactly one character box per reference image."""
    boxes = len(layout.characters)
    if boxes == num_characters:
        return
    if boxes > num_characters:
        fix = f"connect {boxes - num_characters} more reference image(s) or delete {boxes - num_characters} box(es)"
    else:
        fix = f"draw {num_characters - boxes} more character box(es) or disconnect {num_characters - boxes} image(s)"
    raise LayoutError(
        f"the layout has {boxes} character box(es) but {num_characters} reference image(s) are encoded; {fix}."
    )


def _as_int(value, name: str) -> int:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value != int(value)):
        raise LayoutError(f"layout {name} must be a whole number of pixels; got {value!r}.")
    return int(value)


def _box_list(value, name: str) -> list:
    if not isinstance(value, list | tuple):
        raise LayoutError(f"layout \"{name}\" must be a list of [x1, y1, x2, y2] boxes; got {value!r}.")
    return list(value)
