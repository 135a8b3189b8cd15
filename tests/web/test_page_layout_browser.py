"""The page canvas of DiffSensei: Page layout in a real browser against a live ComfyUI (``page_layout_browser.mjs``):
panels drawn with the mouse and casts typed for them land in the node's ``page`` widget and the API prompt, and the
backend accepts them.

Needs the same as the Panel layout browser test (node, playwright-core in tests/web, chromium, ComfyUI; probed in
``browser_harness.py``); skipped with one line when something is missing. Screenshots go to this test's tmp folder
(``$DIFFSENSEI_WEB_ARTIFACTS`` gets a copy).
"""

from __future__ import annotations

import json

import pytest
from browser_harness import SKIP_REASON, queue, run_check, serve

from tests.support.skips import skip_or_fail

if SKIP_REASON:
    skip_or_fail("browser", f"browser tests skipped: {SKIP_REASON}", module=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("web_page_server")
    (base / "input").mkdir()
    with serve(base) as running:
        yield running


def test_page_canvas_in_the_browser(server, tmp_path):
    out = tmp_path / "browser"
    passed, result, report = run_check("page_layout_browser.mjs", server, out, timeout=300)
    assert passed, report
    for screenshot in ("page_layout.png", "page_layout_node.png", "page_layout_cast.png"):
        assert (out / screenshot).stat().st_size > 10_000, screenshot
    casts = [panel.get("cast") for panel in json.loads(result["page"])["panels"]]
    assert casts == [[2, 1], None, None, [1]], casts

    # The page the browser drew (with its casts) runs through the backend: one latent per panel.
    prompt = {
        "1": {"class_type": "DiffSenseiPageLayout", "inputs": {
            "preset": "custom (drawn panels)", "page_size": "A5 (148×210 mm)", "dpi": 150, "direction": "rtl",
            "margin_mm": 8.0, "gutter_mm": 3.0, "border_mm": 0.5, "page": result["page"]}},
        "2": {"class_type": "DiffSenseiPagePanels", "inputs": {"page": ["1", 0], "scale": 256, "panel_index": -1,
                                                               "batch_size": 1}},
        "3": {"class_type": "SaveLatent", "inputs": {"samples": ["2", 1], "filename_prefix": "diffsensei_web/page"}},
    }
    entry = queue(server, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(list((server.base / "output" / "diffsensei_web").glob("page_*.latent"))) == 4
