"""The chapter script grammar: every element read as documented, and every error with its line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diffsensei_core.chapter.grammar import parse_script
from diffsensei_core.chapter.script import (
    DEFAULT_FONT_PT,
    OFFICIAL_NEGATIVE,
    Chapter,
    Character,
    Dialogue,
    Narration,
    Page,
    Panel,
)
from diffsensei_core.errors import DiffSenseiError, ScriptError

EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "chapters"
CAST = "Character Ren: ren.png\nCharacter Mio: mio.png\n"


def one_panel(body: str, head: str = CAST) -> Panel:
    chapter = parse_script(f"{head}Page\nPanel\n{body}")
    (page,) = chapter.pages
    (panel,) = page.panels
    return panel


# ------------------------------------------------------------------------------------------------ elements


def test_settings_are_read_and_default():
    chapter = parse_script(
        "Title: The Late Bell\nDirection: ltr\nPaper: A5\nStyle: screentone\nNegative: colour\nSeed: 7\n"
        "Writing: vertical\nFont size: 8.5 pt\nMin font size: 5\n" + CAST + "Page\nPanel\n  a gate\n")
    assert (chapter.title, chapter.direction, chapter.paper, chapter.style, chapter.negative) == (
        "The Late Bell", "ltr", "A5 (148×210 mm)", "screentone", "colour")
    assert (chapter.seed, chapter.writing, chapter.font_size, chapter.min_font_size) == (7, "vertical", 8.5, 5.0)
    plain = parse_script("Page\nPanel\na gate\n")
    assert (plain.title, plain.direction, plain.paper, plain.negative, plain.seed, plain.font_size) == (
        "", "rtl", "B5 manga (182×257 mm)", OFFICIAL_NEGATIVE, 0, DEFAULT_FONT_PT)


@pytest.mark.parametrize(("paper", "full"), [("B5", "B5 manga (182×257 mm)"), ("a4", "A4 (210×297 mm)"),
                                             ("webtoon", "webtoon strip (800×3200 px)"),
                                             ("A5 (148×210 mm)", "A5 (148×210 mm)")])
def test_paper_names_short_and_full(paper, full):
    assert parse_script(f"Paper: {paper}\nPage\nPanel\na gate\n").paper == full


def test_characters_with_several_references_and_looks():
    chapter = parse_script("Character Ren: ren.png, cast/ren_side.jpg\n  Looks: spiky hair, a school jacket\n"
                           "character Mr. Sato：sato.webp、sato2.png\nPage\nPanel\nMr. Sato waits\n")
    assert chapter.characters == (Character("Ren", ("ren.png", "cast/ren_side.jpg"), "spiky hair, a school jacket"),
                                  Character("Mr. Sato", ("sato.webp", "sato2.png")))
    assert chapter.character_number("Mr. Sato") == 2 and chapter.character_number("Nobody") is None


def test_pages_and_panels_with_and_without_numbers():
    chapter = parse_script("Page 1\nPanel 1\na\nPanel\nb\nPage:\nPanel 1:\nc\nPAGE 3\npanel\nd\n")
    assert [[p.caption for p in page.panels] for page in chapter.pages] == [["a", "b"], ["c"], ["d"]]
    assert [page.line for page in chapter.pages] == [1, 6, 9]
    assert chapter.pages[0].panels[1].line == 4 and chapter.panel_count == 4


@pytest.mark.parametrize(("hints", "shot", "size", "seed"), [
    ("close-up", "close-up", None, None), ("Close Up", "close-up", None, None), ("closeup", "close-up", None, None),
    ("medium", "medium", None, None), ("wide shot", "wide shot", None, None), ("long shot", "wide shot", None, None),
    ("establishing", "establishing", None, None), ("big", None, "big", None), ("wide", None, "wide", None),
    ("tall", None, "tall", None), ("splash", None, "splash", None), ("seed 42", None, None, 42),
    ("medium, wide, seed 3", "medium", "wide", 3), ("wide shot、big", "wide shot", "big", None),
])
def test_panel_hints(hints, shot, size, seed):
    chapter = parse_script(f"Page\nPanel ({hints})\na gate\n")
    panel = chapter.pages[0].panels[0]
    assert (panel.shot, panel.size, panel.seed) == (shot, size, seed)


def test_inset_hint():
    chapter = parse_script("Page\nPanel\nfirst\nPanel（inset）\na gate\n")
    assert chapter.pages[0].panels[1].size == "inset"


def test_panel_content_caption_dialogue_modes_off_and_narration():
    panel = one_panel(
        "  Ren runs through the gate,\n  out of breath.\n  Narration: Spring.\n  Ren: I'm not late!\n"
        "  mio (shout): You are!\n  Ren (thought, ): Again...\n  Mio (whisper): psst\n"
        "  Teacher (off): My office!\n  Mio (off, shout): Bye!\n  Ren（shout）：待って！\n")
    assert panel.caption == "Ren runs through the gate, out of breath."
    assert panel.lines == (
        Narration("Spring."), Dialogue("Ren", "I'm not late!"), Dialogue("Mio", "You are!", "shout"),
        Dialogue("Ren", "Again...", "thought"), Dialogue("Mio", "psst", "whisper"),
        Dialogue("Teacher", "My office!", None, True), Dialogue("Mio", "Bye!", "shout", True),
        Dialogue("Ren", "待って！", "shout"))
    assert [(line.line, line.column) for line in panel.lines[:3]] == [(7, 14), (8, 8), (9, 16)]


def test_caption_lines_with_colons_comments_blank_lines_and_escapes():
    panel = one_panel("# a comment\n\n   The sign reads: closed for the day, sorry.\n"
                      "\\Notice: closed\n\\Ren: not a line of dialogue\n  \\\\ back slash\n")
    assert panel.caption == ("The sign reads: closed for the day, sorry. Notice: closed Ren: not a line of "
                             "dialogue \\ back slash")
    assert panel.lines == ()


def test_text_keeps_forced_breaks_for_lettering():
    panel = one_panel("a gate\nRen: Wait\\nfor me!\n")
    assert panel.lines[0].text == "Wait\\nfor me!"


def test_whole_chapter_equality_ignores_positions():
    text = CAST + "Page\nPanel\na gate\nRen: hi\n"
    moved = "\n\n" + CAST.replace("\n", "\n  ") + "Page\n\nPanel\n   a gate\n      Ren:   hi\n"
    assert parse_script(text) == parse_script(moved)
    assert parse_script(text) == Chapter(
        pages=(Page((Panel("a gate", (Dialogue("Ren", "hi"),)),)),),
        characters=(Character("Ren", ("ren.png",)), Character("Mio", ("mio.png",))))


@pytest.mark.parametrize("name", ["the_late_bell.txt", "the_late_bell_ja.txt"])
def test_the_examples_parse(name):
    chapter = parse_script((EXAMPLES / name).read_text(encoding="utf-8"))
    assert len(chapter.pages) == 3 and 10 <= chapter.panel_count <= 12
    assert len(chapter.characters) == 2
    speakers = {line.speaker for page in chapter.pages for panel in page.panels for line in panel.lines
                if isinstance(line, Dialogue) and not line.off}
    assert speakers == {c.name for c in chapter.characters}, "both characters speak"


# -------------------------------------------------------------------------------------------------- errors

ERRORS = [
    # (script, line, column, pattern)
    ("Title: x\n", 1, 1, r"the script has no pages.*expected at least one 'Page'"),
    ("", 1, 1, r"no pages"),
    ("Titel: x\nPage\nPanel\na\n", 1, 1, r"unknown setting 'Titel'.*Did you mean 'title'\?"),
    ("once upon a time there was a boy, and he was late\n", 1, 1, r"not a setting, a character or a page"),
    ("Seed: 1\nSeed: 2\n", 2, 1, r"'Seed' is set twice"),
    (CAST + "Title: late\n", 3, 1, r"comes after the characters.*settings first"),
    ("Direction: up\n", 1, 12, r"unknown reading direction 'up'.*rtl"),
    ("Direction: rtll\n", 1, 12, r"Did you mean 'rtl'\?"),
    ("Paper: B55\n", 1, 8, r"unknown paper 'B55'.*Did you mean 'b5'\?"),
    ("Seed: -3\n", 1, 7, r"seed '-3' is not a whole number"),
    ("Writing: vertcal\n", 1, 10, r"unknown writing 'vertcal'.*Did you mean 'vertical'\?"),
    ("Font size: big\n", 1, 12, r"font size 'big' is not a size in points"),
    ("Font size: 200 pt\n", 1, 12, r"from 2 to 72"),
    ("Font size: 8\nMin font size: 9\nPage\nPanel\na\n", 2, 16, r"min font size 9 pt is above the font size 8 pt"),
    ("Character Ren:\n", 1, 15, r"'Ren' has no reference image"),
    ("Character Ren: ren.gif\n", 1, 16, r"'ren.gif' has no image extension"),
    ("Character Ren: a.png, ../ren.png\n", 1, 23, r"not a file name inside the input folder"),
    ("Character Ren: /etc/ren.png\n", 1, 16, r"inside the input folder"),
    ("Character Ren: a.png\nCharacter ren: b.png\n", 2, 11, r"'ren' is declared twice"),
    ("Character Narration: a.png\n", 1, 11, r"'Narration' starts with a keyword"),
    ("Character 123: a.png\n", 1, 11, r"'123' cannot be a character's name"),
    ("Looks: tall\n", 1, 1, r"'Looks:' comes before any character"),
    ("Panel\na\n", 1, 1, r"a panel comes before the first page"),
    ("Page\n  a gate\n", 2, 3, r"comes before the page's first panel.*'Panel' right after 'Page'"),
    ("Page two\n", 1, 1, r"not a page line.*'Page' or 'Page 1'"),
    ("Page\nPanel\na\nPage 3\n", 4, 1, r"'Page' or 'Page 2'"),
    ("Page\nPanel 2\na\n", 2, 1, r"not a panel line.*'Panel 1'"),
    ("Page\nPanel (close-up\na\n", 2, 1, r"not a panel line"),
    ("Page\nPanel (big, closup)\na\n", 2, 13, r"unknown panel hint 'closup'.*Did you mean 'close-up'\?"),
    ("Page\nPanel (close-up, medium)\na\n", 2, 18, r"two shot hints"),
    ("Page\nPanel (big, tall)\na\n", 2, 13, r"two size hints"),
    ("Page\nPanel (seed x)\na\n", 2, 8, r"seed 'x' is not a whole number"),
    (CAST + "Page\nPanel\n  a gate\n  Rne: hi\n", 6, 3, r"unknown speaker 'Rne'.*\(off\).*Did you mean 'Ren'\?"),
    ("Page\nPanel\na gate\nSensei: hi\n", 4, 1, r"unknown speaker 'Sensei'.*none declared yet"),
    ("Page\nPanel\na gate\nOld Man: hi\n", 4, 1, r"unknown speaker 'Old Man'"),
    ("Page\nPanel\na gate\n先生：こら\n", 4, 1, r"unknown speaker '先生'"),
    (CAST + "Page\nPanel\na\nRen (shot): hi\n", 6, 6, r"unknown speech mode '\(shot\)'.*Did you mean 'shout'\?"),
    (CAST + "Page\nPanel\na\nRen (shout, whisper): hi\n", 6, 6, r"both 'shout' and 'whisper'"),
    (CAST + "Page\nPanel\na\nRen:   \n", 6, 5, r"nothing after the colon"),
    ("Page\nPanel\na\n  Narration:\n", 4, 13, r"nothing after the colon"),
    ("Page\nPage\nPanel\na\n", 1, 1, r"the page has no panels"),
    ("Page\nPanel\nPanel\na\n", 2, 1, r"the panel has no caption"),
    ("Page\nPanel\n  Narration: hi\n", 2, 1, r"the panel has no caption"),
    ("Page\nPanel\na\n  Panel (splash)\nb\n", 4, 3, r"a splash panel fills the page, but the page has 2 panels"),
    ("Page\nPanel (inset)\na\n", 2, 1, r"an inset is the page's first panel"),
    ("Page\nPanel\na\nPanel (inset)\nb\nPanel (inset)\nc\nPanel (inset)\nd\n", 8, 1, r"a panel has 3 insets"),
    ("Page\n" + "Panel\na\n" * 9, 1, 1, r"the page has 9 panels.*at most 8"),
    ("Character A: a.png\nCharacter B: b.png\nCharacter C: c.png\nCharacter D: d.png\nCharacter E: e.png\n"
     "Page\nPanel\n A, B, C, D and E\n", 7, 1, r"shows 5 characters \(A, B, C, D, E\).*at most 4"),
]


@pytest.mark.parametrize(("script", "line", "column", "pattern"), ERRORS, ids=[f"e{k}" for k in range(len(ERRORS))])
def test_errors_name_line_column_what_was_expected_and_the_fix(script, line, column, pattern):
    with pytest.raises(ScriptError) as caught:
        parse_script(script)
    error = caught.value
    assert isinstance(error, DiffSenseiError) and isinstance(error, ValueError)
    assert (error.line, error.column) == (line, column), str(error)
    message = str(error)
    assert message.startswith(f"script line {line}, column {column}: "), message
    assert re.search(pattern, message, re.DOTALL), message
    assert "expected" in message
    source = script.splitlines()[line - 1] if script else ""
    if source.strip():
        excerpt = message.splitlines()[-2:]
        assert excerpt[0].endswith(source.rstrip()) and excerpt[1].index("^") - excerpt[1].index("|") - 2 == column - 1


def test_unknown_speaker_suggests_only_close_names():
    with pytest.raises(ScriptError) as caught:
        parse_script(CAST + "Page\nPanel\na\nXavier: hi\n")
    assert "Did you mean" not in str(caught.value) and "Ren, Mio" in str(caught.value)


def test_a_prefix_that_reads_like_text_is_caption_not_a_speaker():
    panel = one_panel("At eight in the morning: the bell\nBeyond the wall: silence.\nThe sign reads: closed\n"
                      "Dawn. Sakura: falling\n夜の学校の廊下：静か\n")
    assert panel.caption == ("At eight in the morning: the bell Beyond the wall: silence. The sign reads: closed "
                             "Dawn. Sakura: falling 夜の学校の廊下：静か")
    assert panel.lines == ()
