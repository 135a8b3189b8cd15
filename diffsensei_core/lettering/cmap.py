"""Which code points a TrueType/OpenType font maps to a glyph, read from its ``cmap`` table.

A small reader of the sfnt format (.ttf, .otf, .ttc/.otc collections) so glyph fallback needs no extra
dependency. Coverage is a sorted tuple of inclusive code-point ranges.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

from ..errors import LetteringError

# (platform, encoding) pairs that hold Unicode, best first: full-repertoire tables before BMP-only ones.
_UNICODE_TABLES = ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0))


class FontFileError(LetteringError):
    """A font file is not a readable TrueType/OpenType font."""


@dataclass(frozen=True)
class Coverage:
    """Code points with a glyph, as sorted inclusive ranges ``((first, last), …)``."""

    ranges: tuple[tuple[int, int], ...]

    def __post_init__(self):
        object.__setattr__(self, "_starts", [first for first, _ in self.ranges])

    def __contains__(self, codepoint: int) -> bool:
        i = bisect.bisect_right(self._starts, codepoint) - 1
        return i >= 0 and codepoint <= self.ranges[i][1]

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)


def read_coverage(data: bytes, index: int = 0) -> Coverage:
    """The Unicode coverage of face ``index`` of a font file's bytes."""
    try:
        offset = _face_offset(data, index)
        cmap = _table(data, offset, b"cmap")
        return _coverage(data, cmap)
    except (struct.error, IndexError) as err:
        raise FontFileError(f"the font data is truncated or corrupt ({err}).") from None


def _face_offset(data: bytes, index: int) -> int:
    if data[:4] == b"ttcf":
        (count,) = struct.unpack_from(">I", data, 8)
        if not 0 <= index < count:
            raise FontFileError(f"the font collection has {count} faces; face {index} does not exist.")
        return struct.unpack_from(">I", data, 12 + 4 * index)[0]
    if data[:4] not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        raise FontFileError("not a TrueType/OpenType font (expected .ttf, .otf, .ttc or .otc data).")
    return 0


def _table(data: bytes, face: int, tag: bytes) -> int:
    (count,) = struct.unpack_from(">H", data, face + 4)
    for i in range(count):
        rec_tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, face + 12 + 16 * i)
        if rec_tag == tag:
            return offset
    raise FontFileError(f"the font has no '{tag.decode()}' table.")


def _coverage(data: bytes, cmap: int) -> Coverage:
    _version, count = struct.unpack_from(">HH", data, cmap)
    subtables = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        subtables.setdefault((platform, encoding), cmap + offset)
    for key in _UNICODE_TABLES:
        if key in subtables:
            ranges = _read_subtable(data, subtables[key])
            if ranges is not None:
                return Coverage(_merge(ranges))
    return Coverage(())


def _read_subtable(data: bytes, at: int) -> list[tuple[int, int]] | None:
    (fmt,) = struct.unpack_from(">H", data, at)
    if fmt == 4:
        return _format4(data, at)
    if fmt in (12, 13):
        (groups,) = struct.unpack_from(">I", data, at + 12)
        out = []
        for g in range(groups):
            first, last, glyph = struct.unpack_from(">III", data, at + 16 + 12 * g)
            if fmt == 12 and glyph == 0:
                first += 1  # code `first` maps to .notdef
            if fmt == 13 and glyph == 0:
                continue
            if first <= last:
                out.append((first, last))
        return out
    if fmt == 6:
        first, entries = struct.unpack_from(">HH", data, at + 6)
        glyphs = struct.unpack_from(f">{entries}H", data, at + 10)
        return [(first + i, first + i) for i, g in enumerate(glyphs) if g]
    if fmt == 0:
        glyphs = data[at + 6 : at + 6 + 256]
        return [(i, i) for i, g in enumerate(glyphs) if g]
    return None  # formats 2, 8, 10, 14: legacy CJK encodings or variation selectors, not a Unicode map


def _format4(data: bytes, at: int) -> list[tuple[int, int]]:
    (seg_x2,) = struct.unpack_from(">H", data, at + 6)
    segs = seg_x2 // 2
    ends = struct.unpack_from(f">{segs}H", data, at + 14)
    starts_at = at + 16 + seg_x2
    starts = struct.unpack_from(f">{segs}H", data, starts_at)
    deltas = struct.unpack_from(f">{segs}h", data, starts_at + seg_x2)
    range_offsets_at = starts_at + 2 * seg_x2
    range_offsets = struct.unpack_from(f">{segs}H", data, range_offsets_at)
    out = []
    for s in range(segs):
        start, end, delta, range_offset = starts[s], ends[s], deltas[s], range_offsets[s]
        if start == 0xFFFF:
            continue
        if range_offset == 0:
            # glyph = (code + delta) mod 65536; only the code that lands on glyph 0 is missing
            missing = (-delta) % 0x10000
            if start <= missing <= end:
                out += [r for r in ((start, missing - 1), (missing + 1, end)) if r[0] <= r[1]]
            else:
                out.append((start, end))
            continue
        base = range_offsets_at + 2 * s + range_offset
        for code in range(start, end + 1):
            (glyph,) = struct.unpack_from(">H", data, base + 2 * (code - start))
            if glyph and (glyph + delta) % 0x10000:
                out.append((code, code))
    return out


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return tuple((a, b) for a, b in merged)
