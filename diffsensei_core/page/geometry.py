"""Plane geometry for page panels: convex polygons, overlap areas and the reading order of panels.

Points are (x, y) in page pixels, origin top-left, y down. A rectangle is (x1, y1, x2, y2).
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]
Rect = tuple[float, float, float, float]

# Two panels share a row (or a column) when their extents along that axis overlap by more than this
# fraction of the shorter one; slanted gutters and slightly misaligned hand-drawn panels stay below it.
SAME_BAND_OVERLAP = 0.5


def rect_polygon(rect: Rect) -> tuple[Point, ...]:
    x1, y1, x2, y2 = rect
    return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


def bounding_rect(points: Sequence[Point]) -> Rect:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def signed_area(points: Sequence[Point]) -> float:
    """Shoelace area: positive for clockwise order on screen (y down)."""
    n = len(points)
    return 0.5 * sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1] for i in range(n))


def is_convex(points: Sequence[Point]) -> bool:
    """True for a convex polygon with non-zero area and no repeated turn direction change."""
    n = len(points)
    if n < 3 or abs(signed_area(points)) <= 1e-9:
        return False
    sign = 0
    for i in range(n):
        (ax, ay), (bx, by), (cx, cy) = points[i], points[(i + 1) % n], points[(i + 2) % n]
        cross = (bx - ax) * (cy - by) - (by - ay) * (cx - bx)
        if abs(cross) <= 1e-9:
            continue
        if sign == 0:
            sign = 1 if cross > 0 else -1
        elif (cross > 0) != (sign > 0):
            return False
    return True


def clockwise(points: Sequence[Point]) -> tuple[Point, ...]:
    return tuple(points) if signed_area(points) >= 0 else tuple(reversed(points))


def clip_convex(subject: Sequence[Point], clip: Sequence[Point]) -> list[Point]:
    """Sutherland–Hodgman: the part of ``subject`` inside the convex polygon ``clip`` (both clockwise)."""
    out = list(subject)
    n = len(clip)
    for i in range(n):
        if not out:
            break
        edge = (clip[i], clip[(i + 1) % n])
        points, out = out, []
        for j, current in enumerate(points):
            previous = points[j - 1]
            if _inside(edge, current):
                if not _inside(edge, previous):
                    out.append(_crossing(edge, previous, current))
                out.append(current)
            elif _inside(edge, previous):
                out.append(_crossing(edge, previous, current))
    return out


def _inside(edge: tuple[Point, Point], p: Point) -> bool:
    (ax, ay), (bx, by) = edge
    return (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) >= 0


def _crossing(edge: tuple[Point, Point], p: Point, q: Point) -> Point:
    """Where the segment p→q crosses the line through ``edge``."""
    (ax, ay), (bx, by) = edge
    dx, dy = q[0] - p[0], q[1] - p[1]
    t = ((bx - ax) * (ay - p[1]) - (by - ay) * (ax - p[0])) / ((bx - ax) * dy - (by - ay) * dx)
    return (p[0] + t * dx, p[1] + t * dy)


def overlap_area(a: Sequence[Point], b: Sequence[Point]) -> float:
    """Area shared by two convex polygons."""
    clipped = clip_convex(clockwise(a), clockwise(b))
    return abs(signed_area(clipped)) if len(clipped) >= 3 else 0.0


def contains(outer: Sequence[Point], inner: Sequence[Point], tolerance: float = 0.5) -> bool:
    """True when every point of ``inner`` lies inside convex ``outer`` (within ``tolerance`` pixels)."""
    outer = clockwise(outer)
    n = len(outer)
    for px, py in inner:
        for i in range(n):
            (ax, ay), (bx, by) = outer[i], outer[(i + 1) % n]
            length = ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5 or 1.0
            if ((bx - ax) * (py - ay) - (by - ay) * (px - ax)) / length < -tolerance:
                return False
    return True


def reading_order(rects: Sequence[Rect], direction: str, parents: Sequence[int | None] | None = None) -> list[int]:
    """Indices of ``rects`` in reading order: rows top to bottom, within a row right to left ("rtl") or left to
    right ("ltr"); a panel spanning several rows makes a column of its own (a recursive cut along the gutters).

    ``parents[i]`` is the panel an inset ``i`` lies inside, or None: an inset is read right after its parent.
    """
    parents = list(parents) if parents is not None else [None] * len(rects)
    children: dict[int | None, list[int]] = {}
    for i, parent in enumerate(parents):
        children.setdefault(parent, []).append(i)

    def expand(items: list[int]) -> list[int]:
        order = []
        for i in _cut(items, rects, direction):
            order.append(i)
            order.extend(expand(children.get(i, [])))
        return order

    return expand(children.get(None, []))


def _cut(items: list[int], rects: Sequence[Rect], direction: str) -> list[int]:
    if len(items) <= 1:
        return list(items)
    rows = _bands(items, rects, axis=1)
    if len(rows) > 1:
        return [i for row in rows for i in _cut(row, rects, direction)]
    columns = _bands(items, rects, axis=0)
    if len(columns) > 1:
        if direction == "rtl":
            columns.reverse()
        return [i for column in columns for i in _cut(column, rects, direction)]
    # No clean gutter either way (overlapping extents): fall back to the panels' centres.
    sign = -1 if direction == "rtl" else 1

    def centre(i: int) -> tuple[float, float]:
        x1, y1, x2, y2 = rects[i]
        return ((y1 + y2) / 2, sign * (x1 + x2) / 2)

    return sorted(items, key=centre)


def _bands(items: list[int], rects: Sequence[Rect], axis: int) -> list[list[int]]:
    """Group items whose extents along ``axis`` (0 = x, 1 = y) overlap a lot; groups sorted by position."""
    group = {i: i for i in items}

    def find(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for n, i in enumerate(items):
        a1, a2 = rects[i][axis], rects[i][axis + 2]
        for j in items[n + 1:]:
            b1, b2 = rects[j][axis], rects[j][axis + 2]
            shared = min(a2, b2) - max(a1, b1)
            if shared > SAME_BAND_OVERLAP * min(a2 - a1, b2 - b1):
                group[find(i)] = find(j)
    bands: dict[int, list[int]] = {}
    for i in items:
        bands.setdefault(find(i), []).append(i)

    def middle(band: list[int]) -> float:
        return sum(rects[i][axis] + rects[i][axis + 2] for i in band) / (2 * len(band))

    return sorted(bands.values(), key=middle)
