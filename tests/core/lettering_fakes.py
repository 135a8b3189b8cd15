"""A monospace stand-in for fonts, so line-breaking and tategaki tests do not depend on installed CJK fonts.

CJK characters are one em wide, everything else half an em; ascent 0.8 em, descent 0.2 em. Ink of 、。，．
sits in the bottom-left of the em square, as in horizontal fonts.
"""

from __future__ import annotations

import math

from diffsensei_core.lettering.text import is_cjk


class MonoTypesetter:
    def __init__(self, vertical_forms: bool = False):
        self.vertical_forms = vertical_forms

    def has(self, char: str) -> bool:
        cp = ord(char)
        return self.vertical_forms or not (0xFE10 <= cp <= 0xFE1F or 0xFE30 <= cp <= 0xFE4F)

    def advance(self, char: str, size: int) -> float:
        return float(size) if is_cjk(char) else size / 2

    def line_extent(self, text: str, size: int):
        return (0.0, sum(self.advance(c, size) for c in text), math.ceil(0.8 * size), math.ceil(0.2 * size))

    def glyph_extent(self, char: str, size: int):
        if char in "、。，．":
            return (-0.45 * size, 0.1 * size, -0.15 * size, 0.4 * size)
        half = 0.4 * size if is_cjk(char) else 0.2 * size
        return (-half, -0.4 * size, half, 0.4 * size)
