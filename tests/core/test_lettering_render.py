"""Bubble geometry and rendering: text areas inside the white body, tails, clipping, untouched pixels, and
golden images (small PNGs drawn with Pillow's bundled font, so they do not depend on installed fonts).

The test only reads the goldens. After an intended change of the drawing, redraw them with a separate command and
look at them before committing:

    .venv/bin/python -m tests.core.lettering_scenes
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from diffsensei_core.errors import InputShapeError
from diffsensei_core.lettering.bubbles import SHAPES, bubble_masks, head_point, text_area
from diffsensei_core.lettering.fonts import FontChain, MissingGlyphsError, discover_faces, pillow_face
from diffsensei_core.lettering.plan import BubbleSpec, parse_texts, plan_bubbles
from diffsensei_core.lettering.render import (
    LetterStyle,
    _text_mask,
    apply_tiles,
    layout_text,
    layout_texts,
    letter,
    render_tiles,
)
from diffsensei_core.lettering.text import TextFitError, fit_text, is_cjk, layout_at_size
from diffsensei_core.page.slots import DialogSlot

from .fuzz import fuzz_settings
from .lettering_scenes import CHAIN, CHARS, GOLDEN, SCENES, as_png_pixels, background, scene_shapes

ROOT = Path(__file__).resolve().parents[2]


# (mean difference /255, share of pixels differing by more than 64): text may move by a pixel between FreeType
# versions (antialiasing, hinting), bubble geometry may not
TOLERANCE = {"shapes": (1.5, 0.005), "bubbles": (0.3, 0.0005), "vertical": (1.5, 0.005)}


@pytest.mark.parametrize("name", sorted(SCENES))
def test_golden_images(name):
    image = as_png_pixels(SCENES[name]())
    path = GOLDEN / f"{name}.png"
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert expected.shape == image.shape
    diff = np.abs(expected.astype(np.int16) - image.astype(np.int16)).max(axis=2)
    mean, strong = TOLERANCE[name]
    assert diff.mean() < mean, f"mean difference {diff.mean():.2f}/255 from {path}"
    assert (diff > 64).mean() < strong, f"{(diff > 64).mean():.3%} of pixels differ strongly from {path}"


def test_rendering_does_not_depend_on_the_process():
    """Another interpreter with another hash seed draws the same pixels (no set or dict order leaks into a page)."""
    code = ("import sys; from tests.core.lettering_scenes import scene_shapes; "
            "sys.stdout.buffer.write(scene_shapes().tobytes())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONHASHSEED": "12345", "PATH": ""},
                         capture_output=True, check=True).stdout
    assert out == scene_shapes().tobytes()


def test_pixels_outside_the_bubbles_are_untouched():
    image = background()
    slots = [DialogSlot((20, 20, 140, 90), CHARS)]
    out = letter(image, slots, "Hi there", CHAIN)
    changed = np.any(out != image, axis=2)
    ys, xs = np.nonzero(changed)
    tail = head_point(CHARS[0])
    assert xs.min() >= 19 and ys.min() >= 19 and xs.max() <= 141 and ys.max() <= tail[1]
    assert changed[30:80, 40:120].all()  # the body is painted
    assert not changed[200:, :].any()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("box", [(10.3, 12.0, 210.0, 92.7), (5.0, 5.0, 65.0, 185.0), (0.0, 0.0, 40.0, 40.0)])
def test_text_area_lies_inside_the_white_body(shape, box):
    outline = 3
    x0, y0, x1, y1 = text_area(shape, box, outline)
    masks = bubble_masks(shape, box, None, outline, (0, 0, 400, 400))
    ox, oy = masks.origin
    inner = masks.inner[int(np.ceil(y0)) - oy : int(np.floor(y1)) - oy, int(np.ceil(x0)) - ox : int(np.floor(x1)) - ox]
    assert x1 > x0 and y1 > y0
    assert inner.size > 0 and inner.min() > 0.99


@pytest.mark.parametrize("shape", SHAPES)
def test_tails_reach_out_toward_the_target_and_only_then(shape):
    box = (100, 100, 200, 160)
    clip = (0, 0, 400, 400)
    plain = bubble_masks(shape, box, None, 2, clip)
    assert plain.origin[0] >= 99 and plain.fill.shape[1] <= 102
    aimed = bubble_masks(shape, box, (380, 130), 2, clip)
    ox, _ = aimed.origin
    columns = np.nonzero(aimed.fill.max(axis=0) > 0.5)[0] + ox
    assert columns.max() > 215  # something beyond the box, toward x=380
    assert columns.min() >= 99
    inside = bubble_masks(shape, box, (150, 130), 2, clip)  # target inside the bubble: no tail
    assert inside.fill.shape == plain.fill.shape


def test_bubbles_are_clipped_to_their_panel():
    image = background()
    slot = DialogSlot((150, 20, 250, 80), ((20, 150, 100, 240),), 0, (140, 0, 320, 120))
    out = letter(image, [slot], "Over here!", CHAIN)
    changed = np.any(out != image, axis=2)
    assert changed[20:80, 150:250].any()
    assert not changed[:, :140].any() and not changed[120:, :].any()


def test_text_ink_stays_in_its_text_area():
    box = (10, 10, 230, 130)
    slot = DialogSlot(box)
    style = LetterStyle(max_font_size=40, min_font_size=6, outline=0)
    (spec,) = plan_bubbles(parse_texts("Jumpy quick fjords, gypsy (yes) - wow!"), [slot], "rounded")
    (tile,) = render_tiles(240, 140, [spec], CHAIN, style)
    x0, y0, x1, y1 = text_area("rounded", box, 0)
    ox, oy = tile.origin
    ink = (tile.color[..., 0] < 0.999) & (tile.alpha > 0.999)  # grey or black inside the body: text
    ys, xs = np.nonzero(ink)
    assert len(xs) > 50
    assert xs.min() + ox >= np.floor(x0) and xs.max() + ox < np.ceil(x1)
    assert ys.min() + oy >= np.floor(y0) and ys.max() + oy < np.ceil(y1)


def test_pil_images_come_back_as_pil():
    image = Image.new("RGB", (200, 120), (90, 90, 90))
    out = letter(image, [DialogSlot((10, 10, 190, 110))], "Hello", CHAIN)
    assert isinstance(out, Image.Image) and out.size == (200, 120) and out.mode == "RGB"
    assert out.getpixel((100, 60)) != (90, 90, 90)


def test_errors_name_the_line_and_the_glyphs():
    image = background()
    with pytest.raises(TextFitError, match="texts line 2: the text 'This will never fit"):
        letter(image, [DialogSlot((0, 0, 100, 60)), DialogSlot((0, 100, 30, 120))], "ok\nThis will never fit here",
               CHAIN, LetterStyle(min_font_size=8))
    with pytest.raises(MissingGlyphsError, match=r"U\+65E5"):
        letter(image, [DialogSlot((0, 0, 100, 60))], "日本", CHAIN)
    with pytest.raises(InputShapeError, match="H, W, 3 or 4"):
        apply_tiles(np.zeros((4, 4)), [])


def test_rgba_images_keep_and_gain_alpha():
    image = np.zeros((120, 200, 4), dtype=np.float32)
    out = letter(image, [DialogSlot((10, 10, 190, 110))], "Hello", CHAIN)
    assert out[60, 100, 3] == pytest.approx(1.0) and out[0, 0, 3] == 0


def cjk_face():
    for face in discover_faces([]):
        if face.source == "system" and all(face.has(c) for c in "日本語どこ、。「」ー"):
            return face
    pytest.skip("no CJK font installed (apt install fonts-noto-cjk or fonts-ipafont-gothic)")


def test_tategaki_with_a_real_cjk_font():
    chain = FontChain([cjk_face(), pillow_face()])
    slot = DialogSlot((10, 10, 230, 230))
    text = "「どこに行ってたの？」ずっと待ってたんだよ。ラーメン"
    (spec,) = plan_bubbles(parse_texts(text), [slot], "oval")
    (tile,) = render_tiles(240, 240, [spec], chain, LetterStyle(max_font_size=30, min_font_size=8))
    layout = tile.layout
    assert layout.direction == "vertical" and len(layout.lines) > 1
    area = text_area("oval", slot.box, LetterStyle().outline)
    assert all(area[0] <= p.box[0] and p.box[2] <= area[2] and area[1] <= p.box[1] and p.box[3] <= area[3]
               for p in layout.items)
    drawn = "".join(p.text for p in layout.items)
    assert sum(is_cjk(c) for c in drawn) == sum(is_cjk(c) for c in text)  # every character placed once
    assert all(col[0] not in "、。」ー" for col in layout.lines[1:])


@fuzz_settings(100)
@given(words=st.lists(st.text(alphabet="AWjgfy().,!?' qpQ", min_size=1, max_size=9), min_size=1, max_size=12),
       w=st.integers(20, 220), h=st.integers(12, 140), vertical=st.booleans(), size=st.integers(8, 40))
def test_real_font_ink_never_leaves_the_text_area(words, w, h, vertical, size):
    text = " ".join(words)
    area = (3.5, 4.25, 3.5 + w, 4.25 + h)
    try:
        layout = fit_text(text, area, CHAIN, direction="vertical" if vertical else "horizontal", max_size=size,
                          min_size=min(6, size))
    except TextFitError:
        return
    ink = _text_mask(layout, CHAIN, (0, 0), (h + 20, w + 20)) > 0
    ys, xs = np.nonzero(ink)
    if len(xs):
        assert xs.min() >= np.ceil(area[0]) and xs.max() + 1 <= np.floor(area[2])
        assert ys.min() >= np.ceil(area[1]) and ys.max() + 1 <= np.floor(area[3])


# ------------------------------------------------------------------------------------ one font size for all bubbles

def test_same_font_size_takes_the_largest_size_every_bubble_fits():
    slots = [DialogSlot((10, 10, 150, 90)), DialogSlot((170, 10, 310, 90)), DialogSlot((10, 120, 150, 200))]
    specs = plan_bubbles(parse_texts("Hi!\nWhere were you all night long, tell me?\n-\nOk."), slots + slots[:1],
                         "oval")
    style = LetterStyle(max_font_size=40, min_font_size=6)
    alone = layout_texts(specs, CHAIN, style)
    assert alone == [layout_text(s, CHAIN, style) for s in specs], "off: each bubble at its own size"
    assert len({layout.size for layout in alone}) > 1
    same = layout_texts(specs, CHAIN, LetterStyle(max_font_size=40, min_font_size=6, same_size=True))
    assert {layout.size for layout in same} == {min(layout.size for layout in alone)} == {same[1].size}
    assert same[1] == alone[1], "the bubble that needs the smallest size keeps its own layout"
    tiles = render_tiles(320, 240, specs, CHAIN, LetterStyle(max_font_size=40, min_font_size=6, same_size=True))
    assert [t.layout for t in tiles] == same


def test_same_font_size_ignores_empty_bubbles_and_says_when_no_size_fits(monkeypatch):
    specs = plan_bubbles(parse_texts("Hello there\n\\ "), [DialogSlot((10, 10, 150, 90))] * 2, "oval")
    style = LetterStyle(max_font_size=30, min_font_size=6, same_size=True)
    first, empty = layout_texts(specs, CHAIN, style)
    assert first == layout_text(specs[0], CHAIN, style) and empty.items == () and empty.size == first.size
    two = plan_bubbles(parse_texts("Hello there\nHi"), [DialogSlot((10, 10, 150, 90))] * 2, "oval")
    from diffsensei_core.lettering import render

    monkeypatch.setattr(render, "layout_at_size", lambda *args, **kwargs: None)  # a font that fits only alone
    with pytest.raises(TextFitError, match=r"no single font size from \d+ down to 6 px fits every bubble.*"
                                           r"same_font_size"):
        layout_texts(two, CHAIN, style)


@fuzz_settings(40)
@given(bubbles=st.lists(st.tuples(st.lists(st.text(alphabet="AWjgfy().,!?' qpQ", min_size=1, max_size=8), min_size=1,
                                           max_size=8),
                                  st.integers(40, 200), st.integers(30, 120), st.sampled_from(SHAPES)),
                        min_size=1, max_size=4),
       vertical=st.booleans(), overflow=st.sampled_from(["error", "shrink"]), top=st.integers(10, 40))
def test_same_font_size_never_overflows(bubbles, vertical, overflow, top):
    specs, x = [], 0
    for k, (words, w, h, shape) in enumerate(bubbles):
        slot = DialogSlot((x + 0.5, 2.25, x + 0.5 + w, 2.25 + h))
        specs.append(BubbleSpec(slot, " ".join(words), shape, None, k + 1))
        x += w + 10
    base = dict(writing="vertical" if vertical else "horizontal", max_font_size=top, min_font_size=8,
                overflow=overflow, outline=2.0)
    try:
        alone = layout_texts(specs, CHAIN, LetterStyle(**base))
    except TextFitError:
        with pytest.raises(TextFitError):
            layout_texts(specs, CHAIN, LetterStyle(**base, same_size=True))
        return
    same = layout_texts(specs, CHAIN, LetterStyle(**base, same_size=True))
    size = same[0].size
    assert all(layout.size == size for layout in same), "one size for every bubble"
    assert size <= min(layout.size for layout in alone)
    if size < min(layout.size for layout in alone):  # the largest common size: one bubble fails one size up
        def fails(spec, direction):
            area = text_area(spec.shape, spec.slot.box, 2.0)
            return all(layout_at_size(spec.text, area, CHAIN, direction=direction, size=size + 1, split=split) is None
                       for split in ({False, size + 1 <= 8}))

        assert any(fails(spec, layout.direction) for spec, layout in zip(specs, same, strict=True))
    for spec, layout in zip(specs, same, strict=True):
        x0, y0, x1, y1 = text_area(spec.shape, spec.slot.box, 2.0)
        assert all(x0 <= p.box[0] and p.box[2] <= x1 and y0 <= p.box[1] and p.box[3] <= y1 for p in layout.items)
        ink = _text_mask(layout, CHAIN, (0, 0), (int(y1) + 20, int(x1) + 20)) > 0
        ys, xs = np.nonzero(ink)
        if len(xs):
            assert xs.min() >= np.ceil(x0) and xs.max() + 1 <= np.floor(x1)
            assert ys.min() >= np.ceil(y0) and ys.max() + 1 <= np.floor(y1)
