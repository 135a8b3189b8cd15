"""Fonts: discovery (user folders, Pillow's bundled font, system folders) and per-glyph fallback.

A :class:`FontChain` draws each character with the first face that has a glyph for it; characters that no
face has are reported by :meth:`FontChain.missing`. Text is laid out with Pillow's basic layout engine
(FreeType kerning, no shaping), the same on every machine whether or not libraqm is installed.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageDraw, ImageFont

from ..errors import LetteringError
from .cmap import Coverage, FontFileError, read_coverage

log = logging.getLogger("diffsensei")

FONT_EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc")
DEFAULT = "default"
"""Name of Pillow's bundled font (Aileron Regular, CC0; Latin only), always available."""


def system_font_dirs() -> tuple[Path, ...]:
    """The usual font folders of Linux, macOS and Windows (those that exist are scanned)."""
    home = Path.home()
    dirs = [home / ".fonts", home / ".local/share/fonts", Path("/usr/local/share/fonts"), Path("/usr/share/fonts")]
    if sys.platform == "darwin":
        dirs += [home / "Library/Fonts", Path("/Library/Fonts"), Path("/System/Library/Fonts")]
    if os.name == "nt":
        windir = Path(os.environ.get("WINDIR", "C:/Windows"))
        dirs += [Path(os.environ.get("LOCALAPPDATA", home)) / "Microsoft/Windows/Fonts", windir / "Fonts"]
    return tuple(dirs)


class MissingGlyphsError(LetteringError):
    """No font in the chain has a glyph for some characters of the text."""


@dataclass(frozen=True)
class FontFace:
    """One face of a font file; ``path`` None is Pillow's bundled font."""

    name: str
    source: str  # "user", "pillow" or "system"
    path: str | None = None
    index: int = 0

    @property
    def coverage(self) -> Coverage:
        return _coverage(self.path, self.index, _mtime(self.path))

    def has(self, char: str) -> bool:
        return ord(char) in self.coverage

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        return _font(self.path, self.index, int(size))


def pillow_face() -> FontFace:
    return FontFace(DEFAULT, "pillow")


def scan_folder(folder: str | os.PathLike, source: str) -> list[FontFace]:
    """Font files under ``folder`` (recursively), named by their path relative to it (``/`` separators)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for filename in sorted(filenames):
            if filename.lower().endswith(FONT_EXTENSIONS):
                path = Path(dirpath) / filename
                found.append(FontFace(path.relative_to(root).as_posix(), source, str(path)))
    return found


def discover_faces(user_dirs: Iterable[str | os.PathLike] = (), system_dirs: Iterable[str | os.PathLike] | None = None,
                   ) -> list[FontFace]:
    """Every usable face, in fallback order: user folders, Pillow's bundled font, system folders.

    User fonts keep their relative path as name; system fonts are named by file name. A name already
    taken (by a user font, or an earlier system folder) hides later ones.
    """
    faces: dict[str, FontFace] = {}
    for folder in user_dirs:
        for face in scan_folder(folder, "user"):
            faces.setdefault(face.name, face)
    faces.setdefault(DEFAULT, pillow_face())
    for folder in system_font_dirs() if system_dirs is None else system_dirs:
        for face in scan_folder(folder, "system"):
            faces.setdefault(Path(face.name).name, FontFace(Path(face.name).name, "system", face.path))
    return list(faces.values())


def needs_glyph(char: str) -> bool:
    """False for whitespace, controls and format characters: they are laid out, never drawn."""
    return not (char.isspace() or unicodedata.category(char) in ("Cc", "Cf"))


class FontChain:
    """Faces in fallback order; the first is the chosen font."""

    def __init__(self, faces: Sequence[FontFace]):
        if not faces:
            raise LetteringError("a font chain needs at least one face; pass the chosen font.")
        self.faces = tuple(faces)
        self._face_of: dict[str, FontFace | None] = {}
        self._unreadable: set[FontFace] = set()
        self._extents: dict[tuple[str, int], tuple[float, float, float, float]] = {}

    @classmethod
    def choose(cls, name: str, faces: Sequence[FontFace]) -> FontChain:
        """The face named ``name`` first, then the others: user fonts, Pillow's, system fonts; within a source,
        plain faces before bold, italic, condensed, mono and other styled ones."""
        by_name = {f.name: f for f in faces}
        if name not in by_name:
            raise LetteringError(
                f"font '{name}' was not found; expected one of {sorted(by_name)[:12]}"
                f"{' …' if len(by_name) > 12 else ''}. Put the font file in the fonts folder and refresh, "
                f"or choose '{DEFAULT}'."
            )
        first = by_name[name]
        return cls([first, *sorted((f for f in faces if f != first), key=_fallback_rank)])

    @property
    def primary(self) -> FontFace:
        return self.faces[0]

    def face_for(self, char: str) -> FontFace | None:
        """The first face with a glyph for ``char`` (None if there is none)."""
        if char not in self._face_of:
            self._face_of[char] = next((f for f in self.faces if self._has(f, char)), None)
        return self._face_of[char]

    def has(self, char: str) -> bool:
        return not needs_glyph(char) or self.face_for(char) is not None

    def missing(self, text: str) -> str:
        """The characters of ``text`` (each once, in order) that no face can draw."""
        return "".join(dict.fromkeys(c for c in text if needs_glyph(c) and self.face_for(c) is None))

    def check(self, text: str) -> None:
        """Raise MissingGlyphsError naming the characters no face has."""
        missing = self.missing(text)
        if missing:
            listed = ", ".join(f"'{c}' (U+{ord(c):04X})" for c in missing[:12]) + (" …" if len(missing) > 12 else "")
            raise MissingGlyphsError(
                f"no installed font has glyphs for {listed}; font '{self.primary.name}' and {len(self.faces) - 1} "
                "fallback font(s) were tried. Install a font that has them (for Japanese: `apt install "
                "fonts-noto-cjk`, or put a .ttf/.otf/.ttc in ComfyUI/models/fonts) and choose it."
            )

    def runs(self, text: str) -> list[tuple[FontFace, str]]:
        """``text`` split into runs drawn with one face each; spaces and controls join the current run."""
        out: list[tuple[FontFace, str]] = []
        for char in text:
            face = self.face_for(char) if needs_glyph(char) else None
            if face is None:
                face = out[-1][0] if out else self.primary
            if out and out[-1][0] == face:
                out[-1] = (face, out[-1][1] + char)
            else:
                out.append((face, char))
        return out

    # ---------------------------------------------------------------------------------------- measure and draw

    def line_extent(self, text: str, size: int) -> tuple[float, float, float, float]:
        """(left, right, ascent, descent) of ``text`` drawn from a pen at x=0 on the baseline.

        The union of the advance box (0..advance × −ascent..descent of the faces' metrics) and the ink,
        so drawing with :meth:`draw_line` never marks a pixel outside it.
        """
        key = (text, int(size))
        if key not in self._extents:
            self._extents[key] = self._measure_line(text, int(size))
        return self._extents[key]

    def glyph_extent(self, char: str, size: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1): the ink of ``char`` drawn centred (anchor "mm") at (0, 0)."""
        face = self.face_for(char) or self.primary
        mask, (ox, oy) = face.font(int(size)).getmask2(char, mode="L", anchor="mm")
        ink = mask.getbbox()
        if ink is None:  # nothing drawn (a blank glyph): an empty box at the centre
            return (0.0, 0.0, 0.0, 0.0)
        return (float(ox + ink[0]), float(oy + ink[1]), float(ox + ink[2]), float(oy + ink[3]))

    def draw_line(self, draw: ImageDraw.ImageDraw, x: float, baseline: float, text: str, size: int, fill) -> None:
        """Draw ``text`` with its pen starting at (x, baseline), run by run."""
        for face, run in self.runs(text):
            font = face.font(size)
            draw.text((x, baseline), run, font=font, fill=fill, anchor="ls")
            x += font.getlength(run)

    def draw_glyph(self, draw: ImageDraw.ImageDraw, cx: float, cy: float, char: str, size: int, fill) -> None:
        face = self.face_for(char) or self.primary
        draw.text((cx, cy), char, font=face.font(size), fill=fill, anchor="mm")

    def _has(self, face: FontFace, char: str) -> bool:
        if face in self._unreadable:
            return False
        try:
            return face.has(char)
        except (OSError, FontFileError) as err:
            log.warning("font %s (%s) cannot be read and is skipped: %s", face.name, face.path, err)
            self._unreadable.add(face)
            return False

    def _measure_line(self, text: str, size: int) -> tuple[float, float, float, float]:
        left, right, ascent, descent = 0.0, 0.0, 0.0, 0.0
        x = 0.0
        for face, run in self.runs(text or " "):
            font = face.font(size)
            a, d = font.getmetrics()
            ascent, descent = max(ascent, a), max(descent, d)
            if text:
                x0, y0, x1, y1 = font.getbbox(run, anchor="ls")
                left, right = min(left, x + x0), max(right, x + x1)
                ascent, descent = max(ascent, -y0), max(descent, y1)
                x += font.getlength(run)
        return (left, max(right, x), float(ascent), float(descent))


_SOURCES = ("user", "pillow", "system")
_STYLED = ("bold", "italic", "oblique", "light", "thin", "black", "heavy", "medium", "semibold", "condensed",
           "narrow", "mono", "math", "emoji", "symbol")


def _fallback_rank(face: FontFace) -> tuple[int, bool]:
    styled = any(word in face.name.lower() for word in _STYLED)
    return (_SOURCES.index(face.source) if face.source in _SOURCES else len(_SOURCES), styled)


def _mtime(path: str | None) -> float:
    return os.stat(path).st_mtime if path else 0.0


@functools.lru_cache(maxsize=512)
def _coverage(path: str | None, index: int, _mtime: float) -> Coverage:
    if path is None:
        return read_coverage(_pillow_font_bytes())
    with open(path, "rb") as fh:
        return read_coverage(fh.read(), index)


@functools.lru_cache(maxsize=256)
def _font(path: str | None, index: int, size: int) -> ImageFont.FreeTypeFont:
    if path is None:
        font = ImageFont.load_default(size)
        if not isinstance(font, ImageFont.FreeTypeFont):
            raise LetteringError(
                "Pillow was built without FreeType, so it cannot draw scalable text; install a Pillow wheel "
                "(`pip install --force-reinstall pillow`)."
            )
        return ImageFont.FreeTypeFont(io.BytesIO(_pillow_font_bytes()), size, layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


@functools.lru_cache(maxsize=1)
def _pillow_font_bytes() -> bytes:
    font = ImageFont.load_default(10)
    data = getattr(font, "font_bytes", None)
    if not isinstance(data, bytes):
        raise LetteringError("Pillow's bundled font is not available (Pillow ≥ 10.1 with FreeType is needed).")
    return data

