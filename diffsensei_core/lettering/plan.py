"""From the user's texts to bubbles: the texts syntax, dialog slots of a panel layout, and the pairing.

Texts: one bubble per non-empty line, in the dialog boxes' order. A line may start with a prefix ending in
a colon: a character number (the tail points at that character's head; 0 = no tail) and/or a shape in
parentheses::

    Where were you?            nearest character, default shape
    2: Out. Looking for you.   tail to character 2
    (thought): Tell the truth? no number: nearest character; thought cloud
    1 (shout): LIAR!           tail to character 1, shout burst
    0: Meanwhile…              no tail (narration)
    -                          leave this dialog box without a bubble
    \\12: no prefix here        a leading backslash keeps the rest of the line as it is

A literal ``\\n`` inside a text is a forced line break.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..errors import LetteringError
from ..model.panel_layout import PanelLayout
from ..page.cast import box_of_character
from ..page.slots import DialogSlot
from .bubbles import SHAPES, head_point

log = logging.getLogger("diffsensei")

SHAPE_ALIASES = {
    "oval": "oval", "ellipse": "oval", "speech": "oval",
    "rounded": "rounded", "round": "rounded", "box": "rounded", "rect": "rounded", "rectangle": "rounded",
    "thought": "thought", "think": "thought", "cloud": "thought",
    "shout": "shout", "burst": "shout", "scream": "shout", "spiky": "shout",
}
_PREFIX = re.compile(r"^(?P<a>\d+)?\s*(?:\((?P<shape>[^()]*)\))?\s*(?P<b>\d+)?\s*:(?P<text>.*)$", re.DOTALL)


@dataclass(frozen=True)
class TextLine:
    """One line of the texts input. target: None = the nearest character, 0 = no tail, k = character k."""

    number: int
    text: str
    target: int | None = None
    shape: str | None = None
    blank: bool = False


@dataclass(frozen=True)
class BubbleSpec:
    """One bubble to draw: where, what, which shape, and the point its tail aims at (None: no tail)."""

    slot: DialogSlot
    text: str
    shape: str
    tail_to: tuple[float, float] | None
    line: int


def parse_texts(texts: str) -> list[TextLine]:
    """The non-empty lines of ``texts``, prefixes read (see the module docstring)."""
    out = []
    for number, raw in enumerate(texts.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "-":
            out.append(TextLine(number, "", blank=True))
            continue
        if line.startswith("\\") and not line.startswith("\\n"):
            out.append(TextLine(number, _breaks(line[1:].strip())))
            continue
        match = _PREFIX.match(line)
        if match is None or not (match["a"] or match["b"] or match["shape"] is not None):
            out.append(TextLine(number, _breaks(line)))
            continue
        if match["a"] and match["b"]:
            raise LetteringError(
                f"texts line {number} {line[:30]!r} names two characters; write one number before the colon, "
                "e.g. '2 (shout): text'."
            )
        shape = None
        if match["shape"] is not None:
            shape = SHAPE_ALIASES.get(match["shape"].strip().lower())
            if shape is None:
                raise LetteringError(
                    f"texts line {number}: unknown bubble shape '({match['shape']})'; expected one of "
                    f"{', '.join(f'({s})' for s in SHAPES)}. Start the line with '\\' to keep it as plain text."
                )
        text = match["text"].strip()
        if not text:
            raise LetteringError(
                f"texts line {number} {line!r} has a prefix but no text after the colon; write the text, or '-' "
                "alone on the line to leave the dialog box without a bubble."
            )
        target = match["a"] or match["b"]
        out.append(TextLine(number, _breaks(text), int(target) if target else None, shape))
    return out


def _breaks(text: str) -> str:
    return "\n".join(part.strip() for part in text.split("\\n"))


def slots_from_layout(layout: PanelLayout, width: int, height: int) -> list[DialogSlot]:
    """The dialog boxes of a panel layout, in its order, as pixel slots of a width × height image."""
    if layout.width * height != layout.height * width:
        aspect = (layout.width / layout.height) / (width / height)
        if abs(aspect - 1) > 0.02:
            log.warning(
                "the layout is %d×%d px but the image is %d×%d px (another aspect ratio); the boxes are stretched "
                "to the image.", layout.width, layout.height, width, height,
            )

    def scale(box) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = box
        return (x1 * width, y1 * height, x2 * width, y2 * height)

    characters = tuple(scale(b) for b in layout.characters)
    return [DialogSlot(scale(b), characters) for b in layout.dialogs]


def scale_slots(slots: Sequence[DialogSlot], sx: float, sy: float) -> list[DialogSlot]:
    """Slots of a page drawn at another pixel size (x scaled by ``sx``, y by ``sy``)."""
    if sx == 1 and sy == 1:
        return list(slots)

    def scale(box):
        return None if box is None else (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)

    return [replace(s, box=scale(s.box), characters=tuple(scale(c) for c in s.characters),
                    panel_box=scale(s.panel_box)) for s in slots]


def plan_bubbles(lines: Sequence[TextLine], slots: Sequence[DialogSlot], default_shape: str) -> list[BubbleSpec]:
    """Pair lines with slots in order; raise when there are more texts than dialog boxes or a tail names a
    character the panel does not have. Fewer texts than boxes leaves the last boxes blank (warned)."""
    if default_shape not in SHAPES:
        raise LetteringError(f"the default bubble shape must be one of {SHAPES}; got {default_shape!r}.")
    if len(lines) > len(slots):
        extra = len(lines) - len(slots)
        raise LetteringError(
            f"{len(lines)} text lines for {len(slots)} dialog box(es); expected at most one line per dialog box. "
            f"Delete {extra} line(s) or draw {extra} more dialog box(es) in the layout."
        )
    if len(lines) < len(slots):
        log.warning(
            "%d text line(s) for %d dialog boxes: the last %d box(es) get no bubble. Add lines, or write '-' for a "
            "box that should stay empty.", len(lines), len(slots), len(slots) - len(lines),
        )
    specs = []
    for line, slot in zip(lines, slots, strict=False):
        if line.blank:
            continue
        specs.append(BubbleSpec(slot, line.text, line.shape or default_shape, _tail_target(line, slot), line.number))
    return specs


def _tail_target(line: TextLine, slot: DialogSlot) -> tuple[float, float] | None:
    if line.target == 0:
        return None
    if line.target is not None:
        count = len(slot.characters)
        box = box_of_character(slot.cast, line.target, count)
        if box is None:
            if slot.cast is None:
                has, choices = f"has {count} character box(es)", f"1..{count}, " if count else ""
            else:
                has = f"shows character(s) {list(slot.cast)} (its \"cast\")" if slot.cast else "shows no character"
                choices = f"{', '.join(map(str, slot.cast))} or " if slot.cast else ""
            raise LetteringError(
                f"texts line {line.number} points its tail at character {line.target}, but its panel "
                f"(panel {slot.panel + 1}) {has}; use {choices}0 for no tail, or no number for the nearest character."
            )
        return head_point(slot.characters[box])
    if not slot.characters:
        return None
    cx, cy = (slot.box[0] + slot.box[2]) / 2, (slot.box[1] + slot.box[3]) / 2
    heads = [head_point(b) for b in slot.characters]
    return min(heads, key=lambda p: math.hypot(p[0] - cx, p[1] - cy))
