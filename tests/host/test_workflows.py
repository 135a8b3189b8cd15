"""The example workflows in workflows/: UI format, convertible, documented, and runnable end to end with --demo.

Each example runs in a subprocess through ``scripts/run_workflow.py --demo``, which swaps the SDXL checkpoint for the
tiny demo UNet with a demo CLIP and VAE, points the LoRA/ControlNet/DiffSensei loaders at tiny demo files, and caps
steps and panel sizes (see the runner's docstring). The in-process tests check the stand-ins on their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import import_from_pack

from headless import demo_mode, demo_nodes, demo_weights, workflow_format
from tests.support import make_workflow_assets

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
ASSETS = WORKFLOWS / "assets"
SCRIPT = REPO / "scripts" / "run_workflow.py"
OFFICIAL_NEGATIVE = "think lines, pure black background, colored, lowres, bad anatomy, worst quality, low quality"

# example workflow → images its demo run writes (one per SaveImage; the story: one per panel)
EXAMPLES = {
    "diffsensei_two_characters.json": 2,
    "diffsensei_no_characters.json": 1,
    "diffsensei_lora_controlnet.json": 1,
    "diffsensei_story_panels.json": 3,
    "diffsensei_page.json": 2,  # the page from SaveImage and the PNG from Export pages
    "diffsensei_chapter.json": 3,  # the three pages from Export pages (plus a CBZ and a PDF)
    "diffsensei_page_ja.json": 2,  # the same page lettered in Japanese, vertical (needs a font with Japanese glyphs)
    "diffsensei_photo_to_manga_story.json": 3,  # the manga character from the photo, then two panels with it
    "diffsensei_group_photo.json": 2,  # the whole group, and the largest person as a character
    "diffsensei_prompt_distribution.json": 5,  # γ 0 / 1 / 2, a mix of two styles, a DiffSensei panel
}
# UI workflows the demo cannot run, and why
NOT_DEMO = {
    "diffsensei_mllm.json": "needs the MLLM weights; the demo builds no tiny MLLM",
}


def _ui_workflows() -> list[Path]:
    return sorted(p for p in WORKFLOWS.glob("*.json") if workflow_format.is_ui_workflow(json.loads(p.read_text())))


def _load(name: str) -> dict:
    return json.loads((WORKFLOWS / name).read_text(encoding="utf-8"))


def _prompt(comfy, name: str) -> dict:
    return workflow_format.ui_to_api(_load(name), comfy.nodes.NODE_CLASS_MAPPINGS)


def _of_type(prompt: dict, kind: str) -> list[dict]:
    return [node for node in prompt.values() if node["class_type"] == kind]


# ------------------------------------------------------------------------------------------ files and format


def test_every_ui_workflow_is_an_example_or_excused():
    names = {p.name for p in _ui_workflows()}
    assert set(EXAMPLES) <= names, f"missing example workflows: {set(EXAMPLES) - names}"
    assert names <= set(EXAMPLES) | set(NOT_DEMO), f"add {names - set(EXAMPLES) - set(NOT_DEMO)} to EXAMPLES"


@pytest.mark.parametrize("path", _ui_workflows(), ids=lambda p: p.name)
def test_ui_workflow_converts_without_unknown_nodes(comfy, path):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data.get("version") == 0.4 and isinstance(data.get("links"), list)
    for key in ("last_node_id", "last_link_id", "groups", "config", "extra"):
        assert key in data, key
    prompt = workflow_format.ui_to_api(data, comfy.nodes.NODE_CLASS_MAPPINGS)
    assert prompt
    # links agree with the nodes' sockets, as the browser writes them
    nodes = {n["id"]: n for n in data["nodes"]}
    for link_id, origin, origin_slot, target, target_slot, kind in data["links"]:
        assert link_id in nodes[origin]["outputs"][origin_slot]["links"]
        assert nodes[target]["inputs"][target_slot]["link"] == link_id
        assert kind == nodes[origin]["outputs"][origin_slot]["type"]
    assert data["last_node_id"] >= max(nodes) and data["last_link_id"] >= max(lk[0] for lk in data["links"])


@pytest.mark.parametrize("name", sorted({*EXAMPLES, *NOT_DEMO} - {"diffsensei_demo.json"}))
def test_example_has_description_readme_entry_and_its_images(name):
    data = _load(name)
    notes = [n for n in data["nodes"] if n["type"] in ("MarkdownNote", "Note")]
    assert notes and len(notes[0]["widgets_values"][0]) > 80, "each example explains itself in a note"
    assert f"`{name}`" in (WORKFLOWS / "README.md").read_text(encoding="utf-8")
    for node in data["nodes"]:
        if node["type"] == "LoadImage":
            assert (ASSETS / node["widgets_values"][0]).is_file(), node["widgets_values"][0]


def test_assets_are_small_and_made_by_our_script(tmp_path):
    assets = sorted(ASSETS.glob("*.png"))
    assert {p.name for p in assets} == {make_workflow_assets.HERO, make_workflow_assets.RIVAL,
                                        make_workflow_assets.LINEART, make_workflow_assets.PHOTO,
                                        make_workflow_assets.GROUP_PHOTO, *make_workflow_assets.STYLE_TONE,
                                        *make_workflow_assets.STYLE_HATCH}
    for path in assets:
        assert path.stat().st_size < 30_000, path
    redrawn = make_workflow_assets.write_assets(tmp_path)
    from PIL import Image, ImageChops

    for path in redrawn:
        with Image.open(path) as new, Image.open(ASSETS / path.name) as old:
            assert new.size == old.size and ImageChops.difference(new, old).getbbox() is None, path.name


# ------------------------------------------------------------------------------------------ what each shows


def test_two_characters_uses_the_recommended_settings(comfy):
    prompt = _prompt(comfy, "diffsensei_two_characters.json")
    (ksampler,) = _of_type(prompt, "KSampler")
    assert {k: ksampler["inputs"][k] for k in ("steps", "cfg", "sampler_name", "scheduler", "denoise")} == {
        "steps": 30, "cfg": 7.5, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
    (custom,) = _of_type(prompt, "SamplerCustom")
    assert custom["inputs"]["cfg"] == 7.5
    assert prompt[custom["inputs"]["sampler"][0]]["inputs"] == {"sampler_name": "euler"}
    sigmas = prompt[custom["inputs"]["sigmas"][0]]
    assert sigmas["class_type"] == "DiffSenseiSigmas" and sigmas["inputs"]["steps"] == 30
    for sampler in (ksampler, custom):
        negative = prompt[sampler["inputs"]["negative"][0]]
        assert negative["inputs"]["text_g"] == negative["inputs"]["text_l"] == OFFICIAL_NEGATIVE
        assert prompt[sampler["inputs"]["model"][0]]["class_type"] == "DiffSenseiApply"
    (layout,) = _of_type(prompt, "DiffSenseiPanelLayout")
    boxes = json.loads(layout["inputs"]["layout"])
    assert len(boxes["characters"]) == 2 and len(boxes["dialogs"]) >= 1
    (ckpt,) = _of_type(prompt, "CheckpointLoaderSimple")
    assert ckpt["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    (apply,) = _of_type(prompt, "DiffSenseiApply")
    assert apply["inputs"]["ip_scale"] == 0.6


def test_no_characters_has_dialogs_only(comfy):
    prompt = _prompt(comfy, "diffsensei_no_characters.json")
    (layout,) = _of_type(prompt, "DiffSenseiPanelLayout")
    boxes = json.loads(layout["inputs"]["layout"])
    assert boxes["characters"] == [] and len(boxes["dialogs"]) >= 1
    (encode,) = _of_type(prompt, "DiffSenseiEncodeCharacters")
    assert not any(k.startswith("character_") for k in encode["inputs"])
    assert not _of_type(prompt, "LoadImage")


def test_lora_and_controlnet_act_on_the_same_model(comfy):
    prompt = _prompt(comfy, "diffsensei_lora_controlnet.json")
    (apply,) = _of_type(prompt, "DiffSenseiApply")
    lora = prompt[apply["inputs"]["model"][0]]
    assert lora["class_type"] == "LoraLoaderModelOnly"
    assert prompt[lora["inputs"]["model"][0]]["class_type"] == "DiffSenseiLoadModel"
    (ksampler,) = _of_type(prompt, "KSampler")
    assert prompt[ksampler["inputs"]["model"][0]]["class_type"] == "DiffSenseiApply"
    for key in ("positive", "negative"):
        assert prompt[ksampler["inputs"][key][0]]["class_type"] == "ControlNetApplyAdvanced"
    (control,) = _of_type(prompt, "ControlNetApplyAdvanced")
    assert prompt[control["inputs"]["control_net"][0]]["class_type"] == "ControlNetLoader"
    hint = prompt[control["inputs"]["image"][0]]
    assert hint["class_type"] == "ImageInvert"
    assert prompt[hint["inputs"]["image"][0]]["inputs"]["image"] == make_workflow_assets.LINEART


def test_story_panels_share_the_characters(comfy):
    prompt = _prompt(comfy, "diffsensei_story_panels.json")
    applies = _of_type(prompt, "DiffSenseiApply")
    assert len(applies) == len(_of_type(prompt, "SaveImage")) == EXAMPLES["diffsensei_story_panels.json"]
    assert len({a["inputs"]["model"][0] for a in applies}) == 1, "one DiffSensei model for every panel"
    references = set()
    for apply in applies:
        encode = prompt[apply["inputs"]["characters"][0]]
        images = [prompt[v[0]]["inputs"]["image"] for k, v in sorted(encode["inputs"].items())
                  if k.startswith("character_")]
        boxes = json.loads(prompt[apply["inputs"]["layout"][0]]["inputs"]["layout"])["characters"]
        assert len(images) == len(boxes)
        assert images[0] == make_workflow_assets.HERO
        references.update(images)
    assert references == {make_workflow_assets.HERO, make_workflow_assets.RIVAL}
    seeds = {node["inputs"]["seed"] for node in _of_type(prompt, "DiffSenseiEncodeCharacters")}
    assert len(seeds) == 1, "the same Magi seed keeps a character's features identical across panels"


# --------------------------------------------------------------------------------------------- demo stand-ins


def test_demo_prompt_swaps_and_caps(comfy):
    prompt = _prompt(comfy, "diffsensei_lora_controlnet.json")
    changes = demo_mode.demo_prompt(prompt)
    kinds = {node["class_type"] for node in prompt.values()}
    assert "CheckpointLoaderSimple" not in kinds and "DiffSenseiDemoCheckpointLoader" in kinds
    assert _of_type(prompt, "LoraLoaderModelOnly")[0]["inputs"]["lora_name"] == demo_mode.DEMO_LORA
    assert _of_type(prompt, "ControlNetLoader")[0]["inputs"]["control_net_name"] == demo_mode.DEMO_CONTROLNET
    assert _of_type(prompt, "DiffSenseiLoadModel")[0]["inputs"]["model_name"] == demo_mode.DEMO_MODEL
    assert _of_type(prompt, "KSampler")[0]["inputs"]["steps"] == demo_mode.DEMO_MAX_STEPS
    layout = _of_type(prompt, "DiffSenseiPanelLayout")[0]["inputs"]
    assert (layout["width"], layout["height"]) == (128, 96)
    assert any("replaced by DiffSenseiDemoCheckpointLoader" in line for line in changes)
    assert demo_mode.demo_prompt(prompt) == [], "a second pass changes nothing"


def test_demo_layout_json_with_its_own_size_follows_the_cap():
    prompt = {"1": {"class_type": "DiffSenseiPanelLayout", "inputs": {
        "width": 1024, "height": 512, "batch_size": 1,
        "layout": json.dumps({"width": 1024, "height": 512, "characters": [], "dialogs": []})}}}
    demo_mode.demo_prompt(prompt)
    inputs = prompt["1"]["inputs"]
    assert (inputs["width"], inputs["height"]) == (128, 64)
    assert json.loads(inputs["layout"])["width"] == 128


def test_demo_clip_works_with_the_stock_sdxl_text_encoder(comfy):
    encoder = comfy.nodes.NODE_CLASS_MAPPINGS["CLIPTextEncodeSDXL"]
    clip = demo_nodes.demo_clip()
    text = "a boy with spiky hair " * 20  # more than one 77-token window for text_g, one for text_l
    out = encoder.execute(clip=clip, width=1024, height=768, crop_w=0, crop_h=0, target_width=1024,
                          target_height=768, text_g=text, text_l="a boy").args[0]
    cond, extra = out[0]
    assert cond.shape == (1, 154, demo_nodes.DEMO_CONTEXT_DIM)
    assert extra["pooled_output"].shape == (1, 1280) and extra["width"] == 1024 and extra["target_height"] == 768
    again = encoder.execute(clip=clip, width=1024, height=768, crop_w=0, crop_h=0, target_width=1024,
                            target_height=768, text_g=text, text_l="a boy").args[0]
    assert (again[0][0] == cond).all(), "the same text gives the same conditioning"
    (plain,) = comfy.nodes.NODE_CLASS_MAPPINGS["CLIPTextEncode"]().encode(clip, "another text")
    assert plain[0][0].shape == (1, 77, demo_nodes.DEMO_CONTEXT_DIM) and not plain[0][0].equal(cond[:, :77])


def test_demo_vae_works_with_the_stock_vae_nodes(comfy):
    import torch

    vae = demo_nodes.DemoVAE()
    (image,) = comfy.nodes.NODE_CLASS_MAPPINGS["VAEDecode"]().decode(vae, {"samples": torch.randn(2, 4, 12, 16)})
    assert image.shape == (2, 96, 128, 3) and 0 <= float(image.min()) and float(image.max()) <= 1
    (latent,) = comfy.nodes.NODE_CLASS_MAPPINGS["VAEEncode"]().encode(vae, image)
    assert latent["samples"].shape == (2, 4, 12, 16)


def test_demo_lora_keys_all_map_onto_the_tiny_unet(comfy_unet, pack):
    from comfy import lora as comfy_lora

    adapter_weights = import_from_pack(pack, "diffsensei_core.model.adapter_weights")
    plain, _sites, _dialog = adapter_weights.split_unet_state_dict(demo_weights.random_unet(0), source="demo")
    model = comfy_unet.build_sdxl_model(plain, demo_weights.DEMO_UNET_CONFIG)
    key_map = comfy_lora.model_lora_keys_unet(model.model, {})
    lora = demo_weights.demo_lora()
    patches = comfy_lora.load_lora(lora, key_map, log_missing=False)
    assert len(patches) == len(lora) // 3 == 280  # 70 sites × to_q/to_k/to_v/to_out.0
    assert all(".attn2." in key for key in patches)


def test_demo_controlnet_config_matches_the_tiny_unet(comfy_unet):
    unet_config, _heads = comfy_unet.unet_config_from_diffusers(demo_weights.DEMO_UNET_CONFIG)
    encoder = demo_weights.ldm_encoder_config()
    for key, value in encoder.items():
        assert unet_config[key] == value, key


def test_demo_controlnet_loads_with_the_stock_loader(tmp_path, comfy):
    from comfy import controlnet

    path = demo_weights.build_demo_controlnet(tmp_path / "cn.safetensors")
    control = controlnet.load_controlnet(str(path))
    assert isinstance(control, controlnet.ControlNet)
    assert control.control_model.input_hint_block[0].in_channels == 3


# -------------------------------------------------------------------------------------------- end to end


def _skip_without_fonts_for_its_texts(pack, name: str) -> None:
    """Lettering Japanese needs an installed font that has the glyphs (the pack ships none)."""
    fonts = import_from_pack(pack, "diffsensei_core.lettering.fonts")
    texts = "".join(node["widgets_values"][0] for node in _load(name)["nodes"]
                    if node["type"] == "DiffSenseiLetterBubbles")
    chain = fonts.FontChain(fonts.discover_faces([]))
    if chain.missing(texts):
        pytest.skip(f"{name}: no installed font has {chain.missing(texts)!r} (apt install fonts-noto-cjk)")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_end_to_end_with_demo_weights(comfy, pack, tmp_path, name):
    _skip_without_fonts_for_its_texts(pack, name)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(SCRIPT), "--demo", str(WORKFLOWS / name), "--output", str(out)],
                            capture_output=True, text=True, timeout=900, cwd=str(REPO),
                            env={**os.environ, "COMFYUI_PATH": str(comfy.root)})
    assert result.returncode == 0, result.stderr[-6000:]
    written = [Path(line) for line in result.stdout.splitlines()]
    assert len(written) == EXAMPLES[name], result.stderr[-3000:]
    assert all(path.is_file() and out in path.parents for path in written)
    log = result.stderr
    assert "DEMO MODE" in log and "replaced by DiffSenseiDemoCheckpointLoader" in log
    assert f"capped at {demo_mode.DEMO_MAX_STEPS}" in log
    assert "lora key not loaded" not in log.lower() and "NOT LOADED" not in log
    from PIL import Image

    for path in written:
        with Image.open(path) as image:
            page = name.startswith("diffsensei_page") or name == "diffsensei_chapter.json"  # pages: capped by dpi
            assert max(image.size) <= (demo_mode.DEMO_MAX_PAGE_SIDE if page else demo_mode.DEMO_MAX_SIDE)
            assert image.getextrema() != ((0, 0), (0, 0), (0, 0)), f"{path.name} is empty"
            saved = json.loads(image.info["workflow"])  # the runner hands the editor graph along like the browser
            assert saved["nodes"] == json.loads((WORKFLOWS / name).read_text(encoding="utf-8"))["nodes"]
    if "lora" in name:
        assert f"replaced by the demo file '{demo_mode.DEMO_LORA}'" in log
        assert f"replaced by the demo file '{demo_mode.DEMO_CONTROLNET}'" in log
