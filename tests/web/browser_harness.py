"""What the browser tests (``test_panel_layout_browser.py``, ``test_page_layout_browser.py``) share: the requirement
probe (node, playwright-core, chromium, a ComfyUI with a Python that runs it), a live server, queueing an API prompt,
and running one ``*_browser.mjs`` check with its result file and screenshots.

Imported by the test modules by name (pytest puts this folder on ``sys.path``: it has no ``__init__.py``). Not a
conftest.py: tests/host imports its own ``conftest`` by name, which a second one would shadow when both folders run
in one session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

log = logging.getLogger("diffsensei")
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def load_by_path(name: str, path: Path):
    """Import ``path`` as module ``name`` (once). By path: with ComfyUI on sys.path (host tests in the same run),
    ``tests`` and ``scripts`` may be its packages."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


live_server = load_by_path("diffsensei_live_server", REPO / "tests" / "support" / "live_server.py")
_find = load_by_path("diffsensei_find_comfyui", REPO / "headless" / "find_comfyui.py")


def _comfy_python(root: Path) -> str:
    if os.environ.get("COMFYUI_PYTHON"):
        return os.environ["COMFYUI_PYTHON"]
    for candidate in (root.parent / "venv", root / "venv", root / ".venv"):
        if (candidate / "bin" / "python").is_file():
            return str(candidate / "bin" / "python")
    return sys.executable


def _requirements() -> tuple[dict, str | None]:
    node = shutil.which("node")
    if node is None:
        return {}, "node (Node.js) not found on PATH"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).is_file():
        return {}, f"chromium not found at {chromium} (apt-get install chromium, or set CHROMIUM)"
    if not (HERE / "node_modules" / "playwright-core" / "package.json").is_file():
        return {}, "playwright-core not installed in tests/web (run: npm ci --prefix tests/web)"
    root = _find.find_comfyui()
    if root is None:
        return {}, "ComfyUI not found (set COMFYUI_PATH to a ComfyUI checkout)"
    python = _comfy_python(root)
    probe = subprocess.run([python, "-c", "import torch, aiohttp, yaml"], capture_output=True, text=True)
    if probe.returncode:
        return {}, f"{python} cannot run ComfyUI at {root} (set COMFYUI_PYTHON to ComfyUI's Python)"
    return {"node": node, "chromium": chromium, "comfy_root": root, "comfy_python": python}, None


# {"node", "chromium", "comfy_root", "comfy_python"}, or {} with the reason the browser tests must be skipped.
WEB_ENV, SKIP_REASON = _requirements()


@contextlib.contextmanager
def serve(base: Path) -> Iterator:
    """A live ComfyUI with the pack over ``base`` (its input, output ... folders); fails the test if it cannot start."""
    try:
        with live_server.start(WEB_ENV["comfy_root"], base, python=WEB_ENV["comfy_python"]) as running:
            yield running
    except live_server.ServerStartError as err:
        pytest.fail(str(err))


def queue(server, prompt: dict, timeout: float = 60) -> dict:
    """POST an API prompt and wait for its /history entry."""
    answer = server.post_json("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})
    prompt_id = answer["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = server.get_json(f"/history/{prompt_id}").get(prompt_id)
        if entry and (entry["status"].get("completed") or entry["status"].get("status_str") == "error"):
            return entry
        time.sleep(0.2)
    raise AssertionError(f"prompt {prompt_id} did not finish; log:\n{server.log()[-3000:]}")


def run_check(script: str, server, out: Path, *args: str, timeout: float = 400) -> tuple[bool, dict, str]:
    """Run ``tests/web/<script>`` against ``server`` with its results in ``out``.

    Returns (passed, DIR/result.json as a dict, a failure report with the script's output and console). Screenshots
    stay in ``out``; ``$DIFFSENSEI_WEB_ARTIFACTS`` gets a copy.
    """
    out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [WEB_ENV["node"], str(HERE / script), "--url", server.url, "--out", str(out), "--chromium", WEB_ENV["chromium"],
         *args],
        cwd=HERE, capture_output=True, text=True, timeout=timeout,
    )
    result_path = out / "result.json"
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    log.info("%s screenshots: %s", script, ", ".join(str(p) for p in sorted(out.glob("*.png"))))
    artifacts = os.environ.get("DIFFSENSEI_WEB_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        for png in out.glob("*.png"):
            shutil.copy(png, Path(artifacts) / png.name)
    report = (
        f"{script} failed (rc {run.returncode}); screenshots in {out}\nstdout:\n{run.stdout[-3000:]}\n"
        f"stderr:\n{run.stderr[-3000:]}\nconsole:\n" + "\n".join(result.get("console", [])[-20:])
        + f"\nserver log:\n{server.log()[-3000:]}"
    )
    return run.returncode == 0 and bool(result.get("ok")), result, report
