"""Compose page: panels placed in reading order, clipped to their outlines, gutters on paper, borders, fit/crop."""

from __future__ import annotations

import pytest
import torch

from diffsensei_core.errors import InputShapeError
from diffsensei_core.page.compose import compose_page, parse_colour, place, to_pil
from diffsensei_core.page.page_layout import build_page
from diffsensei_core.page.presets import CUSTOM

PAGE = dict(width=400, height=600, dpi=72, margin=20, gutter=10, border=0)


def flat(colour, h=64, w=64):
    return torch.tensor(colour, dtype=torch.float32).expand(h, w, 3).clone()


def test_panels_land_in_reading_order_with_paper_in_gutters_and_margins():
    page = build_page(**PAGE, direction="rtl", preset="4 panels (2×2)")
    colours = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0)]
    out = compose_page(page, [flat(c) for c in colours])
    assert out.shape == (600, 400, 3) and out.dtype == torch.float32
    for panel, colour in zip(page.panels, colours, strict=True):
        x1, y1, x2, y2 = panel.rect
        region = out[y1:y2, x1:x2]
        assert torch.allclose(region, torch.tensor(colour).expand_as(region)), panel.index
    assert (out[:20] == 1).all() and (out[:, :20] == 1).all(), "margins are paper"
    first, second = page.panels[:2]
    assert (out[first.rect[1]:first.rect[3], second.rect[2]:first.rect[0]] == 1).all(), "the gutter is paper"
    assert page.panels[0].rect[0] > page.panels[1].rect[0], "rtl: the first image goes to the right"


def test_borders_are_drawn_inside_the_panel_in_ink():
    page = build_page(**{**PAGE, "border": 3}, direction="ltr", preset="2 panels (2 rows)")
    out = compose_page(page, [flat((1.0, 0.0, 0.0)), flat((0.0, 1.0, 0.0))], ink=(0, 0, 255))
    x1, y1, x2, y2 = page.panels[0].rect
    assert torch.equal(out[y1 + 1, x1 + 50], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.equal(out[y1 + 3, x1 + 50], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(out[y2 - 1, x1 + 50], torch.tensor([0.0, 0.0, 1.0]))
    assert (out[y1 - 1, x1:x2] == 1).all(), "nothing spills into the margin"


def test_polygon_panels_are_clipped_to_their_outline():
    page = build_page(**PAGE, direction="rtl", preset=CUSTOM, panels=[
        {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.4], [0.1, 0.6]]}])
    out = compose_page(page, [flat((0.0, 0.0, 0.0))], paper=(255, 255, 255))
    assert (out[int(0.58 * 600), int(0.8 * 400)] == 1).all(), "below the slanted edge: paper"
    assert (out[int(0.3 * 600), int(0.5 * 400)] == 0).all(), "inside: the image"


def test_insets_are_drawn_over_their_splash_panel():
    page = build_page(**PAGE, direction="rtl", preset="splash + 2 insets")
    out = compose_page(page, [flat((1.0, 0.0, 0.0)), flat((0.0, 1.0, 0.0)), flat((0.0, 0.0, 1.0))])
    for panel, colour in zip(page.panels[1:], [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0)], strict=True):
        x1, y1, x2, y2 = panel.rect
        assert torch.equal(out[(y1 + y2) // 2, (x1 + x2) // 2], torch.tensor(colour))


def test_crop_covers_and_fit_letterboxes():
    wide = to_pil(flat((0.0, 0.0, 0.0), h=50, w=200))
    cropped = place(wide, (100, 100), "crop", (255, 255, 255))
    fitted = place(wide, (100, 100), "fit", (255, 255, 255))
    assert cropped.getextrema() == ((0, 0), (0, 0), (0, 0))
    assert fitted.getpixel((50, 5)) == (255, 255, 255) and fitted.getpixel((50, 50)) == (0, 0, 0)
    page = build_page(**PAGE, direction="rtl", preset="2 panels (2 rows)")
    images = [flat((0.0, 0.0, 0.0), h=10, w=300), flat((0.0, 0.0, 0.0), h=300, w=10)]
    a = compose_page(page, images, fit=["crop", "fit"])
    b = compose_page(page, images, fit=["crop", "fit"])
    assert torch.equal(a, b), "deterministic"
    x1, y1, x2, y2 = page.panels[1].rect
    assert (a[(y1 + y2) // 2, x1 + 2] == 1).all() and (a[(y1 + y2) // 2, (x1 + x2) // 2] == 0).all()


def test_count_mismatch_and_bad_images():
    page = build_page(**PAGE, direction="rtl", preset="4 panels (2×2)")
    with pytest.raises(InputShapeError, match="4 panels but 3 panel images"):
        compose_page(page, [flat((0, 0, 0))] * 3)
    with pytest.raises(InputShapeError, match="1, 3 or 4 channels"):
        compose_page(page, [torch.zeros(8, 8, 2)] * 4)
    with pytest.raises(InputShapeError, match="fit must be"):
        compose_page(page, [flat((0, 0, 0))] * 4, fit="stretch")


def test_colours_and_grey_or_rgba_images():
    assert parse_colour("#ff8000") == (255, 128, 0) and parse_colour("1, 2, 3") == (1, 2, 3)
    with pytest.raises(InputShapeError, match="#rrggbb"):
        parse_colour("white")
    page = build_page(**PAGE, direction="rtl", preset="2 panels (2 rows)")
    out = compose_page(page, [torch.full((16, 16, 1), 0.5), torch.zeros(16, 16, 4)])
    x1, y1, x2, y2 = page.panels[0].rect
    assert torch.allclose(out[(y1 + y2) // 2, (x1 + x2) // 2], torch.full((3,), 128 / 255))
