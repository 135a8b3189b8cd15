"""The chapter script as data: characters, pages, panels, dialogue and narration, and the words they may use.

Both readers (the text grammar and JSON) produce these dataclasses, and the planner reads only them. Positions in the
script (``line``, ``column``, 1-based) ride along for error messages; they take no part in equality, so a script and
its JSON form compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..page.presets import DEFAULT_PAGE_SIZE

SHOTS = ("close-up", "medium", "wide shot", "establishing")
"""How close the camera is: characters from big (close-up) to small (establishing)."""
SIZES = ("big", "wide", "tall", "splash", "inset")
"""How much of the page a panel takes: a full row (big: taller, wide: the usual height), two rows (tall), the whole
page (splash) or a small panel inside the previous one (inset)."""
MODES = ("thought", "shout", "whisper")
"""How a line is spoken: the bubble shape."""
OFF = "off"
"""Marks a speaker who is not in the panel (no character box, no tail)."""
WRITINGS = ("auto", "horizontal", "vertical")
PAPER_ALIASES = {"b5": "B5 manga (182×257 mm)", "a5": "A5 (148×210 mm)", "a4": "A4 (210×297 mm)",
                 "webtoon": "webtoon strip (800×3200 px)"}
"""Short paper names; the full names of ``page.presets.PAGE_SIZES`` work too."""

OFFICIAL_NEGATIVE = "think lines, pure black background, colored, lowres, bad anatomy, worst quality, low quality"
DEFAULT_FONT_PT = 9.0
DEFAULT_MIN_FONT_PT = 6.0
MAX_CAST = 4
"""Characters one panel may show: DiffSensei (and its MLLM) was trained with at most four."""


@dataclass(frozen=True)
class Character:
    """A recurring character: its name in the script, reference images (input folder, in order), appearance words."""

    name: str
    references: tuple[str, ...]
    looks: str = ""
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Dialogue:
    """A spoken line. ``mode``: one of MODES or None (plain speech); ``off``: the speaker is not in the panel."""

    speaker: str
    text: str
    mode: str | None = None
    off: bool = False
    line: int | None = field(default=None, compare=False)
    column: int | None = field(default=None, compare=False)
    """Where the text starts (the speaker's name starts the line)."""


@dataclass(frozen=True)
class Narration:
    """A narration box (no speaker, no tail), drawn at a corner of the panel."""

    text: str
    line: int | None = field(default=None, compare=False)
    column: int | None = field(default=None, compare=False)


Line = Dialogue | Narration


@dataclass(frozen=True)
class Panel:
    """One panel: its caption (what it shows, the prompt), optional hints, and its lines in reading order."""

    caption: str
    lines: tuple[Line, ...] = ()
    shot: str | None = None
    size: str | None = None
    seed: int | None = None
    """None: derived from the chapter seed and the panel's page/panel number."""
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Page:
    panels: tuple[Panel, ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Chapter:
    """A whole chapter script. Font sizes in points (1/72 inch), so they scale with the page's dpi."""

    pages: tuple[Page, ...]
    characters: tuple[Character, ...] = ()
    title: str = ""
    direction: str = "rtl"
    paper: str = DEFAULT_PAGE_SIZE
    style: str = ""
    negative: str = OFFICIAL_NEGATIVE
    seed: int = 0
    writing: str = "auto"
    font_size: float = DEFAULT_FONT_PT
    min_font_size: float = DEFAULT_MIN_FONT_PT

    def character_number(self, name: str) -> int | None:
        """1-based number of the character called ``name`` (the order of the references), or None."""
        for number, character in enumerate(self.characters, start=1):
            if character.name == name:
                return number
        return None

    @property
    def panel_count(self) -> int:
        return sum(len(page.panels) for page in self.pages)
