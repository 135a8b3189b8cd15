"""Compose a page: panel images placed into their outlines on paper, with borders; deterministic (PIL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import InputShapeError
from .structure import PageLayout, PagePanel

FITS = ("crop", "fit")
"""crop: cover the panel, cutting the image's overflow evenly on both sides; fit: letterbox on paper colour."""


def parse_colour(value: str) -> tuple[int, int, int]:
    """'#rrggbb' or 'r,g,b' (0..255) → (r, g, b)."""
    text = value.strip()
    try:
        if text.startswith("#") and len(text) == 7:
            return tuple(int(text[k:k + 2], 16) for k in (1, 3, 5))
        parts = [int(p) for p in text.split(",")]
        if len(parts) == 3 and all(0 <= p <= 255 for p in parts):
            return tuple(parts)
    except ValueError:
        pass
    raise InputShapeError(f"colour {value!r} is not '#rrggbb' or 'r,g,b' with values 0..255; e.g. '#ffffff'.")


def to_pil(image: torch.Tensor) -> Image.Image:
    """(H, W, C) float 0..1, C = 1, 3 or 4 → an RGB PIL image."""
    array = (image.detach().to("cpu", torch.float32).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(array[..., :3]), "RGB")


def from_pil(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image → (H, W, 3) float32 0..1."""
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)


def place(image: Image.Image, size: tuple[int, int], fit: str, paper: tuple[int, int, int]) -> Image.Image:
    """Resize ``image`` to ``size`` (w, h) keeping its aspect: crop = cover and centre-cut, fit = letterbox."""
    w, h = size
    scale = (max if fit == "crop" else min)(w / image.width, h / image.height)
    sw, sh = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    resized = image.resize((sw, sh), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (w, h), paper)
    canvas.paste(resized, ((w - sw) // 2, (h - sh) // 2))
    return canvas


def compose_page(
    page: PageLayout,
    images: Sequence[torch.Tensor],
    *,
    fit: str | Sequence[str] = "crop",
    paper: tuple[int, int, int] = (255, 255, 255),
    ink: tuple[int, int, int] = (0, 0, 0),
    on_panel: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Place one image per panel (reading order) on the page.

    images: one (H, W, C) tensor per panel, any sizes; fit: one mode for all panels or one per panel;
    on_panel: called with the panel's reading index after each panel (progress, interruption).
    Returns (page.height, page.width, 3) float32 in 0..1. Parents are drawn before their insets.
    """
    if len(images) != len(page.panels):
        raise InputShapeError(
            f"the page layout has {len(page.panels)} panels but {len(images)} panel images arrived; "
            f"connect exactly one image per panel, in reading order."
        )
    fits = [fit] * len(images) if isinstance(fit, str) else list(fit)
    if len(fits) != len(images) or any(f not in FITS for f in fits):
        raise InputShapeError(f"fit must be one of {FITS} or one per panel; got {fit!r}.")
    canvas = Image.new("RGB", (page.width, page.height), paper)
    for panel, image, mode in zip(page.panels, images, fits, strict=True):
        if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
            raise InputShapeError(
                f"panel {panel.index + 1}: expected an image (H, W, C) with 1, 3 or 4 channels; "
                f"got {tuple(image.shape)}."
            )
        _draw_panel(canvas, panel, to_pil(image), mode, paper, ink)
        if on_panel is not None:
            on_panel(panel.index)
    return from_pil(canvas)


def _draw_panel(canvas: Image.Image, panel: PagePanel, image: Image.Image, fit: str,
                paper: tuple[int, int, int], ink: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = panel.rect
    tile = place(image, (x2 - x1, y2 - y1), fit, paper)
    mask = Image.new("L", tile.size, 0)
    outline = [(x - x1, y - y1) for x, y in panel.outline]
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    if panel.polygon is None:  # PIL's polygon fill stops one pixel short on the right/bottom edges
        mask.paste(255, (0, 0, *tile.size))
    canvas.paste(tile, (x1, y1), mask)
    if panel.border > 0:
        _draw_border(canvas, panel, ink)


def _draw_border(canvas: Image.Image, panel: PagePanel, ink: tuple[int, int, int]) -> None:
    """A line of ``panel.border`` pixels inside the outline (it never spills into the gutter)."""
    x1, y1, x2, y2 = panel.rect
    ring = Image.new("L", (x2 - x1, y2 - y1), 0)
    draw = ImageDraw.Draw(ring)
    outline = [(x - x1, y - y1) for x, y in panel.outline]
    if panel.polygon is None:
        draw.rectangle((0, 0, ring.width - 1, ring.height - 1), outline=255, width=panel.border)
    else:  # points on the rectangle's far edges lie one pixel outside the ring: pull them in
        inner = [(min(x, ring.width - 1), min(y, ring.height - 1)) for x, y in outline]
        draw.polygon(inner, outline=255, width=panel.border)
    canvas.paste(Image.new("RGB", ring.size, ink), (x1, y1), ring)
