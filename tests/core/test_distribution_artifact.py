"""Prompt-distribution artifact: safetensors round trip with bit-identical samples, metadata, encoder checks."""

import pytest
import torch
from safetensors.torch import save_file

from diffsensei_core.distribution import (
    DistributionInfo,
    EncoderIdentity,
    PromptDistribution,
    SoftPrompts,
    TrainingSettings,
    check_encoders,
    describe_training,
    draw,
    fit,
    load,
    save,
    weights_fingerprint,
)
from diffsensei_core.errors import DistributionError

from .toy_text_encoder import ToyEncoder

SETTINGS = TrainingSettings(learning_rate=2e-4, samples_per_step=3, images_per_step=2, resolution=512,
                            seed=2**64 - 1, steps_requested=40)


def _distribution(contexts=True, training=SETTINGS) -> PromptDistribution:
    encoder = ToyEncoder(prefix=(4,), suffix=(5,))
    prompts = SoftPrompts(prompts=5, tokens=3, widths=(8, 12), seed=2)
    with torch.no_grad():
        gaussian = fit(encoder(prompts.tensors()))
    info = DistributionInfo(encoder.identity, 5, 3, encoder.prefix, encoder.suffix, steps=12, last_loss=0.25,
                            note="interrupted after 12 of 40 steps", training=training)
    return PromptDistribution(gaussian, info, prompts.snapshot() if contexts else None)


def test_round_trip_gives_bit_identical_samples(tmp_path):
    original = _distribution()
    path = save(original, tmp_path / "style.safetensors")
    loaded = load(path)
    assert loaded.info == original.info
    assert all(torch.equal(a, b) for a, b in zip(loaded.contexts, original.contexts, strict=True))
    for seed in (0, 5):
        a, b = draw(original.gaussian, batch=2, seed=seed, gamma=1.3), draw(loaded.gaussian, batch=2, seed=seed,
                                                                             gamma=1.3)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (tmp_path / "style.safetensors.partial").exists()


def test_training_settings_round_trip_and_are_described(tmp_path):
    loaded = load(save(_distribution(), tmp_path / "style.safetensors"))
    assert loaded.info.training == SETTINGS
    lines = describe_training(loaded.info).splitlines()
    assert "steps: 12 done of 40 asked, last loss 0.2500" in lines
    for line in ("learning rate: 0.0002", "samples per image and step (M): 3", "images per step: 2",
                 "resolution: 512x512", f"seed: {2**64 - 1}", "note: interrupted after 12 of 40 steps"):
        assert line in lines
    assert lines[-3].startswith("prefix: ") and lines[-2].startswith("suffix: ")


def test_a_file_without_training_settings_loads_and_says_so(tmp_path):
    loaded = load(save(_distribution(training=None), tmp_path / "old.safetensors"))
    assert loaded.info.training is None
    text = describe_training(loaded.info)
    assert "steps: 12 done, last loss 0.2500" in text and "training settings: not recorded" in text


def test_a_mix_round_trips_without_contexts(tmp_path):
    loaded = load(save(_distribution(contexts=False), tmp_path / "mix.safetensors"))
    assert loaded.contexts is None and not loaded.editable


def test_other_files_are_rejected_with_a_remedy(tmp_path):
    path = tmp_path / "lora.safetensors"
    save_file({"x": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(DistributionError, match=r"not a prompt distribution.*Train prompt distribution"):
        load(path)
    (tmp_path / "broken.safetensors").write_bytes(b"not a file")
    with pytest.raises(DistributionError, match="could not read"):
        load(tmp_path / "broken.safetensors")


def test_wrong_encoders_name_the_expected_ones():
    expected = EncoderIdentity(("clip_l", "clip_g"), (768, 1280), 1280, ("a", "b"))
    got = EncoderIdentity(("clip_l",), (768,), 768, ("a",))
    with pytest.raises(DistributionError, match=r"clip_l \(768-d\) \+ clip_g \(1280-d\), pooled 1280-d.*clip_l "
                                                r"\(768-d\), pooled 768-d"):
        check_encoders(expected, got, where="DiffSensei: Sample prompt distribution (clip)")
    check_encoders(expected, EncoderIdentity(("clip_l", "clip_g"), (768, 1280), 1280, ("c", "d")), where="x")


def test_fingerprint_is_the_same_for_float32_and_float16_weights_and_differs_for_other_weights():
    weight = torch.randn(1000, 48, generator=torch.Generator().manual_seed(0))
    assert weights_fingerprint(weight) == weights_fingerprint(weight.half())
    assert weights_fingerprint(weight) == weights_fingerprint(weight.half().float())
    other = weight.clone()
    other[0, 0] += 0.5  # row 0 is always sampled
    assert weights_fingerprint(other) != weights_fingerprint(weight)
    assert weights_fingerprint(weight[:999]) != weights_fingerprint(weight)
