"""Hypothesis strategies for chapter scripts: random but valid chapters (as a writer could type them)."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from diffsensei_core.chapter.script import (
    MODES,
    SHOTS,
    Chapter,
    Character,
    Dialogue,
    Narration,
    Page,
    Panel,
)
from diffsensei_core.page.presets import PAGE_SIZES_MM

NAMES = ("Ren", "Mio", "Old Sato", "Kaede", "蓮", "澪")
WORDS = ("the", "late", "bell", "rings", "Ren", "Mio", "runs", "why", "again", "okay", "school", "gate", "no", "I",
         "swear", "it", "was", "early", "遅刻", "ベル", "…", "!", "?", "(laughs)", "a:b", "8:00")


def single_line(alphabet: str = string.ascii_letters + string.digits + " .,!?'\"-:;()#\\…") -> st.SearchStrategy:
    return st.text(alphabet=alphabet, min_size=1, max_size=30).map(str.strip).filter(bool)


def sentence(max_words: int = 8) -> st.SearchStrategy:
    return st.lists(st.sampled_from(WORDS), min_size=1, max_size=max_words).map(" ".join)


@st.composite
def chapters(draw, *, max_pages: int = 3, max_panels: int = 4, max_lines: int = 3, text=None) -> Chapter:
    text = sentence() if text is None else text
    names = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=4, unique=True))
    characters = tuple(Character(name, (f"ref_{k}.png",) * draw(st.integers(1, 2)), draw(st.sampled_from(
        ("", "spiky hair", "long hair, glasses")))) for k, name in enumerate(names))
    speakers = st.sampled_from(names) if names else st.nothing()
    pages = []
    for _ in range(draw(st.integers(1, max_pages))):
        panels = []
        for k in range(draw(st.integers(1, max_panels))):
            size = draw(st.sampled_from((None, None, "big", "wide", "tall") + (("inset",) if k else ())))
            lines = []
            for _ in range(draw(st.integers(0, max_lines))):
                if names and draw(st.booleans()):
                    off = draw(st.booleans()) and draw(st.booleans())
                    lines.append(Dialogue(draw(speakers), draw(text), draw(st.sampled_from((None, *MODES))), off))
                else:
                    lines.append(Narration(draw(text)))
            panels.append(Panel(draw(sentence(6)), tuple(lines), draw(st.sampled_from((None, *SHOTS))), size,
                                draw(st.none() | st.integers(0, 2**40))))
        pages.append(Page(tuple(_no_third_inset(panels))))
    font = draw(st.sampled_from((7.0, 8.5, 9.0, 10.0)))
    title = draw(st.sampled_from(("", "The Late Bell", "遅刻")))
    return Chapter(pages=tuple(pages), characters=characters, title=title,
                   direction=draw(st.sampled_from(("rtl", "ltr"))), paper=draw(st.sampled_from(tuple(PAGE_SIZES_MM))),
                   style=draw(st.sampled_from(("", "monochrome manga, screentone"))), seed=draw(st.integers(0, 99)),
                   writing=draw(st.sampled_from(("auto", "horizontal", "vertical"))), font_size=font,
                   min_font_size=draw(st.sampled_from((5.0, 6.0, font))))


def _no_third_inset(panels: list[Panel]) -> list[Panel]:
    """At most two insets in a row (a panel holds two)."""
    out, run = [], 0
    for panel in panels:
        run = run + 1 if panel.size == "inset" else 0
        out.append(Panel(panel.caption, panel.lines, panel.shot, None, panel.seed) if run > 2 else panel)
    return out
