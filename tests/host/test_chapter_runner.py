"""The headless chapter runner end to end on the demo weights: the example chapter rendered, composed, lettered and
exported; rendered again with nothing recomputed (no model even loaded); and after a one-line edit, exactly the
edited panel recomputed. Each run is a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "workflows" / "chapters" / "the_late_bell.txt"
EDIT = ("Mio: It rings at eight. Every day.", "Mio: It rings at eight. Always.")


def run(comfy, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=1800, cwd=str(REPO),
                            env={**os.environ, "COMFYUI_PATH": str(comfy.root)})
    assert result.returncode == 0, result.stderr[-6000:]
    return result


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted((out / "panels").glob("*.png"))}


def counts(log: str) -> tuple[int, int]:
    match = re.search(r"done: (\d+) panel\(s\) rendered, (\d+) up to date", log)
    assert match, log[-3000:]
    return int(match[1]), int(match[2])


def test_render_resume_and_recompute_exactly_the_edited_panel(comfy, tmp_path):
    script, out = tmp_path / "story.txt", tmp_path / "out"
    script.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")

    first = run(comfy, "scripts/run_workflow.py", "--chapter", str(script), "--demo", "--output", str(out))
    assert counts(first.stderr) == (11, 0)
    assert re.search(r"\[#+\] 11/11 panels \(0 up to date\), [\d.]+ s/panel, ETA 0:00:00", first.stderr)
    written = [Path(line) for line in first.stdout.splitlines()]
    assert [p.suffix for p in written] == [".png"] * 3 + [".cbz", ".pdf"] and all(p.is_file() for p in written)
    with zipfile.ZipFile(out / "The Late Bell.cbz") as archive:
        info = archive.read("ComicInfo.xml").decode()
    assert "<Title>The Late Bell</Title>" in info and "<PageCount>3</PageCount>" in info
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert len(plan["pages"]) == 3 and (out / "pages" / "page_002.json").is_file()
    assert first.stderr.count("loading DiffSensei UNet") <= 2, "each model loaded once (the demo checkpoint too)"
    before = snapshot(out)
    assert len(before) == 11

    again = run(comfy, "scripts/run_chapter.py", str(script), "--demo", "--output", str(out))
    assert counts(again.stderr) == (0, 11)
    assert "loading DiffSensei UNet" not in again.stderr, "nothing to render: no model is loaded"
    assert snapshot(out) == before

    script.write_text(script.read_text(encoding="utf-8").replace(*EDIT), encoding="utf-8")
    edited = run(comfy, "scripts/run_chapter.py", str(script), "--demo", "--output", str(out))
    assert counts(edited.stderr) == (1, 10)
    after = snapshot(out)
    changed = [name for name in before if after[name] != before[name]]
    assert changed == ["page002_panel01.png"], changed
