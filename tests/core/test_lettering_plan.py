"""The texts syntax, pairing texts with dialog boxes, and dialog slots from panel layouts."""

from __future__ import annotations

import logging

import pytest

from diffsensei_core.errors import LetteringError
from diffsensei_core.lettering.bubbles import head_point
from diffsensei_core.lettering.plan import TextLine, parse_texts, plan_bubbles, scale_slots, slots_from_layout
from diffsensei_core.model.panel_layout import make_layout
from diffsensei_core.page.slots import DialogSlot


def test_prefixes_set_tail_target_and_shape():
    lines = parse_texts(
        "Where were you?\n\n  2: Out.  \n(thought): Is he lying?\n1 (shout): LIAR!\n(Burst) 2: Hey\n0: Meanwhile\n-\n"
        "\\12: literal\nNote: plain text\nTwo\\nlines"
    )
    got = [(t.number, t.text, t.target, t.shape, t.blank) for t in lines]
    assert got == [
        (1, "Where were you?", None, None, False),
        (3, "Out.", 2, None, False),
        (4, "Is he lying?", None, "thought", False),
        (5, "LIAR!", 1, "shout", False),
        (6, "Hey", 2, "shout", False),
        (7, "Meanwhile", 0, None, False),
        (8, "", None, None, True),
        (9, "12: literal", None, None, False),
        (10, "Note: plain text", None, None, False),
        (11, "Two\nlines", None, None, False),
    ]


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        ("(whisper): psst", r"line 1: unknown bubble shape '\(whisper\)'"),
        ("ok\n2:   ", "line 2 .* has a prefix but no text"),
        ("1 (shout) 2: x", "names two characters"),
    ],
)
def test_bad_prefixes_are_explained(texts, match):
    with pytest.raises(LetteringError, match=match):
        parse_texts(texts)


CHARS = ((0, 50, 40, 100), (60, 50, 100, 100))


def slot(box=(0, 0, 50, 30), characters=CHARS, panel=0, cast=None):
    return DialogSlot(box, characters, panel, cast=cast)


def test_more_texts_than_boxes_is_an_error_with_the_counts():
    with pytest.raises(LetteringError, match=r"3 text lines for 2 dialog box.*Delete 1 line"):
        plan_bubbles(parse_texts("a\nb\nc"), [slot(), slot()], "oval")


def test_fewer_texts_than_boxes_leaves_boxes_blank_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        specs = plan_bubbles(parse_texts("a"), [slot(), slot(), slot()], "oval")
    assert len(specs) == 1 and "the last 2 box(es) get no bubble" in caplog.text


def test_blank_lines_skip_a_box_and_targets_resolve():
    specs = plan_bubbles(parse_texts("-\n2 (rounded): b\n0: c\nd"), [slot(), slot(), slot(), slot((55, 0, 100, 30))],
                         "oval")
    assert [(s.text, s.shape) for s in specs] == [("b", "rounded"), ("c", "oval"), ("d", "oval")]
    assert specs[0].tail_to == head_point(CHARS[1])
    assert specs[1].tail_to is None
    assert specs[2].tail_to == head_point(CHARS[1])  # nearest to the box at the right


def test_tail_to_a_missing_character_is_an_error():
    with pytest.raises(LetteringError, match=r"line 1 points its tail at character 3.*has 2 character box"):
        plan_bubbles(parse_texts("3: hi"), [slot()], "oval")
    with pytest.raises(LetteringError, match=r"has 0 character box.*use 0 for no tail"):
        plan_bubbles([TextLine(1, "hi", 1)], [slot(characters=())], "oval")
    assert plan_bubbles([TextLine(1, "hi")], [slot(characters=())], "oval")[0].tail_to is None


def test_tail_numbers_are_character_numbers_on_a_panel_with_a_cast():
    cast_slot = slot(cast=(3, 1))  # box 1 shows character 3, box 2 character 1
    specs = plan_bubbles(parse_texts("1: a\n3: b"), [cast_slot, cast_slot], "oval")
    assert [s.tail_to for s in specs] == [head_point(CHARS[1]), head_point(CHARS[0])]
    with pytest.raises(LetteringError, match=r"character 2, but its panel \(panel 1\) shows character\(s\) \[3, 1\] "
                                             r'\(its "cast"\); use 3, 1 or 0 for no tail'):
        plan_bubbles(parse_texts("2: c"), [cast_slot], "oval")
    with pytest.raises(LetteringError, match=r"shows no character; use 0 for no tail"):
        plan_bubbles(parse_texts("1: c"), [slot(characters=(), cast=())], "oval")


def test_unknown_default_shape_is_rejected():
    with pytest.raises(LetteringError, match="default bubble shape"):
        plan_bubbles([], [], "heart")


def test_slots_from_a_panel_layout_are_scaled_to_the_image(caplog):
    layout = make_layout(512, 256, [(0.0, 0.5, 0.25, 1.0)], [(0.5, 0.0, 1.0, 0.25), (0.0, 0.0, 0.25, 0.25)])
    slots = slots_from_layout(layout, 1024, 512)
    assert [s.box for s in slots] == [(512, 0, 1024, 128), (0, 0, 256, 128)]
    assert slots[0].characters == ((0, 256, 256, 512),) and slots[0].panel_box is None
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        slots_from_layout(layout, 512, 512)
    assert "another aspect ratio" in caplog.text


def test_page_slots_follow_the_image_size():
    page_slot = DialogSlot((10, 20, 30, 40), ((0, 0, 10, 10),), 2, (0, 0, 100, 100))
    (scaled,) = scale_slots([page_slot], 0.5, 2.0)
    assert scaled == DialogSlot((5, 40, 15, 80), ((0, 0, 5, 20),), 2, (0, 0, 50, 200))
    assert scale_slots([page_slot], 1, 1) == [page_slot]
    assert scale_slots([DialogSlot((0, 0, 4, 4), cast=(2,))], 2, 2)[0].cast == (2,), "the cast goes along"
