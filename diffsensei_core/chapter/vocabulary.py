"""Reading the words of a script: settings, panel hints, speech modes, reference file names, names.

Shared by the text grammar and the JSON reader, so both accept exactly the same values and both suggest the
nearest known word for a misspelt one.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..page.presets import PAGE_SIZES
from .diagnostics import Where, did_you_mean, script_error
from .script import MODES, OFF, PAPER_ALIASES, SHOTS, SIZES, WRITINGS

SHOT_ALIASES = {"close up": "close-up", "closeup": "close-up", "long shot": "wide shot"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
RESERVED_NAMES = ("narration", "page", "panel", "character", "looks")
MAX_SEED = 2**64 - 1
FONT_RANGE_PT = (2.0, 72.0)
_NUMBER = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?:pt)?$", re.IGNORECASE)


def read_hint(word: str, where: Where) -> tuple[str, str | int]:
    """One panel hint → ("shot", value), ("size", value) or ("seed", number)."""
    lowered = " ".join(word.lower().split())
    lowered = SHOT_ALIASES.get(lowered, lowered)
    if lowered in SHOTS:
        return "shot", lowered
    if lowered in SIZES:
        return "size", lowered
    if lowered.startswith("seed"):
        return "seed", read_seed(lowered[4:].strip(), where)
    raise script_error(
        where, f"unknown panel hint '{word}'",
        expected=f"a shot ({', '.join(SHOTS)}), a size ({', '.join(SIZES)}) or 'seed N'",
        fix=f"Correct or delete the hint.{did_you_mean(lowered, (*SHOTS, *SIZES))}",
    )


def read_modes(words: list[str], where: Where) -> tuple[str | None, bool]:
    """The words in a speaker's parentheses → (mode or None, off-panel)."""
    mode, off = None, False
    for word in words:
        lowered = word.strip().lower()
        if not lowered:
            continue
        if lowered == OFF:
            off = True
        elif lowered in MODES:
            if mode is not None:
                raise script_error(where, f"the line is both '{mode}' and '{lowered}'",
                                   expected=f"at most one of {', '.join(MODES)}", fix="Keep one of them.")
            mode = lowered
        else:
            raise script_error(
                where, f"unknown speech mode '({word.strip()})'",
                expected=f"{', '.join(MODES)} or '{OFF}' (an off-panel voice), e.g. 'Mio (off, shout): Wait!'",
                fix=f"Correct or delete it.{did_you_mean(lowered, (*MODES, OFF))}",
            )
    return mode, off


def read_direction(value: str, where: Where) -> str:
    return _choice(value.lower(), ("rtl", "ltr"), "reading direction", where,
                   "rtl (right to left, manga) or ltr (left to right)")


def read_writing(value: str, where: Where) -> str:
    return _choice(value.lower(), WRITINGS, "writing", where,
                   "auto, horizontal or vertical (tategaki, columns right to left)")


def read_paper(value: str, where: Where) -> str:
    full = PAPER_ALIASES.get(value.strip().lower(), value.strip())
    if full in PAGE_SIZES:
        return full
    raise script_error(where, f"unknown paper '{value}'",
                       expected=f"one of {', '.join(PAPER_ALIASES)} (or {'; '.join(PAGE_SIZES)})",
                       fix=f"Pick one of them.{did_you_mean(value, (*PAPER_ALIASES, *PAGE_SIZES))}")


def read_seed(value: str, where: Where) -> int:
    if not value.isdigit() or int(value) > MAX_SEED:
        raise script_error(where, f"the seed '{value}' is not a whole number from 0 to {MAX_SEED}",
                           expected="e.g. 'Seed: 2025' (or 'seed 7' as a panel hint)", fix="Write the seed in digits.")
    return int(value)


def read_font_size(value: str, where: Where) -> float:
    """'9', '9 pt' or '8.5pt' → points."""
    match = _NUMBER.match(value.strip())
    low, high = FONT_RANGE_PT
    if match is None or not low <= float(match["value"]) <= high:
        raise script_error(where, f"the font size '{value}' is not a size in points from {low:g} to {high:g}",
                           expected="e.g. '9 pt' (points scale with the page's dpi)",
                           fix="Write a number of points.")
    return float(match["value"])


def check_reference(name: str, where: Where) -> str:
    """A reference image's file name: relative to the input folder, no '..', an image extension."""
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or ".." in path.parts or name.startswith("/") or ":" in name:
        raise script_error(where, f"the reference image '{name}' is not a file name inside the input folder",
                           expected="a file name relative to ComfyUI's input folder, e.g. 'ren.png' or 'cast/ren.png'",
                           fix="Copy the image into the input folder and name it relative to that folder.")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise script_error(where, f"the reference image '{name}' has no image extension",
                           expected=f"one of {', '.join(IMAGE_EXTENSIONS)}",
                           fix="Name the image file with its extension.")
    return str(path)


def check_name(name: str, where: Where) -> str:
    """A character's name: some letters, none of , : ( ), not a keyword."""
    first = name.split()[0].lower() if name.split() else ""
    if first in RESERVED_NAMES:
        raise script_error(where, f"'{name}' starts with a keyword of the script",
                           expected=f"a name whose first word is not {', '.join(RESERVED_NAMES)}",
                           fix="Rename the speaker.")
    if not any(c.isalpha() for c in name) or any(c in ",:：()（）\\#" for c in name):
        raise script_error(where, f"'{name}' cannot be a character's name",
                           expected="a name with letters and without , : ( ) \\ #, e.g. 'Ren' or 'Mr. Sato'",
                           fix="Rename the character.")
    return name


def _choice(value: str, choices: tuple[str, ...], what: str, where: Where, expected: str) -> str:
    if value in choices:
        return value
    raise script_error(where, f"unknown {what} '{value}'", expected=expected,
                       fix=f"Pick one of them.{did_you_mean(value, choices)}")
