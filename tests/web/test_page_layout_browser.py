"""The page canvas of DiffSensei: Page layout in a real browser against a live ComfyUI (``page_layout_browser.mjs``):
panels drawn with the mouse land in the node's ``page`` widget and the API prompt, and the backend accepts them.

Needs the same as the Panel layout browser test (node, playwright-core in tests/web, chromium, ComfyUI); skipped
with one line when something is missing. Screenshots go to this test's tmp folder (``$DIFFSENSEI_WEB_ARTIFACTS``
gets a copy).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

log = logging.getLogger("diffsensei")
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


# The panel editor's browser test module holds the requirement probe and the server fixture's recipe.
panel_test = _load("diffsensei_panel_browser_test", HERE / "test_panel_layout_browser.py")
live_server = panel_test.live_server
WEB_ENV = panel_test.WEB_ENV
SCRIPT = HERE / "page_layout_browser.mjs"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("web_page_server")
    (base / "input").mkdir()
    try:
        with live_server.start(WEB_ENV["comfy_root"], base, python=WEB_ENV["comfy_python"]) as running:
            yield running
    except live_server.ServerStartError as err:
        pytest.fail(str(err))


def _queue(server, prompt: dict) -> dict:
    answer = server.post_json("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})
    prompt_id = answer["prompt_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entry = server.get_json(f"/history/{prompt_id}").get(prompt_id)
        if entry and (entry["status"].get("completed") or entry["status"].get("status_str") == "error"):
            return entry
        time.sleep(0.2)
    raise AssertionError(f"prompt {prompt_id} did not finish; log:\n{server.log()[-3000:]}")


def test_page_canvas_in_the_browser(server, tmp_path):
    out = tmp_path / "browser"
    out.mkdir()
    run = subprocess.run([WEB_ENV["node"], str(SCRIPT), "--url", server.url, "--out", str(out), "--chromium",
                          WEB_ENV["chromium"]], cwd=HERE, capture_output=True, text=True, timeout=300)
    result_path = out / "result.json"
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    log.info("Page canvas screenshot: %s", out / "page_layout.png")
    artifacts = os.environ.get("DIFFSENSEI_WEB_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        for png in out.glob("*.png"):
            shutil.copy(png, Path(artifacts) / png.name)
    assert run.returncode == 0 and result.get("ok"), (
        f"browser check failed (rc {run.returncode}); screenshots in {out}\nstdout:\n{run.stdout[-3000:]}\n"
        f"stderr:\n{run.stderr[-3000:]}\nconsole:\n" + "\n".join(result.get("console", [])[-20:])
    )
    assert (out / "page_layout.png").stat().st_size > 10_000

    # The page the browser drew runs through the backend: one latent per panel.
    prompt = {
        "1": {"class_type": "DiffSenseiPageLayout", "inputs": {
            "preset": "custom (drawn panels)", "page_size": "A5 (148×210 mm)", "dpi": 150, "direction": "rtl",
            "margin_mm": 8.0, "gutter_mm": 3.0, "border_mm": 0.5, "page": result["page"]}},
        "2": {"class_type": "DiffSenseiPagePanels", "inputs": {"page": ["1", 0], "scale": 256, "panel_index": -1,
                                                               "batch_size": 1}},
        "3": {"class_type": "SaveLatent", "inputs": {"samples": ["2", 1], "filename_prefix": "diffsensei_web/page"}},
    }
    entry = _queue(server, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(list((server.base / "output" / "diffsensei_web").glob("page_*.latent"))) == 4
