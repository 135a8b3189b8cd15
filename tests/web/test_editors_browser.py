"""The canvas editors (Panel layout box editor, Page layout canvas) in a real browser against a live ComfyUI, in every
frontend mode of ``browser_harness.MODES`` — the host's bundled frontend, the newest frontend package on the classic
canvas, and Nodes 2.0 — and the layout input without the editor.

One server per mode (the module-scoped ``server`` fixture) runs every browser check of that mode, each a
``*_browser.mjs`` script (playwright-core + headless chromium) that saves screenshots in the test's tmp folder (the
path is logged; ``$DIFFSENSEI_WEB_ARTIFACTS`` gets a copy named ``<mode>_<file>``):

- ``panel_layout_browser.mjs``: boxes drawn with the mouse, the widget value, ``graphToPrompt()``, the JSON text,
  a save/reload round trip, the canvas following the width, reference thumbnails, and a run queued from the UI (the
  demo workflow on tiny random weights from ``scripts/demo_weights.py`` with the runner's demo-only nodes from
  ``scripts/demo_nodes.py``, in the bundled mode only — it takes minutes; in the other modes, or where those are
  missing, Load Image ×2 → Encode Characters → Apply ← Panel layout with
  the layout's LATENT into SaveLatent); with ``--workflows`` every example workflow loads with no missing node;
- ``graph_sync_browser.mjs``: draw/move/resize/delete, undo and redo (screen and value agree; a drag after undo
  brings nothing back) in both editors, an upstream image change, an unlink, the node menu;
- ``page_layout_browser.mjs``: the page canvas (panels, casts, presets);
- ``locale_browser.mjs``: Comfy.Locale zh, then ja: a translated node title, input tooltip and editor toolbars (on the
  host's frontend and on the newest one with Nodes 2.0).

The backend-only checks (a hand-written layout, bad layouts) run once, on the bundled mode's server.

Needs: ``node`` on PATH, ``tests/web/node_modules/playwright-core`` (``npm ci`` in tests/web), chromium at
``/usr/bin/chromium`` (or ``$CHROMIUM``), a ComfyUI checkout (``$COMFYUI_PATH`` or ``~/comfy/ComfyUI``) with a Python
that runs it (``$COMFYUI_PYTHON``, else a ``venv`` next to or inside the checkout, else the running Python), and for
the two newest-frontend modes ``python tests/web/install_frontend.py``. ``scripts/test.sh`` installs all of them.
When something is missing the module (or the mode) is skipped with one line saying what.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import types
from pathlib import Path

import pytest
from browser_harness import (
    MODES,
    REPO,
    SKIP_REASON,
    WEB_ENV,
    figure_png,
    mode_skip_reason,
    page_panel_latents,
    queue,
    run_check,
    serve,
)

from tests.support.skips import skip_or_fail

if SKIP_REASON:
    skip_or_fail("browser", f"browser tests skipped: {SKIP_REASON}", module=True)

# Stand-in reference images: red, blue (the small graph's characters) and yellow (the upstream change).
IMAGES = {"dss_character_a.png": (200, 40, 60), "dss_character_b.png": (40, 90, 200),
          "dss_character_c.png": (250, 220, 0)}
SMALL_IMAGES = ("dss_character_a.png", "dss_character_b.png")
DEMO_WORKFLOW = REPO / "workflows" / "diffsensei_demo.json"
DEMO_WEIGHTS = REPO / "scripts" / "demo_weights.py"
DEMO_NODES = REPO / "scripts" / "demo_nodes.py"
DEMO_MODEL = "diffsensei_demo"  # the demo workflow loads diffsensei_demo/image_generator
DEMO_PACK = """\
# Written by tests/web: the workflow runner's demo-only nodes, loaded into a test server. Not part of the pack.
import importlib.util

_spec = importlib.util.spec_from_file_location("diffsensei_demo_nodes_impl", {path!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
NODE_CLASS_MAPPINGS = _module.NODE_CLASS_MAPPINGS
"""


def _demo_available() -> bool:
    return DEMO_WORKFLOW.is_file() and DEMO_WEIGHTS.is_file() and DEMO_NODES.is_file()


@pytest.fixture(scope="module")
def demo_models(tmp_path_factory) -> Path | None:
    """The demo workflow's tiny random weights, built once for every mode's server (None without the demo files)."""
    if not _demo_available():
        return None
    models = tmp_path_factory.mktemp("demo_models") / DEMO_MODEL
    built = subprocess.run([WEB_ENV["comfy_python"], str(DEMO_WEIGHTS), str(models)], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, f"demo weights failed:\n{built.stderr[-3000:]}"
    return models


@pytest.fixture(scope="module", params=list(MODES))
def server(request, tmp_path_factory, demo_models):
    mode = request.param
    reason = mode_skip_reason(mode)
    if reason:
        skip_or_fail("browser", reason)
    base = tmp_path_factory.mktemp(f"web_{mode}")
    (base / "input").mkdir()
    names = dict(IMAGES)
    if demo_models:
        (base / "models" / "diffsensei").mkdir(parents=True)
        (base / "models" / "diffsensei" / DEMO_MODEL).symlink_to(demo_models, target_is_directory=True)
        (base / "custom_nodes" / "diffsensei_demo_nodes").mkdir(parents=True)
        (base / "custom_nodes" / "diffsensei_demo_nodes" / "__init__.py").write_text(
            DEMO_PACK.format(path=str(DEMO_NODES)))
        demo_images = [v["inputs"]["image"] for v in _load_demo().values() if v["class_type"] == "LoadImage"]
        names.update(zip(demo_images, list(IMAGES.values())[:2], strict=False))
    for name, colour in names.items():
        (base / "input" / name).write_bytes(figure_png(colour))
    with serve(base, mode) as running:
        yield types.SimpleNamespace(live=running, mode=mode, demo=demo_models is not None, url=running.url,
                                    base=running.base, log=running.log, get_json=running.get_json,
                                    post_json=running.post_json)


def _load_demo() -> dict:
    return json.loads(DEMO_WORKFLOW.read_text())


def _browser_graph(demo: bool) -> dict:
    """The graph the browser loads: the prompt, which node is the layout, and where to put the nodes."""
    if demo:
        prompt = _load_demo()
    else:
        prompt = {
            "1": {"class_type": "DiffSenseiPanelLayout",
                  "inputs": {"width": 768, "height": 512, "batch_size": 1, "layout": "{}"}},
            "2": {"class_type": "SaveLatent",
                  "inputs": {"samples": ["1", 1], "filename_prefix": "diffsensei_web/layout"}},
            "3": {"class_type": "LoadImage", "inputs": {"image": SMALL_IMAGES[0]}},
            "4": {"class_type": "LoadImage", "inputs": {"image": SMALL_IMAGES[1]}},
            "5": {"class_type": "DiffSenseiEncodeCharacters", "inputs": {
                "character_1": ["3", 0], "character_2": ["4", 0], "grayscale": True, "seed": 0, "magi_masking": True}},
            "6": {"class_type": "DiffSenseiApply",
                  "inputs": {"characters": ["5", 0], "layout": ["1", 0], "ip_scale": 0.6}},
        }
    ids = {}
    for node_id, node in prompt.items():
        ids.setdefault(node["class_type"], []).append(node_id)
    layout_id = ids["DiffSenseiPanelLayout"][0]
    prompt[layout_id]["inputs"]["layout"] = "{}"  # the browser draws the boxes
    positions, sizes = {}, {}
    for i, image_id in enumerate(ids["LoadImage"]):
        positions[image_id], sizes[image_id] = [20, 40 + 340 * i], [240, 320]
    positions[ids["DiffSenseiEncodeCharacters"][0]] = [300, 40]
    positions[layout_id], sizes[layout_id] = [620, 40], [480, 600]
    others = [node_id for node_id in prompt if node_id not in positions]
    for i, node_id in enumerate(others):
        positions[node_id] = [1140 + 360 * (i // 4), 40 + 220 * (i % 4)]
    return {"prompt": prompt, "layout_node": layout_id, "positions": positions, "sizes": sizes,
            "characters": len(ids["LoadImage"])}


def _layout_prompt(layout: str) -> dict:
    return {
        "1": {"class_type": "DiffSenseiPanelLayout",
              "inputs": {"width": 512, "height": 384, "batch_size": 1, "layout": layout}},
        "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 1], "filename_prefix": "diffsensei_api/layout"}},
    }


def test_box_editor_in_the_browser(server, tmp_path):
    # The demo workflow's run takes minutes on a CPU: once per host (bundled mode); the other modes queue the small
    # graph, which still carries the drawn layout from the UI to the backend.
    demo = server.demo and server.mode == "bundled"
    graph = _browser_graph(demo)
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    out = tmp_path / "browser"
    passed, result, report = run_check("panel_layout_browser.mjs", server, out, "--graph", str(tmp_path / "graph.json"),
                                       prefix=f"{server.mode}_")
    assert passed, report
    for screenshot in ("panel_layout.png", "panel_layout_node.png"):
        assert (out / screenshot).stat().st_size > 10_000, screenshot

    # The run queued from the UI reached the backend with the drawn layout and produced its output.
    entry = server.get_json(f"/history/{result['queued']}")[result["queued"]]
    assert entry["status"]["status_str"] == "success"
    assert entry["prompt"][2][graph["layout_node"]]["inputs"]["layout"] == result["layout"]
    layout = json.loads(result["layout"])
    assert (len(layout["characters"]), len(layout["dialogs"])) == (2, 1)
    if demo:
        images = [image for output in entry["outputs"].values() for image in output.get("images", [])]
        assert any(image["type"] == "output" for image in images), entry["outputs"]
        assert "2 characters, 1 dialog boxes" in server.log(), "Apply did not run with the drawn layout"
    else:
        assert list((server.base / "output" / "diffsensei_web").glob("layout_*.latent")), "SaveLatent wrote nothing"


def _example_workflows() -> list[Path]:
    """The UI-format workflows in workflows/ (nodes + links), not the API-format demo graph."""
    found = []
    for path in sorted((REPO / "workflows").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data:
            found.append(path)
    return found


def test_example_workflows_load_in_the_ui_with_no_missing_nodes(server, tmp_path):
    workflows = _example_workflows()
    assert workflows, "no UI workflows in workflows/"
    for image in (REPO / "workflows" / "assets").glob("*.png"):  # so the Load Image previews find their files
        shutil.copy(image, server.base / "input" / image.name)
    listing = tmp_path / "workflows.json"
    listing.write_text(json.dumps([{"name": p.name, "workflow": json.loads(p.read_text(encoding="utf-8"))}
                                   for p in workflows]))
    passed, result, report = run_check("panel_layout_browser.mjs", server, tmp_path / "browser", "--workflows",
                                       str(listing), prefix=f"{server.mode}_")
    assert passed, report + "\nreports:\n" + json.dumps(result.get("workflows", []), indent=1)[-4000:]
    assert [r["name"] for r in result["workflows"]] == [p.name for p in workflows]


def test_editors_follow_the_graph(server, tmp_path):
    out = tmp_path / "browser"
    passed, result, report = run_check("graph_sync_browser.mjs", server, out, timeout=300, prefix=f"{server.mode}_")
    assert passed, report
    if server.mode == "nodes2":
        assert result["frontend"]["vueNodes"], "the nodes2 mode did not run Nodes 2.0"
    for screenshot in ("sync_layout.png", "sync_page.png"):
        assert (out / screenshot).stat().st_size > 10_000, screenshot


def test_page_canvas_in_the_browser(server, tmp_path):
    out = tmp_path / "browser"
    passed, result, report = run_check("page_layout_browser.mjs", server, out, timeout=300, prefix=f"{server.mode}_")
    assert passed, report
    for screenshot in ("page_layout.png", "page_layout_node.png", "page_layout_cast.png"):
        assert (out / screenshot).stat().st_size > 10_000, screenshot
    casts = [panel.get("cast") for panel in json.loads(result["page"])["panels"]]
    assert casts == [[2, 1], None, None, [1]], casts
    if server.mode != "bundled":
        return
    # The page the browser drew (with its casts) runs through the backend: one latent per panel.
    assert page_panel_latents(server, result["page"], preset="custom (drawn panels)", page_size="A5 (148×210 mm)",
                              dpi=150, scale=256, folder="diffsensei_web") == 4


def _locale_expectations() -> dict:
    """What locale_browser.mjs must see in each language, from the pack's own locales files."""
    expect = {}
    for lang in ("zh", "ja"):
        folder = REPO / "locales" / lang
        node = json.loads((folder / "nodeDefs.json").read_text(encoding="utf-8"))["DiffSenseiPanelLayout"]
        texts = json.loads((folder / "main.json").read_text(encoding="utf-8"))["diffsensei"]
        layout, page = texts["layout"], texts["page"]
        expect[lang] = {
            "title": node["display_name"], "widthName": node["inputs"]["width"]["name"],
            "widthTip": node["inputs"]["width"]["tooltip"],
            "toolbar": {"characters": layout["character"], "dialogs": layout["dialog"], "snap": layout["snap"],
                        "delete": layout["delete"], "clear": layout["clear"], "json": layout["json"]},
            "pageToolbar": {"custom": page["custom"], "delete": page["delete"]},
            "status": layout["characters"]["other"].replace("{n}", "0"),
        }
    return expect


@pytest.mark.parametrize("server", ["bundled", "nodes2"], indirect=True)  # the host's frontend and the newest
def test_editor_texts_follow_the_locale(server, tmp_path):
    """Runs last in its mode: it switches the server's Comfy.Locale setting (and sets English back)."""
    (tmp_path / "expect.json").write_text(json.dumps(_locale_expectations(), ensure_ascii=False))
    out = tmp_path / "browser"
    passed, _, report = run_check("locale_browser.mjs", server, out, "--expect", str(tmp_path / "expect.json"),
                                  timeout=300, prefix=f"{server.mode}_")
    assert passed, report
    for lang in ("zh", "ja"):
        assert (out / f"locale_{lang}.png").stat().st_size > 10_000, lang


@pytest.mark.parametrize("server", ["bundled"], indirect=True)
def test_hand_written_layout_works_without_the_editor(server):
    layout = json.dumps({"characters": [[0.05, 0.1, 0.45, 0.95], {"box": [0.55, 0.1, 0.95, 0.95], "name": "B"}],
                         "dialogs": [[0.6, 0.0, 1.0, 0.3]]})
    entry = queue(server, _layout_prompt(layout))
    assert entry["status"]["status_str"] == "success", entry["status"]


@pytest.mark.parametrize("server", ["bundled"], indirect=True)
@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ('{"characters": [[0.1, 0.1, 0.5', "not valid JSON"),
        ('{"characters": [[0.1, 0.1, NaN, 0.5]]}', "NaN or infinite"),
        ('{"characters": [[10, 20, 300, 400]]}', "far outside 0..1"),
        (json.dumps({"characters": [[0.1, 0.1, 0.2, 0.2]] * 65}), "at most 64 boxes"),
    ],
)
def test_bad_layout_is_a_clear_node_error(server, layout, message):
    entry = queue(server, _layout_prompt(layout))
    assert entry["status"]["status_str"] == "error"
    errors = [data for event, data in entry["status"]["messages"] if event == "execution_error"]
    assert errors and errors[0]["node_type"] == "DiffSenseiPanelLayout", entry["status"]
    assert "Panel layout, input 'layout'" in errors[0]["exception_message"]
    assert message in errors[0]["exception_message"], errors[0]["exception_message"]
