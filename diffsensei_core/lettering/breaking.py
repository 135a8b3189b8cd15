"""Line breaking for bubble text: where a line (or a vertical column) may end.

Latin and other spaced scripts break at spaces; CJK text may break between any two characters except where
Japanese line-breaking rules (kinsoku shori) forbid it: no line or column starts with closing punctuation, small
kana or the long-vowel mark, none ends with an opening bracket. ``wrap`` breaks greedily by any length measure, so
the same code fills horizontal lines and vertical columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

NO_START = set(
    "、。，．・：；？！‼⁇⁈⁉゛゜ヽヾゝゞ々〻ー’”）〕］｝〉》」』】〙〗〟｠»…‥〜～‐゠–"
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ"
    ")]},.:;!?%"
)
"""Characters a line (or column) must not start with (gyōtō kinsoku)."""
NO_END = set("‘“（〔［｛〈《「『【〘〖〝｟«([{")
"""Characters a line (or column) must not end with (gyōmatsu kinsoku)."""


def is_cjk(char: str) -> bool:
    """Han, kana, CJK punctuation, full-width forms, vertical forms and bopomofo."""
    cp = ord(char)
    return (
        0x2E80 <= cp <= 0x2FDF or 0x3000 <= cp <= 0x31FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
        or 0xF900 <= cp <= 0xFAFF or 0xFE10 <= cp <= 0xFE1F or 0xFE30 <= cp <= 0xFE4F or 0xFF00 <= cp <= 0xFFEF
        or 0x20000 <= cp <= 0x3FFFF
    )


@dataclass(frozen=True)
class Cluster:
    """Text that must stay on one line (a word, a CJK character and the punctuation kinsoku binds to it)."""

    text: str
    space_before: bool = False
    newline_before: bool = False


def clusters(text: str) -> list[Cluster]:
    """Split ``text`` at every allowed break: spaces, between CJK characters (kinsoku permitting), newlines."""
    atoms: list[tuple[str, bool, bool, bool]] = []  # (text, space before, newline before, is CJK)
    word, flags, space, newline = "", (False, False), False, False
    for char in text + "\n":
        if char.isspace() or is_cjk(char):
            if word:
                atoms.append((word, *flags, False))
                word, space, newline = "", False, False
            if char == "\n":
                newline, space = True, False
            elif char.isspace():
                space = True
            else:
                atoms.append((char, space, newline, True))
                space, newline = False, False
        else:
            if not word:
                flags = (space, newline)
            word += char
    out: list[Cluster] = []
    prev = None
    for atom_text, space_before, newline_before, cjk in atoms:
        breakable = newline_before or (
            prev is not None
            and (space_before or cjk or prev[3])
            and atom_text[0] not in NO_START
            and prev[0][-1] not in NO_END
        )
        if out and not breakable:
            last = out[-1]
            out[-1] = Cluster(last.text + (" " if space_before else "") + atom_text, last.space_before,
                              last.newline_before)
        else:
            out.append(Cluster(atom_text, space_before and bool(out), newline_before and bool(out)))
        prev = (atom_text, space_before, newline_before, cjk)
    return out


def wrap(parts: list[Cluster], limit: float, length: Callable[[str], float], *, split_long: bool = False,
         ) -> list[str] | None:
    """Greedy breaking into lines no longer than ``limit`` (as measured by ``length``); None if a cluster is
    longer than a line (unless ``split_long``: then it is cut between characters, ignoring kinsoku)."""
    lines: list[str] = []
    current: str | None = None
    for part in parts:
        if part.newline_before and current is not None:
            lines.append(current)
            current = None
        candidate = part.text if current is None else current + (" " if part.space_before else "") + part.text
        if length(candidate) <= limit:
            current = candidate
            continue
        if current is not None:
            lines.append(current)
        current = part.text
        if length(current) > limit:
            if not split_long:
                return None
            pieces = _cut(current, limit, length)
            if pieces is None:
                return None
            lines += pieces[:-1]
            current = pieces[-1]
    if current is not None:
        lines.append(current)
    return lines


def _cut(text: str, limit: float, length: Callable[[str], float]) -> list[str] | None:
    pieces, current = [], ""
    for char in text:
        if current and length(current + char) > limit:
            pieces.append(current.rstrip())
            current = char.lstrip()
        else:
            current += char
        if current and length(current) > limit:
            return None
    return [*pieces, current] if current else pieces
