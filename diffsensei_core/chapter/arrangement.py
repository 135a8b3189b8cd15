"""Where a page's panels go: rows of panels from the panel count and size hints, in reading order.

A page without hints takes the grid preset for its panel count (``page.presets.GRID_ROWS``). With hints, panels fill
rows top to bottom in script order: ``big`` and ``wide`` take a row of their own (``big`` a taller one), ``tall``
spans two rows with up to two following plain panels stacked beside it, plain panels go two to a row, ``splash``
takes the whole page, and an ``inset`` sits inside the panel before it (at the corners where reading ends). Within a
row the first panel stands where reading starts: on the right for ``rtl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..page.presets import GRID_ROWS, px, split_span

Rect = tuple[int, int, int, int]

ROW_WEIGHTS = {None: 1.0, "wide": 1.0, "big": 1.6, "tall": 2.0}
"""Row heights relative to a row of plain panels."""
PLAIN_ROWS = {sum(rows): rows for rows in GRID_ROWS.values()} | {1: (1,), 8: (2, 2, 2, 2)}
"""Panels per row for a page without hints, by panel count (the grid presets, plus one and eight panels)."""
INSET_SIZE = (0.38, 0.3)
"""An inset's width and height as shares of the panel it sits on."""
INSET_PAD = 0.04
"""Space between an inset and its panel's edges, as a share of the panel's shorter side (at least the gutter)."""


@dataclass(frozen=True)
class Slot:
    """A panel's place: ``rect`` in page pixels, ``parent`` the index (script order) of the panel an inset sits on."""

    rect: Rect
    parent: int | None = None


def arrange_page(sizes: Sequence[str | None], *, width: int, height: int, margin: int, gutter: int,
                 direction: str) -> list[Slot]:
    """One slot per panel, in script order (= reading order). ``sizes``: each panel's size hint or None."""
    main = [k for k, size in enumerate(sizes) if size != "inset"]
    content = (margin, margin, width - margin, height - margin)
    if any(sizes[k] == "splash" for k in main):
        rects = {main[0]: content}
    else:
        rects = _rows(_row_plan([sizes[k] for k in main]), main, content, gutter, direction)
    slots: list[Slot] = []
    parent, insets = None, 0
    for k, size in enumerate(sizes):
        if size == "inset":
            slots.append(Slot(_inset(rects[parent], insets, gutter, direction), parent))
            insets += 1
        else:
            parent, insets = k, 0
            slots.append(Slot(rects[k]))
    return slots


def _row_plan(sizes: Sequence[str | None]) -> list[tuple[float, list[list[int]]]]:
    """Rows as (height weight, cells), a cell being the main panels stacked in it (indices into ``sizes``)."""
    if all(size is None for size in sizes):
        rows, start = [], 0
        for count in PLAIN_ROWS[len(sizes)]:
            rows.append((1.0, [[k] for k in range(start, start + count)]))
            start += count
        return rows
    rows: list[tuple[float, list[list[int]]]] = []
    pending: list[int] = []
    k = 0
    while k < len(sizes):
        size = sizes[k]
        if size is None:
            pending.append(k)
            k += 1
            continue
        rows += _plain_rows(pending)
        pending = []
        if size == "tall":
            stacked = []
            while k + 1 + len(stacked) < len(sizes) and len(stacked) < 2 and sizes[k + 1 + len(stacked)] is None:
                stacked.append(k + 1 + len(stacked))
            rows.append((ROW_WEIGHTS["tall"], [[k], stacked] if stacked else [[k]]))
            k += 1 + len(stacked)
        else:
            rows.append((ROW_WEIGHTS[size], [[k]]))
            k += 1
    return rows + _plain_rows(pending)


def _plain_rows(indices: list[int]) -> list[tuple[float, list[list[int]]]]:
    return [(ROW_WEIGHTS[None], [[k] for k in indices[i:i + 2]]) for i in range(0, len(indices), 2)]


def _rows(rows, main: list[int], content: Rect, gutter: int, direction: str) -> dict[int, Rect]:
    """Page rectangles of the main panels (keys: their indices in the page's panel list)."""
    x1, y1, x2, y2 = content
    rects: dict[int, Rect] = {}
    spans = split_span(y1, y2, len(rows), gutter, tuple(weight for weight, _ in rows))
    for (top, bottom), (_weight, cells) in zip(spans, rows, strict=True):
        columns = split_span(x1, x2, len(cells), gutter)
        if direction == "rtl":
            columns.reverse()
        for (left, right), cell in zip(columns, cells, strict=True):
            for (upper, lower), k in zip(split_span(top, bottom, len(cell), gutter), cell, strict=True):
                rects[main[k]] = (left, upper, right, lower)
    return rects


def _inset(parent: Rect, order: int, gutter: int, direction: str) -> Rect:
    """The ``order``-th inset (0, 1) of a panel: at the corners where reading ends, top then bottom."""
    x1, y1, x2, y2 = parent
    w, h = x2 - x1, y2 - y1
    iw, ih = px(INSET_SIZE[0] * w), px(INSET_SIZE[1] * h)
    pad = max(gutter, px(INSET_PAD * min(w, h)))
    left = x1 + pad if direction == "rtl" else x2 - pad - iw
    top = y1 + pad if order == 0 else y2 - pad - ih
    return (left, top, left + iw, top + ih)
