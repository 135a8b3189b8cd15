"""What the browser tests share: the requirement probe (node, playwright-core, chromium, a ComfyUI with a Python that
runs it), the frontend modes, a live server in one mode, queueing an API prompt, stand-in reference images, and
running one ``*_browser.mjs`` check with its result file and screenshots.

Frontend modes (``MODES``): ``bundled`` — the frontend the host ComfyUI ships (its own default renderer); ``newest``
— the newest ``comfyui-frontend-package`` (``install_frontend.py``) on the classic canvas; ``nodes2`` — the same with
Nodes 2.0 (setting ``Comfy.VueNodes.Enabled``).

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
import struct
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from install_frontend import static_root

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


# mode → (newest frontend package?, Nodes 2.0 setting: True, False, or None = the frontend's own default)
MODES = {"bundled": (False, None), "newest": (True, False), "nodes2": (True, True)}


def mode_skip_reason(mode: str) -> str | None:
    """Why ``mode`` cannot run here, or None."""
    if MODES[mode][0] and static_root() is None:
        return (f"{mode}: the newest frontend package is not installed (run: python "
                f"{Path(__file__).with_name('install_frontend.py').relative_to(REPO)})")
    return None


@contextlib.contextmanager
def serve(base: Path, mode: str = "bundled") -> Iterator:
    """A live ComfyUI with the pack over ``base`` (its input, output ... folders) in frontend ``mode``; fails the test
    if it cannot start."""
    newest, vue_nodes = MODES[mode]
    settings = {"Comfy.TutorialCompleted": True}
    if vue_nodes is not None:
        settings["Comfy.VueNodes.Enabled"] = vue_nodes
    (base / "user" / "default").mkdir(parents=True, exist_ok=True)
    (base / "user" / "default" / "comfy.settings.json").write_text(json.dumps(settings))
    extra = ("--front-end-root", str(static_root())) if newest else ()
    root, python = WEB_ENV["comfy_root"], WEB_ENV["comfy_python"]
    try:
        with live_server.start(root, base, python=python, extra_args=extra) as running:
            yield running
    except live_server.ServerStartError as err:
        pytest.fail(str(err))


def figure_png(colour: tuple[int, int, int], width: int = 96, height: int = 128) -> bytes:
    """A small PNG of a coloured stick figure (head and body) on white, as a stand-in reference image."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            head = (x - width / 2) ** 2 + (y - height * 0.25) ** 2 <= (width * 0.18) ** 2
            body = abs(x - width / 2) <= width * 0.22 and height * 0.42 <= y <= height * 0.95
            row += bytes(colour if head or body else (250, 250, 250))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(
        b"IEND", b"")


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


def page_panel_latents(server, page_json: str, *, preset: str, page_size: str, dpi: int, scale: int,
                       folder: str) -> int:
    """Run a page the browser drew through the backend (Page layout → Page → panel layouts → one SaveLatent per
    panel, into ``output/<folder>``); the number of latents written. Fails with the prompt's status on an error."""
    prompt = {
        "1": {"class_type": "DiffSenseiPageLayout", "inputs": {
            "preset": preset, "page_size": page_size, "dpi": dpi, "direction": "rtl",
            "margin_mm": 8.0, "gutter_mm": 3.0, "border_mm": 0.5, "page": page_json}},
        "2": {"class_type": "DiffSenseiPagePanels", "inputs": {"page": ["1", 0], "scale": scale, "panel_index": -1,
                                                               "batch_size": 1}},
        "3": {"class_type": "SaveLatent", "inputs": {"samples": ["2", 1], "filename_prefix": f"{folder}/page"}},
    }
    entry = queue(server, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    return len(list((server.base / "output" / folder).glob("page_*.latent")))


def run_check(script: str, server, out: Path, *args: str, timeout: float = 400,
              prefix: str = "") -> tuple[bool, dict, str]:
    """Run ``tests/web/<script>`` against ``server`` with its results in ``out``.

    Returns (passed, DIR/result.json as a dict, a failure report with the script's output and console). Screenshots
    stay in ``out``; ``$DIFFSENSEI_WEB_ARTIFACTS`` gets a copy, each name after ``prefix``.
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
            shutil.copy(png, Path(artifacts) / f"{prefix}{png.name}")
    report = (
        f"{script} failed (rc {run.returncode}); screenshots in {out}\nstdout:\n{run.stdout[-3000:]}\n"
        f"stderr:\n{run.stderr[-3000:]}\nconsole:\n" + "\n".join(result.get("console", [])[-20:])
        + f"\nserver log:\n{server.log()[-3000:]}"
    )
    return run.returncode == 0 and bool(result.get("ok")), result, report
