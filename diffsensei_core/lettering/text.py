"""Fitting text into a bubble's text area: horizontal lines or vertical columns (tategaki).

Lines break where ``breaking.py`` allows (spaces, between CJK characters, kinsoku rules). Lines the words cannot
be broken into are never squeezed: fitting tries font sizes from the largest down (each one wrapped anew)
and takes the first whose wrapped text fits; every placed item's box lies inside the text area.

Vertical writing: columns run right to left, characters top to bottom. Punctuation takes its vertical
presentation form (「 → ﹁, 、 → ︑ …) when a font has it; otherwise 、。，． move to the top-right of their
cell and brackets, dashes, ー and ～ are turned 90° clockwise. Runs of Latin letters or digits are turned
90° clockwise as a whole, as in Japanese typesetting.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

from ..errors import LetteringError
from .breaking import NO_END, NO_START, Cluster, clusters, is_cjk, wrap

__all__ = [  # line breaking lives in breaking.py; callers may import it from here
    "NO_END",
    "NO_START",
    "SHRINK_FLOOR",
    "WRITING",
    "Cluster",
    "Placed",
    "TextFitError",
    "TextLayout",
    "Typesetter",
    "clusters",
    "fit_text",
    "is_cjk",
    "layout_at_size",
    "resolve_direction",
    "wrap",
]

log = logging.getLogger("diffsensei")

Box = tuple[float, float, float, float]

WRITING = ("auto", "horizontal", "vertical")
LEADING = 0.15
"""Gap between lines, in em."""
COLUMN_GAP = 0.35
"""Gap between vertical columns, in em."""
SHRINK_FLOOR = 6
"""The smallest font size (px) that overflow='shrink' goes down to."""

VERTICAL_FORMS = {
    "、": "︑", "。": "︒", "，": "︐", "：": "︓", "；": "︔", "！": "︕", "？": "︖", "…": "︙", "‥": "︰",
    "—": "︱", "–": "︲", "＿": "︳", "（": "︵", "）": "︶", "｛": "︷", "｝": "︸", "〔": "︹", "〕": "︺",
    "【": "︻", "】": "︼", "《": "︽", "》": "︾", "〈": "︿", "〉": "﹀",
    "「": "﹁", "」": "﹂", "『": "﹃", "』": "﹄",
    "［": "﹇", "］": "﹈",
}
"""Unicode vertical presentation forms (U+FE10–FE1F, FE30–FE4F) of horizontal punctuation."""
TOP_RIGHT = set("、。，．")
"""Drawn in the top-right quarter of their cell when no vertical form is available."""
ROTATE = set("ー～〜―—–‐-…‥（）｛｝〔〕【】《》〈〉「」『』［］()[]{}<>＝=")
"""Turned 90° clockwise when no vertical form is available."""


class TextFitError(LetteringError):
    """The text does not fit its bubble at any allowed font size."""


class Typesetter(Protocol):
    """What fitting needs from fonts (``fonts.FontChain`` is the real one)."""

    def has(self, char: str) -> bool: ...

    def line_extent(self, text: str, size: int) -> Box:
        """(left, right, ascent, descent) of a horizontal run, pen at x=0 on the baseline."""

    def glyph_extent(self, char: str, size: int) -> Box:
        """(x0, y0, x1, y1): the ink of one character drawn centred at (0, 0)."""


@dataclass(frozen=True)
class Placed:
    """One thing to draw. kind "line": a run with its pen at (x, y) on the baseline; "glyph": one character
    centred at (x, y); "rotated": a run turned 90° clockwise, centred at (x, y). ``box``: every pixel it
    may mark, (x0, y0, x1, y1)."""

    kind: str
    text: str
    x: int
    y: int
    box: Box


@dataclass(frozen=True)
class TextLayout:
    size: int
    direction: str
    lines: tuple[str, ...]
    """Lines (horizontal) or columns (vertical) in reading order."""
    items: tuple[Placed, ...]

    @property
    def bounds(self) -> Box | None:
        if not self.items:
            return None
        boxes = [p.box for p in self.items]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def resolve_direction(text: str, writing: str) -> str:
    """'horizontal' or 'vertical'; 'auto' is vertical when most of the visible characters are CJK."""
    if writing not in WRITING:
        raise LetteringError(f"writing must be one of {WRITING}; got {writing!r}.")
    if writing != "auto":
        return writing
    visible = [c for c in text if not c.isspace()]
    cjk = sum(is_cjk(c) for c in visible)
    return "vertical" if visible and cjk * 2 > len(visible) else "horizontal"


# ------------------------------------------------------------------------------------------------ fitting


def fit_text(text: str, rect: Box, typesetter: Typesetter, *, direction: str, max_size: int, min_size: int,
             overflow: str = "error") -> TextLayout:
    """Lay ``text`` out inside ``rect`` (x0, y0, x1, y1 px) at the largest font size that fits.

    Sizes go from ``max_size`` down to ``min_size``; at each the text is wrapped anew without breaking
    words. Then words are cut at ``min_size`` (warned). overflow="shrink" goes on below ``min_size`` down to
    SHRINK_FLOOR px (warned); overflow="error" raises TextFitError instead.
    """
    if direction not in ("horizontal", "vertical"):
        raise LetteringError(f"direction must be 'horizontal' or 'vertical'; got {direction!r}.")
    if overflow not in ("error", "shrink"):
        raise LetteringError(f"overflow must be 'error' or 'shrink'; got {overflow!r}.")
    if not 1 <= min_size <= max_size:
        raise LetteringError(f"font sizes must satisfy 1 ≤ min ≤ max; got min {min_size}, max {max_size}.")
    area = _pixel_area(rect)
    if not text.strip():
        return TextLayout(max_size, direction, (), ())
    layout_at = _horizontal if direction == "horizontal" else _vertical
    parts = clusters(text.strip())
    floor = min(min_size, SHRINK_FLOOR)
    attempts = [(s, False) for s in range(max_size, min_size - 1, -1)]
    if overflow == "shrink":
        attempts += [(s, False) for s in range(min_size - 1, floor - 1, -1)]
        attempts += [(s, True) for s in range(min_size, floor - 1, -1)]
    else:
        attempts.append((min_size, True))
    for size, split in attempts:
        layout = layout_at(parts, area, typesetter, size, split)
        if layout is None:
            continue
        if split:
            log.warning("text %r was broken inside a word to fit its bubble at %d px.", _preview(text), size)
        elif size < min_size:
            log.warning("text %r was shrunk to %d px (below the minimum %d px) to fit its bubble.",
                        _preview(text), size, min_size)
        return layout
    w, h = max(area[2] - area[0], 0), max(area[3] - area[1], 0)
    smallest = floor if overflow == "shrink" else min_size
    raise TextFitError(
        f"the text {_preview(text)!r} does not fit its bubble: the text area is {w}×{h} px and the text needs "
        f"more room even at {smallest} px. Make the dialog box bigger, shorten the text or lower the minimum "
        "font size" + (", or set overflow to 'shrink'." if overflow == "error" else ".")
    )


def layout_at_size(text: str, rect: Box, typesetter: Typesetter, *, direction: str, size: int,
                   split: bool = False) -> TextLayout | None:
    """``text`` laid out inside ``rect`` at exactly ``size`` px (words cut only when ``split``), or None when it
    does not fit there. Nothing is logged: the caller decides what a cut word is worth a warning."""
    if direction not in ("horizontal", "vertical"):
        raise LetteringError(f"direction must be 'horizontal' or 'vertical'; got {direction!r}.")
    if not text.strip():
        return TextLayout(size, direction, (), ())
    layout_at = _horizontal if direction == "horizontal" else _vertical
    return layout_at(clusters(text.strip()), _pixel_area(rect), typesetter, size, split)


def _pixel_area(rect: Box) -> tuple[int, int, int, int]:
    return (math.ceil(rect[0]), math.ceil(rect[1]), math.floor(rect[2]), math.floor(rect[3]))


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 40 else flat[:39] + "…"


def _horizontal(parts: list[Cluster], area, ts: Typesetter, size: int, split: bool) -> TextLayout | None:
    x0, y0, x1, y1 = area
    width, height = x1 - x0, y1 - y0

    def extent(line: str):
        left, right, ascent, descent = ts.line_extent(line, size)
        return math.floor(left), math.ceil(right), math.ceil(ascent), math.ceil(descent)

    lines = wrap(parts, width, lambda s: extent(s)[1] - extent(s)[0], split_long=split)
    if not lines:
        return None
    extents = [extent(line) for line in lines]
    ascent = max(e[2] for e in extents)
    descent = max(e[3] for e in extents)
    leading = round(size * LEADING)
    total = len(lines) * (ascent + descent) + (len(lines) - 1) * leading
    if total > height:
        return None
    top = y0 + (height - total) // 2
    items = []
    for line, (left, right, _a, _d) in zip(lines, extents, strict=True):
        pen = x0 + (width - (right - left)) // 2 - left
        items.append(Placed("line", line, pen, top + ascent, (pen + left, top, pen + right, top + ascent + descent)))
        top += ascent + descent + leading
    return TextLayout(size, "horizontal", tuple(lines), tuple(items))


@dataclass(frozen=True)
class _Unit:
    kind: str  # "glyph", "rotated" or "gap"
    text: str
    length: int  # along the column
    box: Box  # what it may mark, relative to the unit's centre point
    dx: int = 0  # where a glyph is drawn, relative to the centre point
    dy: int = 0


def _units(text: str, ts: Typesetter, size: int) -> list[_Unit]:
    """One column's content split into drawable units, top to bottom."""
    units: list[_Unit] = []
    run = ""
    for char in text + " ":
        if char.isspace() or is_cjk(char):
            if run:
                units.append(_rotated(run, ts, size))
                run = ""
            if char.isspace():
                units.append(_Unit("gap", "", size // 2, (0, 0, 0, 0)))
            else:
                units.append(_upright(char, ts, size))
        else:
            run += char
    return units[:-1]  # the sentinel's gap


def _upright(char: str, ts: Typesetter, size: int) -> _Unit:
    form = VERTICAL_FORMS.get(char)
    if form is not None and ts.has(form):
        char = form
    elif char in ROTATE:
        return _rotated(char, ts, size)
    x0, y0, x1, y1 = ts.glyph_extent(char, size)
    dx = dy = 0
    if char in TOP_RIGHT:  # no vertical form: move the ink's centre to the middle of the top-right quarter
        dx = round(size / 4 - (x0 + x1) / 2)
        dy = round(-size / 4 - (y0 + y1) / 2)
    lo, hi = -(size // 2), size - size // 2  # the em square
    box = (math.floor(min(x0 + dx, lo)), math.floor(min(y0 + dy, lo)),
           math.ceil(max(x1 + dx, hi)), math.ceil(max(y1 + dy, hi)))
    return _Unit("glyph", char, box[3] - box[1], box, dx, dy)


def _rotated(run: str, ts: Typesetter, size: int) -> _Unit:
    left, right, ascent, descent = ts.line_extent(run, size)
    length = math.ceil(right) - math.floor(left)
    across = math.ceil(ascent) + math.ceil(descent)
    lo_x, lo_y = -(across // 2), -(length // 2)
    return _Unit("rotated", run, length, (lo_x, lo_y, lo_x + across, lo_y + length))


def _column_length(units: list[_Unit]) -> int:
    return sum(u.length for u in units)


def _vertical(parts: list[Cluster], area, ts: Typesetter, size: int, split: bool) -> TextLayout | None:
    x0, y0, x1, y1 = area
    width, height = x1 - x0, y1 - y0
    cache: dict[str, list[_Unit]] = {}

    def units(column: str) -> list[_Unit]:
        if column not in cache:
            cache[column] = _units(column, ts, size)
        return cache[column]

    columns = wrap(parts, height, lambda s: _column_length(units(s)), split_long=split)
    if not columns:
        return None
    halves = [max(max(-u.box[0], u.box[2]) for u in units(c)) for c in columns]
    gap = round(size * COLUMN_GAP)
    total = 2 * sum(halves) + gap * (len(columns) - 1)
    if total > width:
        return None
    right = x1 - (width - total) // 2
    top = y0 + (height - max(_column_length(units(c)) for c in columns)) // 2
    items = []
    for column, half in zip(columns, halves, strict=True):
        axis = right - half
        y = top
        for unit in units(column):
            cy = y - unit.box[1]
            box = (axis + unit.box[0], cy + unit.box[1], axis + unit.box[2], cy + unit.box[3])
            if unit.kind == "glyph":
                items.append(Placed("glyph", unit.text, axis + unit.dx, cy + unit.dy, box))
            elif unit.kind == "rotated":
                items.append(Placed("rotated", unit.text, axis, cy, box))
            y += unit.length
        right -= 2 * half + gap
    return TextLayout(size, "vertical", tuple(columns), tuple(items))
