"""Bad inputs through ComfyUI's real execution path (issue 7): one table, every row a prompt on the demo release.

Each row runs one bad prompt through a PromptExecutor that lives for the whole module, like the server's: the prompt
must fail cleanly, either at validation (ComfyUI names the input and its limits) or with a node error of the pack's
own exception family whose message names the input and says how to fix it. Right after it, a good prompt must run
on the same executor. At the end, the plain demo MODEL (no Apply) must still give the latent it gave before the
table ran, bit for bit: no patch is left behind on the cached model.

The same cases, a subset, run against a live server in test_robustness_live.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import add_models_root

from headless import comfy_session, demo_nodes
from headless.demo_weights import build_demo_release

DEMO = "demo/image_generator"
OUR_ERRORS = ("LayoutError", "WeightsError", "InputShapeError")
TWO_BOXES = json.dumps({"characters": [[0.05, 0.1, 0.45, 0.95], [0.55, 0.1, 0.95, 0.95]],
                        "dialogs": [[0.6, 0.0, 1.0, 0.3]]})


def boxes(*characters, dialogs=()) -> str:
    return json.dumps({"characters": list(characters), "dialogs": list(dialogs)})


# ------------------------------------------------------------------------------------------------- prompts


def demo_prompt(*, model_name: str = DEMO, encoders_name: str = DEMO, characters: int = 2, layout: str = TWO_BOXES,
                width: int = 64, height: int = 64, seed: int = 0, steps: int = 2, cfg: float = 4.0,
                model: list | None = None, adapter_file: str | None = None, prefix: str = "dss_robust/panel") -> dict:
    """The demo graph in API format: Load model/encoders → Encode (EmptyImage refs) → Layout → Apply → KSampler."""
    character_inputs = {f"character_{i + 1}": ["image", 0] for i in range(characters)}
    prompt = {
        "load": {"class_type": "DiffSenseiLoadModel", "inputs": {"model_name": model_name, "weight_dtype": "fp32"}},
        "encoders": {"class_type": "DiffSenseiLoadEncoders",
                     "inputs": {"model_name": encoders_name, "magi_dtype": "fp32"}},
        "image": {"class_type": "EmptyImage",
                  "inputs": {"width": 64, "height": 96, "batch_size": 1, "color": 0x808080}},
        "characters": {"class_type": "DiffSenseiEncodeCharacters",
                       "inputs": {"encoders": ["encoders", 0], "grayscale": True, "seed": 0, "magi_masking": False,
                                  **character_inputs}},
        "layout": {"class_type": "DiffSenseiPanelLayout",
                   "inputs": {"width": width, "height": height, "batch_size": 1, "layout": layout}},
        "apply": {"class_type": "DiffSenseiApply",
                  "inputs": {"model": model or ["load", 0], "adapter": ["load", 1], "characters": ["characters", 0],
                             "layout": ["layout", 0], "ip_scale": 0.6}},
        **conditioning(width, height),
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["apply", 0], "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["positive", 0], "negative": ["negative", 0],
            "latent_image": ["layout", 1], "denoise": 1.0}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["sample", 0], "filename_prefix": prefix}},
    }
    if adapter_file is not None:
        prompt["adapter"] = {"class_type": "DiffSenseiLoadAdapter", "inputs": {"model_name": adapter_file,
                                                                               "dtype": "fp32"}}
        prompt["apply"]["inputs"]["adapter"] = ["adapter", 0]
    return prompt


def conditioning(width: int, height: int) -> dict:
    def node(seed):
        return {"class_type": "DiffSenseiDemoConditioning",
                "inputs": {"width": width, "height": height, "seed": seed, "context_dim": 64, "rows": 8}}

    return {"positive": node(1), "negative": node(2)}


def plain_prompt(*, model_name: str = DEMO, seed: int = 7, prefix: str = "dss_robust/plain") -> dict:
    """The demo MODEL sampled without Apply; distinct node ids so no other prompt shares its cache entries."""
    return {
        "plain_load": {"class_type": "DiffSenseiLoadModel",
                       "inputs": {"model_name": model_name, "weight_dtype": "fp32"}},
        "plain_latent": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        **{f"plain_{k}": v for k, v in conditioning(64, 64).items()},
        "plain_sample": {"class_type": "KSampler", "inputs": {
            "model": ["plain_load", 0], "seed": seed, "steps": 2, "cfg": 4.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["plain_positive", 0], "negative": ["plain_negative", 0],
            "latent_image": ["plain_latent", 0], "denoise": 1.0}},
        "plain_save": {"class_type": "SaveLatent", "inputs": {"samples": ["plain_sample", 0],
                                                              "filename_prefix": prefix}},
    }


# ------------------------------------------------------------------------------------------------ weights


class Payload:
    """Pickles to a call of ``Path.touch``: an unsafe load of a file holding it creates ``target``."""

    def __init__(self, target: Path):
        self.target = pathlib.Path(target)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.target,))


def evil_pickle(path: Path, target: Path) -> None:
    """Replace ``path`` by a torch pickle that would create ``target`` when loaded without weights_only."""
    path.unlink()
    torch.save({"conv_in.weight": torch.ones(2), "x": Payload(target)}, path)


def rewrite(path: Path, data: bytes) -> None:
    path.unlink()  # the release copies are hard links: never write through to the shared file
    path.write_bytes(data)


def damage_release(root: Path, name: str, edit: Callable[[Path], None]) -> str:
    """A copy of the demo release (hard links) under ``root/name`` with ``edit(image_generator)`` applied."""
    folder = root / name / "image_generator"
    if not folder.exists():
        shutil.copytree(root / DEMO, folder, copy_function=os.link)
        edit(folder)
    return f"{name}/image_generator"


def write_adapter_variant(root: Path, name: str, change: Callable[[dict, dict], tuple[dict, dict]]) -> str:
    """A converted adapter file of the demo release, passed through ``change(tensors, metadata)``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from diffsensei_core.model.convert import convert_image_generator

    converted = root / "_converted"
    if not converted.exists():
        convert_image_generator(root / DEMO, converted, dtype=torch.float32)
    source = converted / "diffsensei_adapter_fp32.safetensors"
    with safe_open(str(source), framework="pt") as handle:
        metadata = handle.metadata()
    tensors, metadata = change(load_file(str(source)), dict(metadata))
    target = root / name / "diffsensei_adapter_fp32.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target), metadata=metadata)
    return f"{name}/diffsensei_adapter_fp32.safetensors"


def first_ip(tensors: dict, kind: str = "to_k") -> str:
    return next(k for k in sorted(tensors) if k.startswith("ip.") and k.endswith(f".{kind}"))


def int_ip_weights(tensors, metadata):
    key = first_ip(tensors)
    return dict(tensors, **{key: tensors[key].to(torch.int64)}), metadata


def wrong_shape_ip_weights(tensors, metadata):
    key = first_ip(tensors, "to_v")
    return dict(tensors, **{key: tensors[key][:, :-1].contiguous()}), metadata


def one_site_fewer(tensors, metadata):
    site = first_ip(tensors)[: -len(".to_k")]
    kept = {k: v for k, v in tensors.items() if k not in (f"{site}.to_k", f"{site}.to_v")}
    return kept, dict(metadata, num_sites=str(int(metadata["num_sites"]) - 1))


# ------------------------------------------------------------------------------------------- foreign models


class TinyDiT(torch.nn.Module):
    """A transformer-family stand-in: a diffusion model without UNet blocks, built from plain torch layers so the
    row never depends on another model family's constructor (those change between ComfyUI versions)."""

    def __init__(self):
        super().__init__()
        self.diffusion_model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 16))


def transformer_like_model():
    """A tiny transformer MODEL (not a UNet): Apply must refuse it by name."""
    from comfy import model_management, model_patcher

    return model_patcher.ModelPatcher(TinyDiT(), load_device=model_management.get_torch_device(),
                                      offload_device=model_management.unet_offload_device())


class ForeignModel:
    """Test-only node: an SD1.5-shaped or a transformer-shaped MODEL with random weights."""

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "build"
    CATEGORY = "testing"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"kind": (["sd15", "transformer"],)}}

    def build(self, kind):
        if kind == "sd15":
            from test_sampling import sd15_like_model

            return (sd15_like_model(),)
        return (transformer_like_model(),)


# ---------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    """One bad input. ``prompt(root)`` builds it; the outcome is one of:

    * ``node``: a node error from ``node`` (class_type) of the pack's exception family matching ``message``;
    * ``invalid``: validation refuses it, naming ``input`` of node ``node`` (``message`` matches ComfyUI's reason);
    * ``ok``: it is accepted (``message``, when given, must be in the pack's log: a fix it made with a warning).
    """

    id: str
    prompt: Callable[[Path], dict]
    outcome: str
    node: str | None = None
    message: str = ""
    input: str | None = None
    side_effect: str | None = None  # a file (under the models root) that must not exist afterwards
    live: bool = False  # also run against the live server (test_robustness_live.py)
    or_invalid: str | None = None  # a "node" case that validation may refuse first, naming this input
    requires: str | None = None  # a node class the case needs; skipped (with the reason) where it does not exist


def layout_case(id, layout, message, *, characters=2, live=False, outcome="node", node="DiffSenseiPanelLayout"):
    return Case(id, lambda root: demo_prompt(layout=layout, characters=characters), outcome, node, message, live=live)


def size_case(id, width, outcome, message, *, input="width", live=False):
    return Case(id, lambda root: demo_prompt(width=width), outcome, "DiffSenseiPanelLayout" if outcome == "node"
                else "layout", message, input=input, live=live)


def release_case(id, edit, message, *, node="DiffSenseiLoadModel", encoders_only=False, side_effect=None, live=False,
                 or_invalid=None):
    def prompt(root):
        name = damage_release(root, id, edit)
        return demo_prompt(encoders_name=name) if encoders_only else demo_prompt(model_name=name)

    return Case(id, prompt, "node", node, message, side_effect=side_effect, live=live, or_invalid=or_invalid)


def adapter_case(id, change, message, *, node="DiffSenseiLoadAdapter", live=False):
    return Case(id, lambda root: demo_prompt(adapter_file=write_adapter_variant(root, id, change)), "node", node,
                message, live=live)


def model_case(id, kind, message):
    def prompt(root):
        p = demo_prompt(model=["foreign", 0])
        p["foreign"] = {"class_type": "DSSTestForeignModel", "inputs": {"kind": kind}}
        return p

    return Case(id, prompt, "node", "DiffSenseiApply", message)


MLLM_NODE = "DiffSenseiLoadMLLM"


def mllm_prompt(mllm_name: str) -> dict:
    """The demo graph with the characters adapted by the MLLM (Load MLLM → MLLM Adapt Characters → Apply)."""
    prompt = demo_prompt()
    prompt["mllm"] = {"class_type": MLLM_NODE, "inputs": {"mllm_name": mllm_name, "precision": "auto",
                                                          "offload": "auto"}}
    prompt["adapt"] = {"class_type": "DiffSenseiMLLMAdaptCharacters", "inputs": {
        "mllm": ["mllm", 0], "adapter": ["load", 1], "characters": ["characters", 0], "prompt": "two friends talk",
        "mllm_scale": 0.4}}
    prompt["apply"]["inputs"]["characters"] = ["adapt", 0]
    return prompt


def mllm_without_llm(root: Path) -> dict:
    """An mllm/ folder that has its agent file (so the loader lists it) but no llm/ subfolder."""
    agent = root / "mllm_partial" / "mllm" / "agent" / "pytorch_model.bin"
    agent.parent.mkdir(parents=True, exist_ok=True)
    agent.write_bytes(b"")
    return mllm_prompt("mllm_partial/mllm")


def unet(folder: Path) -> Path:
    return folder / "unet" / "pytorch_model.bin"


def truncate(path: Path) -> None:
    data = path.read_bytes()
    rewrite(path, data[: len(data) // 2])


def corrupt_header(path: Path) -> None:
    data = path.read_bytes()
    rewrite(path, b"\xff" * 64 + data[64:])


FIX_LAYOUT = r"Panel layout, input 'layout'"
APPLY_COUNT = r"DiffSensei: Apply, inputs 'layout' and 'characters'"

CASES = [
    # --- boxes
    layout_case("malformed_json", '{"characters": [[0.1, 0.1, 0.5', FIX_LAYOUT + r".*not valid JSON.*Fix the text",
                live=True),
    layout_case("box_with_three_numbers", boxes([0.1, 0.1, 0.5], [0.5, 0, 1, 1]),
                FIX_LAYOUT + r".*character box 1 must be \[x1, y1, x2, y2\]"),
    layout_case("box_with_text", boxes(["a", 0, 1, 1], [0.5, 0, 1, 1]), FIX_LAYOUT + r".*must hold 4 numbers"),
    layout_case("nan_box", '{"characters": [[0.1, 0.1, NaN, 0.9], [0.5, 0, 1, 1]]}',
                FIX_LAYOUT + r".*NaN or infinite.*redraw the box", live=True),
    layout_case("inf_box", '{"characters": [[0.1, 0.1, 0.5, 0.9], [0.5, 0, Infinity, 1]]}',
                FIX_LAYOUT + r".*character box 2 has a NaN or infinite.*redraw"),
    layout_case("pixel_coordinates", boxes([10, 10, 200, 240], [0, 0, 1, 1]),
                FIX_LAYOUT + r".*far outside 0\.\.1.*divide pixel coordinates"),
    layout_case("far_negative", boxes([-5, 0, 0.5, 1], [0.5, 0, 1, 1]), FIX_LAYOUT + r".*far outside 0\.\.1"),
    layout_case("outside_the_panel", boxes([1.2, 1.2, 1.5, 1.5], [0, 0, 1, 1]),
                FIX_LAYOUT + r".*no area inside the panel.*width and height above zero"),
    layout_case("degenerate_box", boxes([0.3, 0.1, 0.3, 0.9], [0.5, 0, 1, 1]), FIX_LAYOUT + r".*no area", live=True),
    layout_case("degenerate_dialog", boxes([0, 0, 0.5, 1], [0.5, 0, 1, 1], dialogs=[[0.2, 0.5, 0.6, 0.5]]),
                FIX_LAYOUT + r".*dialog box 1.*no area"),
    # swapped corners are sorted (with a warning), by design: the prompt runs
    layout_case("inverted_box", boxes([0.45, 0.95, 0.05, 0.1], [0.55, 0.1, 0.95, 0.95]), "swapped corners",
                outcome="ok"),
    layout_case("too_many_boxes", boxes(*[[0.1, 0.1, 0.2, 0.2]] * 65), FIX_LAYOUT + r".*at most 64 boxes.*Delete"),
    layout_case("not_an_object", "[[0, 0, 1, 1]]", FIX_LAYOUT + r".*must be a JSON object"),
    layout_case("unknown_key", '{"characters": [], "boxes": []}', FIX_LAYOUT + r".*unknown keys \['boxes'\]"),
    layout_case("json_size_disagrees", json.dumps({"width": 128, "height": 64, "characters": [[0, 0, .5, 1],
                                                                                             [.5, 0, 1, 1]]}),
                r"JSON says 128×64 px but the node's width/height are 64×64.*make them agree"),
    # --- box count vs characters
    layout_case("more_boxes_than_characters", TWO_BOXES, APPLY_COUNT + r".*2 character box.*1 reference image.*"
                r"connect 1 more reference image", characters=1, node="DiffSenseiApply", live=True),
    layout_case("more_characters_than_boxes", boxes([0, 0, 0.5, 1]), APPLY_COUNT + r".*draw 1 more character box",
                characters=2, node="DiffSenseiApply"),
    layout_case("zero_characters_with_boxes", TWO_BOXES, APPLY_COUNT + r".*2 character box.*0 reference image",
                characters=0, node="DiffSenseiApply"),
    layout_case("empty_layout_with_characters", "", APPLY_COUNT + r".*0 character box.*2 reference image.*draw 2 more",
                characters=2, node="DiffSenseiApply"),
    layout_case("empty_layout_without_characters", "", "", characters=0, outcome="ok"),
    # --- panel size (the widget's min/max are checked by ComfyUI's validation, the step by the node)
    size_case("width_0", 0, "invalid", r"Value 0 smaller than min of 64", live=True),
    size_case("width_63", 63, "invalid", r"Value 63 smaller than min of 64"),
    size_case("width_4096", 4096, "invalid", r"Value 4096 bigger than max of 2048"),
    size_case("width_100", 100, "node", FIX_LAYOUT + r".*panel width 100px is not a multiple of 8; use 96 or 104",
              live=True),
    size_case("width_68", 68, "node", r"not a multiple of 8; use 64 or 72"),
    # --- models given to Apply
    model_case("sd15_model", "sd15", r"DiffSensei: Apply, input 'model'.*16 cross-attention sites but the adapter "
               r"has 70.*Connect an SDXL MODEL"),
    model_case("transformer_model", "transformer", r"DiffSensei: Apply, input 'model': expected an SDXL UNet MODEL; "
               r"got TinyDiT.*"
               r"Connect DiffSensei's UNet"),
    adapter_case("adapter_for_fewer_sites", one_site_fewer, r"DiffSensei: Apply, input 'model'.*70 cross-attention "
                 r"sites but the adapter has 69", node="DiffSenseiApply", live=True),
    # --- weight files
    # refused at validation when the choice list is fresh, else by the node
    release_case("missing_unet", lambda f: unet(f).unlink(),
                 r"Load model, input 'model_name'.*UNet weights not found.*Download the missing file",
                 or_invalid="model_name"),
    release_case("missing_resampler", lambda f: (f / "image_proj_model" / "pytorch_model.bin").unlink(),
                 r"Load model, input 'model_name'.*character resampler weights not found.*image_proj_model.*"
                 r"Download the missing file"),
    release_case("missing_magi", lambda f: shutil.rmtree(f / "magi_image_encoder"),
                 r"Load Encoders, input 'model_name'.*magi_image_encoder.*does not exist.*Download",
                 node="DiffSenseiLoadEncoders", encoders_only=True),
    release_case("empty_unet", lambda f: rewrite(unet(f), b""),
                 r"Load model, input 'model_name'.*pytorch_model\.bin.*empty \(0 bytes\).*re-download"),
    release_case("truncated_unet", lambda f: truncate(unet(f)),
                 r"Load model, input 'model_name'.*truncated or corrupted.*re-download", live=True),
    release_case("corrupted_unet", lambda f: corrupt_header(unet(f)),
                 r"Load model, input 'model_name'.*truncated or corrupted.*re-download"),
    release_case("truncated_resampler", lambda f: truncate(f / "image_proj_model" / "pytorch_model.bin"),
                 r"Load model, input 'model_name'.*image_proj_model.*truncated or corrupted"),
    release_case("corrupted_clip_safetensors", lambda f: corrupt_header(f / "clip_image_encoder" / "model.safetensors"),
                 r"Load Encoders, input 'model_name'.*model\.safetensors.*truncated or corrupted.*re-download",
                 node="DiffSenseiLoadEncoders",
                 encoders_only=True),
    release_case("unet_config_not_json", lambda f: rewrite(f / "unet" / "config.json", b"{not json"),
                 r"Load model, input 'model_name'.*config\.json: not a readable JSON file.*re-download"),
    release_case("evil_pickle_unet", lambda f: evil_pickle(unet(f), f.parent / "PWNED_unet"),
                 r"Load model, input 'model_name'.*non-tensor objects.*refused for safety and nothing in it was run",
                 side_effect="evil_pickle_unet/PWNED_unet", live=True),
    release_case("evil_pickle_magi",
                 lambda f: evil_pickle(f / "magi_image_encoder" / "pytorch_model.bin", f.parent / "PWNED_magi"),
                 r"Load Encoders, input 'model_name'.*refused for safety", node="DiffSenseiLoadEncoders",
                 encoders_only=True,
                 side_effect="evil_pickle_magi/PWNED_magi"),
    adapter_case("adapter_int_dtype", int_ip_weights,
                 r"Load adapter, input 'model_name'.*to_k_ip is torch\.int64; expected floating-point.*re-download",
                 live=True),
    # --- the optional MLLM (its folder is a separate 52 GB download)
    Case("mllm_folder_missing", lambda root: mllm_prompt("mllm"), "node", MLLM_NODE,
         r"Load MLLM, input 'mllm_name': 'mllm' was not found in the diffsensei model folders.*Put the release's mllm/",
         or_invalid="mllm_name", requires=MLLM_NODE),
    Case("mllm_llm_subfolder_missing", mllm_without_llm, "node", MLLM_NODE,
         r"Load MLLM, input 'mllm_name'.*the subfolder llm/ is missing.*Download mllm/llm/", or_invalid="mllm_name",
         requires=MLLM_NODE),
    adapter_case("adapter_wrong_shape", wrong_shape_ip_weights,
                 r"Load adapter, input 'model_name'.*to_v_ip must be \(inner, \d+\) like the other sites.*re-download"),
]

# ------------------------------------------------------------------------------------------------ harness


class Session:
    """One PromptExecutor for the module (the server keeps one too), and the good prompt that follows each case."""

    def __init__(self, comfy, root: Path):
        self.comfy = comfy
        self.root = root
        self.server = comfy_session.FakeServer()
        self.executor = comfy_session.new_executor(comfy, self.server)
        self.seed = 100

    def run(self, prompt: dict) -> dict:
        """``{"invalid": (error, node_errors)}`` or ``{"success", "errors", "outputs", "messages"}``."""
        execution = self.comfy.execution
        prompt_id = uuid.uuid4().hex
        ok, error, outputs, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
        if not ok or node_errors:
            return {"invalid": (error, node_errors)}
        self.executor.execute(prompt, prompt_id, {}, outputs)
        messages = list(self.executor.status_messages)
        return {"success": self.executor.success, "messages": messages,
                "errors": [m for name, m in messages if name == "execution_error"],
                "outputs": self.executor.history_result.get("outputs", {})}

    def good(self, **overrides) -> dict:
        self.seed += 1  # a new seed, so the sampler runs again instead of coming from the cache
        result = self.run(demo_prompt(seed=self.seed, steps=1, **overrides))
        assert "invalid" not in result and result["success"], f"the good prompt failed: {result}"
        return result

    def latent(self, outputs: dict, node: str) -> torch.Tensor:
        from safetensors.torch import load_file

        entry = outputs[node]["latents"][0]
        folder = Path(self.comfy.folder_paths.get_output_directory()) / entry["subfolder"]
        return load_file(str(folder / entry["filename"]))["latent_tensor"]


@pytest.fixture(scope="module")
def session(comfy, pack, tmp_path_factory):
    root = tmp_path_factory.mktemp("robust_models")
    build_demo_release(root / "demo")
    add_models_root(comfy, pack, root)
    registry = comfy.nodes.NODE_CLASS_MAPPINGS
    added = {**demo_nodes.NODE_CLASS_MAPPINGS, "DSSTestForeignModel": ForeignModel}
    registry.update(added)
    try:
        yield Session(comfy, root)
    finally:
        for name in added:
            registry.pop(name, None)


@pytest.fixture(scope="module")
def plain_baseline(session) -> torch.Tensor:
    """The plain demo MODEL's latent before any case ran."""
    result = session.run(plain_prompt())
    assert result.get("success"), result
    return session.latent(result["outputs"], "plain_save")


def check_outcome(case: Case, result: dict) -> None:
    if case.outcome == "invalid":
        assert "invalid" in result, f"{case.id}: expected a validation error, got {result}"
        error, node_errors = result["invalid"]
        assert case.node in node_errors, f"{case.id}: expected node {case.node} to be refused: {node_errors}"
        reasons = node_errors[case.node]["errors"]
        assert any(r.get("extra_info", {}).get("input_name") == case.input for r in reasons), reasons
        text = " ".join(f"{r['message']}: {r['details']}" for r in reasons)
        assert re.search(case.message, text), f"{case.id}: {text}"
        return
    if "invalid" in result and case.or_invalid is not None:
        _, node_errors = result["invalid"]
        reasons = [r for errors in node_errors.values() for r in errors["errors"]]
        assert any(r.get("extra_info", {}).get("input_name") == case.or_invalid for r in reasons), reasons
        return
    assert "invalid" not in result, f"{case.id}: validation refused it: {result['invalid']}"
    if case.outcome == "ok":
        assert result["success"], f"{case.id}: expected success, got {result['errors']}"
        return
    assert not result["success"], f"{case.id}: the prompt ran but should have failed"
    assert len(result["errors"]) == 1, result["errors"]
    error = result["errors"][0]
    text = f"{error['node_type']}: {error['exception_message']}"
    assert error["node_type"] == case.node, f"{case.id}: failed in the wrong node: {text}"
    assert error["exception_type"].rsplit(".", 1)[-1] in OUR_ERRORS, (
        f"{case.id}: not one of the pack's errors ({error['exception_type']}): {text}\n{''.join(error['traceback'])}")
    assert re.search(case.message, text, flags=re.S), f"{case.id}: {text}"
    assert re.match(r"DiffSensei: [^,:]+(, inputs? '[^']+'( and '[^']+')*)?: ", error["exception_message"]), (
        f"{case.id}: not in the pack's one error style \"DiffSensei: <node>, input 'x': …\": {text}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_cleanly_and_the_next_prompt_runs(session, plain_baseline, case, caplog):
    assert case.requires is None or case.requires in session.comfy.nodes.NODE_CLASS_MAPPINGS, \
        f"{case.requires} is not registered by the pack"
    caplog.set_level(logging.WARNING, logger="diffsensei")
    result = session.run(case.prompt(session.root))
    check_outcome(case, result)
    if case.outcome == "ok" and case.message:
        assert case.message in caplog.text, f"{case.id}: expected a warning {case.message!r}"
    if case.side_effect is not None:
        assert not (session.root / case.side_effect).exists(), f"{case.id}: the pickle's code ran"
    session.good()


def test_empty_prompt_is_refused_and_the_next_prompt_runs(session):
    result = session.run({})
    error, _ = result["invalid"]
    assert error["type"] == "prompt_no_outputs", error
    session.good()


def test_no_patch_is_left_on_the_cached_model(session, plain_baseline):
    # last in the module: every case above ran Apply (or failed near it) on the same cached demo MODEL
    result = session.run(plain_prompt())
    assert result.get("success"), result
    cached = next((m["nodes"] for name, m in result["messages"] if name == "execution_cached"), [])
    assert "plain_sample" not in cached, "the sampler came from the cache; the comparison would prove nothing"
    assert "plain_load" in cached, "the MODEL was loaded afresh, not the cached one the good prompts' Apply cloned"
    assert torch.equal(session.latent(result["outputs"], "plain_save"), plain_baseline)
