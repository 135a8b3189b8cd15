"""The chapter script as JSON, for programs: the same content as the text grammar, read back to equal dataclasses.

    {"format": "diffsensei-chapter", "version": 1,
     "title": "…", "direction": "rtl", "paper": "B5 manga (182×257 mm)", "style": "…", "negative": "…", "seed": 0,
     "writing": "auto", "font_size": 9.0, "min_font_size": 6.0,                                  (points)
     "characters": [{"name": "Ren", "references": ["ren.png"], "looks": "…"}],
     "pages": [{"panels": [{"caption": "…", "shot": "medium", "size": null, "seed": null,
                            "lines": [{"narration": "…"},
                                      {"speaker": "Ren", "text": "…", "mode": "shout", "off": false}]}]}]}

Every key but "pages" (and "caption", "name", "references", "speaker", "text") may be left out for its default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .checks import check_chapter
from .diagnostics import Where, did_you_mean, script_error
from .script import Chapter, Character, Dialogue, Narration, Page, Panel

FORMAT = "diffsensei-chapter"
VERSION = 1
KINDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
SETTINGS = ("title", "direction", "paper", "style", "negative", "seed", "writing", "font_size", "min_font_size")


def chapter_to_dict(chapter: Chapter) -> dict:
    out: dict = {"format": FORMAT, "version": VERSION}
    out.update({key: getattr(chapter, key) for key in SETTINGS})
    out["characters"] = [{"name": c.name, "references": list(c.references), "looks": c.looks}
                         for c in chapter.characters]
    out["pages"] = [{"panels": [panel_to_dict(panel) for panel in page.panels]} for page in chapter.pages]
    return out


def panel_to_dict(panel: Panel) -> dict:
    lines = []
    for line in panel.lines:
        if isinstance(line, Narration):
            lines.append({"narration": line.text})
        else:
            lines.append({"speaker": line.speaker, "text": line.text, "mode": line.mode, "off": line.off})
    return {"caption": panel.caption, "shot": panel.shot, "size": panel.size, "seed": panel.seed, "lines": lines}


def chapter_to_json(chapter: Chapter) -> str:
    """Deterministic JSON (sorted keys, UTF-8 text kept as is)."""
    return json.dumps(chapter_to_dict(chapter), ensure_ascii=False, sort_keys=True, indent=1)


def chapter_from_json(text: str) -> Chapter:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise script_error(Where(err.lineno, err.colno, text.splitlines()[err.lineno - 1] if text else ""),
                           f"the chapter JSON does not parse ({err.msg})",
                           expected="a JSON object as in docs/chapter.md",
                           fix="Fix the JSON at that place.") from None
    return chapter_from_dict(data)


def chapter_from_dict(data) -> Chapter:
    """Read and check a chapter dict; ScriptError names the JSON path of the first problem."""
    _object(data, "the chapter", {"format", "version", *SETTINGS, "characters", "pages"})
    if data.get("format", FORMAT) != FORMAT or data.get("version", VERSION) != VERSION:
        raise script_error(Where(path="format"), f"format {data.get('format')!r} version {data.get('version')!r}",
                           expected=f'"format": "{FORMAT}", "version": {VERSION}', fix="Write this format.")
    settings = {}
    for key in SETTINGS:
        if key in data:
            settings[key] = _typed(data[key], key, float if "font" in key else (int if key == "seed" else str))
    characters = tuple(_character(entry, f"characters[{k}]") for k, entry in enumerate(_list(data, "characters")))
    pages = []
    for p, page in enumerate(_list(data, "pages", required=True)):
        _object(page, f"pages[{p}]", {"panels"})
        panels = tuple(_panel(entry, f"pages[{p}].panels[{k}]")
                       for k, entry in enumerate(_list(page, "panels", path=f"pages[{p}]", required=True)))
        pages.append(Page(panels))
    chapter = Chapter(pages=tuple(pages), characters=characters, **settings)
    check_chapter(chapter)
    return chapter


def _character(entry, path: str) -> Character:
    _object(entry, path, {"name", "references", "looks"})
    references = tuple(_typed(r, f"{path}.references[{k}]", str)
                       for k, r in enumerate(_list(entry, "references", path=path, required=True)))
    return Character(_typed(_get(entry, "name", path), f"{path}.name", str), references,
                     _typed(entry.get("looks", ""), f"{path}.looks", str))


def _panel(entry, path: str) -> Panel:
    _object(entry, path, {"caption", "shot", "size", "seed", "lines"})
    lines = tuple(_line(line, f"{path}.lines[{k}]") for k, line in enumerate(_list(entry, "lines", path=path)))
    optional = {key: _typed(entry.get(key), f"{path}.{key}", int if key == "seed" else str, none=True)
                for key in ("shot", "size", "seed")}
    return Panel(_typed(_get(entry, "caption", path), f"{path}.caption", str), lines, **optional)


def _line(entry, path: str) -> Dialogue | Narration:
    if isinstance(entry, Mapping) and "narration" in entry:
        _object(entry, path, {"narration"})
        return Narration(_typed(entry["narration"], f"{path}.narration", str))
    _object(entry, path, {"speaker", "text", "mode", "off"})
    return Dialogue(_typed(_get(entry, "speaker", path), f"{path}.speaker", str),
                    _typed(_get(entry, "text", path), f"{path}.text", str),
                    _typed(entry.get("mode"), f"{path}.mode", str, none=True),
                    _typed(entry.get("off", False), f"{path}.off", bool))


def _object(value, path: str, keys: set[str]) -> None:
    if not isinstance(value, Mapping):
        raise script_error(Where(path=path), f"got {type(value).__name__}", expected="a JSON object",
                           fix="Write an object {…} here.")
    for key in value:
        if key not in keys:
            raise script_error(Where(path=f"{path}.{key}"), f"unknown key '{key}'",
                               expected=f"one of {', '.join(sorted(keys))}",
                               fix=f"Delete or rename it.{did_you_mean(str(key), keys)}")


def _get(entry: Mapping, key: str, path: str):
    if key not in entry:
        raise script_error(Where(path=path), f'"{key}" is missing', expected=f'"{key}": …', fix=f'Add "{key}".')
    return entry[key]


def _list(entry: Mapping, key: str, *, path: str = "", required: bool = False) -> list:
    where = Where(path=f"{path}.{key}" if path else key)
    if key not in entry and not required:
        return []
    value = _get(entry, key, path or "the chapter")
    if not isinstance(value, list) or (required and not value):
        raise script_error(where, f"got {value!r}", expected="a non-empty list" if required else "a list",
                           fix=f'Write "{key}": […].')
    return value


def _typed(value, path: str, kind: type, *, none: bool = False):
    if value is None and none:
        return None
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise script_error(Where(path=path), f"got {value!r}", expected=KINDS[kind] + (" or null" if none else ""),
                           fix="Change the value.")
    return value
