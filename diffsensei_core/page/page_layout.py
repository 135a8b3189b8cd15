"""Page layouts: a page size, margins, gutters and panels, each panel with its own DiffSensei boxes.

The page JSON (the Page layout node's ``page`` widget) is::

    {"panels": [{"box": [x1, y1, x2, y2],            # relative to the page (0..1), custom preset only
                 "polygon": [[x, y], ...],           # optional convex outline (slanted gutters), relative
                 "border": 6,                        # optional border width in page pixels
                 "characters": [[x1, y1, x2, y2]],   # DiffSensei boxes, relative to the panel's rectangle
                 "dialogs": [[x1, y1, x2, y2]],
                 "cast": [2],                        # optional: the characters its boxes show (default: all)
                 "prompt": "..."}, ...],             # optional per-panel text
     "width": 2150, "height": 3035, "dpi": 300, "direction": "rtl", "margin": 94, "gutter": 35, "border": 6,
     "preset": "custom (drawn panels)"}              # page keys optional; given twice they must agree

With a named preset the panel outlines come from the preset and the ``panels`` entries give only their contents,
in reading order. The result, ``PageLayout`` (structure.py), holds everything in page pixels, panels sorted in
reading order.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence

from ..errors import LayoutError
from ..model.panel_layout import MAX_BOXES, normalise_box
from .cast import parse_cast
from .geometry import (
    Point,
    bounding_rect,
    contains,
    is_convex,
    overlap_area,
    reading_order,
    rect_polygon,
    signed_area,
)
from .presets import CUSTOM, PRESET_NAMES, preset_outlines
from .structure import GENERATION_SCALE, PageLayout, PagePanel, generation_size

__all__ = [  # the page types live in structure.py; callers may import them from here
    "DIRECTIONS",
    "GENERATION_SCALE",
    "MAX_PANELS",
    "PageLayout",
    "PagePanel",
    "build_page",
    "generation_size",
    "parse_page",
]

log = logging.getLogger("diffsensei")

DIRECTIONS = ("rtl", "ltr")
MAX_PANELS = 32
MIN_PAGE_SIZE = 64
MAX_PAGE_SIZE = 16384
MIN_PANEL_SIDE = 8  # page pixels
OVERLAP_TOLERANCE = 0.01  # of the smaller panel's area; more is an error unless one panel holds the other
EDGE_TOLERANCE = 0.005  # relative; coordinates this far outside the page are clamped with a warning
PAGE_KEYS = ("width", "height", "dpi", "direction", "margin", "gutter", "border", "preset")
PANEL_KEYS = {"box", "polygon", "border", "characters", "dialogs", "cast", "prompt", "index"}
EXAMPLE_PANEL = '{"box": [0.05, 0.05, 0.95, 0.5], "characters": [[0.1, 0.2, 0.5, 1.0]], "dialogs": [[0.7, 0, 1, 0.3]]}'


def parse_page(value: str | Mapping, **settings) -> PageLayout:
    """Parse the page JSON (string or mapping). ``settings`` (any of PAGE_KEYS) fill what the JSON leaves out;
    a key given in both must agree."""
    if isinstance(value, str):
        try:
            value = json.loads(value.strip() or "{}")
        except json.JSONDecodeError as err:
            raise LayoutError(
                f"the page is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); expected "
                f'{{"panels": [{EXAMPLE_PANEL}, ...]}}. Fix the text, or pick a preset and redraw the panels.'
            ) from None
    if not isinstance(value, Mapping):
        raise LayoutError(f'the page must be a JSON object like {{"panels": [...]}}; got {type(value).__name__}.')
    unknown = set(value) - {*PAGE_KEYS, "panels", "version"}
    if unknown:
        raise LayoutError(f"the page has unknown keys {sorted(unknown)}; expected panels and {', '.join(PAGE_KEYS)}.")
    merged = {}
    for key in PAGE_KEYS:
        given, ours = value.get(key), settings.get(key)
        if given is not None and ours is not None and given != ours:
            raise LayoutError(
                f'the page JSON says "{key}": {given!r} but the node says {ours!r}; '
                f"remove \"{key}\" from the JSON or make them agree."
            )
        merged[key] = given if given is not None else ours
    for key in ("width", "height", "dpi"):
        if merged[key] is None:
            raise LayoutError(f'the page gives no "{key}"; add it to the JSON or set it on the node.')
    panels = value.get("panels", [])
    if not isinstance(panels, list):
        raise LayoutError(f'"panels" must be a list of panel objects; got {type(panels).__name__}.')
    return build_page(panels=panels, **{k: v for k, v in merged.items() if v is not None})


def build_page(
    *,
    width: int,
    height: int,
    dpi: int,
    direction: str = "rtl",
    margin: int = 0,
    gutter: int = 0,
    border: int = 0,
    preset: str = CUSTOM,
    panels: Sequence[Mapping] = (),
) -> PageLayout:
    """Validate a page and put its panels in reading order. ``panels``: page-JSON panel entries."""
    width, height, dpi = _whole(width, "width"), _whole(height, "height"), _whole(dpi, "dpi")
    margin, gutter, border = _whole(margin, "margin"), _whole(gutter, "gutter"), _whole(border, "border")
    for name, size in (("width", width), ("height", height)):
        if not MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE:
            raise LayoutError(f"page {name} {size}px is outside {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE}px; "
                              "choose another page size or dpi.")
    if dpi < 1:
        raise LayoutError(f"dpi must be at least 1; got {dpi}.")
    if direction not in DIRECTIONS:
        raise LayoutError(f"direction must be 'rtl' (manga, right to left) or 'ltr'; got {direction!r}.")
    if min(margin, gutter, border) < 0 or 2 * margin >= min(width, height) - MIN_PANEL_SIDE:
        raise LayoutError(f"margin {margin}px, gutter {gutter}px and border {border}px must be ≥ 0 and the margins "
                          f"must leave room on a {width}×{height}px page; make them smaller.")
    if preset not in PRESET_NAMES:
        raise LayoutError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}.")
    if len(panels) > MAX_PANELS:
        raise LayoutError(f"the page has {len(panels)} panels; at most {MAX_PANELS} fit. Delete some.")
    for n, entry in enumerate(panels):
        if not isinstance(entry, Mapping):
            raise LayoutError(f"panel {n + 1} must be an object like {EXAMPLE_PANEL}; got {entry!r}.")
        unknown = set(entry) - PANEL_KEYS
        if unknown:
            raise LayoutError(f"panel {n + 1} has unknown keys {sorted(unknown)}; expected {sorted(PANEL_KEYS)}.")

    if preset == CUSTOM:
        if not panels:
            raise LayoutError("the page has no panels; pick a preset, or draw panels on the page canvas.")
        outlines = [_outline(entry, n, width, height) for n, entry in enumerate(panels)]
        contents = list(panels)
    else:
        outlines = preset_outlines(preset, width, height, margin, gutter)
        for n, entry in enumerate(panels):
            if "box" in entry or "polygon" in entry:
                raise LayoutError(
                    f"panel {n + 1} gives its own box, but preset {preset!r} places the panels; set the preset to "
                    f"'{CUSTOM}' to use drawn panels, or delete the box."
                )
        if len(panels) > len(outlines):
            raise LayoutError(
                f"the page JSON has {len(panels)} panel entries but preset {preset!r} has {len(outlines)} panels; "
                f"delete {len(panels) - len(outlines)} entries or choose a preset with more panels."
            )
        contents = [*panels, *({} for _ in range(len(outlines) - len(panels)))]

    rects = [_bounds(o) for o in outlines]
    polygons = [None if len(o) == 4 and not isinstance(o[0], tuple) else o for o in outlines]
    shapes = [rect_polygon(r) if p is None else p for r, p in zip(rects, polygons, strict=True)]
    for n, rect in enumerate(rects):
        if rect[2] - rect[0] < MIN_PANEL_SIDE or rect[3] - rect[1] < MIN_PANEL_SIDE:
            raise LayoutError(f"panel {n + 1} is {rect[2] - rect[0]}×{rect[3] - rect[1]}px; each side must be at "
                              f"least {MIN_PANEL_SIDE}px. Draw it bigger or use a larger page/dpi.")
    parents = _parents(shapes)

    order = reading_order(rects, direction, parents)
    position = {n: k for k, n in enumerate(order)}
    result = []
    for k, n in enumerate(order):
        entry = contents[k] if preset != CUSTOM else contents[n]  # preset entries are listed in reading order
        what = f"panel {k + 1}"
        characters = tuple(normalise_box(b, f"{what}, character box {i + 1}")
                           for i, b in enumerate(_list(entry.get("characters", []), what, "characters")))
        dialogs = tuple(normalise_box(b, f"{what}, dialog box {i + 1}")
                        for i, b in enumerate(_list(entry.get("dialogs", []), what, "dialogs")))
        if len(characters) + len(dialogs) > MAX_BOXES:
            raise LayoutError(f"{what} has {len(characters) + len(dialogs)} boxes; at most {MAX_BOXES} fit.")
        cast = parse_cast(entry.get("cast"), len(characters), what)
        prompt = entry.get("prompt", "")
        if not isinstance(prompt, str):
            raise LayoutError(f'{what}: "prompt" must be text; got {prompt!r}.')
        panel_border = _whole(entry.get("border", border), f"{what} border")
        if panel_border < 0:
            raise LayoutError(f"{what}: border must be ≥ 0 pixels; got {panel_border}.")
        polygon = polygons[n]
        result.append(PagePanel(
            rect=rects[n], index=k, border=panel_border,
            polygon=tuple((int(x), int(y)) for x, y in polygon) if polygon is not None else None,
            characters=characters, dialogs=dialogs, prompt=prompt,
            parent=None if parents[n] is None else position[parents[n]], cast=cast,
        ))
    return PageLayout(width, height, dpi, direction, margin, gutter, border, tuple(result))


def _parents(shapes: list[tuple[Point, ...]]) -> list[int | None]:
    """For each panel, the smallest panel holding it entirely (an inset), or None; other overlaps are errors."""
    areas = [abs(signed_area(s)) for s in shapes]
    parents: list[int | None] = [None] * len(shapes)
    for i, a in enumerate(shapes):
        for j in range(i + 1, len(shapes)):
            b = shapes[j]
            shared = overlap_area(a, b)
            if shared <= OVERLAP_TOLERANCE * min(areas[i], areas[j]):
                continue
            if contains(a, b) and areas[i] > areas[j]:
                inner, outer = j, i
            elif contains(b, a) and areas[j] > areas[i]:
                inner, outer = i, j
            else:
                raise LayoutError(
                    f"panels {i + 1} and {j + 1} overlap ({shared:.0f} px², "
                    f"{100 * shared / min(areas[i], areas[j]):.0f}% of the smaller one); panels must be apart, or "
                    "an inset must lie wholly inside its panel. Move or resize one of them."
                )
            if parents[inner] is None or areas[outer] < areas[parents[inner]]:
                parents[inner] = outer
    return parents


def _bounds(outline) -> tuple[int, int, int, int]:
    if isinstance(outline[0], tuple):
        return tuple(round(c) for c in bounding_rect(outline))
    return tuple(int(c) for c in outline)


def _outline(entry: Mapping, n: int, width: int, height: int):
    """A custom panel's outline in page pixels: a rect (x1, y1, x2, y2) or a polygon ((x, y), …)."""
    what = f"panel {n + 1}"
    if "polygon" in entry:
        points = entry["polygon"]
        if not isinstance(points, list | tuple) or len(points) < 3:
            raise LayoutError(f'{what}: "polygon" must list at least 3 [x, y] points; got {points!r}.')
        rel = [_point(p, f"{what}, polygon point {k + 1}") for k, p in enumerate(points)]
        polygon = tuple((round(x * width), round(y * height)) for x, y in rel)
        if not is_convex(polygon):
            raise LayoutError(f"{what}: the polygon {[list(p) for p in rel]} is not convex or has no area; "
                              "panels must be convex shapes (split an L-shaped panel into two).")
        ordered = polygon if signed_area(polygon) >= 0 else tuple(reversed(polygon))
        return ordered
    if "box" not in entry:
        raise LayoutError(f'{what} has no "box"; give [x1, y1, x2, y2] relative to the page (0..1), '
                          f"e.g. {EXAMPLE_PANEL}.")
    box = entry["box"]
    if isinstance(box, str | bytes) or not isinstance(box, Sequence) or len(box) != 4:
        raise LayoutError(f'{what}: "box" must be [x1, y1, x2, y2] relative to the page; got {box!r}.')
    x1, y1 = _point(box[:2], f"{what}, box corner 1")
    x2, y2 = _point(box[2:], f"{what}, box corner 2")
    if x1 > x2 or y1 > y2:
        log.warning("%s had swapped corners %s; using them sorted.", what, list(box))
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
    return (round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height))


def _point(value, what: str) -> tuple[float, float]:
    try:
        x, y = (float(c) for c in value)
    except (TypeError, ValueError):
        raise LayoutError(f"{what} must be two numbers relative to the page (0..1); got {value!r}.") from None
    clamped = []
    for c in (x, y):
        if not math.isfinite(c) or c < -EDGE_TOLERANCE or c > 1 + EDGE_TOLERANCE:
            raise LayoutError(
                f"{what} {[x, y]} lies outside the page; panel coordinates are relative to the page (0..1). "
                "Move the panel inside the page."
            )
        clamped.append(min(max(c, 0.0), 1.0))
    if clamped != [x, y]:
        log.warning("%s %s reaches just outside the page; clamped to %s.", what, [x, y], clamped)
    return clamped[0], clamped[1]


def _list(value, what: str, key: str) -> list:
    if not isinstance(value, list | tuple):
        raise LayoutError(f'{what}: "{key}" must be a list of [x1, y1, x2, y2] boxes; got {value!r}.')
    return list(value)


def _whole(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value != int(value):
        raise LayoutError(f"{name} must be a whole number of pixels; got {value!r}.")
    return int(value)
