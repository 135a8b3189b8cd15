"""The Describe-photo pipeline with designed encoders: person finding, largest-person choice, no-person paths,
masks, batching and the JSON/summary outputs.

The fake CLIP lives in a 2 + (number of options) dimensional space: axis 0 = "person", axis 1 = "background", one
axis per attribute option. A crop's image embedding mixes the person and background axes by the fraction of red
("person") pixels in it, plus the axes of the options named in ``traits``; every prompt of an option maps to its
axis, the person-search prompts to axes 0 and 1. So p(person) of a window is high exactly when it is mostly red.
"""

import logging

import pytest
import torch

from diffsensei_core.errors import DiffSenseiError
from diffsensei_core.photo.describe import describe_photo
from diffsensei_core.photo.regions import Box
from diffsensei_core.photo.vocabulary import load_vocabulary

VOCAB = load_vocabulary()
AXES = {("__person__", "person"): 0, ("__person__", "background"): 1}
for _a in VOCAB.attributes:
    for _o in _a.options:
        AXES[(_a.name, _o.name)] = len(AXES)
DIM = len(AXES)


class FakeClip:
    def __init__(self, traits=()):
        self.traits = traits
        self.text_calls: list[list[str]] = []
        self.image_calls: list[int] = []
        self.prompt_axis = {}
        for attribute, options in VOCAB.text_prompts().items():
            for option, prompts in options.items():
                for p in prompts:
                    self.prompt_axis[p] = AXES[(attribute, option)]
        for p in VOCAB.person_prompts:
            self.prompt_axis[p] = 0
        for p in VOCAB.background_prompts:
            self.prompt_axis[p] = 1

    def encode_texts(self, prompts):
        self.text_calls.append(list(prompts))
        return torch.nn.functional.one_hot(torch.tensor([self.prompt_axis[p] for p in prompts]), DIM).float()

    def encode_images(self, crops):
        self.image_calls.append(len(crops))
        out = torch.zeros(len(crops), DIM)
        for i, crop in enumerate(crops):
            red = ((crop[0, ..., 0] > 0.8) & (crop[0, ..., 1] < 0.2)).float().mean()
            out[i, 0], out[i, 1] = red, 1 - red
            for trait in self.traits:
                out[i, AXES[trait]] = 1.0
        return out


def photo(*people: tuple[int, int, int, int], size=(240, 320)) -> torch.Tensor:
    """White (height, width) photo with red rectangles (x0, y0, x1, y1) as people."""
    image = torch.ones(1, *size, 3)
    for x0, y0, x1, y1 in people:
        image[0, y0:y1, x0:x1] = torch.tensor([1.0, 0.0, 0.0])
    return image


ONE_WOMAN_WITH_GLASSES = (("people_count", "one"), ("gender_presentation", "woman"), ("glasses", "with"))


def run(image, clip, **kwargs):
    return describe_photo(image, VOCAB, encode_images=clip.encode_images, encode_texts=clip.encode_texts, **kwargs)


def test_one_person_is_found_cropped_and_described():
    clip = FakeClip(ONE_WOMAN_WITH_GLASSES)
    result = run(photo((100, 40, 220, 240)), clip)
    assert len(result.regions) == 1
    region = result.regions[0].box
    assert region.intersection(Box(100, 40, 220, 240)) / Box(100, 40, 220, 240).area > 0.8
    assert result.subject_box.x0 <= 100 and result.subject_box.x1 >= 200
    assert result.subject.shape[1:3] == (result.subject_box.height, result.subject_box.width)
    d = result.description
    assert d.scene == "single_woman"
    assert d.content_prompt == "solo, woman, glasses"
    omitted = {o.attribute for o in d.omitted}
    assert {"age_group", "hair_length", "expression", "framing"} <= omitted  # exact ties: never forced


def test_prompts_are_encoded_in_one_batch():
    clip = FakeClip(ONE_WOMAN_WITH_GLASSES)
    run(photo((100, 40, 220, 240)), clip)
    assert len(clip.text_calls) == 1
    expected = sum(len(p) for o in VOCAB.text_prompts().values() for p in o.values())
    assert len(clip.text_calls[0]) == expected + len(VOCAB.person_prompts) + len(VOCAB.background_prompts)
    assert clip.image_calls[0] > 10  # whole photo + every window in one call, then the subject crop
    assert len(clip.image_calls) == 2 and clip.image_calls[1] == 1


def test_several_people_largest_is_described_with_a_warning(caplog):
    clip = FakeClip(ONE_WOMAN_WITH_GLASSES)
    big, small = (170, 30, 300, 240), (10, 110, 80, 230)  # the small one still fills a 96 px window
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        result = run(photo(big, small), clip)
    assert len(result.regions) >= 2
    assert result.regions[0].box.intersection(Box(*big)) > 0.8 * Box(*big).area
    assert result.subject_box.intersection(Box(*small)) == 0
    assert "people found where one is expected" in caplog.text
    assert any("describing the largest" in n for n in result.as_dict()["notes"])


def test_whole_photo_subject_keeps_the_whole_photo():
    clip = FakeClip((("people_count", "group"),))
    image = photo((170, 30, 300, 240), (10, 150, 60, 230))
    result = run(image, clip, subject="whole photo")
    assert result.subject_box == Box(0, 0, 320, 240) and torch.equal(result.subject, image)
    assert result.description.scene == "group"
    assert len(clip.image_calls) == 1  # the whole photo's embedding is reused


def test_largest_region_still_showing_a_group_is_reported():
    clip = FakeClip((("people_count", "two"),))
    result = run(photo((100, 40, 220, 240)), clip)
    assert result.description.scene == "group"
    assert any("still shows several people" in n for n in result.notes)


def test_no_person_raises_by_default():
    with pytest.raises(DiffSenseiError, match=r"no person found.*allow_generic"):
        run(photo(), FakeClip())


def test_no_person_generic_when_allowed(caplog):
    image = photo()
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        result = run(image, FakeClip(ONE_WOMAN_WITH_GLASSES), allow_generic=True)
    d = result.description
    assert d.scene == "no_person" and d.content_prompt == VOCAB.no_person_prompt and d.kept == []
    assert torch.equal(result.subject, image) and "generic prompt" in caplog.text


def test_people_count_none_on_the_subject_follows_allow_generic():
    clip = FakeClip((("people_count", "none"),))
    with pytest.raises(DiffSenseiError, match="no person was found"):
        run(photo((100, 40, 220, 240)), clip)
    result = run(photo((100, 40, 220, 240)), clip, allow_generic=True)
    assert result.description.scene == "no_person" and result.subject_box == Box(0, 0, 320, 240)


def test_person_threshold_override():
    image = photo((100, 40, 220, 240))
    image[0, 40:240, 100:220, 1:] = 0.1  # red fraction stays 1, the fake's p(person) is unchanged
    default = run(image, FakeClip(ONE_WOMAN_WITH_GLASSES))
    assert "threshold 0.60" in default.region_source
    strict = run(image, FakeClip(ONE_WOMAN_WITH_GLASSES), person_threshold=0.95)
    assert "threshold 0.95" in strict.region_source
    # windows straddling the person's edge (about half red) count with a low threshold only: the region grows
    half = photo((0, 0, 150, 240))
    # (a low logit scale makes p(person) grow smoothly with the red fraction)
    usual = run(half, FakeClip(), logit_scale=5.0).regions[0].box
    lenient = run(half, FakeClip(), person_threshold=0.3, logit_scale=5.0).regions[0].box
    strict = run(half, FakeClip(), person_threshold=0.9, logit_scale=5.0).regions[0].box
    assert strict.x1 < usual.x1 < lenient.x1


def test_person_mask_replaces_the_window_search():
    clip = FakeClip(ONE_WOMAN_WITH_GLASSES)
    mask = torch.zeros(1, 240, 320)
    mask[0, 20:200, 30:120] = 1.0
    mask[0, 100:140, 250:280] = 1.0
    result = run(photo((100, 40, 220, 240)), clip, person_mask=mask)
    assert result.region_source == "person mask"
    assert clip.image_calls == [1, 1]  # whole photo, then the subject: no windows
    assert len(result.regions) == 2
    assert result.subject_box.intersection(Box(30, 20, 120, 200)) == Box(30, 20, 120, 200).area
    with pytest.raises(DiffSenseiError, match="person mask is empty"):
        run(photo((100, 40, 220, 240)), FakeClip(), person_mask=torch.zeros(1, 240, 320))


def test_grayscale_and_huge_photos_are_noted():
    image = photo((100, 40, 220, 240))
    gray = image.mean(-1, keepdim=True).expand(-1, -1, -1, 3).clone()
    gray[0, 40:240, 100:220] = 0.0  # a dark person
    result = run(gray, FakeClip(), allow_generic=True)
    assert any("grayscale" in n for n in result.as_dict()["notes"])
    huge = torch.nn.functional.interpolate(image.movedim(-1, 1), scale_factor=8, mode="nearest").movedim(1, -1)
    result = run(huge, FakeClip(ONE_WOMAN_WITH_GLASSES))
    assert result.photo_size == (2048, 1536) and any("downscaled" in n for n in result.notes)
    assert result.description.scene == "single_woman"


def test_outputs_are_well_formed():
    result = run(photo((100, 40, 220, 240)), FakeClip(ONE_WOMAN_WITH_GLASSES))
    data = result.as_dict()
    assert set(data) >= {"scene", "content_prompt", "kept", "omitted", "scores", "regions", "subject_box", "notes"}
    assert data["kept"]["glasses"]["option"] == "with"
    for options in data["scores"].values():
        assert sum(options.values()) == pytest.approx(1.0, abs=1e-3)
    import json

    assert json.loads(result.to_json()) == data
    assert "scene: single_woman" in result.summary() and "person regions" in result.summary()


def test_unknown_subject_mode():
    with pytest.raises(DiffSenseiError, match="subject"):
        run(photo((100, 40, 220, 240)), FakeClip(), subject="everyone")
