"""Describe photo, Manga style preset and Photo to manga in real ComfyUI, through the executor.

The CLIP pair is ComfyUI's own SDXL text encoder and CLIP vision classes with tiny random weights
(headless/demo_nodes: demo_clip, tiny_clip_vision); their zero-shot scores are noise, so these tests check the
plumbing, the checks and the sizes, not what is recognised (the recognition logic is tested in
tests/core/test_photo_describe.py with designed embeddings). Test-only loader nodes hand the objects to prompts.
"""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
from conftest import add_models_root, import_from_pack

from headless import demo_nodes, demo_weights
from tests.support import make_workflow_assets, random_models

DEMO_MODEL = "photo_demo/image_generator"


@pytest.fixture(scope="session")
def photo_nodes(pack):
    return import_from_pack(pack, "nodes.photo")


@pytest.fixture(scope="session")
def p2m(pack):
    return import_from_pack(pack, "nodes.photo_to_manga")


@pytest.fixture(scope="session")
def pair():
    return demo_nodes.demo_clip(), demo_nodes.tiny_clip_vision()


@pytest.fixture(scope="session")
def models_root(comfy, pack, tmp_path_factory):
    """A models folder registered under "diffsensei" with the tiny demo release in photo_demo/."""
    root = tmp_path_factory.mktemp("photo_models")
    demo_weights.build_demo_release(root / "photo_demo")
    add_models_root(comfy, pack, root)
    return root


@pytest.fixture(scope="session")
def demo_model(comfy, models_root):
    return comfy.nodes.NODE_CLASS_MAPPINGS["DiffSenseiLoadModel"].execute(
        model_name=DEMO_MODEL, weight_dtype="default").args[0]


def as_tensor(image) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)[None]


@pytest.fixture(scope="session")
def portrait():
    return as_tensor(make_workflow_assets.draw_photo())


@pytest.fixture(scope="session")
def group():
    return as_tensor(make_workflow_assets.draw_group_photo())


class _Holder:
    """A test-only node that outputs objects put in ``objects`` (CLIP, CLIP_VISION, IMAGE, MODEL, VAE)."""

    objects: ClassVar[dict] = {}
    CATEGORY = "testing"
    RETURN_TYPES = ("CLIP", "CLIP_VISION", "IMAGE", "MODEL", "VAE", "MASK")
    FUNCTION = "give"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"key": ("STRING", {"default": ""})}}

    @classmethod
    def IS_CHANGED(cls, key):
        return float("nan")

    def give(self, key):
        o = self.objects
        return (o.get("clip"), o.get("clip_vision"), o.get(key), o.get("model"), o.get("vae"), o.get("mask"))


@pytest.fixture
def holder(comfy, monkeypatch, pair):
    monkeypatch.setitem(comfy.nodes.NODE_CLASS_MAPPINGS, "DiffSenseiTestHolder", _Holder)
    monkeypatch.setattr(_Holder, "objects", {"clip": pair[0], "clip_vision": pair[1], "vae": demo_nodes.DemoVAE()})
    return _Holder.objects


def describe_prompt(**inputs) -> dict:
    node = {"clip": ["1", 0], "clip_vision": ["1", 1], "image": ["1", 2], "subject": "largest person",
            "vocabulary": "photo_attributes.json", "threshold": 0.0, "margin": 0.0, "person_threshold": 0.0,
            "allow_generic": False, **inputs}
    return {
        "1": {"class_type": "DiffSenseiTestHolder", "inputs": {"key": "photo"}},
        "2": {"class_type": "DiffSenseiDescribePhoto", "inputs": node},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["2", 1]}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["2", 2]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["2", 3]}},
    }


def error_message(executor) -> str:
    for event, data in executor.status_messages:
        if event == "execution_error":
            return data["exception_message"]
    return ""


def texts(outputs, node_id) -> str:
    return outputs[node_id]["text"][0]


# ------------------------------------------------------------------------------------------------ describe


def test_describe_outputs_are_well_formed(run_prompt, holder, portrait, photo_nodes):
    holder["photo"] = portrait
    executor, outputs = run_prompt(describe_prompt())
    assert executor.success, error_message(executor)
    scene = texts(outputs, "4")
    scores = json.loads(texts(outputs, "5"))
    assert scene in photo_nodes.SCENE_CLASSES and scores["scene"] == scene
    assert texts(outputs, "3") == scores["content_prompt"]
    assert set(scores["kept"]) | set(scores["omitted"]) == {
        "people_count", "age_group", "gender_presentation", "hair_length", "glasses", "expression", "framing"}
    for options in scores["scores"].values():
        assert sum(options.values()) == pytest.approx(1.0, abs=2e-3)
    assert scores["photo_size"] == [240, 320]
    assert outputs["2"]["text"][0].startswith("text tower: clip_g (1280)")  # the UI text
    assert len(outputs["6"]["images"]) == 1


def test_describe_subject_is_the_described_crop(photo_nodes, pair, group):
    # threshold 1: no attribute is kept (random CLIP), so the scene cannot turn into no_person by chance
    clip, clip_vision = pair
    kwargs = {"clip": clip, "clip_vision": clip_vision, "image": group, "vocabulary": "photo_attributes.json",
              "threshold": 1.0}
    out = photo_nodes.DiffSenseiDescribePhoto.execute(subject="whole photo", person_mask=torch.ones(1, 240, 320),
                                                      **kwargs)
    prompt, scene, _scores, subject = out.args
    assert torch.equal(subject, group) and scene == "single_person" and prompt == ""
    mask = torch.zeros(1, 240, 320)
    mask[0, 40:230, 110:210] = 1.0  # the tall person in the middle
    mask[0, 100:230, 20:95] = 1.0
    out = photo_nodes.DiffSenseiDescribePhoto.execute(subject="largest person", person_mask=mask, **kwargs)
    data = json.loads(out.args[2])
    x0, y0, x1, y1 = data["subject_box"]
    assert x0 <= 110 and x1 >= 210 and x1 < 320 and x0 > 20
    assert out.args[3].shape[1:3] == (y1 - y0, x1 - x0)
    assert torch.equal(out.args[3], group[:, y0:y1, x0:x1])
    assert any("2 people found where one is expected" in n for n in data["notes"])
    assert data["region_source"] == "person mask" and len(data["regions"]) == 2


def test_mismatched_pair_is_refused(run_prompt, holder, portrait):
    holder["photo"] = portrait
    holder["clip_vision"] = demo_nodes.tiny_clip_vision(projection_dim=48)
    executor, _ = run_prompt(describe_prompt())
    assert not executor.success
    message = error_message(executor)
    assert "48 wide" in message and "clip_l 32" in message and "clip_g 1280" in message
    assert "ViT-bigG" in message and "CLIP-L vision" in message


def test_clip_l_tower_is_used_when_the_widths_say_so(photo_nodes, pair, portrait):
    clip, _ = pair
    narrow = demo_nodes.tiny_clip_vision(projection_dim=32)
    out = photo_nodes.DiffSenseiDescribePhoto.execute(
        clip=clip, clip_vision=narrow, image=portrait, subject="whole photo", vocabulary="photo_attributes.json",
        allow_generic=True)
    assert out.ui.as_dict()["text"][0].startswith("text tower: clip_l (32)")


def test_no_person_both_ways(run_prompt, holder, portrait):
    holder["photo"] = portrait
    # a person threshold of 1 with a no-person people-count bar of 1: nothing counts as a person
    executor, _ = run_prompt(describe_prompt(person_threshold=1.0, threshold=1.0))
    assert not executor.success
    assert "no person found" in error_message(executor) and "allow_generic" in error_message(executor)
    executor, outputs = run_prompt(describe_prompt(person_threshold=1.0, threshold=1.0, allow_generic=True))
    assert executor.success, error_message(executor)
    assert texts(outputs, "4") == "no_person"
    assert texts(outputs, "3") == "a scene without people, background, scenery"


def test_grayscale_tiny_and_huge_photos(photo_nodes, pair, portrait):
    clip, clip_vision = pair
    kwargs = {"clip": clip, "clip_vision": clip_vision, "subject": "largest person",
              "vocabulary": "photo_attributes.json", "allow_generic": True}
    gray = portrait.mean(-1, keepdim=True)  # one channel
    out = photo_nodes.DiffSenseiDescribePhoto.execute(image=gray, **kwargs)
    assert "grayscale photo" in out.ui.as_dict()["text"][0]
    assert out.args[3].shape[-1] == 3
    with pytest.raises(photo_nodes.InputShapeError, match=r"Describe photo, input 'image'.*at least 64"):
        photo_nodes.DiffSenseiDescribePhoto.execute(image=portrait[:, :40, :40], **kwargs)
    huge = torch.nn.functional.interpolate(portrait.movedim(-1, 1), size=(3200, 2400)).movedim(1, -1)
    out = photo_nodes.DiffSenseiDescribePhoto.execute(image=huge, **kwargs)
    data = json.loads(out.args[2])
    assert data["photo_size"] == [1536, 2048] and any("downscaled" in n for n in data["notes"])
    assert max(out.args[3].shape[1:3]) <= 2048


def test_user_vocabulary_copy_is_offered_and_used(photo_nodes, pair, portrait, models_root):
    folder = models_root / "photo"
    folder.mkdir(exist_ok=True)
    data = json.loads(photo_nodes.DEFAULT_VOCABULARY.read_text())
    data["attributes"] = [a for a in data["attributes"] if a["name"] in ("people_count", "glasses")]
    (folder / "mine.json").write_text(json.dumps(data))
    assert "photo/mine.json" in photo_nodes.data_file_choices(photo_nodes.DEFAULT_VOCABULARY)
    clip, clip_vision = pair
    out = photo_nodes.DiffSenseiDescribePhoto.execute(
        clip=clip, clip_vision=clip_vision, image=portrait, subject="whole photo", vocabulary="photo/mine.json",
        allow_generic=True)
    assert set(json.loads(out.args[2])["scores"]) <= {"people_count", "glasses"}
    with pytest.raises(photo_nodes.DiffSenseiError, match=r"'photo/absent\.json' was not found"):
        photo_nodes.DiffSenseiDescribePhoto.execute(
            clip=clip, clip_vision=clip_vision, image=portrait, subject="whole photo",
            vocabulary="photo/absent.json")


# ------------------------------------------------------------------------------------------------ style


def test_style_preset_own_text_and_conditioning(photo_nodes, pair):
    clip, _ = pair
    styles = json.loads(photo_nodes.DEFAULT_STYLES.read_text())
    style, negative, cond = photo_nodes.DiffSenseiMangaStyle.execute(
        scene="elder", style_file="manga_styles.json").args
    assert style == styles["scenes"]["elder"][0] and negative == styles["negative"] and cond is None
    style, _, _ = photo_nodes.DiffSenseiMangaStyle.execute(scene="single_man", style_file="manga_styles.json",
                                                           variant=1)
    assert style == styles["scenes"]["single_man"][1]
    style, _, cond = photo_nodes.DiffSenseiMangaStyle.execute(
        scene="group", style_file="manga_styles.json", style_text=" my ink ", clip=clip)
    assert style == "my ink" and cond[0][0].shape == (1, 77, 64)
    sampled = [[torch.randn(1, 8, 64), {"pooled_output": torch.randn(1, 1280)}]]
    _, _, joined = photo_nodes.DiffSenseiMangaStyle.execute(
        scene="group", style_file="manga_styles.json", clip=clip, distribution=sampled)
    assert joined[0][0].shape == (1, 85, 64) and torch.equal(joined[0][0][:, 77:], sampled[0][0])
    text = clip.encode_from_tokens_scheduled(clip.tokenize(styles["scenes"]["group"][0]))
    assert torch.equal(joined[0][0][:, :77], text[0][0])
    assert torch.equal(joined[0][1]["pooled_output"], text[0][1]["pooled_output"])  # the text's pooled vector
    _, _, alone = photo_nodes.DiffSenseiMangaStyle.execute(scene="group", style_file="manga_styles.json",
                                                           distribution=sampled)
    assert alone is sampled
    with pytest.raises(photo_nodes.DiffSenseiError, match="expected one of"):
        photo_nodes.DiffSenseiMangaStyle.execute(scene="robot", style_file="manga_styles.json")
    with pytest.raises(photo_nodes.InputShapeError, match="64 wide but the style conditioning is 2048 wide"):
        photo_nodes.DiffSenseiMangaStyle.execute(
            scene="group", style_file="manga_styles.json", clip=clip,
            distribution=[[torch.randn(1, 8, 2048), {}]])


# ------------------------------------------------------------------------------------------------ photo to manga


def p2m_prompt(path: str, **extra) -> dict:
    inputs = {"model": ["1", 3], "clip": ["1", 0], "vae": ["1", 4], "image": ["1", 2], "prompt": "solo, woman",
              "style": "monochrome manga", "negative": "color", "path": path, "size": 256, "seed": 3, "steps": 3,
              "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.6, "refine_denoise": 0.35,
              "grayscale": True, **extra}
    return {
        "1": {"class_type": "DiffSenseiTestHolder", "inputs": {"key": "photo"}},
        "2": {"class_type": "DiffSenseiPhotoToManga", "inputs": inputs},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


@pytest.fixture
def recording(demo_model):
    """The demo MODEL (a clone) whose UNet calls record the latent shapes they get."""
    shapes = []
    model = demo_model.clone()

    def wrapper(apply_model, args):
        shapes.append(tuple(args["input"].shape))
        return apply_model(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(wrapper)
    return model, shapes


@pytest.mark.parametrize("path", ["fast", "quality"])
def test_photo_to_manga_paths_run_at_the_right_sizes(run_prompt, holder, portrait, recording, path):
    model, shapes = recording
    holder.update(photo=portrait, model=model)
    executor, outputs = run_prompt(p2m_prompt(path))
    assert executor.success, error_message(executor)
    assert len(outputs["3"]["images"]) == 1
    latent_sizes = {s[-2:] for s in shapes}
    if path == "quality":
        assert latent_sizes == {(32, 24)}  # 256×192 pixels: 320×240 photo, long side 256
    else:
        assert latent_sizes == {(16, 12), (32, 24)}  # half side first, then the full-size refine
        half = [s for s in shapes if s[-2:] == (16, 12)]
        full = [s for s in shapes if s[-2:] == (32, 24)]
        assert len(half) >= 3 and len(full) >= 1  # steps 3, refine ⌈3/3⌉ = 1 (each call may batch cond/uncond)


def test_photo_to_manga_output_size_and_grayscale(p2m, demo_model, pair, portrait):
    clip, _ = pair
    kwargs = {"model": demo_model, "clip": clip, "vae": demo_nodes.DemoVAE(), "image": portrait, "prompt": "solo",
              "style": "manga", "negative": "", "size": 320, "seed": 1, "steps": 2, "cfg": 4.0,
              "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5, "refine_denoise": 0.3}
    for path in ("fast", "quality"):
        (image,) = p2m.DiffSenseiPhotoToManga.execute(path=path, **kwargs).args
        assert image.shape == (1, 320, 240, 3)
        assert torch.equal(image[..., 0], image[..., 1]) and torch.equal(image[..., 1], image[..., 2])
    (colour,) = p2m.DiffSenseiPhotoToManga.execute(path="quality", grayscale=False, **kwargs).args
    assert not torch.equal(colour[..., 0], colour[..., 2])


@pytest.fixture
def upscaler(tmp_path):
    """A real UPSCALE_MODEL from this host's Load Upscale Model: the Compact (Real-ESRGAN compact) architecture at 2×,
    tiny and random; a forward hook records the input shapes."""
    descriptor = random_models.random_upscale_model(tmp_path, num_feat=8, num_conv=2)
    calls = []
    descriptor.model.register_forward_hook(lambda _module, args, _out: calls.append(tuple(args[0].shape)))
    return descriptor, calls


def test_fast_path_with_an_upscale_model_skips_the_refine(p2m, recording, pair, portrait, upscaler):
    model, shapes = recording
    clip, _ = pair
    upscaler, calls = upscaler
    (image,) = p2m.DiffSenseiPhotoToManga.execute(
        model=model, clip=clip, vae=demo_nodes.DemoVAE(), image=portrait, prompt="solo", style="manga", negative="",
        path="fast", size=256, seed=1, steps=2, cfg=4.0, sampler_name="euler", scheduler="normal", denoise=0.5,
        refine_denoise=0.3, upscale_model=upscaler).args
    assert image.shape == (1, 256, 192, 3)
    assert {s[-2:] for s in shapes} == {(16, 12)}  # only the half-size pass
    assert calls and calls[0][-2:] == (128, 96)  # the half-size image went through ComfyUI's upscale-model node


def test_photo_to_manga_style_conditioning_replaces_the_style_text(p2m, photo_nodes, pair):
    clip, _ = pair
    positive = p2m.encode_text(clip, "solo", 256, 192)
    style = [[torch.randn(1, 5, 64), {}]]
    joined = photo_nodes.concat_conditioning(positive, style, "test")
    assert joined[0][0].shape == (1, 82, 64) and joined[0][1]["width"] == 192
    assert torch.equal(joined[0][0][:, :77], positive[0][0])


# ------------------------------------------------------------------------------------------------ workflows


def test_photo_workflows_wire_the_photo_into_diffsensei(comfy):
    from pathlib import Path

    from headless import workflow_format

    folder = Path(__file__).resolve().parents[2] / "workflows"

    def prompt(name):
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        return workflow_format.ui_to_api(data, comfy.nodes.NODE_CLASS_MAPPINGS)

    story = prompt("diffsensei_photo_to_manga_story.json")
    (describe,) = [n for n in story.values() if n["class_type"] == "DiffSenseiDescribePhoto"]
    assert story[describe["inputs"]["image"][0]]["inputs"]["image"] == make_workflow_assets.PHOTO
    assert describe["inputs"]["allow_generic"] is False and describe["inputs"]["subject"] == "largest person"
    (manga,) = [k for k, n in story.items() if n["class_type"] == "DiffSenseiPhotoToManga"]
    wiring = story[manga]["inputs"]
    assert story[wiring["image"][0]]["class_type"] == "DiffSenseiDescribePhoto" and wiring["image"][1] == 3
    assert story[wiring["prompt"][0]]["class_type"] == "DiffSenseiDescribePhoto"
    assert story[wiring["style"][0]]["class_type"] == "DiffSenseiMangaStyle"
    (encode,) = [n for n in story.values() if n["class_type"] == "DiffSenseiEncodeCharacters"]
    assert encode["inputs"]["character_1"] == [manga, 0]
    applies = [n for n in story.values() if n["class_type"] == "DiffSenseiApply"]
    assert len(applies) == 2 and all(story[a["inputs"]["characters"][0]] is encode for a in applies)
    group = prompt("diffsensei_group_photo.json")
    subjects = sorted(n["inputs"]["subject"] for n in group.values() if n["class_type"] == "DiffSenseiDescribePhoto")
    assert subjects == ["largest person", "whole photo"]
    loads = {n["inputs"]["image"] for n in group.values() if n["class_type"] == "LoadImage"}
    assert loads == {make_workflow_assets.GROUP_PHOTO}
