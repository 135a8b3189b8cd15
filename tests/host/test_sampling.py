"""Whole prompts through ComfyUI's PromptExecutor: Load model → Panel layout → Apply → KSampler / SamplerCustom with
the DiffSensei sigmas, on the golden tiny release; plus the node errors a user sees for wrong inputs."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from conftest import GOLDEN_DIR, add_models_root, import_from_pack, registered_nodes, source_node
from unet_calls import case

LAYOUT = json.dumps({"characters": [[0.05, 0.1, 0.45, 0.95], [0.55, 0.1, 0.95, 0.95]], "dialogs": [[0.6, 0, 1, 0.3]]})


@pytest.fixture(scope="module")
def test_nodes(comfy, pack, golden):
    """Test-only stand-ins for what the golden data gives but this machine cannot compute (no SDXL CLIP here)."""
    sockets = import_from_pack(pack, "nodes.host.sockets")
    data = case(golden, "two_chars")

    def golden_conditioning():
        rows = [[[data["text"][i : i + 1], {"pooled_output": data["pooled"][i : i + 1]}]] for i in (1, 0)]
        return tuple(rows)  # positive (cond row), negative (uncond row)

    class GoldenCharacters:
        RETURN_TYPES = ("DIFFSENSEI_CHARACTERS",)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"count": ("INT", {"default": 2, "min": 0, "max": 4})}}

        def run(self, count):
            return (sockets.EncodedCharacters(clip=data["clip"][0, :count], magi=data["magi"][0, :count]),)

    attn2_sites = import_from_pack(pack, "nodes.host.comfy_unet").attn2_sites

    class RecordBatches:
        """Another pack's attn2 patch at every site (plain attention) that records each call's batch layout."""

        RETURN_TYPES = ("MODEL",)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"model": ("MODEL",)}}

        def run(self, model):
            import comfy.ldm.modules.attention as attention

            def record(q, k, v, extra_options):
                BATCHES.append((tuple(extra_options["cond_or_uncond"]), q.shape[0]))
                return attention.optimized_attention(q, k, v, extra_options["n_heads"])

            patched = model.clone()
            for key, _ in attn2_sites(patched.model.diffusion_model):
                patched.set_model_attn2_replace(record, *key)
            return (patched,)

    with registered_nodes(comfy, DSSTestGoldenConditioning=source_node(("CONDITIONING",) * 2, golden_conditioning),
                          DSSTestGoldenCharacters=GoldenCharacters, DSSTestRecordBatches=RecordBatches):
        yield


BATCHES: list[tuple[tuple[int, ...], int]] = []


def panel_prompt(model_name: str, sampler: dict, *, characters: int = 2, layout: str = LAYOUT, width: int = 256,
                 height: int = 256) -> dict:
    prompt = {
        "load": {"class_type": "DiffSenseiLoadModel", "inputs": {"model_name": model_name, "weight_dtype": "default"}},
        "chars": {"class_type": "DSSTestGoldenCharacters", "inputs": {"count": characters}},
        "layout": {"class_type": "DiffSenseiPanelLayout",
                   "inputs": {"width": width, "height": height, "batch_size": 1, "layout": layout}},
        "apply": {"class_type": "DiffSenseiApply", "inputs": {"model": ["load", 0], "adapter": ["load", 1],
                                                              "characters": ["chars", 0], "layout": ["layout", 0],
                                                              "ip_scale": 0.6}},
        "cond": {"class_type": "DSSTestGoldenConditioning", "inputs": {}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["sample", 0], "filename_prefix": "dss/panel"}},
    }
    prompt.update(sampler)
    return prompt


def ksampler(cfg: float = 7.5, model: str = "apply") -> dict:
    return {"sample": {"class_type": "KSampler", "inputs": {
        "model": [model, 0], "seed": 1, "steps": 3, "cfg": cfg, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["cond", 0], "negative": ["cond", 1], "latent_image": ["layout", 1], "denoise": 1.0}}}


def sampler_custom() -> dict:
    return {
        "sigmas": {"class_type": "DiffSenseiSigmas", "inputs": {"steps": 4}},
        "euler": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "sample": {"class_type": "SamplerCustom", "inputs": {
            "model": ["apply", 0], "add_noise": True, "noise_seed": 1, "cfg": 7.5, "positive": ["cond", 0],
            "negative": ["cond", 1], "sampler": ["euler", 0], "sigmas": ["sigmas", 0], "latent_image": ["layout", 1]}},
    }


def saved_latent(comfy, outputs) -> torch.Tensor:
    from safetensors.torch import load_file

    entry = outputs["save"]["latents"][0]
    path = comfy.folder_paths.get_output_directory() + f"/{entry['subfolder']}/{entry['filename']}"
    return load_file(path)["latent_tensor"]


def test_ksampler_runs_the_panel(comfy, golden_release, test_nodes, run_prompt):
    executor, outputs = run_prompt(panel_prompt(golden_release, ksampler()))
    assert executor.success, executor.status_messages
    with_characters = saved_latent(comfy, outputs)
    assert with_characters.shape == (1, 4, 32, 32) and torch.isfinite(with_characters).all()

    executor, outputs = run_prompt(panel_prompt(golden_release, ksampler(model="load")))
    assert executor.success, executor.status_messages
    assert (saved_latent(comfy, outputs) - with_characters).abs().max() > 1e-3, "DiffSensei changed the panel"


def test_sampler_custom_with_diffsensei_sigmas(comfy, golden_release, test_nodes, run_prompt):
    executor, outputs = run_prompt(panel_prompt(golden_release, sampler_custom()))
    assert executor.success, executor.status_messages
    assert torch.isfinite(saved_latent(comfy, outputs)).all()


@pytest.mark.parametrize(("cfg", "layouts"), [(1.0, {((0,), 1)}), (7.5, {((1, 0), 2), ((0, 1), 2)})])
def test_cfg_one_runs_only_the_conditional_branch(comfy, golden_release, test_nodes, run_prompt, cfg, layouts):
    """At CFG 1 ComfyUI skips the unconditional pass: every DiffSensei site (and the patch it wraps) sees one
    conditional row; with guidance, rows of both branches."""
    prompt = panel_prompt(golden_release, ksampler(cfg=cfg))
    prompt["record"] = {"class_type": "DSSTestRecordBatches", "inputs": {"model": ["load", 0]}}
    prompt["apply"]["inputs"]["model"] = ["record", 0]
    BATCHES.clear()
    executor, _ = run_prompt(prompt)
    assert executor.success, executor.status_messages
    assert len(BATCHES) == 3 * 70, "3 steps × 70 sites, one UNet call each"
    assert set(BATCHES) <= layouts and set(BATCHES) & layouts, BATCHES[:3]


def test_odd_non_square_panel(comfy, golden_release, test_nodes, run_prompt):
    executor, outputs = run_prompt(panel_prompt(golden_release, ksampler(), width=480, height=136))
    assert executor.success, executor.status_messages
    assert saved_latent(comfy, outputs).shape == (1, 4, 17, 60)


def test_panel_without_characters(comfy, golden_release, test_nodes, run_prompt):
    layout = json.dumps({"characters": [], "dialogs": [[0.2, 0.2, 0.6, 0.5]]})
    executor, _ = run_prompt(panel_prompt(golden_release, ksampler(), characters=0, layout=layout))
    assert executor.success, executor.status_messages


def node_error(executor) -> str:
    errors = [m for name, m in executor.status_messages if name == "execution_error"]
    assert errors, f"expected a node error, got {executor.status_messages}"
    return f"{errors[0]['node_type']}: {errors[0]['exception_message']}"


@pytest.mark.parametrize(
    ("characters", "layout", "message"),
    [
        (1, LAYOUT, "2 character box.*1 reference image.*connect 1 more"),
        (3, LAYOUT, "draw 1 more character box"),
        (0, LAYOUT, "2 character box.*0 reference image"),
        (2, '{"characters": [[0, 0, 0.5', "Panel layout, input 'layout'.*not valid JSON"),
        (2, '{"characters": [[0.1, 0.1, 0.1, 0.9], [0, 0, 1, 1]]}', "no area"),
        (2, '{"characters": [[10, 10, 200, 240], [0, 0, 1, 1]]}', "divide pixel coordinates"),
    ],
)
def test_bad_layouts_fail_cleanly_and_the_next_prompt_runs(comfy, golden_release, test_nodes, run_prompt,
                                                          characters, layout, message):
    executor, _ = run_prompt(panel_prompt(golden_release, ksampler(), characters=characters, layout=layout))
    assert not executor.success
    assert re.search(message, node_error(executor)), node_error(executor)
    executor, _ = run_prompt(panel_prompt(golden_release, ksampler()))
    assert executor.success


def test_missing_weights_name_the_file(comfy, pack, golden_release, test_nodes, run_prompt, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(GOLDEN_DIR / "image_generator", root / "image_generator")
    (root / "image_generator" / "image_proj_model" / "pytorch_model.bin").unlink()
    add_models_root(comfy, pack, tmp_path)
    executor, _ = run_prompt(panel_prompt("broken/image_generator", ksampler()))
    message = node_error(executor)
    assert "image_proj_model" in message and "pytorch_model.bin" in message, message


def sd15_like_model():
    """A narrow SD1.5-layout UNet (16 cross-attention sites, context 768), random weights."""
    from comfy import model_management, model_patcher, supported_models

    unet_config = {
        "use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 32,
        "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 4, 4], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
        "transformer_depth_middle": 1, "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        "context_dim": 768, "use_linear_in_transformer": False, "use_spatial_transformer": True, "legacy": False,
        "adm_in_channels": None, "num_classes": None, "use_temporal_attention": False, "use_temporal_resblock": False,
    }
    config = supported_models.SD15(unet_config)
    config.unet_config["num_heads"], config.unet_config["num_head_channels"] = 2, -1
    config.set_inference_dtype(torch.float32, None)
    return model_patcher.ModelPatcher(config.get_model({}), load_device=model_management.get_torch_device(),
                                      offload_device=model_management.unet_offload_device())


def test_sd15_and_non_unet_models_are_refused(pack, golden, golden_model):
    apply_node = import_from_pack(pack, "nodes.apply").DiffSenseiApply
    adapter_module = import_from_pack(pack, "nodes.host.adapter")
    checkpoint = import_from_pack(pack, "diffsensei_core.model.checkpoint")
    errors = import_from_pack(pack, "diffsensei_core.errors")
    layout_module = import_from_pack(pack, "diffsensei_core.model.panel_layout")
    sockets = import_from_pack(pack, "nodes.host.sockets")
    adapter = adapter_module.DiffSenseiAdapter(
        checkpoint.load_image_generator(GOLDEN_DIR / "image_generator", resampler_dim_head=16).adapter,
        dtype=torch.float32, source="golden")
    characters = sockets.EncodedCharacters(clip=torch.zeros(0, 257, 48), magi=torch.zeros(0, 24))
    layout = layout_module.make_layout(256, 256)
    with pytest.raises(errors.InputShapeError, match=r"16 cross-attention sites but the adapter has 70"):
        apply_node.execute(sd15_like_model(), adapter, characters, layout, 0.6)

    class NotAUnet:
        pass

    transformer_model = golden_model.clone()
    transformer_model.model = NotAUnet()
    with pytest.raises(errors.InputShapeError, match=r"expected an SDXL UNet MODEL; got NotAUnet"):
        apply_node.execute(transformer_model, adapter, characters, layout, 0.6)
