"""Chapter script inputs from ComfyUI's input folder: script files, and the characters' reference images."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import folder_paths
import numpy as np
import torch
from PIL import Image, ImageOps

from ...diffsensei_core.chapter.grammar import parse_script
from ...diffsensei_core.chapter.planned import FORMAT as PLAN_FORMAT
from ...diffsensei_core.chapter.planned import ChapterPlan, plan_from_dict
from ...diffsensei_core.chapter.script import Chapter
from ...diffsensei_core.chapter.script_json import chapter_from_json
from ...diffsensei_core.errors import DiffSenseiError, LayoutError, ScriptError

NO_FILE = "(none)"
SCRIPT_EXTENSIONS = (".txt", ".json")
NODE = "DiffSensei: Chapter script"


def script_files() -> list[str]:
    """Script (.txt) and chapter JSON (.json) files under the input folder, relative, '/'-separated."""
    root = Path(folder_paths.get_input_directory())
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.lower().endswith(SCRIPT_EXTENSIONS):
                found.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(found)


def _input_path(name: str) -> Path:
    """``name`` inside the input folder; a name that leads outside it is refused."""
    root = Path(folder_paths.get_input_directory()).resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise DiffSenseiError(f"{NODE}: '{name}' lies outside the input folder {root}; expected a file inside it. "
                              "Copy the file into the input folder.")
    return path


def script_text(script: str, script_file: str, *, missing_ok: bool = False) -> str:
    """The script: the text, or the chosen file's contents."""
    if script_file == NO_FILE:
        return script
    path = _input_path(script_file)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        if missing_ok:
            return ""
        raise DiffSenseiError(f"{NODE}, input 'script_file': cannot read {path} ({err}); expected a UTF-8 text "
                              "file in the input folder. Pick another file or (none).") from None


def read_chapter(text: str, script_file: str) -> Chapter | ChapterPlan:
    """A script; or, for text starting with '{', a chapter in JSON or an already planned chapter (the 'plan' output,
    perhaps edited), which is used as it is."""
    source = "script" if script_file == NO_FILE else "script_file"
    try:
        if not text.lstrip().startswith("{"):
            return parse_script(text)
        data = json.loads(text)
        if isinstance(data, dict) and data.get("format") == PLAN_FORMAT:
            return plan_from_dict(data)
        return chapter_from_json(text)
    except (ScriptError, LayoutError) as err:
        raise type(err)(f"{NODE}, input '{source}': {err}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ScriptError(f"{NODE}, input '{source}': the chapter JSON cannot be read ({err!r}); expected a script, "
                          "a chapter JSON or a plan from the 'plan' output. Fix the text.") from None


def load_reference(name: str, character: str) -> torch.Tensor:
    """A reference image from the input folder as (1, h, w, 3) float 0..1."""
    path = _input_path(name)
    if not path.is_file():
        raise DiffSenseiError(
            f"{NODE}: the reference image '{name}' of {character} is not in the input folder "
            f"{folder_paths.get_input_directory()}; expected the file there. Copy it in, or fix the name in the "
            "script.")
    with Image.open(path) as image:
        rgb = ImageOps.exif_transpose(image).convert("RGB")
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0)[None]


def reference_fingerprint(text: str) -> str:
    """Size and modification time of every reference image the script names ('' when it does not read)."""
    try:
        chapter = read_chapter(text, NO_FILE)
    except DiffSenseiError:
        return ""
    names = [name for c in chapter.characters for name in (c["references"] if isinstance(c, dict) else c.references)]
    parts = []
    for name in names:
        try:
            stat = _input_path(name).stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        except (OSError, DiffSenseiError):
            parts.append(f"{name}:missing")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
