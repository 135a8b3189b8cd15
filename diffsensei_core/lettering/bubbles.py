"""Speech-bubble shapes inside a dialog box, their tails, and the rectangle their text may use.

Shapes: "oval", "rounded" (rounded rectangle), "thought" (bumpy cloud, trailing circles for a tail),
"shout" (spiky burst), "whisper" (an oval with a dashed outline). Every shape fills its dialog box; the outline
lies inside the shape, so nothing but the tail leaves the box. Geometry is deterministic: the same box and target
give the same pixels.

Masks are drawn at ``SUPERSAMPLE``× and box-filtered down, which antialiases the edges; the outline is the
filled shape minus the shape eroded by the outline width, so the tail joins the body without a seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..errors import LetteringError

Box = tuple[float, float, float, float]
Point = tuple[float, float]

SHAPES = ("oval", "rounded", "thought", "shout", "whisper")
SUPERSAMPLE = 3
CORNER = 0.25
"""Rounded rectangle corner radius, as a share of the box's shorter side."""
BUMP = 0.14
"""Thought-cloud bump radius, as a share of the box's shorter side."""
BURST_INNER = 0.74
"""Shout burst: the spikes' inner points lie on the box ellipse scaled by this."""
DASHES = 32
"""Whisper: dashes (and as many gaps) around the outline."""
PADDING = 0.04
"""Space between the outline and the text, as a share of the box's shorter side (at least 2 px)."""


@dataclass(frozen=True)
class Masks:
    """A bubble's coverage of the image region ``origin`` + shape: ``fill`` (the whole bubble, outline
    included) and ``inner`` (the white part), float32 (h, w) in 0..1, ``inner`` ≤ ``fill``."""

    origin: tuple[int, int]
    fill: np.ndarray
    inner: np.ndarray


def check_shape(shape: str) -> str:
    if shape not in SHAPES:
        raise LetteringError(f"bubble shape must be one of {SHAPES}; got {shape!r}.")
    return shape


def head_point(character_box: Box) -> Point:
    """Where a tail points for a character: the top-centre of its box, where the head usually is."""
    x1, y1, x2, y2 = character_box
    return ((x1 + x2) / 2, y1 + 0.15 * (y2 - y1))


def text_area(shape: str, box: Box, outline: float) -> Box:
    """The rectangle inside the bubble's white part that text may use, (x0, y0, x1, y1) px."""
    check_shape(shape)
    cx, cy, a, b = _ellipse(box)
    side = min(a, b) * 2
    inset = float(outline) + max(2.0, PADDING * side)
    if shape == "rounded":
        corner = CORNER * side * (1 - 1 / math.sqrt(2))
        half_w, half_h = a - inset - corner, b - inset - corner
    else:
        if shape == "thought":
            a, b = a - 0.5 * BUMP * side, b - 0.5 * BUMP * side
        elif shape == "shout":
            spikes = _spike_count(box)
            scale = BURST_INNER * math.cos(math.pi / spikes)
            a, b = a * scale, b * scale
        half_w, half_h = (a - inset) / math.sqrt(2), (b - inset) / math.sqrt(2)
    half_w, half_h = max(half_w, 0.0), max(half_h, 0.0)
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def tail_wedge(box: Box, target: Point) -> list[Point] | None:
    """A triangle from inside the body to a tip on the way to ``target``; None when the target is too
    close (inside or touching the bubble)."""
    frame = _tail_frame(box, target)
    if frame is None:
        return None
    (cx, cy), (dx, dy), reach, length = frame
    half_base = 0.22 * min(box[2] - box[0], box[3] - box[1])
    base = (cx + dx * 0.5 * reach, cy + dy * 0.5 * reach)
    tip = (cx + dx * (reach + length), cy + dy * (reach + length))
    side_a = (base[0] - dy * half_base, base[1] + dx * half_base)
    side_b = (base[0] + dy * half_base, base[1] - dx * half_base)
    return [side_a, tip, side_b]


def thought_dots(box: Box, target: Point) -> list[tuple[float, float, float]]:
    """Up to three shrinking circles (cx, cy, r) from the cloud toward ``target``, stopping short of it."""
    frame = _tail_frame(box, target)
    if frame is None:
        return []
    (cx, cy), (dx, dy), reach, _length = frame
    side = min(box[2] - box[0], box[3] - box[1])
    limit = min(math.hypot(target[0] - cx, target[1] - cy), reach + 0.9 * side)
    out, at = [], reach
    for share in (0.09, 0.065, 0.045):
        r = share * side
        at += r * 1.6
        if at + r > limit:
            break
        out.append((cx + dx * at, cy + dy * at, r))
        at += r
    return out


def bubble_masks(shape: str, box: Box, target: Point | None, outline: float, clip: Box) -> Masks | None:
    """Render the bubble (body + tail toward ``target``, if any) clipped to ``clip``; None if nothing shows."""
    check_shape(shape)
    wedge = tail_wedge(box, target) if target is not None and shape != "thought" else None
    dots = thought_dots(box, target) if target is not None and shape == "thought" else []
    xs = [box[0], box[2], *(p[0] for p in wedge or ()), *(x - r for x, _, r in dots), *(x + r for x, _, r in dots)]
    ys = [box[1], box[3], *(p[1] for p in wedge or ()), *(y - r for _, y, r in dots), *(y + r for _, y, r in dots)]
    x0, y0 = max(math.floor(min(xs)) - 1, math.ceil(clip[0])), max(math.floor(min(ys)) - 1, math.ceil(clip[1]))
    x1, y1 = min(math.ceil(max(xs)) + 1, math.floor(clip[2])), min(math.ceil(max(ys)) + 1, math.floor(clip[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    s = SUPERSAMPLE

    def local(p: Point) -> Point:
        return ((p[0] - x0) * s, (p[1] - y0) * s)

    canvas = Image.new("L", ((x1 - x0) * s, (y1 - y0) * s), 0)
    draw = ImageDraw.Draw(canvas)
    _draw_body(draw, shape, (*local(box[:2]), *local(box[2:])))
    if wedge:
        draw.polygon([local(p) for p in wedge], fill=255)
    for x, y, r in dots:
        (lx, ly), lr = local((x, y)), r * s
        draw.ellipse((lx - lr, ly - lr, lx + lr, ly + lr), fill=255)
    fill = np.asarray(canvas) > 0
    inner = _erode(fill, round(outline * s))
    if shape == "whisper":
        inner = _dashed(fill, inner, local(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)))
    return Masks((x0, y0), _downsample(fill, s), _downsample(inner, s))


# ------------------------------------------------------------------------------------------------ internals


def _ellipse(box: Box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return ((x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2)


def _tail_frame(box: Box, target: Point):
    """(centre, unit direction, distance from centre to the outline, tail length) or None."""
    cx, cy, a, b = _ellipse(box)
    dx, dy = target[0] - cx, target[1] - cy
    dist = math.hypot(dx, dy)
    if dist == 0 or a <= 0 or b <= 0:
        return None
    dx, dy = dx / dist, dy / dist
    reach = 1 / math.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    length = min(0.9 * min(a, b), 0.6 * (dist - reach))
    if length < 4:
        return None
    return (cx, cy), (dx, dy), reach, length


def _ellipse_points(cx: float, cy: float, a: float, b: float, n: int, phase: float = 0.0) -> np.ndarray:
    """(n, 2) points evenly spaced by arc length around an ellipse, starting at the top (+ phase in steps)."""
    t = np.linspace(0, 2 * np.pi, 721)
    x, y = cx + a * np.sin(t), cy - b * np.cos(t)
    arc = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))))
    at = (np.arange(n) + phase) / n * arc[-1]
    return np.stack((np.interp(at, arc, x), np.interp(at, arc, y)), axis=1)


def _perimeter(a: float, b: float) -> float:
    h = ((a - b) / (a + b)) ** 2 if a + b else 0.0
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))  # Ramanujan


def _spike_count(box: Box) -> int:
    _, _, a, b = _ellipse(box)
    side = 2 * min(a, b)
    return max(10, min(40, round(_perimeter(a, b) / max(0.28 * side, 1.0))))


def _draw_body(draw: ImageDraw.ImageDraw, shape: str, box: Box) -> None:
    cx, cy, a, b = _ellipse(box)
    side = 2 * min(a, b)
    if shape in ("oval", "whisper"):
        draw.ellipse(box, fill=255)
    elif shape == "rounded":
        draw.rounded_rectangle(box, radius=CORNER * side, fill=255)
    elif shape == "thought":
        bump = BUMP * side
        ia, ib = max(a - bump, 1.0), max(b - bump, 1.0)
        draw.ellipse((cx - ia, cy - ib, cx + ia, cy + ib), fill=255)
        count = max(8, round(_perimeter(ia, ib) / (1.4 * bump)))
        for x, y in _ellipse_points(cx, cy, ia, ib, count):
            draw.ellipse((x - bump, y - bump, x + bump, y + bump), fill=255)
    else:  # shout
        spikes = _spike_count(box)
        outer = _ellipse_points(cx, cy, a, b, spikes)
        inner = _ellipse_points(cx, cy, a * BURST_INNER, b * BURST_INNER, spikes, phase=0.5)
        # every other spike a little shorter, for a hand-drawn rhythm without randomness
        short = np.where(np.arange(spikes) % 2 == 1, 0.86, 1.0)[:, None]
        outer = np.array([cx, cy]) + (outer - np.array([cx, cy])) * short
        points = np.empty((2 * spikes, 2))
        points[0::2], points[1::2] = outer, inner
        draw.polygon([tuple(p) for p in points.tolist()], fill=255)


def _erode(mask: np.ndarray, steps: int) -> np.ndarray:
    """Binary erosion by ``steps`` pixels, alternating 4- and 8-neighbourhoods (an octagon, close to a disc).

    Outside the array counts as inside the shape: a bubble cut by the clip rectangle gets no outline there.
    """
    out = mask.copy()
    for i in range(steps):
        prev = out.copy()
        out[1:, :] &= prev[:-1, :]
        out[:-1, :] &= prev[1:, :]
        out[:, 1:] &= prev[:, :-1]
        out[:, :-1] &= prev[:, 1:]
        if i % 2:
            out[1:, 1:] &= prev[:-1, :-1]
            out[1:, :-1] &= prev[:-1, 1:]
            out[:-1, 1:] &= prev[1:, :-1]
            out[:-1, :-1] &= prev[1:, 1:]
    return out


def _dashed(fill: np.ndarray, inner: np.ndarray, centre: Point) -> np.ndarray:
    """``inner`` with every other of 2·DASHES angular sectors of the outline ring (fill minus inner) painted white."""
    ys, xs = np.indices(fill.shape)
    angle = np.arctan2(ys - centre[1], xs - centre[0]) + np.pi
    gap = (np.floor(angle / (2 * np.pi) * 2 * DASHES).astype(np.int64) % 2) == 1
    return inner | (fill & ~inner & gap)


def _downsample(mask: np.ndarray, s: int) -> np.ndarray:
    h, w = mask.shape[0] // s, mask.shape[1] // s
    return mask[: h * s, : w * s].reshape(h, s, w, s).mean(axis=(1, 3), dtype=np.float32)
