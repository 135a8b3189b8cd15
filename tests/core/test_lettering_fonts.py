"""Fonts: the cmap reader, discovery order, per-glyph fallback and the report of glyphs no font has."""

from __future__ import annotations

import logging
import struct
import unicodedata

import pytest
from PIL import ImageFont

from diffsensei_core.errors import LetteringError
from diffsensei_core.lettering.cmap import FontFileError, read_coverage
from diffsensei_core.lettering.fonts import (
    DEFAULT,
    FontChain,
    FontFace,
    MissingGlyphsError,
    discover_faces,
    pillow_face,
    scan_folder,
    system_font_dirs,
)


def pillow_bytes() -> bytes:
    return ImageFont.load_default(10).font_bytes


def sfnt(cmap: bytes) -> bytes:
    """A minimal TrueType file holding only a cmap table (all the reader needs)."""
    header = struct.pack(">4sHHHH", b"\x00\x01\x00\x00", 1, 16, 0, 0)
    record = struct.pack(">4sIII", b"cmap", 0, 12 + 16, len(cmap))
    return header + record + cmap


def cmap_table(platform: int, encoding: int, subtable: bytes) -> bytes:
    return struct.pack(">HHHHI", 0, 1, platform, encoding, 12) + subtable


def format4(segments: list[tuple[int, int, int, list[int] | None]]) -> bytes:
    """segments: (start, end, delta, glyph ids or None for delta-only); the 0xFFFF segment is appended."""
    segments = [*segments, (0xFFFF, 0xFFFF, 1, None)]
    n = len(segments)
    ends = [s[1] for s in segments]
    starts = [s[0] for s in segments]
    deltas = [s[2] for s in segments]
    glyph_array: list[int] = []
    offsets = []
    for i, (_start, _end, _delta, glyphs) in enumerate(segments):
        if glyphs is None:
            offsets.append(0)
        else:  # bytes from this idRangeOffset entry to the glyph ids
            offsets.append(2 * (n - i) + 2 * len(glyph_array))
            glyph_array += glyphs
    body = struct.pack(f">{n}H", *ends) + b"\0\0" + struct.pack(f">{n}H", *starts)
    body += struct.pack(f">{n}h", *deltas) + struct.pack(f">{n}H", *offsets) + struct.pack(f">{len(glyph_array)}H",
                                                                                          *glyph_array)
    head = struct.pack(">HHHHHHH", 4, 14 + len(body), 0, 2 * n, 0, 0, 0)
    return head + body


def format12(groups: list[tuple[int, int, int]]) -> bytes:
    body = b"".join(struct.pack(">III", *g) for g in groups)
    return struct.pack(">HHIII", 12, 0, 16 + len(body), 0, len(groups)) + body


# ------------------------------------------------------------------------------------------------ cmap


def test_format4_with_deltas_and_glyph_arrays():
    data = sfnt(cmap_table(3, 1, format4([
        (0x41, 0x43, -0x40, None),  # A..C → glyphs 1..3
        (0x61, 0x64, 0, [5, 0, 7, 8]),  # a, c, d mapped; b → glyph 0 (missing)
        (0x30, 0x31, -0x30, None),  # '0' → glyph 0 (missing), '1' → glyph 1
    ])))
    coverage = read_coverage(data)
    assert [chr(c) for c in range(0x20, 0x80) if c in coverage] == list("1ABCacd")


def test_format12_reaches_beyond_the_bmp_and_wins_over_format4():
    table = struct.pack(">HH", 0, 2) + struct.pack(">HHI", 3, 1, 20) + struct.pack(">HHI", 3, 10, 20 + 50)
    sub4 = format4([(0x41, 0x41, -0x40, None)])
    sub4 = sub4 + b"\0" * (50 - len(sub4))
    data = sfnt(table + sub4 + format12([(0x20, 0x21, 0), (0x1F600, 0x1F602, 10)]))
    coverage = read_coverage(data)
    assert 0x20 not in coverage and 0x21 in coverage  # glyph 0 at the group start is .notdef
    assert 0x1F601 in coverage and 0x41 not in coverage  # the full-repertoire table is the one read


def test_collections_pick_the_face():
    face = sfnt(cmap_table(0, 3, format4([(0x41, 0x41, -0x40, None)])))
    collection = struct.pack(">4sIII", b"ttcf", 0x10000, 1, 16) + face
    # the table offsets inside a collection are from the file start
    collection = collection[:16] + face[:12] + struct.pack(">4sIII", b"cmap", 0, 16 + 12 + 16, 0) + face[28:]
    assert 0x41 in read_coverage(collection, 0)
    with pytest.raises(FontFileError, match="1 faces"):
        read_coverage(collection, 3)


def test_not_a_font_is_a_clear_error():
    with pytest.raises(FontFileError, match="not a TrueType/OpenType font"):
        read_coverage(b"GIF89a not a font at all")
    with pytest.raises(FontFileError, match="truncated or corrupt"):
        read_coverage(b"\x00\x01\x00\x00\x00\x05")


def test_reader_agrees_with_freetype_on_pillows_bundled_font():
    face = pillow_face()
    font = face.font(16)
    notdef = (bytes(font.getmask(chr(0xE000))), font.getlength(chr(0xE000)))
    for cp in range(0x21, 0x3000):
        char = chr(cp)
        if unicodedata.category(char) in ("Mn", "Me", "Cc", "Cf", "Cn", "Zs", "Co", "Cs"):
            continue
        drawn = (bytes(font.getmask(char)), font.getlength(char)) != notdef
        assert drawn == face.has(char), f"U+{cp:04X}"
    assert len(read_coverage(pillow_bytes())) > 90


# ------------------------------------------------------------------------------------------------ discovery


def test_discovery_order_user_then_pillow_then_system(tmp_path):
    user, system = tmp_path / "user", tmp_path / "system"
    (user / "sub").mkdir(parents=True)
    system.mkdir()
    (user / "sub" / "Mine.ttf").write_bytes(pillow_bytes())
    (user / "notes.txt").write_text("not a font")
    (system / "Mine.ttf").write_bytes(pillow_bytes())
    (system / "Other.otf").write_bytes(pillow_bytes())
    faces = discover_faces([user], system_dirs=[system])
    assert [(f.name, f.source) for f in faces] == [
        ("sub/Mine.ttf", "user"), (DEFAULT, "pillow"), ("Mine.ttf", "system"), ("Other.otf", "system")
    ]
    assert scan_folder(tmp_path / "absent", "user") == []


def test_choose_unknown_font_names_the_choices():
    with pytest.raises(LetteringError, match=r"font 'Nope\.ttf' was not found"):
        FontChain.choose("Nope.ttf", [pillow_face()])


def test_fallback_prefers_plain_faces_over_styled_ones(tmp_path):
    for name in ("Sans-Bold.ttf", "Sans-Regular.ttf", "SansMono.ttf"):
        (tmp_path / name).write_bytes(pillow_bytes())
    chain = FontChain.choose(DEFAULT, discover_faces([], system_dirs=[tmp_path]))
    assert [f.name for f in chain.faces] == [DEFAULT, "Sans-Regular.ttf", "Sans-Bold.ttf", "SansMono.ttf"]


# ------------------------------------------------------------------------------------------------ fallback


def dejavu() -> FontFace:
    for folder in system_font_dirs():
        for face in scan_folder(folder, "system"):
            if face.name.endswith("DejaVuSans.ttf"):
                return face
    pytest.skip("DejaVu Sans is not installed (apt install fonts-dejavu-core)")


def test_each_character_comes_from_the_first_font_that_has_it():
    chain = FontChain([pillow_face(), dejavu()])
    runs = chain.runs("Hi Жук, hi")
    assert [(face.source, text) for face, text in runs] == [
        ("pillow", "Hi "), ("system", "Жук"), ("pillow", ", hi")
    ]
    assert chain.face_for("Ж").name.endswith("DejaVuSans.ttf")
    assert chain.missing("Hi Жук") == ""


def test_glyphs_no_font_has_are_named():
    chain = FontChain([pillow_face()])
    assert chain.missing("Hello 日本 日\n") == "日本"
    with pytest.raises(MissingGlyphsError) as err:
        chain.check("Hello 日本")
    assert "'日' (U+65E5)" in str(err.value) and "'本' (U+672C)" in str(err.value)
    assert "fonts-noto-cjk" in str(err.value) and "models/fonts" in str(err.value)


def test_unreadable_font_files_are_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "Broken.ttf").write_bytes(b"\x00\x01\x00\x00garbage")
    chain = FontChain.choose(DEFAULT, discover_faces([tmp_path], system_dirs=[]))
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        assert chain.missing("日") == "日"
    assert "Broken.ttf" in caplog.text and "skipped" in caplog.text


def test_line_extent_covers_the_drawn_ink():
    from PIL import Image, ImageDraw

    chain = FontChain([pillow_face()])
    for text in ("Hello, world", "fjord (gyp)", "W"):
        left, right, ascent, descent = chain.line_extent(text, 24)
        canvas = Image.new("L", (400, 100), 0)
        chain.draw_line(ImageDraw.Draw(canvas), 100, 50, text, 24, 255)
        x0, y0, x1, y1 = canvas.getbbox()
        assert 100 + left <= x0 and x1 <= 100 + right and 50 - ascent <= y0 and y1 <= 50 + descent
