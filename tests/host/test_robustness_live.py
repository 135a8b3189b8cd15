"""The bad-input table's live subset against a real ComfyUI server on 127.0.0.1 (issue 7).

The server runs the pack plus the demo-only helper nodes of ``headless/demo_nodes.py``, loaded from a throw-away
custom node folder of the test (never part of the pack's registration), on the demo release built into its
``models/diffsensei``. Every case posts the bad prompt to ``/prompt``: it must come back as a 400 that names the
input, or run and end in the pack's node error; the next good prompt must then succeed. At the end the server still
answers, no pickle ran, and every traceback in its log belongs to one of those expected node errors.

The helpers here (server with the demo nodes, posting and waiting, log scan) are shared with test_soak.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, live_server
from test_robustness import CASES, OUR_ERRORS, check_outcome, demo_prompt

from headless.demo_weights import build_demo_release

PROMPT_SECONDS = 180
DEMO_NODES_PACK = "dss_test_demo_nodes"
DEMO_NODES_INIT = '''"""Test-only: the demo helper nodes of the repo's headless/demo_nodes.py, loaded by path."""
import importlib.util

_spec = importlib.util.spec_from_file_location("dss_test_demo_nodes_impl", {path!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
NODE_CLASS_MAPPINGS = dict(_module.NODE_CLASS_MAPPINGS)
'''
EXPECTED_TRACEBACK_END = re.compile(rf"^\S*\b({'|'.join(OUR_ERRORS)}): ")
STARTUP_LOG_SIZE: dict[int, int] = {}
ALARMS = ("Error handling request", "Exception in callback", "Task exception was never retrieved",
          "Exception in thread")




@contextlib.contextmanager
def demo_server(comfy_root: Path, base: Path) -> Iterator:
    """A live server with the pack, the demo nodes and the demo release at ``diffsensei/demo/image_generator``."""
    models = base / "models" / "diffsensei"
    build_demo_release(models / "demo")
    pack = base / "custom_nodes" / DEMO_NODES_PACK
    pack.mkdir(parents=True, exist_ok=True)
    (pack / "__init__.py").write_text(DEMO_NODES_INIT.format(path=str(REPO / "scripts" / "demo_nodes.py")))
    with live_server.start(comfy_root, base) as server:
        info = server.get_json("/object_info/DiffSenseiDemoConditioning")
        assert "DiffSenseiDemoConditioning" in info, f"the demo nodes did not load:\n{server.log()[-3000:]}"
        STARTUP_LOG_SIZE[server.port] = len(server.log())
        yield server


def log_since_startup(server) -> str:
    """The server's log after it came up (ComfyUI's own start-up may log import tracebacks of optional nodes)."""
    return server.log()[STARTUP_LOG_SIZE.get(server.port, 0) :]


def post_prompt(server, prompt: dict, client_id: str = "dss-robustness") -> tuple[int, dict]:
    """POST /prompt; ``(HTTP status, body)``. A refused prompt is a 400 with ``error`` and ``node_errors``."""
    request = urllib.request.Request(server.url + "/prompt", method="POST",
                                     data=json.dumps({"prompt": prompt, "client_id": client_id}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_for_history(server, prompt_id: str, timeout: float = PROMPT_SECONDS) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = server.get_json(f"/history/{prompt_id}")
        entry = history.get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            return entry
        if server.process.poll() is not None:
            pytest.fail(f"the server exited:\n{server.log()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"prompt {prompt_id} did not finish in {timeout:.0f} s:\n{server.log()[-3000:]}")


def run_live(server, prompt: dict) -> dict:
    """Run a prompt on the server; the result in test_robustness.Session.run's shape."""
    status, body = post_prompt(server, prompt)
    if status != 200:
        assert status == 400, (status, body)
        return {"invalid": (body.get("error"), body.get("node_errors", {}))}
    entry = wait_for_history(server, body["prompt_id"])
    messages = [tuple(m) for m in entry["status"].get("messages", [])]
    return {"success": entry["status"]["status_str"] == "success", "messages": messages,
            "errors": [data for event, data in messages if event == "execution_error"],
            "outputs": entry.get("outputs", {})}


def unexpected_log_trouble(log: str) -> list[str]:
    """Tracebacks that are not one of the pack's expected node errors, and server-side alarms, from a log."""
    lines = log.splitlines()
    found = []
    for i, line in enumerate(lines):
        if any(alarm in line for alarm in ALARMS):
            found.append(line)
        if not line.startswith("Traceback (most recent call last)"):
            continue
        end = i + 1
        while end < len(lines) and (not lines[end] or lines[end][0].isspace()):
            end += 1
        last = lines[end] if end < len(lines) else ""
        announced = i > 0 and "!!! Exception during processing !!!" in lines[i - 1]
        if not (announced and EXPECTED_TRACEBACK_END.match(last)):
            found.append("\n".join(lines[max(i - 1, 0) : end + 1]))
    return found


def saved_latent(server, outputs: dict, node: str):
    from safetensors.torch import load_file

    entry = outputs[node]["latents"][0]
    return load_file(str(server.base / "output" / entry["subfolder"] / entry["filename"]))["latent_tensor"]


# ---------------------------------------------------------------------------------------------------- tests

LIVE_CASES = [case for case in CASES if case.live]


def running_demo_server(comfy, tmp_path_factory, name: str):
    """Body of a module-scoped fixture: a live demo server, or a test failure saying why it did not start."""
    try:
        with demo_server(comfy.root, tmp_path_factory.mktemp(name)) as running:
            yield running
    except live_server.ServerStartError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def server(comfy, tmp_path_factory):
    yield from running_demo_server(comfy, tmp_path_factory, "robust_server")


@pytest.fixture(scope="module")
def good_prompt():
    seeds = iter(range(1000, 2000))

    def run(server):
        result = run_live(server, demo_prompt(seed=next(seeds), steps=1))
        assert result.get("success"), f"the good prompt failed: {result}\n{server.log()[-3000:]}"

    return run


@pytest.mark.parametrize("case", LIVE_CASES, ids=[c.id for c in LIVE_CASES])
def test_bad_input_through_the_server(server, good_prompt, case):
    models = server.base / "models" / "diffsensei"
    result = run_live(server, case.prompt(models))
    check_outcome(case, result)
    if case.side_effect is not None:
        assert not (models / case.side_effect).exists(), f"{case.id}: the pickle's code ran in the server"
    good_prompt(server)


def test_empty_prompt_gets_a_400_and_the_server_goes_on(server, good_prompt):
    status, body = post_prompt(server, {})
    assert status == 400 and body["error"]["type"] == "prompt_no_outputs", (status, body)
    good_prompt(server)


def test_the_log_has_only_the_expected_node_errors(server):
    # last in the module: after every case above
    assert server.get_json("/system_stats")["system"], "the server stopped answering"
    log = log_since_startup(server)
    trouble = unexpected_log_trouble(log)
    assert not trouble, "unexpected exceptions in the server log:\n\n" + "\n\n".join(trouble)
    node_errors = sum(case.outcome == "node" for case in LIVE_CASES)
    assert log.count("!!! Exception during processing !!!") >= node_errors, "the node errors did not reach the log"


def test_log_scan_tells_expected_from_unexpected():
    expected = ("!!! Exception during processing !!! bad\nTraceback (most recent call last):\n  File \"x\", line 1\n"
                "    raise X\n/tmp/a/ComfyUI-DiffSensei.diffsensei_core.errors.LayoutError: bad\n")
    unexpected = "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'a'\n"
    assert unexpected_log_trouble(expected) == []
    assert len(unexpected_log_trouble(expected + unexpected)) == 1
    assert len(unexpected_log_trouble("!!! Exception during processing !!! x\n" + unexpected)) == 1
    assert unexpected_log_trouble("Error handling request from 127.0.0.1\n") != []
