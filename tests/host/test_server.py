"""A real ComfyUI server on 127.0.0.1 loads the pack without errors and lists every node with tooltips."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import PACK_NAME, REPO

NODE_IDS = (
    "DiffSenseiLoadModel", "DiffSenseiLoadAdapter", "DiffSenseiLoadEncoders", "DiffSenseiEncodeCharacters",
    "DiffSenseiPanelLayout", "DiffSenseiApply", "DiffSenseiSigmas",
)
STARTUP_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server(comfy, tmp_path_factory):
    base = tmp_path_factory.mktemp("server")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / PACK_NAME).symlink_to(REPO, target_is_directory=True)
    (base / "models" / "diffsensei").mkdir(parents=True)
    config = base / "extra_paths.yaml"
    config.write_text(
        f"dss_test:\n  base_path: {base}\n  custom_nodes: custom_nodes\n  diffsensei: models/diffsensei\n"
    )
    port = _free_port()
    log_path = base / "server.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--extra-model-paths-config", str(config), "--output-directory", str(base / "output"),
             "--disable-auto-launch"],
            cwd=comfy.root, stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                _get(port, "/system_stats")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"ComfyUI did not start; log:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield port, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_pack_imports_cleanly(server):
    _, log_path = server
    log = log_path.read_text()
    ours = [line for line in log.splitlines() if PACK_NAME in line]
    assert any("seconds" in line for line in ours), f"the pack is not in the import-times list:\n{log[-3000:]}"
    assert not [line for line in ours if "IMPORT FAILED" in line or "Cannot import" in line], "\n".join(ours)
    assert "comfy_entrypoint" not in log, log[-3000:]


def test_object_info_lists_every_node_with_tooltips(server):
    port, _ = server
    info = _get(port, "/object_info")
    for node_id in NODE_IDS:
        assert node_id in info, f"{node_id} missing from /object_info"
        node = info[node_id]
        assert node["category"].startswith("DiffSensei"), node_id
        assert node["display_name"].startswith("DiffSensei: "), node_id
        assert node["description"], f"{node_id} has no description"
        for group in ("required", "optional"):
            for name, spec in node["input"].get(group, {}).items():
                options = spec[1] if len(spec) > 1 else {}
                assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
        tooltips = node.get("output_tooltips", [])
        assert len(tooltips) == len(node["output"]) and all(tooltips), f"{node_id} outputs need tooltips"


def test_model_folder_is_registered(server):
    port, _ = server
    assert _get(port, "/models/diffsensei") == []
