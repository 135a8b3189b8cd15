"""The chapter script's text grammar: one statement per line (docs/chapter.md has the full description).

    script    := setting* character* page+
    setting   := KEY ":" value     KEY: Title Direction Paper Style Negative Seed Writing "Font size" "Min font size"
    character := "Character" NAME ":" file ("," file)*   [ "Looks:" words ]
    page      := "Page" [N] panel+
    panel     := "Panel" [N] [ "(" hint ("," hint)* ")" ] content+
    content   := caption-text | "Narration:" text | NAME [ "(" mode ("," mode)* ")" ] ":" text | "\\" caption-text

Blank lines and lines starting with ``#`` are ignored, indentation is free, keywords are case-insensitive, and
the full-width colon and parentheses of Japanese text (： （ ）) work like ``:`` and ``( )``. In a panel, a line
``Name: text`` is dialogue when Name is a declared character (or marked ``(off)``), and the other lines are its
caption; a short ``Word:`` prefix that names nobody is an error (with the nearest name), so a misspelt speaker
never becomes caption text silently — start a caption line with ``\\`` to keep such a colon.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .checks import check_chapter
from .diagnostics import Where, did_you_mean, script_error
from .script import Chapter, Character, Dialogue, Narration, Page, Panel
from .vocabulary import (
    check_name,
    check_reference,
    read_direction,
    read_font_size,
    read_hint,
    read_modes,
    read_paper,
    read_seed,
    read_writing,
)


def _text(value: str, _where: Where) -> str:
    return value.strip()


SETTINGS = {
    "title": ("title", _text),
    "direction": ("direction", read_direction),
    "paper": ("paper", read_paper),
    "style": ("style", _text),
    "negative": ("negative", _text),
    "seed": ("seed", read_seed),
    "writing": ("writing", read_writing),
    "font size": ("font_size", read_font_size),
    "min font size": ("min_font_size", read_font_size),
}
"""Setting key (lower case, single spaces) → (Chapter field, reader of the value)."""
MAX_NAME_WORDS = 3
"""A ``Word:`` prefix is taken for a speaker's name when it has at most this many words, each capitalised, and no
sentence punctuation (or, in scripts without Latin letters, at most ``MAX_CJK_NAME`` characters)."""
MAX_CJK_NAME = 4

_COLON = "[:：]"
_PAGE = re.compile(r"^page\b\s*(?P<number>[^\s:：]+)?\s*" + _COLON + r"?\s*$", re.IGNORECASE)
_PANEL = re.compile(r"^panel\b\s*(?P<number>[^\s(（:：]+)?\s*(?:[(（](?P<hints>[^)）]*)[)）])?\s*" + _COLON + r"?\s*$",
                    re.IGNORECASE)
_CHARACTER = re.compile(r"^character\s+(?P<name>[^:：]+?)\s*" + _COLON + r"\s*(?P<files>.*)$", re.IGNORECASE)
_LOOKS = re.compile(r"^looks\s*" + _COLON + r"\s*(?P<text>.*)$", re.IGNORECASE)
_NARRATION = re.compile(r"^narration\s*" + _COLON + r"\s*(?P<text>.*)$", re.IGNORECASE)
_SETTING = re.compile(r"^(?P<key>[^:：]+?)\s*" + _COLON + r"\s*(?P<value>.*)$")
SPEECH_LINE = re.compile(r"^(?P<name>[^:：()（）]+?)\s*(?:[(（](?P<mods>[^)）]*)[)）])?\s*" + _COLON
                         + r"\s*(?P<text>.*)$")
_SENTENCE = re.compile(r"[.,!?;。、！？]")


def parse_script(text: str) -> Chapter:
    """Read a chapter script; raise ScriptError (with line and column) on the first problem."""
    return _Reader(text).read()


class _Reader:
    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.settings: dict = {}
        self.setting_places: dict[str, Where] = {}
        self.characters: list[Character] = []
        self.pages: list[Page] = []
        self.panels: list[Panel] = []
        self.page_line: int | None = None
        self.panel: dict | None = None

    def read(self) -> Chapter:
        for number, raw in enumerate(self.lines, start=1):
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            where = Where(number, len(raw) - len(raw.lstrip()) + 1, raw)
            self._statement(stripped, where)
        self._close_page()
        if not self.pages:
            end = Where(len(self.lines) or 1, 1, self.lines[-1] if self.lines else "")
            raise script_error(end, "the script has no pages",
                               expected="at least one 'Page' line followed by a 'Panel' line and its caption",
                               fix="Add 'Page', then 'Panel' and a line saying what the panel shows.")
        chapter = Chapter(pages=tuple(self.pages), characters=tuple(self.characters), **self.settings)
        check_chapter(chapter, self.lines, self.setting_places)
        return chapter

    # ------------------------------------------------------------------------------------------- statements

    def _statement(self, text: str, where: Where) -> None:
        first = text.split(maxsplit=1)[0].rstrip(":：").lower()
        if first == "page":
            return self._page(text, where)
        if first == "panel" or first.startswith(("panel(", "panel（")):
            return self._panel(text, where)
        if self.page_line is None:
            return self._preamble(text, where)
        if self.panel is None:
            raise script_error(where, f"'{_preview(text)}' comes before the page's first panel",
                               expected="'Panel' right after 'Page'", fix="Add a 'Panel' line above it.")
        self._content(text, where)

    def _preamble(self, text: str, where: Where) -> None:
        character = _CHARACTER.match(text)
        if character is not None:
            return self._character(character, where)
        looks = _LOOKS.match(text)
        if looks is not None:
            if not self.characters:
                raise script_error(where, "'Looks:' comes before any character",
                                   expected="'Looks:' right after the 'Character' line it describes",
                                   fix="Move it under its 'Character' line.")
            self.characters[-1] = replace(self.characters[-1], looks=looks["text"].strip())
            return None
        setting = _SETTING.match(text)
        key = " ".join(setting["key"].lower().split()) if setting else ""
        if key in SETTINGS:
            return self._setting(key, setting, where)
        if setting is not None and len(key.split()) <= MAX_NAME_WORDS:
            raise script_error(where.at(where.column), f"unknown setting '{setting['key']}'",
                               expected=f"one of {', '.join(k.capitalize() for k in SETTINGS)}, 'Character', or "
                                        "'Page'", fix=f"Correct the key.{did_you_mean(key, SETTINGS)}")
        raise script_error(where, f"'{_preview(text)}' is not a setting, a character or a page",
                           expected="'Key: value', 'Character Name: image.png' or 'Page'",
                           fix="Put panel text under a 'Page' and a 'Panel' line.")

    def _setting(self, key: str, match: re.Match, where: Where) -> None:
        field_name, read = SETTINGS[key]
        if field_name in self.settings:
            raise script_error(where, f"'{match['key']}' is set twice", expected="each setting once",
                               fix="Delete one of the two lines.")
        if self.characters:
            raise script_error(where, f"the setting '{match['key']}' comes after the characters",
                               expected="settings first, then characters, then pages", fix="Move it to the top.")
        value_column = where.column + match.start("value")
        self.setting_places[field_name] = where.at(value_column)
        self.settings[field_name] = read(match["value"], where.at(value_column))

    def _character(self, match: re.Match, where: Where) -> None:
        name = check_name(" ".join(match["name"].split()), where.at(where.column + match.start("name")))
        if any(c.name.lower() == name.lower() for c in self.characters):
            raise script_error(where.at(where.column + match.start("name")), f"the character '{name}' is declared "
                               "twice", expected="each name once", fix="Rename one of them or delete the repeat.")
        column = where.column + match.start("files")
        if not match["files"].strip():
            raise script_error(where.at(column), f"the character '{name}' has no reference image",
                               expected="'Character Name: image.png' (one or more images in the input folder)",
                               fix="Name its reference image(s) after the colon.")
        files = []
        for part in re.split(r"([,、])", match["files"]):
            if part not in (",", "、"):
                files.append(check_reference(part.strip(), where.at(column + len(part) - len(part.lstrip()))))
            column += len(part)
        self.characters.append(Character(name, tuple(files), line=where.line))

    def _page(self, text: str, where: Where) -> None:
        match = _PAGE.match(text)
        expected_number = len(self.pages) + 1 + (self.page_line is not None)
        if match is None or (match["number"] is not None and match["number"] != str(expected_number)):
            raise script_error(where, f"'{_preview(text)}' is not a page line",
                               expected=f"'Page' or 'Page {expected_number}' alone on its line",
                               fix="Fix the number, or start a caption line with '\\' if it is text.")
        self._close_page()
        self.page_line = where.line

    def _panel(self, text: str, where: Where) -> None:
        if self.page_line is None:
            raise script_error(where, "a panel comes before the first page", expected="'Page' above the first "
                               "'Panel'", fix="Add a 'Page' line.")
        match = _PANEL.match(text)
        expected_number = len(self.panels) + 1 + (self.panel is not None)
        if match is None or (match["number"] is not None and match["number"] != str(expected_number)):
            raise script_error(where, f"'{_preview(text)}' is not a panel line",
                               expected=f"'Panel', 'Panel {expected_number}' or 'Panel (close-up, big)'",
                               fix="Fix the line, or start a caption line with '\\' if it is text.")
        self._close_panel()
        self.panel = {"caption": [], "lines": [], "line": where.line}
        if match["hints"] is not None:
            self._hints(match["hints"], where.at(where.column + match.start("hints")))

    def _hints(self, hints: str, where: Where) -> None:
        column = where.column
        for part in re.split(r"([,、])", hints):
            if part in (",", "、") or not part.strip():
                column += len(part)
                continue
            at = where.at(column + len(part) - len(part.lstrip()))
            kind, value = read_hint(part.strip(), at)
            if kind in self.panel:
                raise script_error(at, f"the panel has two {kind} hints", expected=f"at most one {kind}",
                                   fix="Delete one of them.")
            self.panel[kind] = value
            column += len(part)

    def _content(self, text: str, where: Where) -> None:
        if text.startswith("\\"):
            self.panel["caption"].append(text[1:].strip())
            return
        narration = _NARRATION.match(text)
        if narration is not None:
            self.panel["lines"].append(Narration(self._said(narration, where), where.line,
                                                 where.column + narration.start("text")))
            return
        speech = SPEECH_LINE.match(text)
        if speech is None or not self._is_speech(speech, where):
            self.panel["caption"].append(text)
            return
        mods = speech["mods"].split(",") if speech["mods"] is not None else []
        mode, off = read_modes(mods, where.at(where.column + (speech.start("mods") if mods else 0)))
        name = " ".join(speech["name"].split())
        known = next((c.name for c in self.characters if c.name.lower() == name.lower()), name)
        self.panel["lines"].append(Dialogue(known, self._said(speech, where), mode, off, where.line,
                                            where.column + speech.start("text")))

    def _is_speech(self, speech: re.Match, where: Where) -> bool:
        """True for a line of dialogue; raises for an unknown name; False for caption text with a colon."""
        name = " ".join(speech["name"].split())
        mods = (speech["mods"] or "").lower()
        names = [c.name for c in self.characters]
        if name.lower() in (n.lower() for n in names) or "off" in re.split(r"[\s,]+", mods):
            return True
        if not _name_like(name):
            return False
        raise script_error(where, f"unknown speaker '{name}'",
                           expected=f"a declared character ({', '.join(names) or 'none declared yet'}) or an "
                                    f"off-panel voice '{name} (off): …'",
                           fix=f"Correct the name or declare it with 'Character {name}: image.png'; start the line "
                               f"with '\\' if it is caption text.{did_you_mean(name, names)}")

    @staticmethod
    def _said(match: re.Match, where: Where) -> str:
        text = match["text"].strip()
        if not text:
            raise script_error(where.at(where.column + match.end()), "the line has nothing after the colon",
                               expected="the words to letter, e.g. 'Mio: Late again?'",
                               fix="Write the text, or delete the line.")
        return text

    # ------------------------------------------------------------------------------------------- closing

    def _close_panel(self) -> None:
        if self.panel is None:
            return
        panel, self.panel = self.panel, None
        self.panels.append(Panel(caption=" ".join(panel["caption"]), lines=tuple(panel["lines"]),
                                 shot=panel.get("shot"), size=panel.get("size"), seed=panel.get("seed"),
                                 line=panel["line"]))

    def _close_page(self) -> None:
        self._close_panel()
        if self.page_line is None:
            return
        if not self.panels:
            text = self.lines[self.page_line - 1]
            raise script_error(Where(self.page_line, len(text) - len(text.lstrip()) + 1, text),
                               "the page has no panels", expected="'Panel' lines under 'Page'",
                               fix="Add a panel or delete the page.")
        self.pages.append(Page(tuple(self.panels), line=self.page_line))
        self.panels, self.page_line = [], None


def _name_like(prefix: str) -> bool:
    """True when the text before a colon reads like a name ('Rne', 'Old Man', '先生'), not like caption text."""
    if _SENTENCE.search(prefix):
        return False
    words = prefix.split()
    if any("a" <= c.lower() <= "z" for c in prefix):
        return len(words) <= MAX_NAME_WORDS and all(w[0].isupper() for w in words)
    return len(words) == 1 and len(prefix) <= MAX_CJK_NAME


def _preview(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"
