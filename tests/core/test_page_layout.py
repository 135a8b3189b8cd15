"""Page layouts: presets, reading order both ways, gutters, generation sizes, JSON round trip and bad input."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from diffsensei_core.errors import LayoutError
from diffsensei_core.model.panel_layout import MAX_PANEL_SIZE, MIN_PANEL_SIZE
from diffsensei_core.page.cast import box_of_character, cast_indices
from diffsensei_core.page.geometry import overlap_area, reading_order
from diffsensei_core.page.page_layout import build_page, generation_size, parse_page
from diffsensei_core.page.presets import CUSTOM, PAGE_SIZES, PRESETS, page_size_px
from diffsensei_core.page.slots import DialogSlot

B5 = dict(width=2150, height=3035, dpi=300, margin=94, gutter=35, border=6)


def custom(panels, direction="rtl", **page):
    return build_page(**{**B5, **page}, direction=direction, preset=CUSTOM, panels=panels)


def centres(page):
    return [((p.rect[0] + p.rect[2]) / 2, (p.rect[1] + p.rect[3]) / 2) for p in page.panels]


# ------------------------------------------------------------------------------------------------ page sizes


def test_page_sizes_at_dpi():
    assert page_size_px("B5 manga (182×257 mm)", 300) == (2150, 3035)
    assert page_size_px("A5 (148×210 mm)", 300) == (1748, 2480)
    assert page_size_px("A4 (210×297 mm)", 150) == (1240, 1754)
    assert page_size_px("webtoon strip (800×3200 px)", 72) == (800, 3200)
    assert len(PAGE_SIZES) == 4


# ---------------------------------------------------------------------------------------------- reading order


def test_grid_reading_order_right_to_left_and_left_to_right():
    rtl = build_page(**B5, direction="rtl", preset="4 panels (2×2)")
    ltr = build_page(**B5, direction="ltr", preset="4 panels (2×2)")
    (a, b, c, d) = centres(rtl)
    assert a[1] == b[1] < c[1] == d[1] and a[0] > b[0] and c[0] > d[0]  # top row first, right panel first
    (a, b, c, d) = centres(ltr)
    assert a[1] == b[1] < c[1] == d[1] and a[0] < b[0] and c[0] < d[0]
    assert [p.index for p in rtl.panels] == [0, 1, 2, 3]


def test_order_is_robust_to_slightly_misaligned_panels():
    # hand-drawn: the right panel starts a little lower than the left one, the second row wobbles too
    panels = [{"box": [0.05, 0.05, 0.48, 0.45]}, {"box": [0.52, 0.07, 0.95, 0.46]},
              {"box": [0.05, 0.50, 0.50, 0.95]}, {"box": [0.54, 0.48, 0.95, 0.93]}]
    page = custom(panels)
    order = [round(p.rect[0] / B5["width"], 2) for p in page.panels]
    assert order == [0.52, 0.05, 0.54, 0.05]


def test_tall_panel_spanning_two_rows_is_read_before_its_neighbours_column():
    # rtl: a tall panel on the right, two stacked panels on the left → tall, left top, left bottom
    panels = [{"box": [0.05, 0.05, 0.48, 0.45]}, {"box": [0.05, 0.5, 0.48, 0.95]}, {"box": [0.52, 0.05, 0.95, 0.95]}]
    rtl = custom(panels)
    assert rtl.panels[0].rect[0] == round(0.52 * B5["width"])
    assert rtl.panels[1].rect[1] < rtl.panels[2].rect[1]
    ltr = custom(panels, direction="ltr")
    assert [p.rect[1] for p in ltr.panels[:2]] == [round(0.05 * 3035), round(0.5 * 3035)]
    assert ltr.panels[2].rect[0] == round(0.52 * B5["width"])


def test_reading_order_function_on_rows_of_different_counts():
    rects = [(0, 0, 10, 10), (12, 0, 22, 10), (24, 0, 34, 10), (0, 12, 16, 22), (18, 12, 34, 22)]
    assert reading_order(rects, "ltr") == [0, 1, 2, 3, 4]
    assert reading_order(rects, "rtl") == [2, 1, 0, 4, 3]


def test_insets_are_read_after_their_splash_panel():
    page = build_page(**B5, direction="rtl", preset="splash + 2 insets")
    splash, first, second = page.panels
    assert first.parent == second.parent == 0 and splash.parent is None
    assert first.rect[1] < second.rect[1]  # the top-right inset comes first


def test_four_koma_reads_top_to_bottom_either_way():
    for direction in ("rtl", "ltr"):
        page = build_page(**B5, direction=direction, preset="4-koma strip")
        tops = [p.rect[1] for p in page.panels]
        assert tops == sorted(tops) and len(tops) == 4


# ------------------------------------------------------------------------------------------- presets, gutters


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("size", PAGE_SIZES)
def test_every_preset_is_valid_on_every_page_size(preset, size):
    width, height = page_size_px(size, 150)
    page = build_page(width=width, height=height, dpi=150, margin=47, gutter=18, border=3, preset=preset)
    assert 2 <= len(page.panels) <= 7
    for panel in page.panels:
        x1, y1, x2, y2 = panel.rect
        assert 47 <= x1 < x2 <= width - 47 and 47 <= y1 < y2 <= height - 47, "inside the margins"
    for i, a in enumerate(page.panels):
        for b in page.panels[i + 1:]:
            if a.parent is None and b.parent is None:
                assert overlap_area(a.outline, b.outline) == 0.0
    assert parse_page(page.to_json()) == page


def test_grid_counts_and_gutters():
    expected = {"2 panels (2 rows)": 2, "3 panels (1 + 2)": 3, "4 panels (2×2)": 4, "5 panels (2 + 1 + 2)": 5,
                "6 panels (3×2)": 6, "7 panels (2 + 3 + 2)": 7}
    for preset, count in expected.items():
        page = build_page(**B5, preset=preset)
        assert len(page.panels) == count
        rows = {}
        for p in page.panels:
            rows.setdefault(p.rect[1], []).append(p.rect)
        tops = sorted(rows)
        for upper, lower in itertools.pairwise(tops):
            assert lower - rows[upper][0][3] == pytest.approx(35, abs=1), "horizontal gutter"
        for rects in rows.values():
            rects.sort()
            for left, right in itertools.pairwise(rects):
                assert right[0] - left[2] == pytest.approx(35, abs=1), "vertical gutter"


def test_slanted_preset_has_convex_polygons_separated_by_the_gutter():
    page = build_page(**B5, preset="slanted gutters (4 panels)")
    polygons = [p for p in page.panels if p.polygon is not None]
    assert len(polygons) == 4
    for i, a in enumerate(page.panels):
        for b in page.panels[i + 1:]:
            assert overlap_area(a.outline, b.outline) == 0.0
    middle = sorted(page.panels[1:3], key=lambda p: p.rect[0])
    assert middle[0].rect[2] > middle[1].rect[0], "bounding boxes of a slanted split overlap; the outlines do not"


def test_preset_entries_give_contents_in_reading_order():
    page = build_page(**B5, preset="4 panels (2×2)", panels=[
        {"prompt": "first"}, {"prompt": "second", "characters": [[0, 0, 0.5, 1]]}])
    assert [p.prompt for p in page.panels] == ["first", "second", "", ""]
    assert page.panels[1].characters == ((0.0, 0.0, 0.5, 1.0),)


# --------------------------------------------------------------------------------------- generation sizes


@pytest.mark.parametrize("aspect", [0.25, 0.5, 0.7, 1.0, 1.41, 2.0, 3.0, 4.0])
def test_generation_size_keeps_aspect_near_trained_area(aspect):
    w, h = generation_size(aspect)
    assert w % 8 == 0 and h % 8 == 0
    assert MIN_PANEL_SIZE <= min(w, h) and max(w, h) <= MAX_PANEL_SIZE
    assert w * h == pytest.approx(1024 * 1024, rel=0.03)
    assert math.log((w / h) / aspect) == pytest.approx(0.0, abs=0.02)


def test_generation_size_clamps_extreme_panels_and_other_scales():
    assert generation_size(0.01) == (MIN_PANEL_SIZE, MAX_PANEL_SIZE)
    assert generation_size(64.0) == (MAX_PANEL_SIZE, MIN_PANEL_SIZE)
    assert generation_size(1.0, 512) == (512, 512)
    w, h = generation_size(3.0, 128)
    assert (w, h) == (224, 72) and w % 8 == 0
    with pytest.raises(LayoutError, match="aspect"):
        generation_size(0.0)


def test_panel_layouts_have_each_panels_shape_and_boxes():
    page = build_page(**B5, preset="3 panels (1 + 2)", panels=[{"characters": [[0.1, 0.1, 0.4, 1]],
                                                                 "dialogs": [[0.6, 0, 1, 0.3]]}])
    layouts = page.panel_layouts()
    for panel, layout in zip(page.panels, layouts, strict=True):
        assert layout.width / layout.height == pytest.approx(panel.aspect, rel=0.02)
    assert layouts[0].characters == ((0.1, 0.1, 0.4, 1.0),) and layouts[0].dialogs == ((0.6, 0.0, 1.0, 0.3),)
    assert layouts[1].characters == ()


# --------------------------------------------------------------------------------------------- dialog slots


def test_dialog_slots_in_page_pixels_and_reading_order():
    page = custom([
        {"box": [0.0, 0.5, 0.5, 1.0], "dialogs": [[0, 0, 0.5, 0.5]]},
        {"box": [0.5, 0.0, 1.0, 0.5], "characters": [[0.5, 0.5, 1, 1]], "dialogs": [[0, 0, 1, 0.2], [0, 0.8, 1, 1]]},
    ], width=1000, height=2000, margin=0)
    slots = page.dialog_slots()
    assert all(isinstance(s, DialogSlot) for s in slots) and [s.panel for s in slots] == [0, 0, 1]
    assert slots[0].box == (500.0, 0.0, 1000.0, 200.0)
    assert slots[0].characters == ((750.0, 500.0, 1000.0, 1000.0),)
    assert slots[0].panel_box == (500.0, 0.0, 1000.0, 1000.0)
    assert slots[2].box == (0.0, 1000.0, 250.0, 1500.0) and slots[2].characters == ()


# ----------------------------------------------------------------------------------------- JSON and bad input


def test_json_round_trip_custom_with_polygon_and_borders():
    page = custom([
        {"box": [0.05, 0.05, 0.95, 0.4], "border": 9, "prompt": "wide", "dialogs": [[0, 0, 0.3, 0.3]]},
        {"polygon": [[0.05, 0.45], [0.95, 0.42], [0.95, 0.95], [0.05, 0.95]]},
    ])
    assert page.panels[0].border == 9 and page.panels[1].border == 6 and page.panels[1].polygon is not None
    again = parse_page(page.to_json())
    assert again == page
    assert parse_page(json.loads(page.to_json())) == page


def test_page_keys_must_agree_with_the_node():
    text = json.dumps({"width": 1000, "panels": [{"box": [0, 0, 1, 1]}]})
    assert parse_page(text, height=800, dpi=72, preset=CUSTOM).width == 1000
    with pytest.raises(LayoutError, match='"width": 1000 but the node says 900'):
        parse_page(text, width=900, height=800, dpi=72, preset=CUSTOM)


@pytest.mark.parametrize(("text", "match"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"panelz": []}', "unknown keys"),
    ('{"panels": {}}', "must be a list"),
    ('{"panels": []}', "no panels"),
    ('{"panels": [{"box": [0, 0, 1]}]}', r"\[x1, y1, x2, y2\]"),
    ('{"panels": [{"box": [0, 0, 1.5, 1]}]}', "outside the page"),
    ('{"panels": [{"box": [-0.3, 0, 0.5, 1]}]}', "outside the page"),
    ('{"panels": [{"characters": []}]}', 'no "box"'),
    ('{"panels": [{"box": [0, 0, 0.6, 1]}, {"box": [0.4, 0, 1, 1]}]}', "panels 1 and 2 overlap"),
    ('{"panels": [{"polygon": [[0, 0], [1, 0], [0.5, 0.5], [1, 1], [0, 1]]}]}', "not convex"),
    ('{"panels": [{"box": [0, 0, 0.001, 1]}]}', "at least 8px"),
    ('{"panels": [{"box": [0, 0, 1, 1], "colour": 1}]}', "unknown keys"),
    ('{"panels": [{"box": [0, 0, 1, 1], "characters": [[0, 0, 5, 5]]}]}', "far outside 0..1"),
])
def test_bad_page_json(text, match):
    with pytest.raises(LayoutError, match=match):
        parse_page(text, **B5, preset=CUSTOM)


def test_bad_settings_and_preset_mismatches():
    with pytest.raises(LayoutError, match=r"has 4 panels"):
        build_page(**B5, preset="4 panels (2×2)", panels=[{}] * 5)
    with pytest.raises(LayoutError, match="gives its own box"):
        build_page(**B5, preset="4 panels (2×2)", panels=[{"box": [0, 0, 1, 1]}])
    with pytest.raises(LayoutError, match="unknown preset"):
        build_page(**B5, preset="9 panels")
    with pytest.raises(LayoutError, match="direction"):
        build_page(**B5, direction="ttb", preset="4-koma strip")
    with pytest.raises(LayoutError, match="margin"):
        build_page(**{**B5, "margin": 1100}, preset="4-koma strip")


def test_small_overshoot_is_clamped_with_a_warning(caplog):
    page = custom([{"box": [-0.002, 0, 1.003, 1]}])
    assert page.panels[0].rect == (0, 0, B5["width"], B5["height"])
    assert "clamped" in caplog.text


# -------------------------------------------------------------------------------------------------- per-panel cast

TWO_BOXES = [[0.05, 0.2, 0.45, 1.0], [0.55, 0.2, 0.95, 1.0]]


def test_cast_names_the_characters_of_each_panel_in_box_order():
    page = build_page(**B5, preset="4 panels (2×2)", panels=[
        {"characters": [[0.1, 0.2, 0.5, 1]], "dialogs": [[0.6, 0, 1, 0.3]], "cast": [2]},
        {"characters": TWO_BOXES, "cast": [3, 1]},
        {"characters": TWO_BOXES},
        {"cast": []},
    ])
    assert [p.cast for p in page.panels] == [(2,), (3, 1), None, ()]
    assert [cast_indices(p.cast, len(p.characters), 3 if p.cast else 2, "x") for p in page.panels] == [
        (1,), (2, 0), (0, 1), ()]
    (slot,) = page.dialog_slots()
    assert slot.cast == (2,) and len(slot.characters) == 1
    again = parse_page(page.to_json())
    assert [p.cast for p in again.panels] == [(2,), (3, 1), None, ()]
    assert "cast" not in page.to_dict()["panels"][2], "no cast stays no cast"


def test_panels_without_boxes_show_nobody_and_default_cast_is_everyone():
    assert cast_indices(None, 0, 4, "panel 1") == ()
    assert cast_indices(None, 3, 3, "panel 1") == (0, 1, 2)
    with pytest.raises(LayoutError, match=r'panel 2 has 1 character box\(es\) and no "cast".*all 2 connected.*'
                                          r'"cast": \[1\]'):
        cast_indices(None, 1, 2, "panel 2")
    with pytest.raises(LayoutError, match=r'panel 3: "cast" \[1, 4\] names character 4 but 3 character\(s\) are '
                                          r"connected; expected numbers 1..3"):
        cast_indices((1, 4), 2, 3, "panel 3")


@pytest.mark.parametrize(("panel", "match"), [
    ({"characters": TWO_BOXES, "cast": [1]}, r'panel 1 has 2 character box\(es\) but its "cast" \[1\] names 1 '
                                             r"character\(s\).*Delete 1 character box"),
    ({"cast": [1]}, r"has 0 character box\(es\).*Draw 1 more character box"),
    ({"characters": TWO_BOXES, "cast": [2, 2]}, r"names character 2 more than once"),
    ({"characters": TWO_BOXES, "cast": [0, 1]}, r'"cast" must list character numbers \(1 = the first'),
    ({"characters": TWO_BOXES, "cast": "12"}, r'"cast" must list character numbers'),
    ({"characters": TWO_BOXES, "cast": [1, True]}, r'"cast" must list character numbers'),
    ({"characters": TWO_BOXES, "cast": [1, 2.0]}, r'"cast" must list character numbers'),
])
def test_bad_casts_name_the_panel(panel, match):
    with pytest.raises(LayoutError, match=match):
        build_page(**B5, preset="4-koma strip", panels=[panel])


def test_box_of_character():
    assert box_of_character(None, 2, 2) == 1 and box_of_character(None, 3, 2) is None
    assert box_of_character((3, 1), 1, 2) == 1 and box_of_character((3, 1), 2, 2) is None


PRESET_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "page_presets.json"


def test_presets_and_reading_order_match_the_shared_fixture():
    """tests/fixtures/page_presets.json is what the page canvas (web/js/page_model.js) is checked against too, so the
    canvas draws the panels the backend composes, in the backend's reading order."""
    import json

    from diffsensei_core.page.geometry import bounding_rect
    from diffsensei_core.page.page_layout import build_page
    from diffsensei_core.page.presets import preset_outlines

    fixture = json.loads(PRESET_FIXTURE.read_text(encoding="utf-8"))
    size = fixture["page"]
    assert list(fixture["outlines"]) == [name for name in PRESETS if name != CUSTOM]
    for name, expected in fixture["outlines"].items():
        outlines = preset_outlines(name, size["width"], size["height"], size["margin"], size["gutter"])
        assert json.loads(json.dumps(outlines)) == expected, name
        rects = [tuple(o) if isinstance(o[0], int) else bounding_rect(o) for o in outlines]
        for direction in ("rtl", "ltr"):
            page = build_page(width=size["width"], height=size["height"], dpi=150, direction=direction,
                              margin=size["margin"], gutter=size["gutter"], preset=name)
            order = [rects.index(tuple(panel.rect)) for panel in page.panels]
            assert order == fixture["reading_orders"][f"{name}|{direction}"], (name, direction)
