"""Character preprocessing, the Magi ViT-MAE encoder wrapper and slot padding (CPU, tiny configs)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import ViTMAEConfig, ViTMAEForPreTraining, ViTMAEModel

from diffsensei_core.errors import InputShapeError, WeightsError
from diffsensei_core.model.character_images import magi_preprocess, to_grayscale_rgb
from diffsensei_core.model.character_slots import pad_character_features
from diffsensei_core.model.magi_encoder import MagiEncoder, normalize_magi_keys

REPO = Path(__file__).resolve().parents[2]

# 64 px / patch 16 → 16 patches, 4 kept at mask_ratio 0.75: enough choices for seeds to differ
TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    image_size=64,
    patch_size=16,
    mask_ratio=0.75,
    decoder_hidden_size=16,
    decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2,
    decoder_intermediate_size=32,
)

# generic fields an older transformers wrote into full config dumps (the 84-line released config style)
LEGACY_CONFIG_FIELDS = dict(
    add_cross_attention=False,
    bad_words_ids=None,
    chunk_size_feed_forward=0,
    do_sample=False,
    early_stopping=False,
    finetuning_task=None,
    id2label={"0": "LABEL_0", "1": "LABEL_1"},
    is_decoder=False,
    is_encoder_decoder=False,
    label2id={"LABEL_0": 0, "LABEL_1": 1},
    max_length=20,
    min_length=0,
    num_beams=1,
    output_attentions=False,
    output_hidden_states=False,
    prefix=None,
    problem_type=None,
    pruned_heads={},
    return_dict=True,
    task_specific_params=None,
    temperature=1.0,
    tie_word_embeddings=True,
    tokenizer_class=None,
    top_k=50,
    top_p=1.0,
    torch_dtype="float32",
    torchscript=False,
    transformers_version="4.36.2",
    use_bfloat16=False,
)

# the key names transformers < 5 used for one ViT-MAE encoder layer (the released checkpoint's layout)
LEGACY_LAYER_NAMES = {
    "attention.q_proj": "attention.attention.query",
    "attention.k_proj": "attention.attention.key",
    "attention.v_proj": "attention.attention.value",
    "attention.o_proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
    "layernorm_before": "layernorm_before",
    "layernorm_after": "layernorm_after",
}


def to_legacy_key(key: str) -> str:
    """Hand-written current → legacy key map, independent of the module under test."""
    if not key.startswith("layers."):
        return key
    _, index, rest = key.split(".", 2)
    module, param = rest.rsplit(".", 1)
    return f"encoder.layer.{index}.{LEGACY_LAYER_NAMES[module]}.{param}"


def tiny_config(**overrides) -> ViTMAEConfig:
    return ViTMAEConfig(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def reference() -> ViTMAEModel:
    torch.manual_seed(0)
    return ViTMAEModel(tiny_config()).eval()


def write_folder(folder: Path, config: dict, state_dict: dict, *, name: str = "pytorch_model.bin") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if name.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(folder / name))
    else:
        torch.save(state_dict, folder / name)
    return folder


@pytest.fixture
def magi_folder(tmp_path: Path, reference: ViTMAEModel) -> Path:
    folder = tmp_path / "magi_image_encoder"
    folder.mkdir()
    reference.config.to_json_file(str(folder / "config.json"))
    torch.save(reference.state_dict(), folder / "pytorch_model.bin")
    return folder


def images(batch: int = 2, height: int = 40, width: int = 56, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


def reference_cls(model: ViTMAEModel, pixels: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    with torch.no_grad():
        return model(pixel_values=pixels, noise=noise).last_hidden_state[:, 0]


# --------------------------------------------------------------------------------------------------
# grayscale


def pil_luma(r: int, g: int, b: int) -> int:
    """Pillow's RGB→L on 8-bit values, as plain integer arithmetic."""
    return (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16


def test_grayscale_matches_pil_on_known_colours():
    # values Pillow gives for Image.new("RGB", (1, 1), colour).convert("L")
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (128, 128, 128)]
    expected = [76, 150, 29, 255, 0, 128]
    x = torch.tensor(colours, dtype=torch.float32).div(255).view(1, 1, -1, 3)
    gray = to_grayscale_rgb(x)
    assert gray.shape == x.shape
    assert torch.equal(gray[..., 0], gray[..., 1]) and torch.equal(gray[..., 0], gray[..., 2])
    assert (gray[0, 0, :, 0] * 255).round().int().tolist() == expected


def test_grayscale_matches_integer_formula_on_random_8bit():
    levels = torch.randint(0, 256, (3, 7, 11, 3), generator=torch.Generator().manual_seed(1))
    gray = to_grayscale_rgb(levels.float() / 255)
    expected = torch.tensor([pil_luma(*map(int, px)) for px in levels.view(-1, 3)]).view(3, 7, 11)
    assert torch.equal((gray[..., 0] * 255).round().long(), expected)
    # on the 1/255 grid, and within half a level (+ fixed-point slack) of the exact 601-2 luma
    assert torch.equal(gray, (gray * 255).round() / 255)
    exact = (levels[..., 0] * 299 + levels[..., 1] * 587 + levels[..., 2] * 114).double() / 1000
    assert ((gray[..., 0].double() * 255) - exact).abs().max() <= 0.51


def test_grayscale_keeps_dtype_and_clamps():
    x = torch.tensor([[[[1.5, -0.2, 0.5]]]], dtype=torch.float64)
    gray = to_grayscale_rgb(x)
    assert gray.dtype == torch.float64
    assert (gray * 255).round().int().flatten().tolist() == [pil_luma(255, 0, 128)] * 3


# --------------------------------------------------------------------------------------------------
# preprocessing


def test_magi_preprocess_shape_and_range():
    x = images(3, 50, 90)
    pixels = magi_preprocess(x)
    assert pixels.shape == (3, 3, 224, 224) and pixels.dtype == torch.float32
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    assert magi_preprocess(x, image_size=64).shape == (3, 3, 64, 64)
    assert magi_preprocess(x, image_size=(32, 48)).shape == (3, 3, 32, 48)


def test_magi_preprocess_normalises_constants_and_squashes():
    white = torch.ones(1, 10, 300, 3)
    black = torch.zeros(1, 300, 10, 3)
    assert torch.allclose(magi_preprocess(white), torch.ones(1, 3, 224, 224))
    assert torch.allclose(magi_preprocess(black), -torch.ones(1, 3, 224, 224))
    # same-size input is only normalised, channels first
    x = images(1, 224, 224)
    assert torch.allclose(magi_preprocess(x), x.permute(0, 3, 1, 2) * 2 - 1)


@pytest.mark.parametrize("bad", [torch.rand(2, 8, 8), torch.rand(1, 8, 8, 4), torch.randint(0, 255, (1, 8, 8, 3))])
def test_bad_image_shapes_raise(bad):
    with pytest.raises(InputShapeError, match="IMAGE"):
        magi_preprocess(bad)
    with pytest.raises(InputShapeError):
        to_grayscale_rgb(bad)


# --------------------------------------------------------------------------------------------------
# loading


def test_load_from_folder(magi_folder: Path, reference: ViTMAEModel):
    encoder = MagiEncoder.from_folder(magi_folder)
    assert encoder.image_size == (64, 64) and encoder.num_patches == 16 and encoder.hidden_size == 32
    assert encoder.mask_ratio == 0.75
    for key, value in reference.state_dict().items():
        assert torch.equal(encoder.model.state_dict()[key], value), key
    assert not any(p.requires_grad for p in encoder.parameters())


def test_load_released_layouts(tmp_path: Path, reference: ViTMAEModel):
    """ForPreTraining-style config + `vit.`-prefixed legacy keys + decoder keys, as safetensors and as .bin."""
    torch.manual_seed(1)
    pretraining = ViTMAEForPreTraining(tiny_config())
    decoder = {k: v for k, v in pretraining.state_dict().items() if k.startswith("decoder.")}
    assert decoder
    legacy = {f"vit.{to_legacy_key(k)}": v for k, v in reference.state_dict().items()}
    assert "vit.encoder.layer.1.attention.attention.query.weight" in legacy
    assert "vit.encoder.layer.0.output.dense.bias" in legacy
    short_config = {"architectures": ["ViTMAEForPreTraining"], "model_type": "vit_mae", **TINY}
    long_config = {"architectures": ["ViTMAEModel"], "model_type": "vit_mae", **LEGACY_CONFIG_FIELDS, **TINY}
    pixels = magi_preprocess(images(2), 64)
    expected = reference_cls(reference, pixels, torch.rand(2, 16, generator=torch.Generator().manual_seed(3)))
    for i, (config, name) in enumerate(
        [(short_config, "pytorch_model.bin"), (long_config, "model.safetensors"), (short_config, "model.safetensors")]
    ):
        folder = write_folder(tmp_path / str(i), config, {**legacy, **decoder}, name=name)
        encoder = MagiEncoder.from_folder(folder)
        got = encoder(pixels, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(got, expected)


def test_decoder_keys_are_dropped_with_a_log(caplog):
    state = {"vit.layernorm.weight": torch.ones(2), "decoder.a": torch.ones(1), "decoder.b": torch.ones(1)}
    with caplog.at_level(logging.INFO, logger="diffsensei"):
        out = normalize_magi_keys(state)
    assert out.keys() == {"layernorm.weight"}
    assert "2 MAE decoder tensors" in caplog.text


def test_key_layouts_round_trip(reference: ViTMAEModel):
    current = list(reference.state_dict())
    legacy = [to_legacy_key(k) for k in current]
    as_dict = dict.fromkeys(legacy, torch.zeros(1))
    assert list(normalize_magi_keys(as_dict)) == current
    assert list(normalize_magi_keys(dict.fromkeys(current, torch.zeros(1)), legacy_names=True)) == legacy


def test_dtype(magi_folder: Path):
    encoder = MagiEncoder.from_folder(magi_folder, dtype=torch.float64)
    assert encoder.dtype == torch.float64
    out = encoder.encode(images(1), masking=False)
    assert out.dtype == torch.float64 and out.shape == (1, 32)


def test_missing_config_names_the_file(magi_folder: Path):
    (magi_folder / "config.json").unlink()
    with pytest.raises(WeightsError, match=r"config\.json"):
        MagiEncoder.from_folder(magi_folder)


def test_missing_weights_names_the_files(magi_folder: Path):
    (magi_folder / "pytorch_model.bin").unlink()
    with pytest.raises(WeightsError, match=r"pytorch_model\.bin"):
        MagiEncoder.from_folder(magi_folder)


def test_missing_folder(tmp_path: Path):
    with pytest.raises(WeightsError, match="does not exist"):
        MagiEncoder.from_folder(tmp_path / "nope")


def test_unexpected_and_missing_keys_are_strict(tmp_path: Path, reference: ViTMAEModel):
    config = {"model_type": "vit_mae", **TINY}
    extra = write_folder(tmp_path / "extra", config, {**reference.state_dict(), "head.weight": torch.zeros(2)})
    with pytest.raises(WeightsError, match=r"pytorch_model\.bin.*head\.weight"):
        MagiEncoder.from_folder(extra)
    partial = dict(reference.state_dict())
    del partial["layernorm.bias"]
    short = write_folder(tmp_path / "short", config, partial)
    with pytest.raises(WeightsError, match=r"missing 1 \['layernorm\.bias'\]"):
        MagiEncoder.from_folder(short)


def test_wrong_model_type_and_bad_json(tmp_path: Path, reference: ViTMAEModel):
    folder = write_folder(tmp_path / "vit", {"model_type": "vit", **TINY}, reference.state_dict())
    with pytest.raises(WeightsError, match="vit_mae"):
        MagiEncoder.from_folder(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not a readable JSON file"):
        MagiEncoder.from_folder(folder)


def test_unreadable_weights(tmp_path: Path):
    folder = write_folder(tmp_path / "bad", {"model_type": "vit_mae", **TINY}, {})
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match="corrupted"):
        MagiEncoder.from_folder(folder)


# --------------------------------------------------------------------------------------------------
# forward and masking


def test_output_shape(magi_folder: Path):
    encoder = MagiEncoder.from_folder(magi_folder)
    gen = torch.Generator().manual_seed(0)
    assert encoder.encode(images(3), generator=gen).shape == (3, 32)
    assert encoder(magi_preprocess(images(2), 64), masking=False).shape == (2, 32)


def test_seeded_masking_is_reproducible(magi_folder: Path):
    encoder = MagiEncoder.from_folder(magi_folder)
    x = images(2)
    first = encoder.encode(x, generator=torch.Generator().manual_seed(42))
    again = encoder.encode(x, generator=torch.Generator().manual_seed(42))
    other = encoder.encode(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    # the seeded path never touches the global RNG
    state = torch.random.get_rng_state()
    encoder.encode(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(state, torch.random.get_rng_state())


def test_seeded_masking_equals_hf_noise_argument(magi_folder: Path, reference: ViTMAEModel):
    encoder = MagiEncoder.from_folder(magi_folder)
    pixels = magi_preprocess(images(3), 64)
    noise = torch.rand(3, 16, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(
        encoder(pixels, generator=torch.Generator().manual_seed(5)), reference_cls(reference, pixels, noise)
    )
    # row i of the noise does not depend on the batch size
    torch.testing.assert_close(
        encoder(pixels[:1], generator=torch.Generator().manual_seed(5)),
        encoder(pixels, generator=torch.Generator().manual_seed(5))[:1],
    )


def test_masking_changes_features(magi_folder: Path):
    encoder = MagiEncoder.from_folder(magi_folder)
    x = images(1)
    masked = encoder.encode(x, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(masked, encoder.encode(x, masking=False))


def test_unmasked_is_deterministic_and_equals_hf_mask_ratio_zero(magi_folder: Path, reference: ViTMAEModel):
    encoder = MagiEncoder.from_folder(magi_folder)
    x = images(2)
    a = encoder.encode(x, masking=False)
    b = encoder.encode(x, masking=False)
    assert torch.equal(a, b)
    assert encoder.model.config.mask_ratio == 0.75  # restored after the call
    unmasked = ViTMAEModel(tiny_config(mask_ratio=0.0)).eval()
    unmasked.load_state_dict(reference.state_dict())
    expected = reference_cls(unmasked, magi_preprocess(to_grayscale_rgb(x), 64))
    torch.testing.assert_close(a, expected, atol=1e-5, rtol=1e-5)


def test_encode_grayscale_flag(magi_folder: Path):
    encoder = MagiEncoder.from_folder(magi_folder)
    x = images(1)
    gray = encoder.encode(x, masking=False)
    assert torch.equal(gray, encoder.encode(to_grayscale_rgb(x), masking=False, grayscale=False))
    assert not torch.allclose(gray, encoder.encode(x, masking=False, grayscale=False))


def test_forward_rejects_wrong_pixel_shape(magi_folder: Path):
    encoder = MagiEncoder.from_folder(magi_folder)
    with pytest.raises(InputShapeError, match=r"\(batch, 3, 64, 64\)"):
        encoder(torch.zeros(1, 3, 224, 224), masking=False)
    with pytest.raises(InputShapeError, match="IMAGE"):
        encoder.encode(torch.zeros(1, 3, 64, 64))


# --------------------------------------------------------------------------------------------------
# padding


def test_pad_zeroes_padded_slots():
    clip, magi = torch.randn(2, 5, 8), torch.randn(2, 6)
    clip_slots, magi_slots = pad_character_features(clip, magi)
    assert clip_slots.shape == (1, 4, 5, 8) and magi_slots.shape == (1, 4, 6)
    assert torch.equal(clip_slots[0, :2], clip) and torch.equal(magi_slots[0, :2], magi)
    assert not clip_slots[0, 2:].any() and not magi_slots[0, 2:].any()


def test_pad_no_characters():
    clip_slots, magi_slots = pad_character_features(torch.zeros(0, 5, 8), torch.zeros(0, 6))
    assert clip_slots.shape == (1, 4, 5, 8) and magi_slots.shape == (1, 4, 6)
    assert not clip_slots.any() and not magi_slots.any()


def test_pad_more_than_trained_slots(caplog):
    clip, magi = torch.randn(5, 5, 8), torch.randn(5, 6)
    with caplog.at_level(logging.INFO, logger="diffsensei"):
        clip_slots, magi_slots = pad_character_features(clip, magi)
    assert clip_slots.shape == (1, 5, 5, 8) and magi_slots.shape == (1, 5, 6)
    assert torch.equal(clip_slots[0], clip) and torch.equal(magi_slots[0], magi)
    assert "outside the trained regime" in caplog.text


def test_pad_keeps_dtype_and_rejects_mismatch():
    clip_slots, magi_slots = pad_character_features(torch.ones(1, 3, 4, dtype=torch.float16), torch.ones(1, 2))
    assert clip_slots.dtype == torch.float16 and magi_slots.dtype == torch.float32
    with pytest.raises(InputShapeError, match="Magi"):
        pad_character_features(torch.zeros(2, 5, 8), torch.zeros(3, 6))
    with pytest.raises(InputShapeError, match="CLIP"):
        pad_character_features(torch.zeros(2, 8), torch.zeros(2, 6))
    with pytest.raises(InputShapeError, match="num_slots"):
        pad_character_features(torch.zeros(2, 5, 8), torch.zeros(2, 6), num_slots=0)


# --------------------------------------------------------------------------------------------------
# import cost


def test_import_does_not_load_transformers():
    code = "import sys, diffsensei_core.model.magi_encoder; print('transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
