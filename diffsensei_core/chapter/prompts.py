"""A panel's prompt, its bubble texts in the Letter bubbles format, and its seed."""

from __future__ import annotations

import hashlib

from .script import Chapter, Dialogue, Line, Panel

SEED_BITS = 53
"""Derived seeds stay below 2**53, so the browser (JavaScript numbers) shows and stores them exactly."""
NARRATION_SHAPE = "rounded"
SHAPES = {None: "oval", "thought": "thought", "shout": "shout", "whisper": "whisper"}
"""Speech mode → Letter bubbles shape."""


def panel_prompt(chapter: Chapter, panel: Panel, cast: tuple[int, ...]) -> str:
    """The caption, then the appearance words of the panel's cast in cast order, then the chapter's style."""
    looks = [chapter.characters[number - 1].looks for number in cast]
    parts = [panel.caption.strip(), *looks, chapter.style.strip()]
    return ", ".join(part.rstrip(" ,.") for part in parts if part.strip(" ,."))


def panel_seed(chapter_seed: int, page: int, panel: int) -> int:
    """A stable seed for panel ``panel`` (1-based) of page ``page`` (1-based): SHA-256 of the three numbers, the
    same on every machine and Python version (unlike ``hash()``), below 2**SEED_BITS."""
    digest = hashlib.sha256(f"diffsensei-chapter:{chapter_seed}:{page}:{panel}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def bubble_shape(line: Line) -> str:
    return SHAPES[line.mode] if isinstance(line, Dialogue) else NARRATION_SHAPE


def bubble_text(chapter: Chapter, line: Line, cast: tuple[int, ...]) -> str:
    """One line of Letter bubbles' texts: ``k (shape): text`` with k the speaker's character number (the tail aims
    at their head), or 0 (no tail) for narration and off-panel voices."""
    target = 0
    if isinstance(line, Dialogue) and not line.off:
        number = chapter.character_number(line.speaker)
        target = number if number in cast else 0
    return f"{target} ({bubble_shape(line)}): {line.text}"
