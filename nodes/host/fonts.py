"""The fonts folder (models/fonts) and the fonts the lettering nodes offer: user fonts, Pillow's bundled font, system
fonts (host glue shared by Letter bubbles and Chapter script, which must fit text with the same fonts)."""

from __future__ import annotations

import folder_paths

from ...diffsensei_core.lettering.fonts import DEFAULT, FONT_EXTENSIONS, discover_faces
from .folders import register_folder

FONTS_FOLDER = "fonts"


def register_fonts_folder() -> None:
    """Add models/fonts (see folders.register_folder)."""
    register_folder(FONTS_FOLDER, set(FONT_EXTENSIONS))


def font_faces():
    """User fonts (the fonts folders), Pillow's bundled font, system fonts."""
    register_fonts_folder()
    return discover_faces(user_dirs=folder_paths.get_folder_paths(FONTS_FOLDER))


def font_choices() -> list[str]:
    return [DEFAULT, *(f.name for f in font_faces() if f.name != DEFAULT)]
