"""What a chapter must satisfy beyond its syntax, checked the same way for a script and for its JSON form:
known speakers, casts of at most four, pages whose hints can be arranged, captions, settings in range."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .casting import panel_cast
from .diagnostics import Where, did_you_mean, script_error
from .script import MAX_CAST, MODES, SHOTS, SIZES, WRITINGS, Chapter, Dialogue, Page, Panel
from .vocabulary import FONT_RANGE_PT, MAX_SEED, check_name, check_reference, read_direction, read_paper

MAX_PAGE_PANELS = 8
"""Panels per page besides insets (the page core takes 32, but more than 8 leaves no room for bubbles)."""
MAX_INSETS = 2
"""Insets per panel."""


def locate(item, path: str, source: Sequence[str] | None) -> Where:
    """Where an item of the chapter is: its script line (and the line's text) when it came from a script, else its
    JSON path."""
    line = getattr(item, "line", None)
    if line is not None and source is not None and 0 < line <= len(source):
        text = source[line - 1]
        column = getattr(item, "column", None) or len(text) - len(text.lstrip()) + 1
        return Where(line, column, text, path)
    return Where(line, None, None, path)


def check_chapter(chapter: Chapter, source: Sequence[str] | None = None,
                  settings: Mapping[str, Where] | None = None) -> None:
    """Raise ScriptError for the first problem; ``source``: the script's lines, for excerpts in messages;
    ``settings``: where each setting was written (Chapter field → place)."""
    _check_settings(chapter, settings or {})
    names = set()
    for k, character in enumerate(chapter.characters):
        where = locate(character, f"characters[{k}]", source)
        check_name(character.name, where)
        if character.name.lower() in names:
            raise script_error(where, f"the character '{character.name}' is declared twice", expected="each name once",
                               fix="Rename one of them or delete the repeat.")
        names.add(character.name.lower())
        if not character.references:
            raise script_error(where, f"the character '{character.name}' has no reference image",
                               expected="one or more images in the input folder", fix="Add its reference image(s).")
        for reference in character.references:
            check_reference(reference, where)
    if not chapter.pages:
        raise script_error(Where(path="pages"), "the chapter has no pages", expected="at least one page with a panel",
                           fix="Add a page.")
    for p, page in enumerate(chapter.pages):
        _check_page(chapter, page, f"pages[{p}]", source)


def _check_settings(chapter: Chapter, places: Mapping[str, Where]) -> None:
    def where(name: str) -> Where:
        return places.get(name, Where(path=name))

    read_direction(chapter.direction, where("direction"))
    read_paper(chapter.paper, where("paper"))
    if chapter.writing not in WRITINGS:
        raise script_error(where("writing"), f"unknown writing '{chapter.writing}'", expected=", ".join(WRITINGS),
                           fix="Pick one of them.")
    if isinstance(chapter.seed, bool) or not isinstance(chapter.seed, int) or not 0 <= chapter.seed <= MAX_SEED:
        raise script_error(where("seed"), f"the seed {chapter.seed!r} is out of range",
                           expected=f"a whole number 0..{MAX_SEED}", fix="Change the seed.")
    low, high = FONT_RANGE_PT
    for name, size in (("font_size", chapter.font_size), ("min_font_size", chapter.min_font_size)):
        if not low <= size <= high:
            raise script_error(where(name), f"the {name.replace('_', ' ')} {size:g} pt is out of range",
                               expected=f"{low:g}..{high:g} pt",
                               fix="Change the size.")
    if chapter.min_font_size > chapter.font_size:
        raise script_error(where("min_font_size"), f"the min font size {chapter.min_font_size:g} pt is above the "
                           f"font size {chapter.font_size:g} pt", expected="min font size ≤ font size",
                           fix="Lower 'Min font size' or raise 'Font size'.")


def _check_page(chapter: Chapter, page: Page, path: str, source) -> None:
    where = locate(page, path, source)
    if not page.panels:
        raise script_error(where, "the page has no panels", expected="at least one panel",
                           fix="Add a panel or delete the page.")
    main = [panel for panel in page.panels if panel.size != "inset"]
    if len(main) > MAX_PAGE_PANELS:
        raise script_error(where, f"the page has {len(main)} panels (besides insets)",
                           expected=f"at most {MAX_PAGE_PANELS}, so the bubbles still have room",
                           fix="Split the page in two with another 'Page' line.")
    insets = 0
    for k, panel in enumerate(page.panels):
        panel_path = f"{path}.panels[{k}]"
        _check_panel(chapter, panel, panel_path, source)
        at = locate(panel, panel_path, source)
        if panel.size == "splash" and len(main) > 1:
            raise script_error(at, f"a splash panel fills the page, but the page has {len(main)} panels",
                               expected="a splash panel alone on its page (insets may sit on it)",
                               fix="Move the other panels to another page, make them insets, or drop 'splash'.")
        if panel.size == "inset":
            insets += 1
            if k == 0:
                raise script_error(at, "an inset is the page's first panel", expected="an inset right after the "
                                   "panel it sits on", fix="Move it below that panel or drop 'inset'.")
            if insets > MAX_INSETS:
                raise script_error(at, f"a panel has {insets} insets", expected=f"at most {MAX_INSETS} per panel",
                                   fix="Turn one into a panel of its own.")
        else:
            insets = 0


def _check_panel(chapter: Chapter, panel: Panel, path: str, source) -> None:
    where = locate(panel, path, source)
    if not panel.caption.strip():
        raise script_error(where, "the panel has no caption", expected="a line saying what the panel shows (its "
                           "prompt), e.g. 'Ren runs through the school gate'", fix="Add one under the 'Panel' line.")
    for value, choices, kind in ((panel.shot, SHOTS, "shot"), (panel.size, SIZES, "size")):
        if value is not None and value not in choices:
            raise script_error(where, f"unknown {kind} '{value}'", expected=", ".join(choices),
                               fix=f"Pick one of them.{did_you_mean(value, choices)}")
    if panel.seed is not None and (isinstance(panel.seed, bool) or not 0 <= panel.seed <= MAX_SEED):
        raise script_error(where, f"the panel seed {panel.seed!r} is out of range", expected=f"0..{MAX_SEED}",
                           fix="Change the seed.")
    names = [c.name for c in chapter.characters]
    for k, line in enumerate(panel.lines):
        at = locate(line, f"{path}.lines[{k}]", source)
        if not line.text.strip():
            raise script_error(at, "the line has no text", expected="the words to letter", fix="Write them.")
        if isinstance(line, Dialogue):
            if line.mode is not None and line.mode not in MODES:
                raise script_error(at, f"unknown speech mode '{line.mode}'", expected=", ".join(MODES),
                                   fix=f"Pick one of them.{did_you_mean(line.mode, MODES)}")
            check_name(line.speaker, at)
            if not line.off and line.speaker not in names:
                raise script_error(at, f"unknown speaker '{line.speaker}'",
                                   expected=f"a declared character ({', '.join(names) or 'none'}) or an off-panel "
                                            "voice", fix=f"Correct the name.{did_you_mean(line.speaker, names)}")
    cast = panel_cast(chapter, panel)
    if len(cast) > MAX_CAST:
        shown = ", ".join(chapter.characters[n - 1].name for n in cast)
        raise script_error(where, f"the panel shows {len(cast)} characters ({shown})",
                           expected=f"at most {MAX_CAST}: DiffSensei was trained with up to {MAX_CAST} per panel",
                           fix="Split the panel, or mark a speaker '(off)' and leave some names out of the caption.")
