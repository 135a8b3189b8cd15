"""The headless workflow runner (scripts/run_workflow.py): UI→API conversion, a real run, the not-found message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from headless import comfy_session, workflow_format
from tests.support.skips import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run_workflow.py"


def _ui_workflow() -> dict:
    """EmptyLatentImage → KSampler(latent) ← seed from widgets, plus a note, a reroute and a muted node."""
    return {
        "last_node_id": 6,
        "last_link_id": 3,
        "nodes": [
            {"id": 1, "type": "EmptyLatentImage", "mode": 0, "inputs": [],
             "outputs": [{"name": "LATENT", "type": "LATENT", "links": [1]}], "widgets_values": [64, 96, 2]},
            {"id": 2, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}],
             "outputs": [{"name": "", "type": "LATENT", "links": [2]}]},
            {"id": 3, "type": "KSampler", "mode": 0,
             "inputs": [{"name": "model", "type": "MODEL", "link": None},
                        {"name": "positive", "type": "CONDITIONING", "link": None},
                        {"name": "negative", "type": "CONDITIONING", "link": None},
                        {"name": "latent_image", "type": "LATENT", "link": 2}],
             "outputs": [{"name": "LATENT", "type": "LATENT", "links": [3]}],
             "widgets_values": [123, "randomize", 20, 7.5, "euler", "normal", 1.0]},
            {"id": 4, "type": "Note", "mode": 0, "widgets_values": ["hello"]},
            {"id": 5, "type": "LatentUpscaleBy", "mode": 2,
             "inputs": [{"name": "samples", "type": "LATENT", "link": 3}],
             "outputs": [], "widgets_values": ["nearest-exact", 1.5]},
            {"id": 6, "type": "LoadImage", "mode": 0, "inputs": [], "outputs": [],
             "widgets_values": ["example.png", "image"]},
        ],
        "links": [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 3, 3, "LATENT"], [3, 3, 0, 5, 0, "LATENT"]],
        "version": 0.4,
    }


def test_ui_to_api_maps_widgets_and_links(comfy):
    prompt = workflow_format.ui_to_api(_ui_workflow(), comfy.nodes.NODE_CLASS_MAPPINGS)
    assert set(prompt) == {"1", "3", "6"}  # reroute, note and muted node left out
    assert prompt["1"]["inputs"] == {"width": 64, "height": 96, "batch_size": 2}
    assert prompt["3"]["class_type"] == "KSampler"
    assert prompt["3"]["inputs"] == {"seed": 123, "steps": 20, "cfg": 7.5, "sampler_name": "euler",
                                     "scheduler": "normal", "denoise": 1.0, "latent_image": ["1", 0]}
    assert prompt["6"]["inputs"] == {"image": "example.png"}


def test_ui_to_api_bypass_passes_matching_input_through(comfy):
    workflow = {
        "nodes": [
            {"id": 1, "type": "EmptyLatentImage", "mode": 0, "inputs": [], "widgets_values": [64, 64, 1],
             "outputs": [{"name": "LATENT", "type": "LATENT"}]},
            {"id": 2, "type": "LatentUpscaleBy", "mode": 4,
             "inputs": [{"name": "samples", "type": "LATENT", "link": 1}],
             "outputs": [{"name": "LATENT", "type": "LATENT"}], "widgets_values": ["nearest-exact", 1.5]},
            {"id": 3, "type": "LatentUpscaleBy", "mode": 0,
             "inputs": [{"name": "samples", "type": "LATENT", "link": 2}],
             "outputs": [], "widgets_values": ["bilinear", 2.0]},
        ],
        "links": [{"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "LATENT"},
                  {"id": 2, "origin_id": 2, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "LATENT"}],
    }
    prompt = workflow_format.ui_to_api(workflow, comfy.nodes.NODE_CLASS_MAPPINGS)
    assert set(prompt) == {"1", "3"}
    assert prompt["3"]["inputs"] == {"upscale_method": "bilinear", "scale_by": 2.0, "samples": ["1", 0]}


def test_ui_to_api_unknown_node_says_which(comfy):
    workflow = {"nodes": [{"id": 7, "type": "NoSuchNode", "mode": 0, "inputs": [], "widgets_values": []}], "links": []}
    with pytest.raises(workflow_format.WorkflowError, match=r"node 7: unknown node type 'NoSuchNode'"):
        workflow_format.ui_to_api(workflow, comfy.nodes.NODE_CLASS_MAPPINGS)


def _run(args: list[str], env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=str(REPO))


def test_runner_writes_image_of_api_workflow(comfy, tmp_path):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 24, "batch_size": 1, "color": 0xFF0000}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "runner_test"}},
    }
    workflow = tmp_path / "api.json"
    workflow.write_text(json.dumps(prompt))
    out = tmp_path / "out"
    result = _run([str(workflow), "--output", str(out)], env={"COMFYUI_PATH": str(comfy.root)})
    assert result.returncode == 0, result.stderr[-3000:]
    written = [Path(line) for line in result.stdout.splitlines()]
    assert written == [out / "runner_test_00001_.png"]
    from PIL import Image

    with Image.open(written[0]) as image:
        assert image.size == (32, 24)
        assert image.convert("RGB").getpixel((0, 0)) == (0, 255, 255)
    assert "running node 2 (ImageInvert)" in result.stderr


def test_runner_reports_validation_error(comfy, tmp_path):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 24, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "definitely_missing.png"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "y"}},
    }
    workflow = tmp_path / "bad.json"
    workflow.write_text(json.dumps(prompt))
    result = _run([str(workflow), "--output", str(tmp_path / "out"), "--input", str(tmp_path)],
                  env={"COMFYUI_PATH": str(comfy.root)})
    assert result.returncode == 1
    assert "node 4 (LoadImage): " in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_runner_reports_node_error(comfy, tmp_path):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 24, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "../../escape"}},
    }
    workflow = tmp_path / "bad.json"
    workflow.write_text(json.dumps(prompt))
    result = _run([str(workflow), "--output", str(tmp_path / "out")], env={"COMFYUI_PATH": str(comfy.root)})
    assert result.returncode == 1
    assert "node 2 (SaveImage) failed: Exception: " in result.stderr
    assert "Saving image outside the output folder is not allowed" in result.stderr


def test_runner_without_comfyui_says_where_it_looked(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {"COMFYUI_PATH": str(empty), "HOME": str(home), "USERPROFILE": str(home)}
    result = _run(["--demo"], env=env, timeout=60)
    expected = comfy_session.NOT_FOUND_MESSAGE.format(env=str(empty), home=home / "comfy" / "ComfyUI")
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr


def test_demo_runs_whole_graph(comfy, tmp_path):
    assert "DiffSenseiApply" in comfy.nodes.NODE_CLASS_MAPPINGS, "the pack did not register its nodes"
    out = tmp_path / "out"
    result = _run(["--demo", "--output", str(out), "--models", str(tmp_path / "models")],
                  env={"COMFYUI_PATH": str(comfy.root)}, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "DEMO MODE" in result.stderr and "NOISE" in result.stderr
    assert "IMPORT FAILED" not in result.stderr, "the headless session loads ComfyUI's own nodes like the server"
    written = [Path(line) for line in result.stdout.splitlines()]
    assert len(written) == 1 and written[0].parent == out and written[0].is_file()
    from PIL import Image

    with Image.open(written[0]) as image:
        assert image.size == (256, 384)
    demo_release = tmp_path / "models" / "diffsensei" / "diffsensei_demo" / "image_generator"
    assert (demo_release / "unet" / "config.json").is_file()


def test_demo_unet_matches_golden_layout():
    import torch

    from headless import demo_weights

    golden = Path(os.environ.get("DIFFSENSEI_GOLDEN", REPO.parent / "shared" / "golden")) / "image_generator" / "unet"
    if not (golden / "pytorch_model.bin").is_file():
        skip_or_fail("golden", f"golden tiny UNet not found in {golden}")
    state_dict = torch.load(golden / "pytorch_model.bin", map_location="cpu", weights_only=True, mmap=True)
    assert demo_weights.unet_shapes() == {k: tuple(v.shape) for k, v in state_dict.items()}
    assert json.loads((golden / "config.json").read_text()) == demo_weights.DEMO_UNET_CONFIG
