"""Lettering an image: bubbles with fitted text, drawn into the image's dialog boxes.

Each bubble becomes a tile (premultiplied colour and alpha over a small region); tiles are made once and
composited onto every image of a batch, in order, so later bubbles overlap earlier ones. Pixels outside the
bubbles are returned unchanged. Rendering is deterministic.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..errors import InputShapeError
from ..page.slots import DialogSlot
from .bubbles import bubble_masks, text_area
from .fonts import FontChain
from .plan import BubbleSpec, parse_texts, plan_bubbles
from .text import SHRINK_FLOOR, TextFitError, TextLayout, fit_text, layout_at_size, resolve_direction

log = logging.getLogger("diffsensei")


@dataclass(frozen=True)
class LetterStyle:
    """How bubbles are lettered. Sizes in pixels; overflow "error" or "shrink" (below min_font_size, warned);
    same_size: every bubble of the image at one font size (the largest at which all fit) instead of each at its own.
    """

    writing: str = "auto"
    max_font_size: int = 32
    min_font_size: int = 10
    overflow: str = "error"
    outline: float = 3.0
    same_size: bool = False


@dataclass(frozen=True)
class Tile:
    """A lettered bubble: premultiplied colour (h, w, 3) and alpha (h, w), float32 0..1, at ``origin`` (x, y)."""

    origin: tuple[int, int]
    color: np.ndarray
    alpha: np.ndarray
    layout: TextLayout


def layout_text(spec: BubbleSpec, chain: FontChain, style: LetterStyle) -> TextLayout:
    """The spec's text fitted into its bubble's text area (TextFitError names the texts line)."""
    area = text_area(spec.shape, spec.slot.box, style.outline)
    try:
        return fit_text(spec.text, area, chain, direction=resolve_direction(spec.text, style.writing),
                        max_size=style.max_font_size, min_size=style.min_font_size, overflow=style.overflow)
    except TextFitError as err:
        raise TextFitError(f"texts line {spec.line}: {err}") from None


def layout_texts(specs: Sequence[BubbleSpec], chain: FontChain, style: LetterStyle) -> list[TextLayout]:
    """Every spec's text fitted into its bubble: each at its own largest size, or with ``style.same_size`` all at
    the largest size at which every one fits (words cut only at or below min_font_size, as for one bubble)."""
    alone = [layout_text(spec, chain, style) for spec in specs]
    lettered = [k for k, spec in enumerate(specs) if spec.text.strip()]
    if not style.same_size or not lettered:
        return alone
    start = min(alone[k].size for k in lettered)
    floor = min(style.min_font_size, SHRINK_FLOOR) if style.overflow == "shrink" else style.min_font_size
    for size in range(start, floor - 1, -1):
        layouts, cut = list(alone), []
        for k in range(len(specs)):
            if alone[k].size == size:
                continue
            area = text_area(specs[k].shape, specs[k].slot.box, style.outline)
            direction = resolve_direction(specs[k].text, style.writing)
            layouts[k] = layout_at_size(specs[k].text, area, chain, direction=direction, size=size)
            if layouts[k] is None and size <= style.min_font_size:
                layouts[k] = layout_at_size(specs[k].text, area, chain, direction=direction, size=size, split=True)
                cut.append(specs[k].line)
            if layouts[k] is None:
                break
        else:
            if cut:
                log.warning("one font size for all bubbles (%d px): texts line(s) %s broken inside a word to fit.",
                            size, cut)
            log.info("lettering: one font size for all %d bubbles: %d px", len(lettered), size)
            return layouts
    raise TextFitError(
        f"no single font size from {start} down to {floor} px fits every bubble, although each fits alone; turn "
        "off same_font_size (one size for all bubbles), make the dialog boxes bigger or shorten the longest texts."
    )


def render_tiles(width: int, height: int, specs: Sequence[BubbleSpec], chain: FontChain, style: LetterStyle,
                 on_bubble: Callable[[], None] | None = None) -> list[Tile]:
    """One tile per visible bubble of a width × height image; glyphs are checked for every text first."""
    chain.check("".join(s.text for s in specs))
    layouts = layout_texts(specs, chain, style)
    tiles = []
    for spec, layout in zip(specs, layouts, strict=True):
        clip = (0, 0, width, height)
        if spec.slot.panel_box is not None:
            px0, py0, px1, py1 = spec.slot.panel_box
            clip = (max(0, px0), max(0, py0), min(width, px1), min(height, py1))
        masks = bubble_masks(spec.shape, spec.slot.box, spec.tail_to, style.outline, clip)
        if masks is not None:
            ink = _text_mask(layout, chain, masks.origin, masks.fill.shape)
            color = masks.inner[..., None] * (1 - ink[..., None])  # white body, black outline and text
            alpha = masks.fill + ink * (1 - masks.fill)
            tiles.append(Tile(masks.origin, np.repeat(color, 3, axis=2), alpha, layout))
        if on_bubble is not None:
            on_bubble()
    return tiles


def apply_tiles(image: np.ndarray, tiles: Sequence[Tile]) -> np.ndarray:
    """A copy of ``image`` (H, W, C) float, C = 3 or 4 (alpha), with the tiles composited in order."""
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InputShapeError(f"expected an image of shape (H, W, 3 or 4); got {tuple(image.shape)}.")
    out = np.array(image, dtype=np.float32, copy=True)
    for tile in tiles:
        x, y = tile.origin
        h, w = tile.alpha.shape
        region = out[y : y + h, x : x + w]
        a = tile.alpha[: region.shape[0], : region.shape[1], None]
        region[..., :3] = tile.color[: region.shape[0], : region.shape[1]] + region[..., :3] * (1 - a)
        if out.shape[2] == 4:
            region[..., 3:] = a + region[..., 3:] * (1 - a)
    return out


def letter(image: Image.Image | np.ndarray, slots: Sequence[DialogSlot], texts: str, chain: FontChain,
           style: LetterStyle = LetterStyle(), default_shape: str = "oval") -> Image.Image | np.ndarray:
    """Letter one image: a PIL image comes back as PIL (same mode family), an (H, W, C) float array 0..1 as such."""
    is_pil = isinstance(image, Image.Image)
    if is_pil:
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB"
        array = np.asarray(image.convert(mode), dtype=np.float32) / 255
    else:
        array = np.asarray(image, dtype=np.float32)
    height, width = array.shape[:2]
    specs = plan_bubbles(parse_texts(texts), slots, default_shape)
    out = apply_tiles(array, render_tiles(width, height, specs, chain, style))
    if is_pil:
        return Image.fromarray(np.clip(np.rint(out * 255), 0, 255).astype(np.uint8), mode)
    return out


def _text_mask(layout: TextLayout, chain: FontChain, origin: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 0..1: the text's coverage over the tile region."""
    ox, oy = origin
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    size = layout.size
    for item in layout.items:
        if item.kind == "line":
            chain.draw_line(draw, item.x - ox, item.y - oy, item.text, size, 255)
        elif item.kind == "glyph":
            chain.draw_glyph(draw, item.x - ox, item.y - oy, item.text, size, 255)
        else:  # rotated: draw the run horizontally, turn it clockwise, paste into its box
            left, right, ascent, descent = chain.line_extent(item.text, size)
            lo, a = math.floor(left), math.ceil(ascent)
            run = Image.new("L", (math.ceil(right) - lo, a + math.ceil(descent)), 0)
            chain.draw_line(ImageDraw.Draw(run), -lo, a, item.text, size, 255)
            run = run.transpose(Image.Transpose.ROTATE_270)
            canvas.paste(255, (int(item.box[0]) - ox, int(item.box[1]) - oy), run)
    return np.asarray(canvas, dtype=np.float32) / 255
