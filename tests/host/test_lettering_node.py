"""DiffSensei: Letter bubbles in real ComfyUI: with a panel layout, with a page, and the errors a user sees."""

from __future__ import annotations

import importlib
import json
import re
import types

import pytest
import torch
from conftest import registered_nodes

CAPTURED: list[torch.Tensor] = []
LAYOUT = json.dumps({"characters": [[0.05, 0.4, 0.4, 1.0], [0.6, 0.4, 0.95, 1.0]],
                     "dialogs": [[0.02, 0.02, 0.45, 0.35], [0.55, 0.02, 0.98, 0.3]]})
PAGE = json.dumps({"panels": [{"characters": [[0.1, 0.4, 0.5, 1]], "dialogs": [[0.5, 0.02, 0.98, 0.35]]},
                              {"characters": [[0.5, 0.4, 0.9, 1]], "dialogs": [[0.02, 0.02, 0.5, 0.35]]}]})
BLUE = 0x2060A0  # lettering is grey-scale, so no lettered pixel keeps this colour


@pytest.fixture(scope="module")
def capture(comfy, pack):
    """An output node that keeps the IMAGE it gets."""

    class Capture:
        RETURN_TYPES = ()
        FUNCTION = "run"
        OUTPUT_NODE = True
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"images": ("IMAGE",)}}

        def run(self, images):
            CAPTURED.append(images.clone())
            return {}

    with registered_nodes(comfy, DSSTestCaptureImage=Capture):
        yield


@pytest.fixture(scope="module")
def lettering(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.lettering")


def letter_inputs(**changes) -> dict:
    inputs = {"image": ["image", 0], "texts": "Where were you?\n2 (rounded): Out.", "shape": "oval",
              "writing": "auto", "font": "default", "font_size": 28, "min_font_size": 8, "overflow": "error",
              "outline_width": 3}
    inputs.update(changes)
    return inputs


def layout_prompt(width=512, height=384, batch=2, **changes) -> dict:
    return {
        "image": {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": batch,
                                                          "color": BLUE}},
        "layout": {"class_type": "DiffSenseiPanelLayout", "inputs": {"width": 512, "height": 384, "batch_size": 1,
                                                                     "layout": LAYOUT}},
        "letter": {"class_type": "DiffSenseiLetterBubbles", "inputs": letter_inputs(layout=["layout", 0], **changes)},
        "out": {"class_type": "DSSTestCaptureImage", "inputs": {"images": ["letter", 0]}},
    }


def node_error(executor) -> str:
    errors = [m for name, m in executor.status_messages if name == "execution_error"]
    assert errors, f"expected a node error, got {executor.status_messages}"
    return f"{errors[0]['node_type']}: {errors[0]['exception_message']}"


def run_ok(run_prompt, prompt) -> torch.Tensor:
    CAPTURED.clear()
    executor, _ = run_prompt(prompt)
    assert executor.success, executor.status_messages
    (image,) = CAPTURED
    return image


def changed(image: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: pixels that are no longer the blue background."""
    blue = torch.tensor([0x20, 0x60, 0xA0]) / 255
    return (image - blue).abs().amax(dim=-1) > 1e-6


def test_layout_bubbles_are_lettered_on_every_image_of_the_batch(capture, run_prompt):
    image = run_ok(run_prompt, layout_prompt())
    assert image.shape == (2, 384, 512, 3)
    assert torch.equal(image[0], image[1]), "the same bubbles and texts on each image"
    mask = changed(image)[0]
    assert mask[int(0.1 * 384):int(0.25 * 384), int(0.1 * 512):int(0.35 * 512)].all(), "bubble 1 painted"
    assert mask[int(0.1 * 384):int(0.2 * 384), int(0.65 * 512):int(0.9 * 512)].all(), "bubble 2 painted"
    assert not mask[int(0.6 * 384):, :].any(), "below the bubbles and tails nothing changes"
    assert (image[0] < 0.1).any(), "black text and outline"


def test_layout_is_scaled_to_a_larger_image(capture, run_prompt):
    image = run_ok(run_prompt, layout_prompt(width=1024, height=768, batch=1))
    mask = changed(image)[0]
    assert mask[int(0.1 * 768):int(0.25 * 768), int(0.1 * 1024):int(0.35 * 1024)].all()
    assert not mask[int(0.6 * 768):, :].any()


def test_same_font_size_letters_every_bubble_at_the_smallest_fitting_size(capture, run_prompt):
    texts = "Where were you all night long?\n2: Out."
    each = run_ok(run_prompt, layout_prompt(batch=1, texts=texts, font_size=60))[0]
    same = run_ok(run_prompt, layout_prompt(batch=1, texts=texts, font_size=60, same_font_size=True))[0]
    left, right = (slice(0, 140), slice(0, 240)), (slice(0, 120), slice(270, 512))
    assert torch.equal(each[left], same[left]), "the long text sets the size and keeps its own layout"
    ink_each, ink_same = ((image[right] < 0.1).all(dim=-1) for image in (each, same))
    assert 0 < ink_same.sum() < ink_each.sum() * 0.7, "'Out.' is drawn at the long text's smaller size"


def test_page_dialog_slots_are_lettered_in_reading_order(capture, run_prompt):
    prompt = {
        "page": {"class_type": "DiffSenseiPageLayout", "inputs": {
            "preset": "2 panels (2 rows)", "page_size": "A5 (148×210 mm)", "dpi": 50, "direction": "rtl",
            "margin_mm": 8.0, "gutter_mm": 3.0, "border_mm": 0.5, "page": PAGE}},
        "image": {"class_type": "EmptyImage", "inputs": {"width": 291, "height": 413, "batch_size": 1,
                                                          "color": BLUE}},
        "letter": {"class_type": "DiffSenseiLetterBubbles", "inputs": letter_inputs(
            page=["page", 0], texts="One!\n0 (shout): Two!", font_size=20)},
        "out": {"class_type": "DSSTestCaptureImage", "inputs": {"images": ["letter", 0]}},
    }
    image = run_ok(run_prompt, prompt)
    mask = changed(image)[0]
    # 291×413 px page, panels (16, 16, 275, 204) and (16, 210, 275, 397); dialog 1 is the top panel's right,
    # dialog 2 the bottom panel's left
    assert mask[35:65, 175:240].all() and mask[230:260, 45:120].all(), "one bubble per panel, texts in order"
    assert not mask[25:70, 20:120].any() and not mask[225:265, 170:270].any()
    assert not mask[:16].any() and not mask[:, :16].any(), "nothing in the page margin"


def test_a_page_object_with_another_size_is_scaled(lettering):
    from_pack = importlib.import_module(lettering.__name__.rsplit(".", 2)[0] + ".diffsensei_core.page.slots")
    page = types.SimpleNamespace(width=100, height=50, dialog_slots=lambda: [
        from_pack.DialogSlot((10, 5, 60, 30), ((70, 20, 90, 50),), 0, (0, 0, 100, 50))])
    image = torch.full((1, 100, 200, 3), 0.5)
    out = lettering.DiffSenseiLetterBubbles.execute(
        image=image, texts="Hey", shape="oval", writing="auto", font="default", font_size=24, min_font_size=6,
        overflow="error", outline_width=2, page=page).result[0]
    mask = (out - 0.5).abs().amax(dim=-1)[0] > 1e-6
    assert mask[25:45, 40:100].all(), "the slot (10, 5, 60, 30) on a 100×50 page, ×2 on the image, is painted"
    assert not mask[80:, :].any() and not mask[:, 190:].any()


@pytest.mark.parametrize(("changes", "pattern"), [
    ({"layout": None}, r"inputs 'page' and 'layout': expected exactly one.*neither is connected"),
    ({"texts": "a\nb\nc"}, r"input 'texts': 3 text lines for 2 dialog box.*Delete 1 line"),
    ({"texts": "a\n3: b"}, r"input 'texts': texts line 2 points its tail at character 3"),
    ({"texts": "This sentence is far too long for the little bubble it is given, it goes on and on and on "
               "and on and on and on and on and on and on and on and on and on and on and on and on and on",
      "min_font_size": 14, "font_size": 20},
     r"input 'texts': texts line 1: the text .* does not fit its bubble.*overflow to 'shrink'"),
    ({"texts": "Hi \U000f0001"}, r"input 'font': no installed font has glyphs for .*U\+F0001"),
    ({"min_font_size": 40, "font_size": 20}, r"input 'min_font_size': expected at most font_size \(20\); got 40"),
    ({"texts": "(mumble): psst"}, r"unknown bubble shape"),
])
def test_bad_inputs_fail_with_the_node_and_input_named(capture, run_prompt, changes, pattern):
    prompt = layout_prompt(batch=1)
    if changes.pop("layout", "keep") is None:
        del prompt["letter"]["inputs"]["layout"]
    prompt["letter"]["inputs"].update(changes)
    CAPTURED.clear()
    executor, _ = run_prompt(prompt)
    assert not executor.success
    message = node_error(executor)
    assert message.startswith("DiffSenseiLetterBubbles: DiffSensei: Letter bubbles"), message
    assert re.search(pattern, message), message


def test_shrink_lets_the_long_text_through(capture, run_prompt):
    long_text = "This sentence is far too long for the little bubble it is given, it goes on and on and on"
    image = run_ok(run_prompt, layout_prompt(batch=1, texts=long_text, min_font_size=20, font_size=24,
                                             overflow="shrink"))
    assert changed(image).any()


def test_fewer_texts_leave_boxes_blank(capture, run_prompt):
    image = run_ok(run_prompt, layout_prompt(batch=1, texts="Only one"))
    mask = changed(image)[0]
    assert mask[int(0.1 * 384):int(0.25 * 384), int(0.1 * 512):int(0.35 * 512)].all()
    assert not mask[int(0.05 * 384):int(0.25 * 384), int(0.7 * 512):int(0.9 * 512)].any()


def test_font_choices_and_fonts_folder(comfy, pack):
    fonts = importlib.import_module(f"{pack.__name__}.nodes.host.fonts")
    choices = fonts.font_choices()
    assert choices[0] == "default"
    paths, extensions = comfy.folder_paths.folder_names_and_paths["fonts"]
    assert any(p.endswith("fonts") for p in paths) and ".ttf" in extensions
    fonts.register_fonts_folder()
    assert comfy.folder_paths.folder_names_and_paths["fonts"][0] == paths, "idempotent"


def test_schema_has_a_description_tooltips_and_the_contract_inputs(lettering):
    schema = lettering.DiffSenseiLetterBubbles.define_schema()
    assert schema.display_name.startswith("DiffSensei: ") and schema.category == "DiffSensei/page"
    assert schema.description
    names = [i.id for i in schema.inputs]
    assert names[:4] == ["image", "page", "layout", "texts"], "H10a's page workflow wires these names"
    assert all(i.tooltip for i in schema.inputs) and all(o.tooltip for o in schema.outputs)
