"""A planned chapter: per page the page JSON of ``diffsensei_core.page`` and the bubble texts, per panel its seed.

``ChapterPlan.to_json()`` is deterministic (sorted keys, boxes rounded to ``DIGITS`` decimals): the same script and
fonts give byte-identical JSON. Its pages are exactly what the Page layout node's ``page`` input takes (custom
panels), and its texts what Letter bubbles' ``texts`` input takes, so any page can be opened and changed there.

    {"format": "diffsensei-chapter-plan", "version": 1, "title": …, "negative": …, "dpi": 300, "direction": "rtl",
     "writing": "auto", "font_size": 38, "min_font_size": 25, "outline": 3.0,            (pixels at the dpi)
     "characters": [{"name", "references", "looks"}],
     "pages": [{"page": {page JSON}, "texts": "1 (oval): …\\n0 (rounded): …",
                "panels": [{"seed": …, "caption": …, "shot": …, "source": {the panel's script entry}}]}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import LayoutError
from ..page.page_layout import PageLayout, PagePanel, build_page

FORMAT = "diffsensei-chapter-plan"
VERSION = 1
DIGITS = 6
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PlannedPanel:
    """One panel, self-contained (what a render worker needs): page and panel numbers (1-based, reading order),
    ``rect`` in page pixels, the boxes relative to it, cast (character numbers, box order), prompt, seed, and
    ``texts`` (its Letter bubbles lines, one per dialog box). ``source`` is its script entry (JSON)."""

    page: int
    number: int
    rect: tuple[int, int, int, int]
    characters: tuple[Box, ...]
    dialogs: tuple[Box, ...]
    cast: tuple[int, ...]
    prompt: str
    seed: int
    caption: str
    shot: str
    texts: tuple[str, ...]
    source: Mapping
    parent: int | None = None
    """Index (0-based, on its page) of the panel an inset sits on."""

    @property
    def aspect(self) -> float:
        return (self.rect[2] - self.rect[0]) / (self.rect[3] - self.rect[1])

    def key_data(self) -> dict:
        """Everything that decides the panel's picture (for the resume cache)."""
        return {"rect_aspect": round(self.aspect, DIGITS), "characters": _boxes(self.characters),
                "dialogs": _boxes(self.dialogs), "cast": list(self.cast), "prompt": self.prompt, "seed": self.seed,
                "source": self.source}


@dataclass(frozen=True)
class PlannedPage:
    number: int
    width: int
    height: int
    dpi: int
    direction: str
    margin: int
    gutter: int
    border: int
    panels: tuple[PlannedPanel, ...]

    @property
    def texts(self) -> str:
        return "\n".join(text for panel in self.panels for text in panel.texts)

    def page_dict(self) -> dict:
        """The page JSON (custom panels in reading order), as the page core writes it, boxes to DIGITS decimals."""
        panels = tuple(PagePanel(rect=p.rect, index=k, border=self.border, characters=p.characters,
                                 dialogs=p.dialogs, prompt=p.prompt, parent=p.parent, cast=p.cast)
                       for k, p in enumerate(self.panels))
        page = PageLayout(self.width, self.height, self.dpi, self.direction, self.margin, self.gutter, self.border,
                          panels).to_dict()
        for entry in page["panels"]:
            entry["box"] = [round(c, DIGITS) for c in entry["box"]]
        return page

    def layout(self) -> PageLayout:
        """The page as the page core reads it; its panels come back in the planned order."""
        page = self.page_dict()
        layout = build_page(**{k: v for k, v in page.items() if k != "panels"}, panels=page["panels"])
        if [p.rect for p in layout.panels] != [p.rect for p in self.panels]:
            raise LayoutError(f"page {self.number}: the page core reads the planned panels in another order "
                              f"({[p.rect for p in layout.panels]} vs {[p.rect for p in self.panels]}); this is a "
                              "bug in the chapter planner — please report it with the script.")
        return layout


@dataclass(frozen=True)
class ChapterPlan:
    title: str
    negative: str
    dpi: int
    direction: str
    writing: str
    font_size: int
    min_font_size: int
    outline: float
    characters: tuple[Mapping, ...]
    pages: tuple[PlannedPage, ...]

    @property
    def panels(self) -> list[PlannedPanel]:
        return [panel for page in self.pages for panel in page.panels]

    def to_dict(self) -> dict:
        pages = []
        for page in self.pages:
            panels = [{"seed": p.seed, "caption": p.caption, "shot": p.shot, "source": p.source,
                       **({"parent": p.parent} if p.parent is not None else {})} for p in page.panels]
            pages.append({"page": page.page_dict(), "texts": page.texts, "panels": panels})
        return {"format": FORMAT, "version": VERSION, "title": self.title, "negative": self.negative, "dpi": self.dpi,
                "direction": self.direction, "writing": self.writing, "font_size": self.font_size,
                "min_font_size": self.min_font_size, "outline": self.outline,
                "characters": [dict(c) for c in self.characters], "pages": pages}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def plan_from_dict(data: Mapping) -> ChapterPlan:
    """Read a plan written by ``ChapterPlan.to_dict`` (checked by the page core)."""
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise LayoutError(f"expected a chapter plan (format {FORMAT!r}, version {VERSION}); got format "
                          f"{data.get('format')!r}, version {data.get('version')!r}. Plan the script again.")
    pages = []
    for number, entry in enumerate(data["pages"], start=1):
        page = entry["page"]
        layout = build_page(**{k: v for k, v in page.items() if k != "panels"}, panels=page["panels"])
        texts = iter(entry["texts"].splitlines())
        panels = []
        for k, (panel, extra) in enumerate(zip(layout.panels, entry["panels"], strict=True)):
            panels.append(PlannedPanel(
                page=number, number=k + 1, rect=panel.rect, characters=panel.characters, dialogs=panel.dialogs,
                cast=panel.cast or (), prompt=panel.prompt, seed=extra["seed"], caption=extra["caption"],
                shot=extra["shot"], texts=tuple(next(texts) for _ in panel.dialogs), source=extra["source"],
                parent=extra.get("parent")))
        pages.append(PlannedPage(number, layout.width, layout.height, layout.dpi, layout.direction, layout.margin,
                                 layout.gutter, layout.border, tuple(panels)))
    return ChapterPlan(data["title"], data["negative"], data["dpi"], data["direction"], data["writing"],
                       data["font_size"], data["min_font_size"], data["outline"],
                       tuple(data["characters"]), tuple(pages))


def _boxes(boxes) -> list[list[float]]:
    return [[round(c, DIGITS) for c in box] for box in boxes]
