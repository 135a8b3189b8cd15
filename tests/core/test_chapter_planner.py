"""The chapter planner on worked examples: arrangement, casts, character boxes, bubbles, texts, prompts, seeds, the
plan's JSON, determinism, and local edits staying local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffsensei_core.chapter.arrangement import arrange_page
from diffsensei_core.chapter.casting import panel_cast
from diffsensei_core.chapter.grammar import parse_script
from diffsensei_core.chapter.planned import plan_from_dict
from diffsensei_core.chapter.planner import plan_chapter, points_to_px
from diffsensei_core.chapter.prompts import panel_seed
from diffsensei_core.chapter.staging import FRAMES, character_boxes, head_region
from diffsensei_core.errors import ScriptError
from diffsensei_core.lettering.fonts import FontChain, pillow_face
from diffsensei_core.lettering.plan import parse_texts, plan_bubbles
from diffsensei_core.page.geometry import overlap_area, rect_polygon
from diffsensei_core.page.page_layout import parse_page

from .lettering_fakes import MonoTypesetter

EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "chapters"
EXAMPLE = (EXAMPLES / "the_late_bell.txt").read_text(encoding="utf-8")
MONO = MonoTypesetter()
LATIN = FontChain([pillow_face()])  # Pillow's bundled font: the same on every machine
GEOMETRY = dict(width=1000, height=1400, margin=40, gutter=20)


def plan(text: str, dpi: int = 150, typesetter=MONO):
    return plan_chapter(parse_script(text), dpi=dpi, typesetter=typesetter, source=text.splitlines())


def rects(sizes, direction="rtl"):
    return [s.rect for s in arrange_page(sizes, direction=direction, **GEOMETRY)]


# ------------------------------------------------------------------------------------------------ arrangement


def test_pages_without_hints_take_the_grid_presets():
    four = rects([None] * 4)
    assert four == [(510, 40, 960, 690), (40, 40, 490, 690), (510, 710, 960, 1360), (40, 710, 490, 1360)]
    assert rects([None] * 4, "ltr") == [four[1], four[0], four[3], four[2]]
    three = rects([None] * 3)
    assert three[0] == (40, 40, 960, 690), "3 panels: one wide panel, then two"
    assert rects([None]) == [(40, 40, 960, 1360)]
    assert len(rects([None] * 8)) == 8


def test_hints_shape_the_rows():
    big, a, b = rects(["big", None, None])
    assert big[2] - big[0] == 920 and (big[3] - big[1]) > 1.5 * (a[3] - a[1])
    assert a[0] > b[0] and a[1] == b[1], "plain panels share the next row, right to left"
    tall, top, bottom = rects(["tall", None, None])
    assert tall[0] > top[0] and tall[1] == top[1] and tall[3] == bottom[3] and top[3] < bottom[1]
    first, tall2 = rects([None, "tall"])
    assert first[3] < tall2[1], "a tall panel stacks only the panels after it"
    wide = rects([None, "wide", None])
    assert wide[1][2] - wide[1][0] == 920 and wide[0][3] < wide[1][1] < wide[1][3] < wide[2][1]


def test_splash_and_insets():
    splash, inset1, inset2 = arrange_page(["splash", "inset", "inset"], direction="rtl", **GEOMETRY)
    assert splash.rect == (40, 40, 960, 1360) and inset1.parent == inset2.parent == 0
    for inset in (inset1, inset2):
        assert overlap_area(rect_polygon(inset.rect), rect_polygon(splash.rect)) == pytest.approx(
            (inset.rect[2] - inset.rect[0]) * (inset.rect[3] - inset.rect[1])), "inside its panel"
        assert inset.rect[0] < 500, "at the side where reading ends (left for rtl)"
    assert inset1.rect[1] < inset2.rect[1], "read top first"
    ltr = arrange_page([None, "inset"], direction="ltr", **GEOMETRY)
    assert ltr[1].rect[2] > 900


def test_the_page_core_reads_the_planned_order():
    chapter_plan = plan(EXAMPLE)
    for page in chapter_plan.pages:
        layout = page.layout()  # raises if the reading order differs from the script's
        assert [p.index for p in layout.panels] == list(range(len(page.panels)))
        assert [p.parent for p in layout.panels] == [p.parent for p in page.panels]


# ------------------------------------------------------------------------------------------------ casts


def test_cast_is_speakers_then_names_in_the_caption():
    chapter = parse_script("Character Ren: r.png\nCharacter Mio: m.png\nCharacter Sato: s.png\nPage\nPanel\n"
                           "sato and ren look at the sky\nMio: hi\nRen (off): hey\nMio: again\n")
    assert panel_cast(chapter, chapter.pages[0].panels[0]) == (2, 3, 1)
    chapter = parse_script("Character 蓮: r.png\nCharacter 澪: m.png\nPage\nPanel\n澪と蓮が歩く\n")
    assert panel_cast(chapter, chapter.pages[0].panels[0]) == (2, 1)
    chapter = parse_script("Character Ren: r.png\nPage\nPanel\nRenata waves\n")
    assert panel_cast(chapter, chapter.pages[0].panels[0]) == (), "names match whole words"


def test_first_speaker_stands_where_reading_starts_and_shots_scale_heads():
    rtl = character_boxes(2, "medium", 1.0, "rtl")
    assert rtl[0][0] > rtl[1][0]
    ltr = character_boxes(2, "medium", 1.0, "ltr")
    assert ltr[0][0] < ltr[1][0]
    heads = {shot: head_region(character_boxes(1, shot, 0.7, "rtl")[0], shot) for shot in FRAMES}
    area = {shot: (h[2] - h[0]) * (h[3] - h[1]) for shot, h in heads.items()}
    assert area["close-up"] > area["medium"] > area["wide shot"] > area["establishing"]
    for count in range(1, 5):
        for box in character_boxes(count, "close-up", 3.0, "rtl"):
            assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1


# ------------------------------------------------------------------------------------------------ texts and prompts


def test_texts_prompts_and_casts_of_the_example():
    first = plan(EXAMPLE).pages[0]
    assert first.texts.splitlines() == [
        "0 (rounded): The first day of spring term.", "1 (shout): I'm not late!", "2 (oval): You are. Again.",
        "2 (thought): Same as always..."]
    gate, run, smile = first.panels
    assert gate.cast == () and run.cast == (1, 2) and smile.cast == (2,)
    assert run.prompt == ("Ren runs through the gate, out of breath, while Mio waits by the wall, a boy with spiky "
                          "black hair and a high-collared school jacket, a girl with long hair, round glasses and a "
                          "striped scarf, monochrome manga, screentone shading, clean line art")
    assert (gate.shot, run.shot, smile.shot) == ("establishing", "medium", "close-up")
    last_page = plan(EXAMPLE).pages[1].texts.splitlines()
    assert "0 (shout): Ren! My office!" in last_page, "an off-panel voice has no tail"
    assert "1 (whisper): ...It did ring early." in last_page


def test_the_texts_letter_the_planned_page():
    for page in plan(EXAMPLE).pages:
        layout = parse_page(page.page_dict())
        specs = plan_bubbles(parse_texts(page.texts), layout.dialog_slots(), "oval")
        assert len(specs) == len(layout.dialog_slots()) == len(page.texts.splitlines())
        for spec, line in zip(specs, page.texts.splitlines(), strict=True):
            target = int(line.split(" ", 1)[0])
            assert (spec.tail_to is None) == (target == 0)


def test_seeds_are_stable_distinct_and_overridable():
    assert panel_seed(2025, 1, 1) == panel_seed(2025, 1, 1) == 8383875672664285
    seeds = [p.seed for p in plan(EXAMPLE).panels]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**53 for s in seeds)
    assert seeds[0] == panel_seed(2025, 1, 1) and seeds[3] == panel_seed(2025, 2, 1)
    fixed = plan("Page\nPanel (seed 7)\na\nPanel\nb\n")
    assert [p.seed for p in fixed.panels] == [7, panel_seed(0, 1, 2)]


def test_font_sizes_follow_the_dpi():
    assert points_to_px(9, 300) == 38 and points_to_px(9, 72) == 9 and points_to_px(6, 40) == 3
    chapter_plan = plan(EXAMPLE, dpi=300)
    assert (chapter_plan.font_size, chapter_plan.min_font_size) == (38, 25)


# ------------------------------------------------------------------------------------------------ the plan as data


def test_plan_json_round_trips_and_is_byte_identical():
    first = plan(EXAMPLE, typesetter=LATIN)
    again = plan(EXAMPLE, typesetter=LATIN)
    assert first.to_json() == again.to_json()
    assert plan_from_dict(json.loads(first.to_json())) == first
    data = json.loads(first.to_json())
    for page in data["pages"]:
        parse_page(page["page"])  # what the Page layout node takes


def test_editing_one_line_replans_only_its_panel():
    before = [p.key_data() for p in plan(EXAMPLE).panels]
    edited = EXAMPLE.replace("Mio: It rings at eight. Every day.", "Mio: It rings at eight, every single day.")
    assert edited != EXAMPLE
    after = [p.key_data() for p in plan(edited).panels]
    changed = [k for k, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [3]
    caption = EXAMPLE.replace("Mio hides a laugh behind her scarf.", "Mio laughs.")
    after = [p.key_data() for p in plan(caption).panels]
    assert [k for k, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [6]


def test_bubbles_keep_off_insets():
    chapter_plan = plan("Character Ren: r.png\nPage\nPanel\nRen waits\nTeacher (off): Come here this instant!\n"
                        "Narration: The end.\nPanel (inset)\nRen's hand\n")
    layout = chapter_plan.pages[0].layout()
    parent, inset = layout.panels
    assert inset.parent == 0
    for dialog in parent.dialogs:
        assert overlap_area(rect_polygon(parent.to_page(dialog)), rect_polygon(inset.rect)) == 0


def test_later_lines_move_earlier_bubbles_when_they_would_find_no_room():
    # greedily, narration 2 takes the last corner and narration 3 has nowhere to go after it
    chapter_plan = plan("Page\nPanel\nthe sky\nNarration: one\nNarration: two\nNarration: three\n")
    assert len(chapter_plan.panels[0].dialogs) == 3


# ------------------------------------------------------------------------------------------------ errors


def test_a_line_that_cannot_fit_names_its_line():
    words = " ".join(["unbelievably"] * 600)
    script = f"Character Ren: r.png\nPage\nPanel\nRen waits\nRen: {words}\n"
    with pytest.raises(ScriptError) as caught:
        plan(script, dpi=72)
    assert (caught.value.line, caught.value.column) == (5, 6)
    assert "finds no room in its panel even at the minimum font size (6 px)" in str(caught.value)


def test_glyphs_no_font_has_are_named_before_planning():
    script = "Character 蓮: r.png\nPage\nPanel\n蓮 waits\n蓮：待って！\n"
    with pytest.raises(ScriptError) as caught:
        plan(script, typesetter=LATIN)
    assert caught.value.line == 5 and "no installed font has glyphs for '待', 'っ', 'て', '！'" in str(caught.value)


def test_the_japanese_example_plans_vertical_bubbles_with_an_installed_cjk_font():
    from diffsensei_core.lettering.fonts import discover_faces
    from diffsensei_core.lettering.text import resolve_direction

    text = (EXAMPLES / "the_late_bell_ja.txt").read_text(encoding="utf-8")
    chain = FontChain.choose("default", discover_faces())
    if chain.missing("遅刻じゃない！澪蓮"):
        pytest.skip("no CJK font installed (apt install fonts-noto-cjk or fonts-ipafont-gothic)")
    japanese = plan(text, dpi=150, typesetter=chain)
    english = plan(EXAMPLE, dpi=150, typesetter=chain)
    assert [p.rect for p in japanese.panels] == [p.rect for p in english.panels], "the same pages"
    assert [p.cast for p in japanese.panels] == [p.cast for p in english.panels], "the same casts (names in 漢字)"
    lines = [line.split(": ", 1)[1] for page in japanese.pages for line in page.texts.splitlines()]
    assert all(resolve_direction(line, "vertical") == "vertical" for line in lines)
    tall = [d for p in japanese.panels for d in p.dialogs
            if (d[3] - d[1]) * (p.rect[3] - p.rect[1]) > (d[2] - d[0]) * (p.rect[2] - p.rect[0])]
    assert len(tall) >= 0.8 * sum(len(p.dialogs) for p in japanese.panels), "vertical text: mostly tall bubbles"
