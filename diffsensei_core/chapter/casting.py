"""Who is in a panel: the characters who speak in it (not off-panel), in the order they first speak, then those its
caption names, in the order they are named. The first of them stands where reading starts."""

from __future__ import annotations

import re

from .script import Chapter, Dialogue, Panel


def panel_cast(chapter: Chapter, panel: Panel) -> tuple[int, ...]:
    """The panel's cast as 1-based character numbers (the chapter's declaration order)."""
    cast: list[int] = []
    for line in panel.lines:
        if isinstance(line, Dialogue) and not line.off:
            number = chapter.character_number(line.speaker)
            if number is not None and number not in cast:
                cast.append(number)
    mentioned = []
    for number, character in enumerate(chapter.characters, start=1):
        at = _mention(character.name, panel.caption)
        if at is not None and number not in cast:
            mentioned.append((at, number))
    return (*cast, *(number for _, number in sorted(mentioned)))


def _mention(name: str, caption: str) -> int | None:
    """Where ``name`` first occurs in ``caption`` as a word (any case), or None. Names in scripts without spaces
    between words (Japanese) are found anywhere."""
    if not name.isascii():
        at = caption.find(name)
        return at if at >= 0 else None
    match = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", caption, re.IGNORECASE)
    return match.start() if match else None
