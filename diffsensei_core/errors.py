"""The pack's exception family.

Every user-facing message says what is wrong, what was expected, what was got and how to fix it.
"""

from __future__ import annotations


class DiffSenseiError(Exception):
    """Base class of every error the pack raises on purpose."""


class WeightsError(DiffSenseiError):
    """A weight file or folder is missing, unreadable, unsafe or has the wrong keys/shapes."""


class LayoutError(DiffSenseiError, ValueError):
    """A panel layout (size, character boxes, dialog boxes) is invalid."""


class InputShapeError(DiffSenseiError, ValueError):
    """A tensor handed to the core has the wrong shape, dtype or count."""


class LetteringError(DiffSenseiError, ValueError):
    """Bubble lettering cannot be done as asked: text that does not fit, missing glyphs, unusable fonts or texts."""


class DistributionError(DiffSenseiError, ValueError):
    """A prompt distribution (artifact, settings, text encoders) cannot be used as asked."""


class ScriptError(DiffSenseiError, ValueError):
    """A chapter script (text or JSON) cannot be read or planned. ``line``/``column`` (1-based) point at the
    offending text when it came from a script; None for JSON input (the message names the JSON path instead)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column
