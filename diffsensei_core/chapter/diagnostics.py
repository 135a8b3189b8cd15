"""Error messages for chapter scripts: where (script line and column, or JSON path), what is wrong, what was
expected, how to fix it, and the nearest known name for a misspelt one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ScriptError

SUGGESTION_CUTOFF = 0.6
"""difflib similarity a known name needs to be suggested for a misspelt one."""


@dataclass(frozen=True)
class Where:
    """A place in the script: a 1-based line and column with the line's text, or a JSON path (``pages[0].…``)."""

    line: int | None = None
    column: int | None = None
    source: str | None = None
    path: str | None = None

    def describe(self) -> str:
        if self.line is not None:
            column = f", column {self.column}" if self.column is not None else ""
            return f"script line {self.line}{column}"
        return f"chapter JSON {self.path}" if self.path else "chapter script"

    def excerpt(self) -> str:
        """The line with a caret under the column, or '' when the text is not known."""
        if self.line is None or self.source is None:
            return ""
        gutter = f"{self.line} | "
        caret = "" if self.column is None else "\n    " + " " * (len(gutter) - 2) + "| " + " " * (self.column - 1) + "^"
        return f"\n    {gutter}{self.source.rstrip()}{caret}"

    def at(self, column: int | None) -> Where:
        return Where(self.line, column, self.source, self.path)


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The known name most like ``word`` (case-insensitive), or None when none is close."""
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=SUGGESTION_CUTOFF)
    return lowered[match[0]] if match else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" Did you mean 'X'?" for the nearest known name, or ''."""
    match = nearest(word, choices)
    return f" Did you mean '{match}'?" if match is not None else ""


def script_error(where: Where, problem: str, *, expected: str, fix: str) -> ScriptError:
    """A ScriptError whose message reads: <where>: <problem>; expected <expected>. <fix> + the line excerpt."""
    message = f"{where.describe()}: {problem}; expected {expected}. {fix}{where.excerpt()}"
    return ScriptError(message, where.line, where.column)
