"""Chapter script inputs from ComfyUI's input folder: script files, and the characters' reference images."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import folder_paths
import numpy as np
import torch
from PIL import Image, ImageOps

from ..diffsensei_core.chapter.grammar import parse_script
from ..diffsensei_core.chapter.script_json import chapter_from_json
from ..diffsensei_core.errors import DiffSenseiError, ScriptError

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


def read_chapter(text: str, script_file: str):
    """A script, or a chapter in JSON (text starting with '{')."""
    source = "script" if script_file == NO_FILE else "script_file"
    try:
        return chapter_from_json(text) if text.lstrip().startswith("{") else parse_script(text)
    except ScriptError as err:
        raise ScriptError(f"{NODE}, input '{source}': {err}", err.line, err.column) from None


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
    parts = []
    for character in chapter.characters:
        for name in character.references:
            try:
                stat = _input_path(name).stat()
                parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
            except (OSError, DiffSenseiError):
                parts.append(f"{name}:missing")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
