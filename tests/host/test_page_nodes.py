"""Page nodes in real ComfyUI: Page layout → Page → panel layouts (lists: the next node runs once per panel) →
Compose page → Export pages (PNG, CBZ, PDF), and the errors a user sees."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import import_from_pack, registered_nodes
from unet_calls import case

CALLS: list[tuple[int, int, tuple]] = []
PAGE_JSON = json.dumps({"panels": [{"characters": [[0.1, 0.2, 0.5, 1]], "dialogs": [[0.6, 0, 1, 0.3]],
                                    "prompt": "first"}, {"prompt": "second"}]})


@pytest.fixture(scope="module")
def test_nodes(comfy, pack):
    """A stand-in for Apply → KSampler → VAE Decode: one flat panel image of the layout's size per call."""

    class PanelStandIn:
        RETURN_TYPES = ("IMAGE",)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"layout": ("DIFFSENSEI_LAYOUT",), "latent": ("LATENT",), "prompt": ("STRING",)}}

        def run(self, layout, latent, prompt):
            CALLS.append((layout.width, layout.height, tuple(latent["samples"].shape), prompt))
            shade = 0.2 * len(CALLS) % 1.0
            return (torch.full((1, layout.height, layout.width, 3), shade),)

    with registered_nodes(comfy, DSSTestPanelStandIn=PanelStandIn):
        yield


def page_prompt(*, preset="4 panels (2×2)", page=PAGE_JSON, panel_index=-1, pages=1, export=None) -> dict:
    prompt = {
        "page": {"class_type": "DiffSenseiPageLayout", "inputs": {
            "preset": preset, "page_size": "A5 (148×210 mm)", "dpi": 50, "direction": "rtl", "margin_mm": 8.0,
            "gutter_mm": 3.0, "border_mm": 0.5, "page": page}},
        "panels": {"class_type": "DiffSenseiPagePanels", "inputs": {
            "page": ["page", 0], "scale": 128, "panel_index": panel_index, "batch_size": 1}},
        "draw": {"class_type": "DSSTestPanelStandIn", "inputs": {
            "layout": ["panels", 0], "latent": ["panels", 1], "prompt": ["panels", 2]}},
        "compose": {"class_type": "DiffSenseiComposePage", "inputs": {
            "page": ["page", 0], "images": ["draw", 0], "fit": "crop", "paper": "#ffffff", "ink": "#000000"}},
        "repeat": {"class_type": "RepeatImageBatch", "inputs": {"image": ["compose", 0], "amount": pages}},
        "export": {"class_type": "DiffSenseiExportPages", "inputs": {
            "pages": ["repeat", 0], "filename_prefix": "dss/chapter", "png": True, "cbz": True, "pdf": True,
            "dpi": 300, "direction": "ltr", **(export or {})}},
    }
    return prompt


def node_error(executor) -> str:
    errors = [m for name, m in executor.status_messages if name == "execution_error"]
    assert errors, f"expected a node error, got {executor.status_messages}"
    return f"{errors[0]['node_type']}: {errors[0]['exception_message']}"


def test_panel_lists_run_the_next_node_once_per_panel_and_export_a_chapter(comfy, test_nodes, run_prompt):
    CALLS.clear()
    prompt = page_prompt(pages=3, export={"page": ["page", 0]})
    executor, outputs = run_prompt(prompt)
    assert executor.success, executor.status_messages
    assert len(CALLS) == 4, "one call per panel"
    assert [c[3] for c in CALLS] == ["first", "second", "", ""]
    for width, height, shape, _ in CALLS:
        assert width % 8 == 0 and height % 8 == 0 and shape == (1, 4, height // 8, width // 8)
        assert width < height, "A5 2×2 panels are portrait; generated at their shape"
    images = outputs["export"]["images"]
    assert len(images) == 3 and all(i["type"] == "output" and i["subfolder"] == "dss" for i in images)
    folder = Path(comfy.folder_paths.get_output_directory()) / "dss"
    stem = images[0]["filename"].rsplit("_", 1)[0]
    cbz, pdf = folder / f"{stem}_.cbz", folder / f"{stem}_.pdf"
    with zipfile.ZipFile(cbz) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["001.png", "002.png", "003.png", "ComicInfo.xml"]
        assert b"<Manga>YesAndRightToLeft</Manga>" in archive.read("ComicInfo.xml"), "the page's rtl wins"
    data = pdf.read_bytes()
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 3
    from PIL import Image

    with Image.open(folder / images[0]["filename"]) as page:
        assert page.size == (round(148 * 50 / 25.4), round(210 * 50 / 25.4))
        assert round(page.info["dpi"][0]) == 50, "the page's dpi wins over the node's"


def test_panel_index_picks_one_panel(comfy, test_nodes, run_prompt):
    CALLS.clear()
    prompt = page_prompt(preset="3 panels (1 + 2)", panel_index=0)
    prompt.pop("compose"), prompt.pop("repeat"), prompt.pop("export")
    prompt["show"] = {"class_type": "PreviewImage", "inputs": {"images": ["draw", 0]}}
    executor, _ = run_prompt(prompt)
    assert executor.success, executor.status_messages
    assert len(CALLS) == 1 and CALLS[0][0] > CALLS[0][1], "the first panel is the wide one"


def test_compose_with_the_wrong_number_of_images_says_so(comfy, test_nodes, run_prompt):
    prompt = page_prompt(panel_index=1)
    executor, _ = run_prompt(prompt)
    assert not executor.success
    message = node_error(executor)
    assert re.search(r"Compose page, input 'images': the page has 4 panels but 1 images arrived", message), message


@pytest.mark.parametrize(("changes", "node", "pattern"), [
    ({"page": '{"panels": [{"box": [0, 0, 1, 1]}]}'}, "page", "Page layout.*gives its own box.*custom"),
    ({"page": "{oops"}, "page", "Page layout, input 'page'.*not valid JSON"),
    ({"panel_index": 6}, "panels", "panel_index.*expected -1 or 0..3"),
    ({"png": False, "cbz": False, "pdf": False}, "export", "all are off"),
])
def test_bad_inputs_fail_with_the_node_and_input_named(comfy, test_nodes, run_prompt, changes, node, pattern):
    prompt = page_prompt()
    prompt[node]["inputs"].update(changes)
    executor, _ = run_prompt(prompt)
    assert not executor.success
    assert re.search(pattern, node_error(executor)), node_error(executor)
    executor, _ = run_prompt(page_prompt())
    assert executor.success, "the next prompt runs"


def test_prefix_cannot_leave_the_output_folder(comfy, test_nodes, run_prompt):
    executor, outputs = run_prompt(page_prompt(export={"filename_prefix": "../../escape/x", "cbz": False,
                                                       "pdf": False}))
    assert executor.success, executor.status_messages
    (image,) = outputs["export"]["images"]
    out = Path(comfy.folder_paths.get_output_directory())
    assert (out / image["subfolder"] / image["filename"]).is_file() and image["subfolder"] == "escape"


@pytest.mark.parametrize("disabled", [False, True])
def test_exported_pngs_carry_the_workflow_like_save_image(comfy, test_nodes, run_prompt, monkeypatch, disabled):
    from comfy.cli_args import args
    from PIL import Image

    monkeypatch.setattr(args, "disable_metadata", disabled)
    prompt = page_prompt(export={"cbz": False, "pdf": False})
    workflow = {"nodes": [{"id": 1, "type": "DiffSenseiExportPages"}], "links": [], "note": "ページ"}
    executor, outputs = run_prompt(prompt, extra_pnginfo={"workflow": workflow})
    assert executor.success, executor.status_messages
    (image,) = outputs["export"]["images"]
    with Image.open(Path(comfy.folder_paths.get_output_directory()) / image["subfolder"] / image["filename"]) as png:
        text = dict(png.text)
    if disabled:
        assert text == {}, "--disable-metadata writes none"
    else:
        assert json.loads(text["prompt"]) == prompt and json.loads(text["workflow"]) == workflow


def test_page_workflow_wires_one_chain_per_panel(comfy):
    from headless import workflow_format

    workflow = json.loads((Path(__file__).resolve().parents[2] / "workflows" / "diffsensei_page.json").read_text())
    prompt = workflow_format.ui_to_api(workflow, comfy.nodes.NODE_CLASS_MAPPINGS)
    kinds = {node_id: node["class_type"] for node_id, node in prompt.items()}

    def source(node: dict, key: str) -> str:
        return kinds[node["inputs"][key][0]]

    (apply,) = [n for n in prompt.values() if n["class_type"] == "DiffSenseiApply"]
    (sampler,) = [n for n in prompt.values() if n["class_type"] == "KSampler"]
    (positive,) = [prompt[sampler["inputs"]["positive"][0]]]
    assert source(apply, "layout") == source(sampler, "latent_image") == "DiffSenseiPagePanels"
    assert positive["inputs"]["text_g"] == positive["inputs"]["text_l"] == [sampler["inputs"]["latent_image"][0], 2]
    (letter,) = [n for n in prompt.values() if n["class_type"] == "DiffSenseiLetterBubbles"]
    assert source(letter, "image") == "DiffSenseiComposePage" and source(letter, "page") == "DiffSenseiPageLayout"
    for output in ("SaveImage", "DiffSenseiExportPages"):
        (node,) = [n for n in prompt.values() if n["class_type"] == output]
        assert kinds[node["inputs"]["images" if output == "SaveImage" else "pages"][0]] == "DiffSenseiLetterBubbles"
    (layout,) = [n for n in prompt.values() if n["class_type"] == "DiffSenseiPageLayout"]
    panels = json.loads(layout["inputs"]["page"])["panels"]
    (encode,) = [n for n in prompt.values() if n["class_type"] == "DiffSenseiEncodeCharacters"]
    references = [k for k in encode["inputs"] if k.startswith("character_")]
    everyone = list(range(1, len(references) + 1))
    casts = [p.get("cast", everyone) for p in panels]
    assert len(panels) == 4 and len(references) == 2
    for panel, cast in zip(panels, casts, strict=True):
        assert len(panel["characters"]) == len(cast) and set(cast) <= set(everyone), "one box per cast member"
    assert set().union(*casts) == set(everyone), "every reference character appears on the page"
    if any("cast" in p for p in panels):  # the casts only reach Apply through Page → panel layouts
        (split,) = [n for n in prompt.values() if n["class_type"] == "DiffSenseiPagePanels"]
        assert source(split, "characters") == "DiffSenseiEncodeCharacters"
        assert source(apply, "characters") == "DiffSenseiPagePanels"
    texts = [line for line in letter["inputs"]["texts"].splitlines() if line.strip()]
    assert len(texts) == sum(len(p["dialogs"]) for p in panels), "one line of text per dialog box"


# -------------------------------------------------------------------------------------------------- per-panel cast

RECORDED: list[tuple[int, tuple[int, ...], int]] = []
CAST_PAGE = json.dumps({"panels": [
    {"box": [0.0, 0.0, 0.5, 1.0], "characters": [[0.1, 0.2, 0.9, 1.0]], "dialogs": [[0, 0, 0.5, 0.2]], "cast": [1]},
    {"box": [0.5, 0.0, 1.0, 1.0], "characters": [[0.1, 0.2, 0.9, 1.0]], "cast": [2]},
]})


@pytest.fixture(scope="module")
def cast_nodes(comfy, pack, golden):
    """Golden inputs (two characters, optionally carrying MLLM-adapted tokens, and the positive and negative
    conditioning) and a pass-through that records which of the two characters each panel got."""
    sockets = import_from_pack(pack, "nodes.host.sockets")
    data = case(golden, "two_chars")
    clip, magi = data["clip"][0, :2], data["magi"][0, :2]

    class Golden:
        RETURN_TYPES = ("DIFFSENSEI_CHARACTERS", "CONDITIONING", "CONDITIONING")
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"adapted": ("BOOLEAN", {"default": False})}}

        def run(self, adapted):
            tokens = torch.zeros(1, 64, 64) if adapted else None
            positive, negative = ([[data["text"][i : i + 1], {"pooled_output": data["pooled"][i : i + 1]}]]
                                  for i in (1, 0))
            return sockets.EncodedCharacters(clip=clip, magi=magi, adapted_tokens=tokens), positive, negative

    class Record:
        RETURN_TYPES = ("DIFFSENSEI_CHARACTERS",)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"characters": ("DIFFSENSEI_CHARACTERS",), "layout": ("DIFFSENSEI_LAYOUT",)}}

        def run(self, characters, layout):
            which = tuple(int((magi - row).abs().sum(dim=1).argmin()) + 1 for row in characters.magi)
            assert torch.equal(characters.clip, clip[[w - 1 for w in which]]), "CLIP rows follow the Magi rows"
            RECORDED.append((characters.count, which, len(layout.characters)))
            return (characters,)

    with registered_nodes(comfy, DSSTestPageGolden=Golden, DSSTestRecordCharacters=Record):
        yield


def cast_prompt(model_name: str | None, *, page: str = CAST_PAGE, adapted: bool = False,
                connect: bool = True) -> dict:
    """Page (2 custom panels) → Page → panel layouts (+ characters) → Record → Apply → KSampler → Save Latent."""
    prompt = {
        "page": {"class_type": "DiffSenseiPageLayout", "inputs": {
            "preset": "custom (drawn panels)", "page_size": "A5 (148×210 mm)", "dpi": 50, "direction": "ltr",
            "margin_mm": 8.0, "gutter_mm": 3.0, "border_mm": 0.5, "page": page}},
        "golden": {"class_type": "DSSTestPageGolden", "inputs": {"adapted": adapted}},
        "panels": {"class_type": "DiffSenseiPagePanels", "inputs": {
            "page": ["page", 0], "scale": 128, "panel_index": -1, "batch_size": 1, "characters": ["golden", 0]}},
        "record": {"class_type": "DSSTestRecordCharacters", "inputs": {
            "characters": ["panels", 4], "layout": ["panels", 0]}},
    }
    if not connect:
        del prompt["panels"]["inputs"]["characters"]
    if model_name is None:
        prompt["keep"] = {"class_type": "PreviewAny", "inputs": {"source": ["record", 0]}}
        return prompt
    prompt.update({
        "load": {"class_type": "DiffSenseiLoadModel", "inputs": {"model_name": model_name, "weight_dtype": "default"}},
        "apply": {"class_type": "DiffSenseiApply", "inputs": {
            "model": ["load", 0], "adapter": ["load", 1], "characters": ["record", 0], "layout": ["panels", 0],
            "ip_scale": 0.6}},
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["apply", 0], "seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
            "positive": ["golden", 1], "negative": ["golden", 2], "latent_image": ["panels", 1], "denoise": 1.0}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["sample", 0], "filename_prefix": "dss/cast"}},
    })
    return prompt


def test_each_panel_gets_its_cast_through_apply_and_ksampler(comfy, cast_nodes, golden_release, run_prompt):
    RECORDED.clear()
    executor, outputs = run_prompt(cast_prompt(golden_release))
    assert executor.success, executor.status_messages
    assert RECORDED == [(1, (1,), 1), (1, (2,), 1)], "panel 1 shows character 1 only, panel 2 character 2 only"
    latents = outputs["save"]["latents"]
    assert len(latents) == 2, "Apply and KSampler ran once per panel"
    from safetensors.torch import load_file

    out = Path(comfy.folder_paths.get_output_directory())
    for entry in latents:
        latent = load_file(out / entry["subfolder"] / entry["filename"])["latent_tensor"]
        assert latent.shape[:2] == (1, 4) and torch.isfinite(latent).all()


def test_a_panel_without_characters_runs_apply_with_none(comfy, cast_nodes, golden_release, run_prompt):
    RECORDED.clear()
    page = json.loads(CAST_PAGE)
    page["panels"][1] = {"box": [0.5, 0.0, 1.0, 1.0], "dialogs": [[0.1, 0.1, 0.6, 0.4]]}
    executor, outputs = run_prompt(cast_prompt(golden_release, page=json.dumps(page)))
    assert executor.success, executor.status_messages
    assert RECORDED == [(1, (1,), 1), (0, (), 0)]
    assert len(outputs["save"]["latents"]) == 2


@pytest.mark.parametrize(("changes", "pattern"), [
    ({"adapted": True}, r"DiffSenseiPagePanels: .*input 'characters': these characters carry MLLM-adapted tokens.*"
                        r"put MLLM Adapt Characters after this node"),
    ({"page": json.dumps({"panels": [{"box": [0, 0, 0.5, 1], "characters": [[0, 0, 1, 1]]}]})},
     r'DiffSenseiPagePanels: .*inputs \'page\' and \'characters\': panel 1 has 1 character box\(es\) and no "cast"'),
    ({"page": json.dumps({"panels": [{"box": [0, 0, 0.5, 1], "characters": [[0, 0, 1, 1]], "cast": [3]}]})},
     r'panel 1: "cast" \[3\] names character 3 but 2 character\(s\) are connected'),
    ({"page": json.dumps({"panels": [{"box": [0, 0, 0.5, 1], "cast": [1]}]})},
     r'DiffSenseiPageLayout: .*panel 1 has 0 character box\(es\) but its "cast" \[1\]'),
])
def test_cast_errors_name_the_node_input_and_panel(comfy, cast_nodes, run_prompt, changes, pattern):
    executor, _ = run_prompt(cast_prompt(None, **changes))
    assert not executor.success
    assert re.search(pattern, node_error(executor)), node_error(executor)


def test_characters_output_without_the_input_blocks_with_a_message(comfy, cast_nodes, run_prompt, fake_server):
    RECORDED.clear()
    run_prompt(cast_prompt(None, connect=False))
    errors = [m for name, m in fake_server.messages if name == "execution_error"]
    assert RECORDED == [] and errors, fake_server.messages
    assert errors[0]["node_type"] == "DSSTestRecordCharacters"
    assert "input 'characters' is not connected" in errors[0]["exception_message"]
