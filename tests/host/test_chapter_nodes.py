"""The chapter nodes in real ComfyUI: Chapter script → (references → an encoder) → Chapter → panel layouts (lists:
the next nodes run once per panel) → Compose page (a list of pages) → Letter bubbles (once per page) → Export pages
(one CBZ with the chapter's title); characters averaged per script character and cut to each cast; the example
workflow's wiring; and the errors a user sees."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import import_from_pack, registered_nodes

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "workflows" / "chapters" / "the_late_bell.txt").read_text(encoding="utf-8")
CALLS: list[dict] = []
ENCODED: list[float] = []
TWO_REFS = """Title: Two refs
Character Ren: diffsensei_example_hero.png, diffsensei_example_rival.png
Character Mio: diffsensei_example_rival.png
Page
Panel
  Mio and Ren wait.
  Ren: Hi.
Panel
  Mio waves.
Page
Panel
  Ren alone.
"""


@pytest.fixture(scope="module")
def inputs(comfy):
    folder = Path(comfy.folder_paths.get_input_directory())
    for image in (REPO / "workflows" / "assets").glob("*.png"):
        shutil.copyfile(image, folder / image.name)
    return folder


@pytest.fixture(scope="module")
def stand_ins(comfy, pack, inputs):
    """An encoder that makes one character per image (its features: the image's mean), and a panel stand-in for
    Apply → KSampler → VAE Decode that records what it gets and returns a flat image of the layout's size."""
    sockets = import_from_pack(pack, "nodes.host.sockets")

    class Encode:
        RETURN_TYPES = ("DIFFSENSEI_CHARACTERS",)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"image": ("IMAGE",)}}

        def run(self, image):
            value = float(image.mean())
            ENCODED.append(value)
            return (sockets.EncodedCharacters(clip=torch.full((1, 3, 4), value), magi=torch.full((1, 2), value)),)

    class Panel:
        RETURN_TYPES = ("IMAGE",)
        FUNCTION = "run"
        CATEGORY = "testing"
        OUTPUT_NODE = True

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"layout": ("DIFFSENSEI_LAYOUT",), "latent": ("LATENT",), "prompt": ("STRING",),
                                 "seed": ("INT", {"default": 0, "min": 0, "max": 2**64 - 1})},
                    "optional": {"characters": ("DIFFSENSEI_CHARACTERS",)}}

        def run(self, layout, latent, prompt, seed, characters=None):
            CALLS.append({"size": (layout.width, layout.height), "latent": tuple(latent["samples"].shape),
                          "prompt": prompt, "seed": seed, "characters": characters,
                          "boxes": len(layout.characters)})
            return (torch.full((1, layout.height, layout.width, 3), 0.5),)

    with registered_nodes(comfy, DSSTestEncodeEach=Encode, DSSTestChapterPanel=Panel):
        yield


def chapter_prompt(script: str = EXAMPLE, *, page: int = 0, panel: int = 0, characters: bool = True,
                   finish: bool = True) -> dict:
    prompt = {
        "script": {"class_type": "DiffSenseiChapterScript",
                   "inputs": {"script": script, "script_file": "(none)", "dpi": 50, "font": "default"}},
        "encode": {"class_type": "DSSTestEncodeEach", "inputs": {"image": ["script", 1]}},
        "panels": {"class_type": "DiffSenseiChapterPanels", "inputs": {
            "chapter": ["script", 0], "scale": 128, "page": page, "panel": panel, "batch_size": 1,
            **({"characters": ["encode", 0]} if characters else {})}},
        "draw": {"class_type": "DSSTestChapterPanel", "inputs": {
            "layout": ["panels", 0], "latent": ["panels", 1], "prompt": ["panels", 2], "seed": ["panels", 4],
            **({"characters": ["panels", 3]} if characters else {})}},
    }
    if finish:
        prompt.update({
            "compose": {"class_type": "DiffSenseiComposePage", "inputs": {
                "page": ["panels", 5], "images": ["draw", 0], "fit": "crop", "paper": "#ffffff", "ink": "#000000"}},
            "letter": {"class_type": "DiffSenseiLetterBubbles", "inputs": {
                "image": ["compose", 0], "page": ["panels", 5], "texts": ["panels", 6], "shape": "oval",
                "writing": "auto", "font": "default", "font_size": ["script", 4], "min_font_size": ["script", 5],
                "overflow": "error", "outline_width": 3}},
            "export": {"class_type": "DiffSenseiExportPages", "inputs": {
                "pages": ["letter", 0], "page": ["panels", 5], "title": ["script", 2],
                "filename_prefix": "dss_chapter/late", "png": True, "cbz": True, "pdf": False, "dpi": 300,
                "direction": "ltr"}},
        })
    return prompt


def node_error(executor) -> str:
    errors = [m for name, m in executor.status_messages if name == "execution_error"]
    assert errors, f"expected a node error, got {executor.status_messages}"
    return f"{errors[0]['node_type']}: {errors[0]['exception_message']}"


def test_one_queue_renders_letters_and_exports_the_whole_chapter(comfy, stand_ins, run_prompt):
    CALLS.clear()
    ENCODED.clear()
    executor, outputs = run_prompt(chapter_prompt())
    assert executor.success, executor.status_messages
    assert len(ENCODED) == 2, "each reference image encoded once for the chapter"
    assert len(CALLS) == 11, "one call per panel of the three pages"
    assert len({c["seed"] for c in CALLS}) == 11, "a seed per panel"
    assert CALLS[1]["prompt"].startswith("Ren runs through the gate") and "screentone" in CALLS[1]["prompt"]
    for call in CALLS:
        w, h = call["size"]
        assert call["latent"] == (1, 4, h // 8, w // 8) and call["characters"].count == call["boxes"]
    images = outputs["export"]["images"]
    assert len(images) == 3, "one lettered page per page"
    folder = Path(comfy.folder_paths.get_output_directory()) / "dss_chapter"
    (cbz,) = sorted(folder.glob("late_*.cbz"))[-1:]
    with zipfile.ZipFile(cbz) as archive:
        info = archive.read("ComicInfo.xml").decode()
        assert sorted(archive.namelist()) == ["001.png", "002.png", "003.png", "ComicInfo.xml"]
    assert "<Title>The Late Bell</Title>" in info and "<PageCount>3</PageCount>" in info
    assert "<Manga>YesAndRightToLeft</Manga>" in info, "the chapter's own direction, not the node's"


def test_characters_are_averaged_per_script_character_and_cut_to_each_cast(comfy, stand_ins, run_prompt, inputs):
    CALLS.clear()
    ENCODED.clear()
    executor, _ = run_prompt(chapter_prompt(TWO_REFS, finish=False))
    assert executor.success, executor.status_messages
    hero, rival, rival_again = ENCODED
    assert rival == rival_again
    ren, mio = (hero + rival) / 2, rival
    first, second, third = CALLS
    assert first["characters"].clip[:, 0, 0].tolist() == pytest.approx([ren, mio]), "cast [Ren, Mio]: speaker first"
    assert second["characters"].clip[:, 0, 0].tolist() == pytest.approx([mio])
    assert third["characters"].magi[:, 0].tolist() == pytest.approx([ren])


def test_page_and_panel_selectors(comfy, stand_ins, run_prompt):
    CALLS.clear()
    executor, _ = run_prompt(chapter_prompt(page=2, finish=False))
    assert executor.success, executor.status_messages
    assert len(CALLS) == 4
    CALLS.clear()
    executor, _ = run_prompt(chapter_prompt(page=3, panel=2, finish=False))
    assert executor.success and len(CALLS) == 1 and CALLS[0]["prompt"].startswith("Mio holds out a carton")


def test_the_plan_output_goes_back_in_as_it_is(comfy, stand_ins, run_prompt, pack):
    planned = import_from_pack(pack, "diffsensei_core.chapter.planned")
    CALLS.clear()
    executor, _ = run_prompt(chapter_prompt(page=1, finish=False))
    first = [dict(c, characters=None) for c in CALLS]
    node = comfy.nodes.NODE_CLASS_MAPPINGS["DiffSenseiChapterScript"]
    plan_json = node.execute(script=EXAMPLE, script_file="(none)", dpi=50, font="default").args[6]
    data = json.loads(plan_json)
    assert data["format"] == planned.FORMAT
    data["pages"][0]["page"]["panels"][1]["prompt"] = "edited on the page canvas"
    CALLS.clear()
    executor, _ = run_prompt(chapter_prompt(json.dumps(data), page=1, finish=False))
    assert executor.success, executor.status_messages
    assert [c["prompt"] for c in CALLS] == [first[0]["prompt"], "edited on the page canvas", first[2]["prompt"]]


def test_a_script_file_from_the_input_folder_and_its_changes(comfy, stand_ins, run_prompt, inputs):
    node = comfy.nodes.NODE_CLASS_MAPPINGS["DiffSenseiChapterScript"]
    (inputs / "chapters").mkdir(exist_ok=True)
    path = inputs / "chapters" / "story.txt"
    path.write_text(TWO_REFS, encoding="utf-8")
    assert "chapters/story.txt" in node.define_schema().inputs[1].options
    before = node.fingerprint_inputs(script="", script_file="chapters/story.txt", dpi=50, font="default")
    out = node.execute(script="ignored", script_file="chapters/story.txt", dpi=50, font="default")
    assert out.args[2] == "Two refs"
    path.write_text(TWO_REFS.replace("Two refs", "Changed"), encoding="utf-8")
    after = node.fingerprint_inputs(script="", script_file="chapters/story.txt", dpi=50, font="default")
    assert before != after, "the node re-runs when the file changes"


@pytest.mark.parametrize(("prompt_changes", "pattern"), [
    ({"script": EXAMPLE.replace("Mio: You are. Again.", "Moi: You are. Again.")},
     r"DiffSenseiChapterScript: DiffSensei: Chapter script, input 'script': script line 22, column 3: unknown "
     r"speaker 'Moi'.*Did you mean 'Mio'\?"),
    ({"script": EXAMPLE.replace("diffsensei_example_rival.png", "nobody.png")},
     r"reference image 'nobody.png' of Mio is not in the input folder"),
    ({"script": EXAMPLE.replace("Ren's small smile.", "Ren's small smile.\n  Ren: " + "word " * 200)},
     r"script line 53, column 8: the text 'word word .*' finds no room in its panel"),
])
def test_script_errors_name_the_node_and_the_line(comfy, stand_ins, run_prompt, prompt_changes, pattern):
    prompt = chapter_prompt(finish=False)
    prompt["script"]["inputs"].update(prompt_changes)
    executor, _ = run_prompt(prompt)
    assert not executor.success
    assert re.search(pattern, node_error(executor), re.DOTALL), node_error(executor)


@pytest.mark.parametrize(("changes", "pattern"), [
    ({"page": 4}, r"expected page 0 \(all\) or 1\.\.3.*got page 4"),
    ({"panel": 2}, r"a panel only with a page"),
    ({"page": 1, "panel": 4}, r"page 1 has 3 panels; got panel 4"),
])
def test_selector_errors(comfy, stand_ins, run_prompt, changes, pattern):
    prompt = chapter_prompt(finish=False)
    prompt["panels"]["inputs"].update(changes)
    executor, _ = run_prompt(prompt)
    assert re.search(pattern, node_error(executor)), node_error(executor)


def test_the_wrong_number_of_encodings_says_what_to_connect(comfy, stand_ins, run_prompt):
    prompt = chapter_prompt(finish=False)
    prompt["single"] = {"class_type": "LoadImage", "inputs": {"image": "diffsensei_example_hero.png"}}
    prompt["encode"]["inputs"]["image"] = ["single", 0]
    executor, _ = run_prompt(prompt)
    assert re.search(r"expected 2 encoded reference images \(the script's, in order: Ren ×1, Mio ×1\); got 1\. "
                     r"Connect Chapter script's 'references'", node_error(executor)), node_error(executor)


def test_schemas_explain_every_input_and_output(comfy, pack):
    chapter = import_from_pack(pack, "nodes.chapter")
    for node in chapter.NODES:
        schema = node.define_schema()
        assert schema.node_id.startswith("DiffSensei") and schema.display_name.startswith("DiffSensei: ")
        assert schema.category == "DiffSensei/chapter" and schema.description
        for item in (*schema.inputs, *schema.outputs):
            assert item.tooltip, f"{schema.node_id}.{item.id} has no tooltip"
        assert (REPO / "web" / "docs" / f"{schema.node_id}.md").is_file()


def test_the_example_workflow_holds_the_example_script_and_wires_the_chapter(comfy):
    from headless import workflow_format

    graph = json.loads((REPO / "workflows" / "diffsensei_chapter.json").read_text(encoding="utf-8"))
    script = next(n for n in graph["nodes"] if n["type"] == "DiffSenseiChapterScript")
    assert script["widgets_values"][0] == EXAMPLE, "the workflow and workflows/chapters/the_late_bell.txt agree"
    bypassed = {n["type"] for n in graph["nodes"] if n.get("mode") == 4}
    assert bypassed == {"DiffSenseiLoadMLLM", "DiffSenseiMLLMAdaptCharacters"}
    prompt = workflow_format.ui_to_api(graph, comfy.nodes.NODE_CLASS_MAPPINGS)
    by_type = {node["class_type"]: (node_id, node) for node_id, node in prompt.items()}
    panels_id = by_type["DiffSenseiChapterPanels"][0]
    apply = by_type["DiffSenseiApply"][1]["inputs"]
    assert apply["characters"] == [panels_id, 3], "MLLM bypassed: the panels' characters go straight to Apply"
    assert by_type["KSampler"][1]["inputs"]["seed"] == [panels_id, 4]
    encode = by_type["DiffSenseiEncodeCharacters"][1]["inputs"]
    assert encode["character_1"] == [by_type["DiffSenseiChapterScript"][0], 1]
    assert by_type["DiffSenseiExportPages"][1]["inputs"]["title"] == [by_type["DiffSenseiChapterScript"][0], 2]
