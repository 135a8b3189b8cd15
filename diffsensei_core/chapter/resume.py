"""The resume cache of a rendered chapter: which panel images in an output folder are still up to date.

Each panel's image is stored as ``panels/page001_panel01.png`` with a key in ``panels/manifest.json``: the SHA-256
of everything that decides the picture — the panel's plan (its script entry, boxes, cast, prompt, seed, shape) and
the run's context (sampler settings, negative prompt, the identity of the model files and of the cast's reference
images, the pack's version). A panel whose key is unchanged and whose image exists is not rendered again; after an
edit, exactly the panels whose keys changed are. Files are replaced atomically, so an interrupted run leaves every
finished panel usable.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from .planned import PlannedPanel

PANELS_DIR = "panels"
MANIFEST = "manifest.json"
SMALL_FILE = 64 * 2**20
"""Files up to this size are identified by their contents, larger ones by size and modification time."""


def file_identity(path: str | os.PathLike) -> str:
    """A string that changes when the file does: its SHA-256 when small, else its size and modification time."""
    stat = os.stat(path)
    if stat.st_size <= SMALL_FILE:
        with open(path, "rb") as handle:
            return "sha256:" + hashlib.sha256(handle.read()).hexdigest()
    return f"size:{stat.st_size}:mtime:{stat.st_mtime_ns}"


def folder_identity(folder: str | os.PathLike) -> dict[str, str]:
    """``file_identity`` of every file under ``folder`` (relative names, sorted)."""
    root = Path(folder)
    return {p.relative_to(root).as_posix(): file_identity(p) for p in sorted(root.rglob("*")) if p.is_file()}


def panel_key(panel: PlannedPanel, context: Mapping) -> str:
    """The panel's cache key: SHA-256 of its plan and ``context`` (JSON-serialisable) in canonical JSON."""
    data = {"panel": panel.key_data(), "context": context}
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def panel_name(panel: PlannedPanel) -> str:
    return f"page{panel.page:03d}_panel{panel.number:02d}"


class ResumeCache:
    """Panel images and their keys under ``<folder>/panels``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder) / PANELS_DIR
        path = self.folder / MANIFEST
        self.keys: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def image_path(self, panel: PlannedPanel) -> Path:
        return self.folder / f"{panel_name(panel)}.png"

    def is_current(self, panel: PlannedPanel, key: str) -> bool:
        return self.keys.get(panel_name(panel)) == key and self.image_path(panel).is_file()

    def store(self, panel: PlannedPanel, key: str, png: bytes) -> Path:
        """Write a rendered panel (PNG bytes) into the cache (atomically) and record its key."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.image_path(panel)
        staging = target.with_name(f".{target.name}.tmp")
        staging.write_bytes(png)
        os.replace(staging, target)
        self.keys[panel_name(panel)] = key
        staging = self.folder / f".{MANIFEST}.tmp"
        staging.write_text(json.dumps(self.keys, sort_keys=True, indent=1), encoding="utf-8")
        os.replace(staging, self.folder / MANIFEST)
        return target
