"""A real ComfyUI server on 127.0.0.1 loads the pack without errors and lists every node with tooltips."""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import PACK_NAME, REPO, live_server

NODE_IDS = (  # public ids: saved workflows name them, so they never change
    "DiffSenseiLoadModel", "DiffSenseiLoadAdapter", "DiffSenseiLoadEncoders", "DiffSenseiEncodeCharacters",
    "DiffSenseiPanelLayout", "DiffSenseiApply", "DiffSenseiSigmas", "DiffSenseiLoadMLLM",
    "DiffSenseiMLLMAdaptCharacters", "DiffSenseiPageLayout", "DiffSenseiPagePanels", "DiffSenseiComposePage",
    "DiffSenseiLetterBubbles", "DiffSenseiExportPages", "DiffSenseiTrainPromptDistribution",
    "DiffSenseiLoadPromptDistribution", "DiffSenseiSamplePromptDistribution", "DiffSenseiMixPromptDistributions",
    "DiffSenseiDescribePhoto", "DiffSenseiMangaStyle", "DiffSenseiPhotoToManga",
)


def _get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server(comfy, tmp_path_factory):
    try:
        with live_server.start(comfy.root, tmp_path_factory.mktemp("server")) as running:
            yield running.port, running.log_path
    except live_server.ServerStartError as err:
        pytest.fail(str(err))


def test_pack_imports_cleanly(server):
    _, log_path = server
    log = log_path.read_text()
    ours = [line for line in log.splitlines() if PACK_NAME in line]
    assert any("seconds" in line for line in ours), f"the pack is not in the import-times list:\n{log[-3000:]}"
    assert not [line for line in ours if "IMPORT FAILED" in line or "Cannot import" in line], "\n".join(ours)
    assert "comfy_entrypoint" not in log, log[-3000:]


def _ours(info: dict) -> list[str]:
    return [node_id for node_id, node in info.items() if node["category"].startswith("DiffSensei")]


def test_object_info_lists_every_node_with_tooltips(server):
    port, _ = server
    info = _get(port, "/object_info")
    missing = [node_id for node_id in NODE_IDS if node_id not in info]
    assert not missing, f"{missing} missing from /object_info"
    for node_id in _ours(info):  # every node of the pack, not only the spine listed above
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


def test_every_node_has_a_help_page(server):
    port, _ = server
    info = _get(port, "/object_info")
    ours = _ours(info)
    assert set(NODE_IDS) <= set(ours)
    missing = [node_id for node_id in ours if not (REPO / "web" / "docs" / f"{node_id}.md").is_file()]
    assert not missing, f"add web/docs/<NodeId>.md for {missing}"
