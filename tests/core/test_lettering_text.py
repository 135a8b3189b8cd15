"""Line breaking (spaces, CJK, kinsoku), shrink-then-wrap fitting, unfittable text, tategaki order and punctuation."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diffsensei_core.errors import LetteringError
from diffsensei_core.lettering.text import (
    NO_END,
    NO_START,
    SHRINK_FLOOR,
    TextFitError,
    clusters,
    fit_text,
    resolve_direction,
    wrap,
)

from .fuzz import fuzz_settings
from .lettering_fakes import MonoTypesetter

FUZZ = fuzz_settings(200)
MONO = MonoTypesetter()


def lines_at(text: str, limit: float, size: int = 10, split_long: bool = False):
    return wrap(clusters(text), limit, lambda s: MONO.line_extent(s, size)[1], split_long=split_long)


# ------------------------------------------------------------------------------------------------ breaking


def test_latin_wraps_on_spaces_only():
    # each Latin character is 5 px at size 10
    assert lines_at("the quick brown fox jumps", 50) == ["the quick", "brown fox", "jumps"]
    assert lines_at("the quick brown fox jumps", 1000) == ["the quick brown fox jumps"]
    assert lines_at("incomprehensibilities", 50) is None  # a word is never cut unless asked


def test_long_word_is_cut_only_when_asked():
    assert lines_at("incomprehensibilities", 50, split_long=True) == ["incomprehe", "nsibilitie", "s"]


def test_cjk_breaks_between_characters():
    assert lines_at("あいうえおかきくけこ", 30) == ["あいう", "えおか", "きくけ", "こ"]


def test_kinsoku_closing_punctuation_and_small_kana_never_start_a_line():
    # plain greedy filling (3 per line) would start line 2 with 、 and line 3 with っ
    assert lines_at("あいう、えおかっき", 30) == ["あい", "う、え", "おかっ", "き"]
    assert lines_at("あいうえおかっき", 30) == ["あいう", "えお", "かっき"]


def test_kinsoku_opening_bracket_never_ends_a_line():
    # greedy filling would end line 1 with 「
    assert lines_at("あい「うえ」お", 30) == ["あい", "「う", "え」お"]


def test_forced_line_breaks_are_kept():
    assert lines_at("one\ntwo three", 1000) == ["one", "two three"]


kana = st.sampled_from(list("あいうえおかきくけこアイウエオ漢字日本語"))
punct = st.sampled_from(list("、。！？」』）っゃーョ…「『（"))
latin = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
pieces = st.lists(st.one_of(kana, punct, latin.map(lambda w: f" {w} ")), min_size=1, max_size=30)


@FUZZ
@given(parts=pieces, limit=st.integers(20, 200))
def test_breaks_respect_kinsoku_and_keep_the_text(parts, limit):
    text = " ".join("".join(parts).split())
    lines = lines_at(text, limit)
    if lines is None:  # a cluster longer than the line: the fitter would shrink
        return
    assert all(MONO.line_extent(line, 10)[1] <= limit for line in lines)
    assert all(line[0] not in NO_START for line in lines[1:])
    assert all(line[-1] not in NO_END for line in lines[:-1])
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


# ------------------------------------------------------------------------------------------------ fitting


def inside(box, area) -> bool:
    return area[0] <= box[0] and area[1] <= box[1] and box[2] <= area[2] and box[3] <= area[3]


def test_fit_takes_the_largest_size_that_fits_then_wraps():
    text = "the quick brown fox jumps over the lazy dog"
    area = (0, 0, 120, 80)
    layout = fit_text(text, area, MONO, direction="horizontal", max_size=40, min_size=6)
    assert len(layout.lines) > 1  # wrapped
    assert all(inside(p.box, area) for p in layout.items)
    with pytest.raises(TextFitError):  # one size up does not fit
        fit_text(text, area, MONO, direction="horizontal", max_size=layout.size + 1, min_size=layout.size + 1)


def test_text_that_fits_at_the_maximum_is_not_shrunk():
    layout = fit_text("Hi", (0, 0, 400, 200), MONO, direction="horizontal", max_size=30, min_size=6)
    assert layout.size == 30 and layout.lines == ("Hi",)


@FUZZ
@given(parts=pieces, w=st.integers(4, 300), h=st.integers(4, 300), vertical=st.booleans(),
       overflow=st.sampled_from(["error", "shrink"]), max_size=st.integers(8, 48))
def test_fitted_text_never_overflows(parts, w, h, vertical, overflow, max_size):
    text = "".join(parts)
    area = (10.5, 7.25, 10.5 + w, 7.25 + h)
    try:
        layout = fit_text(text, area, MONO, direction="vertical" if vertical else "horizontal",
                          max_size=max_size, min_size=min(8, max_size), overflow=overflow)
    except TextFitError as err:
        assert "does not fit" in str(err)
        return
    assert layout.items
    assert all(inside(p.box, area) for p in layout.items)


def test_unfittable_text_is_reported_with_the_sizes_and_a_fix():
    with pytest.raises(TextFitError) as err:
        fit_text("a rather long sentence that cannot fit", (0, 0, 40, 20), MONO, direction="horizontal",
                 max_size=20, min_size=12)
    message = str(err.value)
    assert "40×20 px" in message and "12 px" in message and "overflow to 'shrink'" in message


def test_shrink_goes_below_the_minimum_with_a_warning(caplog):
    text = "a rather long sentence"
    with pytest.raises(TextFitError):
        fit_text(text, (0, 0, 60, 40), MONO, direction="horizontal", max_size=20, min_size=12)
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        layout = fit_text(text, (0, 0, 60, 40), MONO, direction="horizontal", max_size=20, min_size=12,
                          overflow="shrink")
    assert SHRINK_FLOOR <= layout.size < 12
    assert "below the minimum" in caplog.text


def test_empty_text_gives_an_empty_layout():
    assert fit_text("  \n ", (0, 0, 50, 50), MONO, direction="vertical", max_size=20, min_size=5).items == ()


def test_bad_arguments_are_rejected():
    with pytest.raises(LetteringError, match="min ≤ max"):
        fit_text("x", (0, 0, 50, 50), MONO, direction="horizontal", max_size=5, min_size=9)
    with pytest.raises(LetteringError, match="overflow"):
        fit_text("x", (0, 0, 50, 50), MONO, direction="horizontal", max_size=9, min_size=5, overflow="grow")
    with pytest.raises(LetteringError, match="writing"):
        resolve_direction("x", "diagonal")


def test_auto_direction_is_vertical_for_mostly_cjk_text():
    assert resolve_direction("どこに行ってたの？", "auto") == "vertical"
    assert resolve_direction("Where were you? 本当", "auto") == "horizontal"
    assert resolve_direction("どこ", "horizontal") == "horizontal"


# ------------------------------------------------------------------------------------------------ tategaki


def vertical(text: str, area=(0, 0, 200, 100), forms: bool = False, size: int = 20):
    return fit_text(text, area, MonoTypesetter(vertical_forms=forms), direction="vertical", max_size=size,
                    min_size=size)


def test_columns_run_right_to_left_and_characters_top_to_bottom():
    layout = vertical("あいうえおかきくけこ")
    assert layout.lines == ("あいうえお", "かきくけこ")  # 5 cells of 20 px per 100 px column
    items = layout.items
    first, second = items[:5], items[5:]
    assert all(a.x == first[0].x for a in first) and all(b.x == second[0].x for b in second)
    assert first[0].x > second[0].x  # the first column is on the right
    assert [p.y for p in first] == sorted(p.y for p in first)  # top to bottom
    assert "".join(p.text for p in items) == "あいうえおかきくけこ"


def test_kinsoku_holds_in_columns():
    layout = vertical("あいうえお、かきくけこ")
    assert all(col[0] not in NO_START for col in layout.lines[1:])


def test_brackets_take_vertical_forms_when_the_font_has_them():
    items = vertical("「あ」", forms=True).items
    assert [(p.kind, p.text) for p in items] == [("glyph", "﹁"), ("glyph", "あ"), ("glyph", "﹂")]


def test_brackets_and_long_vowel_are_rotated_without_vertical_forms():
    items = vertical("「ラーメン」").items
    kinds = {p.text: p.kind for p in items}
    assert kinds["「"] == "rotated" and kinds["」"] == "rotated" and kinds["ー"] == "rotated"
    assert kinds["ラ"] == "glyph"


def test_comma_and_full_stop_move_to_the_top_right_of_their_cell():
    items = vertical("あ、い。").items
    cell = items[0]
    for mark in (items[1], items[3]):
        assert mark.kind == "glyph" and mark.text in "、。"
        centre_x, centre_y = (mark.box[0] + mark.box[2]) / 2, (mark.box[1] + mark.box[3]) / 2
        # drawn right of the column axis and above the cell's centre, where horizontal fonts put it bottom-left
        assert mark.x > cell.x
        assert mark.y < centre_y and centre_x == cell.x


def test_comma_uses_its_vertical_form_when_available():
    items = vertical("あ、", forms=True).items
    assert items[1].text == "︑" and items[1].x == items[0].x


def test_latin_runs_are_rotated_as_a_whole():
    items = vertical("これはOKです", area=(0, 0, 200, 200)).items
    assert [(p.kind, p.text) for p in items if p.kind == "rotated"] == [("rotated", "OK")]
    ok = next(p for p in items if p.text == "OK")
    assert ok.box[3] - ok.box[1] == 20  # two half-em letters along the column
