"""The Panel layout box editor in a real browser against a live ComfyUI, and the layout input without the editor.

The browser part runs ``panel_layout_browser.mjs`` (playwright-core + headless chromium): it draws boxes with the
mouse, checks the widget value, ``graphToPrompt()``, a save/reload round trip and a run queued from the UI, and
saves screenshots in this test's tmp folder (the path is logged; ``$DIFFSENSEI_WEB_ARTIFACTS`` gets a copy).

The queued graph is the demo workflow (``workflows/diffsensei_demo.json``: the whole DiffSensei graph on tiny
random weights from ``headless/demo_weights.py``, with the runner's demo-only nodes from ``headless/demo_nodes.py``
loaded into the server as a throw-away pack). Where those files are missing, a smaller graph is queued instead:
Load Image ×2 → Encode Characters → Apply ← Panel layout, with the layout's LATENT into SaveLatent (only that
branch runs), which still proves the UI → backend path of the layout.

Needs: ``node`` on PATH, ``tests/web/node_modules/playwright-core`` (``npm ci`` in tests/web), chromium at
``/usr/bin/chromium`` (or ``$CHROMIUM``), and a ComfyUI checkout (``$COMFYUI_PATH`` or ``~/comfy/ComfyUI``) with a
Python that runs it: ``$COMFYUI_PYTHON``, else a ``venv`` next to or inside the checkout, else the running Python.
``scripts/test.sh`` installs the first two. When something is missing the module is skipped with one line
saying what (the probe, the server and the script runner are in ``browser_harness.py``).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import types
import zlib
from pathlib import Path

import pytest
from browser_harness import REPO, SKIP_REASON, WEB_ENV, queue, run_check, serve

from tests.support.skips import skip_or_fail

if SKIP_REASON:
    skip_or_fail("browser", f"browser tests skipped: {SKIP_REASON}", module=True)

COLOURS = ((200, 40, 60), (40, 90, 200))
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


def _figure_png(colour: tuple[int, int, int], width: int = 96, height: int = 128) -> bytes:
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


def _demo_available() -> bool:
    return DEMO_WORKFLOW.is_file() and DEMO_WEIGHTS.is_file() and DEMO_NODES.is_file()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("web_server")
    (base / "input").mkdir()
    demo = _demo_available()
    if demo:
        models = base / "models" / "diffsensei" / DEMO_MODEL
        built = subprocess.run([WEB_ENV["comfy_python"], str(DEMO_WEIGHTS), str(models)], capture_output=True,
                               text=True, timeout=300)
        assert built.returncode == 0, f"demo weights failed:\n{built.stderr[-3000:]}"
        (base / "custom_nodes" / "diffsensei_demo_nodes").mkdir(parents=True)
        (base / "custom_nodes" / "diffsensei_demo_nodes" / "__init__.py").write_text(
            DEMO_PACK.format(path=str(DEMO_NODES)))
        names = [v["inputs"]["image"] for v in _load_demo().values() if v["class_type"] == "LoadImage"]
    else:
        names = list(SMALL_IMAGES)
    for name, colour in zip(names, COLOURS, strict=False):
        (base / "input" / name).write_bytes(_figure_png(colour))
    with serve(base) as running:
        yield types.SimpleNamespace(live=running, demo=demo, url=running.url, base=running.base,
                                    log=running.log, get_json=running.get_json, post_json=running.post_json)


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
    graph = _browser_graph(server.demo)
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    out = tmp_path / "browser"
    passed, result, report = run_check("panel_layout_browser.mjs", server, out, "--graph", str(tmp_path / "graph.json"))
    assert passed, report
    for screenshot in ("panel_layout.png", "panel_layout_node.png"):
        assert (out / screenshot).stat().st_size > 10_000, screenshot

    # The run queued from the UI reached the backend with the drawn layout and produced its output.
    entry = server.get_json(f"/history/{result['queued']}")[result["queued"]]
    assert entry["status"]["status_str"] == "success"
    assert entry["prompt"][2][graph["layout_node"]]["inputs"]["layout"] == result["layout"]
    layout = json.loads(result["layout"])
    assert (len(layout["characters"]), len(layout["dialogs"])) == (2, 1)
    if server.demo:
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
                                       str(listing))
    assert passed, report + "\nreports:\n" + json.dumps(result.get("workflows", []), indent=1)[-4000:]
    assert [r["name"] for r in result["workflows"]] == [p.name for p in workflows]


def test_hand_written_layout_works_without_the_editor(server):
    layout = json.dumps({"characters": [[0.05, 0.1, 0.45, 0.95], {"box": [0.55, 0.1, 0.95, 0.95], "name": "B"}],
                         "dialogs": [[0.6, 0.0, 1.0, 0.3]]})
    entry = queue(server, _layout_prompt(layout))
    assert entry["status"]["status_str"] == "success", entry["status"]


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
