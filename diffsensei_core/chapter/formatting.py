"""A chapter back to script text (``parse_script(format_script(c)) == c``), e.g. for a chapter built as JSON."""

from __future__ import annotations

from .grammar import SETTINGS, SPEECH_LINE
from .script import OFF, Chapter, Dialogue, Panel

_KEYWORDS = ("page", "panel", "narration", "character", "looks")


def format_script(chapter: Chapter) -> str:
    lines = []
    for key, (field_name, _read) in SETTINGS.items():
        value = getattr(chapter, field_name)
        text = f"{value:g} pt" if field_name.endswith("font_size") else str(value)
        lines.append(f"{key.capitalize()}: {text}".rstrip())
    for character in chapter.characters:
        lines += ["", f"Character {character.name}: {', '.join(character.references)}"]
        if character.looks:
            lines.append(f"  Looks: {character.looks}")
    for page in chapter.pages:
        lines += ["", "Page"]
        for panel in page.panels:
            lines += _panel_lines(panel)
    return "\n".join(lines) + "\n"


def _panel_lines(panel: Panel) -> list[str]:
    hints = [h for h in (panel.shot, panel.size) if h] + ([f"seed {panel.seed}"] if panel.seed is not None else [])
    out = ["Panel" + (f" ({', '.join(hints)})" if hints else ""), f"  {_caption(panel.caption)}"]
    for line in panel.lines:
        if isinstance(line, Dialogue):
            mods = [m for m in (OFF if line.off else None, line.mode) if m]
            out.append(f"  {line.speaker}" + (f" ({', '.join(mods)})" if mods else "") + f": {line.text}")
        else:
            out.append(f"  Narration: {line.text}")
    return out


def _caption(text: str) -> str:
    """The caption, with a leading backslash when the line would otherwise read as something else."""
    first = text.split(maxsplit=1)[0].rstrip(":：").lower() if text.strip() else ""
    risky = text.startswith(("\\", "#")) or first in _KEYWORDS or first.startswith(("panel(", "panel（"))
    return "\\" + text if risky or SPEECH_LINE.match(text) else text
