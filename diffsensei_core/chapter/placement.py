"""Dialog boxes for a panel's lines: sized so the text fits with the lettering fitter, placed in reading order.

Each line gets the smallest bubble in which its text fits at the page's font size (a few bubble shapes tried, from
the shape its writing prefers), laid out exactly as *Letter bubbles* will lay it out (``lettering.text``). The
bubble then goes to the free spot nearest to its speaker's head (just above it when there is room), subject to
hard rules: inside the panel, clear of the other bubbles and of insets, covering at most ``HEAD_COVER`` of any
character's head region, and after the previous bubble in reading order (past it in the reading direction or
below it). Narration goes to a corner (the first one where reading starts, later ones where it ends); an off-panel
voice near the edge where reading ends. A line without a free spot tries smaller font sizes down to the minimum,
and the lines before it their next spots (a depth-first search); when nothing works the line is an error naming it.

All coordinates are pixels of the panel (0, 0 at its top-left corner).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..lettering.bubbles import text_area
from ..lettering.text import Typesetter, layout_at_size, resolve_direction
from .diagnostics import Where, script_error

Box = tuple[float, float, float, float]

HEAD_COVER = 0.1
"""Bubbles together cover at most this share of any character's head region."""
GAP = 0.012
"""Space between bubbles and around insets, as a share of the panel's shorter side (at least 2 px)."""
EDGE = 0.025
"""Space between bubbles and the panel's edge, as a share of its shorter side (at least the border + 2 px)."""
GRID = 13
"""Candidate positions per axis."""
SEARCH_BUDGET = 20000
"""Spots the placement search may try per panel before it gives up."""
SLACK = 2
"""Pixels added to a fitted bubble's width and height, so rounding its position never loses the fit."""
ASPECTS = {
    ("speech", "horizontal"): (1.5, 1.0, 2.2, 0.75),
    ("speech", "vertical"): (0.7, 1.0, 0.5, 1.4),
    ("narration", "horizontal"): (2.6, 1.6, 1.0),
    ("narration", "vertical"): (0.45, 0.75, 1.2),
}
"""Bubble width/height ratios tried in order, by kind of line and writing direction."""


@dataclass(frozen=True)
class Request:
    """One line to place. kind: "speech" (``head``: the speaker's head region), "narration" or "off" (a voice
    from outside the panel); ``where`` names the line in errors."""

    text: str
    shape: str
    kind: str
    head: Box | None
    where: Where


@dataclass(frozen=True)
class Space:
    """The panel: its size in pixels, reading direction, border width, the characters' head regions and the
    rectangles bubbles must keep clear of (insets)."""

    width: float
    height: float
    direction: str
    border: int = 0
    heads: tuple[Box, ...] = ()
    obstacles: tuple[Box, ...] = ()

    @property
    def gap(self) -> float:
        return max(2.0, GAP * min(self.width, self.height))

    @property
    def bounds(self) -> Box:
        edge = max(self.border + 2.0, EDGE * min(self.width, self.height))
        return (edge, edge, self.width - edge, self.height - edge)


@dataclass(frozen=True)
class Placed:
    box: Box
    size: int
    """The font size (px) the text fits at."""


class Fitter:
    """Text fitting as Letter bubbles does it: ``typesetter`` (fonts), bubble outline width, writing."""

    def __init__(self, typesetter: Typesetter, *, outline: float, writing: str):
        self.typesetter, self.outline, self.writing = typesetter, outline, writing

    def fits(self, text: str, shape: str, box: Box, size: int) -> bool:
        area = text_area(shape, box, self.outline)
        direction = resolve_direction(text, self.writing)
        return layout_at_size(text, area, self.typesetter, direction=direction, size=size) is not None

    def smallest(self, text: str, shape: str, size: int, aspect: float, limit: tuple[float, float]):
        """(w, h) of the smallest bubble of ``aspect`` (w/h) holding ``text`` at ``size`` px, within ``limit``
        (w, h) including SLACK; None when even the largest does not hold it."""
        high = min(limit[1] - SLACK, (limit[0] - SLACK) / aspect)
        if high <= 1 or not self.fits(text, shape, (0, 0, aspect * high, high), size):
            return None
        low = 0.0
        while high - low > 0.5:
            middle = (low + high) / 2
            if self.fits(text, shape, (0, 0, aspect * middle, middle), size):
                high = middle
            else:
                low = middle
        return (math.ceil(aspect * high) + SLACK, math.ceil(high) + SLACK)


def follows(previous: Box, box: Box, direction: str) -> bool:
    """True when ``box`` comes after ``previous`` in reading order: below it, or past it in the reading direction
    (left of it for rtl) without lying wholly above it."""
    if box[1] >= previous[3]:
        return True
    past = box[2] <= previous[0] if direction == "rtl" else box[0] >= previous[2]
    return past and box[3] > previous[1]


def overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def place_bubbles(space: Space, requests: Sequence[Request], fitter: Fitter, *, font_size: int,
                  min_font_size: int) -> list[Placed]:
    """One bubble per request, in order; raise ScriptError naming the line that finds no room.

    Depth-first: each line takes its best free spot (largest font size, nearest its ideal spot); when a later line
    finds none, the earlier ones try their next spots (at most SEARCH_BUDGET spots are tried in all).
    """
    choices = [_Choices(space, request, k, len(requests), fitter, (font_size, min_font_size))
               for k, request in enumerate(requests)]
    state = {"placed": [], "covered": [0.0] * len(space.heads), "budget": SEARCH_BUDGET, "deepest": 0}
    if _search(space, choices, 0, state):
        return state["placed"]
    request = requests[state["deepest"]]
    raise script_error(
        request.where, f"the text '{_preview(request.text)}' finds no room in its panel even at the minimum font "
        f"size ({min_font_size} px), next to its other bubbles and off the characters' faces",
        expected="a line that fits its panel", fix="Shorten or split the line, move some lines to another panel, "
        "give the panel more room ('big', 'wide'), or lower 'Min font size'.")


def _search(space: Space, choices: list[_Choices], k: int, state: dict) -> bool:
    if k == len(choices):
        return True
    state["deepest"] = max(state["deepest"], k)
    placed, covered = state["placed"], state["covered"]
    for spot in choices[k]:
        state["budget"] -= 1
        if state["budget"] < 0:
            return False
        if not _free(space, spot.box, placed, covered):
            continue
        shares = [overlap(spot.box, head) for head in space.heads]
        placed.append(spot)
        for n, share in enumerate(shares):
            covered[n] += share
        if _search(space, choices, k + 1, state):
            return True
        placed.pop()
        for n, share in enumerate(shares):
            covered[n] -= share
    return False


class _Choices:
    """A line's possible bubbles, best first; made lazily and kept, since the search may come back to them."""

    def __init__(self, space: Space, request: Request, index: int, count: int, fitter: Fitter,
                 sizes: tuple[int, int]):
        self.made: list[Placed] = []
        self.source = _spots(space, request, index, count, fitter, sizes)

    def __iter__(self):
        k = 0
        while True:
            if k == len(self.made):
                spot = next(self.source, None)
                if spot is None:
                    return
                self.made.append(spot)
            yield self.made[k]
            k += 1


def _spots(space: Space, request: Request, index: int, count: int, fitter: Fitter, sizes: tuple[int, int]):
    """Every bubble a line may take: font sizes from the largest, bubble shapes in ASPECTS order, positions best
    first."""
    kind = "narration" if request.kind == "narration" else "speech"
    direction = resolve_direction(request.text, fitter.writing)
    x1, y1, x2, y2 = space.bounds
    for size in range(sizes[0], sizes[1] - 1, -1):
        for aspect in ASPECTS[(kind, direction)]:
            dims = fitter.smallest(request.text, request.shape, size, aspect, (x2 - x1, y2 - y1))
            if dims is not None:
                for box in _candidates(space, request, index, count, dims):
                    yield Placed(box, size)


def _candidates(space: Space, request: Request, index: int, count: int, dims: tuple[float, float]) -> list[Box]:
    """Boxes of size ``dims`` inside the bounds, best first (nearest the line's ideal spot)."""
    w, h = dims
    x1, y1, x2, y2 = space.bounds
    start_right = space.direction == "rtl"
    if request.kind == "narration" and (index == 0 or index == count - 1):
        at_start = index == 0
        ideal = ((x2 - w if start_right == at_start else x1) + w / 2, (y1 if at_start else y2 - h) + h / 2)
        corners = [(x, y, x + w, y + h) for y in (y1, y2 - h) for x in (x1, x2 - w)]
        corners.sort(key=lambda b: (_distance(b, ideal), b[1], b[0]))
    else:
        corners = []
        if request.kind == "speech" and request.head is not None:
            hx = (request.head[0] + request.head[2]) / 2
            ideal = (hx, request.head[1] - space.gap - h / 2)
        elif request.kind == "off":  # near the top edge where reading ends
            ideal = ((x1 if start_right else x2 - w) + w / 2, y1 + h / 2)
        else:  # narration between other lines: the top, where reading starts
            ideal = ((x2 - w if start_right else x1) + w / 2, y1 + h / 2)
    xs = _steps(x1, x2 - w, ideal[0] - w / 2)
    ys = _steps(y1, y2 - h, ideal[1] - h / 2)
    grid = [(x, y, x + w, y + h) for y in ys for x in xs]
    grid.sort(key=lambda b: (_distance(b, ideal), b[1], b[0]))
    return corners + grid


def _steps(low: float, high: float, preferred: float) -> list[int]:
    """GRID whole-pixel positions from ``low`` to ``high`` and the one nearest ``preferred``."""
    low, high = math.ceil(low), math.floor(high)
    if high < low:
        return []
    values = {round(low + (high - low) * k / (GRID - 1)) for k in range(GRID)}
    values.add(round(min(max(preferred, low), high)))
    return sorted(values)


def _distance(box: Box, point: tuple[float, float]) -> float:
    return math.hypot((box[0] + box[2]) / 2 - point[0], (box[1] + box[3]) / 2 - point[1])


def _free(space: Space, box: Box, placed: list[Placed], covered: list[float]) -> bool:
    gap = space.gap
    grown = (box[0] - gap, box[1] - gap, box[2] + gap, box[3] + gap)
    if any(overlap(grown, other.box) > 0 for other in placed) or any(overlap(grown, o) > 0 for o in space.obstacles):
        return False
    if placed and not follows(placed[-1].box, box, space.direction):
        return False
    return all(covered[k] + overlap(box, head) <= HEAD_COVER * area(head) for k, head in enumerate(space.heads))


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 40 else flat[:39] + "…"
