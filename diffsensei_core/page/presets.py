"""Page sizes and panel presets.

A preset is a function of the page size, margin and gutter (pixels) that returns panel outlines in page pixels:
a rectangle ``(x1, y1, x2, y2)`` or, for slanted gutters, a convex polygon ``((x, y), …)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .geometry import Point, Rect

MM_PER_INCH = 25.4

# name → (width, height) in millimetres, or in pixels for screen formats (then the dpi does not change them)
PAGE_SIZES_MM = {
    "B5 manga (182×257 mm)": (182.0, 257.0),
    "A5 (148×210 mm)": (148.0, 210.0),
    "A4 (210×297 mm)": (210.0, 297.0),
}
PAGE_SIZES_PX = {
    "webtoon strip (800×3200 px)": (800, 3200),
}
PAGE_SIZES = [*PAGE_SIZES_MM, *PAGE_SIZES_PX]
DEFAULT_PAGE_SIZE = "B5 manga (182×257 mm)"

Outline = Rect | tuple[Point, ...]

# Panels per row, top to bottom, for the plain grids.
GRID_ROWS = {
    "2 panels (2 rows)": (1, 1),
    "3 panels (1 + 2)": (1, 2),
    "4 panels (2×2)": (2, 2),
    "5 panels (2 + 1 + 2)": (2, 1, 2),
    "6 panels (3×2)": (2, 2, 2),
    "7 panels (2 + 3 + 2)": (2, 3, 2),
}
CUSTOM = "custom (drawn panels)"


def px(value: float) -> int:
    """Round half up (not to even), as the page canvas in the browser does, so both draw the same pixels."""
    return math.floor(value + 0.5)


def mm_to_px(mm: float, dpi: int) -> int:
    return px(mm * dpi / MM_PER_INCH)


def page_size_px(name: str, dpi: int) -> tuple[int, int]:
    """(width, height) in pixels of a named page size at ``dpi``."""
    if name in PAGE_SIZES_PX:
        return PAGE_SIZES_PX[name]
    w, h = PAGE_SIZES_MM[name]
    return mm_to_px(w, dpi), mm_to_px(h, dpi)


def _content(width: int, height: int, margin: int) -> Rect:
    return (margin, margin, width - margin, height - margin)


def split_span(start: float, end: float, parts: int, gutter: float, weights: tuple[float, ...] | None = None):
    """``parts`` intervals filling start..end with ``gutter`` between them, sized by ``weights``."""
    weights = weights or (1.0,) * parts
    free = end - start - gutter * (parts - 1)
    out, pos = [], start
    for k, w in enumerate(weights):
        size = free * w / sum(weights)
        stop = end if k == parts - 1 else pos + size
        out.append((px(pos), px(stop)))
        pos = stop + gutter
    return out


def grid(rows: tuple[int, ...], width: int, height: int, margin: int, gutter: int) -> list[Outline]:
    x1, y1, x2, y2 = _content(width, height, margin)
    panels: list[Outline] = []
    for (top, bottom), count in zip(split_span(y1, y2, len(rows), gutter), rows, strict=True):
        for left, right in split_span(x1, x2, count, gutter):
            panels.append((left, top, right, bottom))
    return panels


def four_koma(width: int, height: int, margin: int, gutter: int) -> list[Outline]:
    """A yonkoma strip: four equal panels stacked in one column over the content area."""
    x1, y1, x2, y2 = _content(width, height, margin)
    return [(x1, top, x2, bottom) for top, bottom in split_span(y1, y2, 4, gutter)]


def splash_with_insets(width: int, height: int, margin: int, gutter: int) -> list[Outline]:
    """One panel over the whole content area and two inset panels inside it (top right, bottom left)."""
    x1, y1, x2, y2 = _content(width, height, margin)
    w, h = x2 - x1, y2 - y1
    pad = max(gutter, px(0.04 * min(w, h)))
    iw, ih = px(0.36 * w), px(0.24 * h)
    return [
        (x1, y1, x2, y2),
        (x2 - pad - iw, y1 + pad, x2 - pad, y1 + pad + ih),
        (x1 + pad, y2 - pad - ih, x1 + pad + iw, y2 - pad),
    ]


def slanted(width: int, height: int, margin: int, gutter: int) -> list[Outline]:
    """Four panels: a wide top panel, a middle row split by a slanted gutter, a wide bottom panel; the two
    horizontal gutters slant the opposite way."""
    x1, y1, x2, y2 = _content(width, height, margin)
    w, h = x2 - x1, y2 - y1
    tilt = 0.05 * h  # the horizontal gutters drop (or rise) by this much across the page
    lean = 0.08 * w  # the middle gutter leans by this much from top to bottom
    g = gutter / 2
    b1, b2 = y1 + 0.33 * h, y1 + 0.70 * h  # the row boundaries at the page centre

    def row_line(y: float, sign: float, offset: float) -> tuple[Point, Point]:
        return (x1, y - sign * tilt / 2 + offset), (x2, y + sign * tilt / 2 + offset)

    (tl, tr) = row_line(b1, 1, -g)
    (ml, mr) = row_line(b1, 1, g)
    (nl, nr) = row_line(b2, -1, -g)
    (bl, br) = row_line(b2, -1, g)
    cx = x1 + w / 2

    def x_at(y: float) -> float:  # the middle gutter's centre line, leaning right as it goes down
        return cx - lean / 2 + lean * (y - b1) / (b2 - b1)

    def y_on(a: Point, b: Point, x: float) -> float:
        return a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])

    top_y, bottom_y = y_on(ml, mr, cx), y_on(nl, nr, cx)
    xt, xb = x_at(top_y), x_at(bottom_y)
    left = (ml, (xt - g, y_on(ml, mr, xt - g)), (xb - g, y_on(nl, nr, xb - g)), nl)
    right = ((xt + g, y_on(ml, mr, xt + g)), mr, nr, (xb + g, y_on(nl, nr, xb + g)))
    return [
        ((x1, y1), (x2, y1), tr, tl),
        tuple((px(x), px(y)) for x, y in left),
        tuple((px(x), px(y)) for x, y in right),
        (bl, br, (x2, y2), (x1, y2)),
    ]


def _rounded(outlines: list[Outline]) -> list[Outline]:
    out: list[Outline] = []
    for outline in outlines:
        if isinstance(outline[0], tuple):
            out.append(tuple((px(x), px(y)) for x, y in outline))
        else:
            out.append(tuple(px(c) for c in outline))
    return out


PRESETS: dict[str, Callable[[int, int, int, int], list[Outline]]] = {
    "4-koma strip": four_koma,
    **{name: (lambda w, h, m, g, rows=rows: grid(rows, w, h, m, g)) for name, rows in GRID_ROWS.items()},
    "splash + 2 insets": splash_with_insets,
    "slanted gutters (4 panels)": slanted,
}
PRESET_NAMES = [CUSTOM, *PRESETS]
DEFAULT_PRESET = "4 panels (2×2)"


def preset_outlines(name: str, width: int, height: int, margin: int, gutter: int) -> list[Outline]:
    return _rounded(PRESETS[name](width, height, margin, gutter))
