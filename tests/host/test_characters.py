"""The character-encoder nodes (Load Encoders, Encode Characters) in real ComfyUI, on a tiny released folder."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from conftest import add_models_root, import_from_pack

log = logging.getLogger("diffsensei")

CLIP_WIDTH = 48
CLIP_TOKENS = (224 // 14) ** 2 + 1
MAGI_WIDTH = 32


# ----------------------------------------------------------------------------------------------- tiny release


def write_tiny_clip(folder: Path, seed: int = 3) -> None:
    """A narrow HF CLIPVisionModelWithProjection as config.json + model.safetensors (save_pretrained's layout)."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=CLIP_WIDTH, intermediate_size=96, num_hidden_layers=3, num_attention_heads=2,
                              image_size=224, patch_size=14, projection_dim=32)
    model = CLIPVisionModelWithProjection(config)
    with torch.no_grad():  # non-trivial LayerNorm parameters, so a wrong mapping cannot go unnoticed
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(0.1 * torch.randn_like(param))
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(folder / "config.json"))  # like save_pretrained: only the non-default fields
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))


def write_tiny_magi(folder: Path, seed: int = 4) -> None:
    from transformers import ViTMAEConfig, ViTMAEModel

    torch.manual_seed(seed)
    config = ViTMAEConfig(hidden_size=MAGI_WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          image_size=64, patch_size=16, mask_ratio=0.75)
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(folder / "config.json"))
    torch.save({k: v.clone() for k, v in ViTMAEModel(config).state_dict().items()}, folder / "pytorch_model.bin")


def write_release(image_generator: Path, *, clip: bool = True) -> None:
    # Only the encoders are read here; the UNet file just makes the folder a model choice.
    (image_generator / "unet").mkdir(parents=True)
    torch.save({}, image_generator / "unet" / "pytorch_model.bin")
    if clip:
        write_tiny_clip(image_generator / "clip_image_encoder")
    write_tiny_magi(image_generator / "magi_image_encoder")


@pytest.fixture(scope="session")
def characters(pack):
    return import_from_pack(pack, "nodes.characters")


@pytest.fixture(scope="session")
def loading(pack):
    return import_from_pack(pack, "nodes.host.encoder_loading")


@pytest.fixture(scope="session")
def errors(pack):
    return import_from_pack(pack, "diffsensei_core.errors")


@pytest.fixture(scope="session")
def release(comfy, pack, tmp_path_factory):
    """A models folder registered under "diffsensei" holding ``tiny/image_generator`` and ``noclip/image_generator``."""
    root = tmp_path_factory.mktemp("diffsensei_models")
    write_release(root / "tiny" / "image_generator")
    write_release(root / "noclip" / "image_generator", clip=False)
    add_models_root(comfy, pack, root)
    return root


@pytest.fixture(scope="session")
def encoders(characters, release):
    return characters.DiffSenseiLoadEncoders.execute(model_name="tiny/image_generator").result[0]


def encode(characters, encoders, **kwargs):
    kwargs = {"grayscale": True, "seed": 0, "magi_masking": True, **kwargs}
    return characters.DiffSenseiEncodeCharacters.execute(encoders=encoders, **kwargs).result[0]


def images(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 200, 160, 3, generator=gen), torch.rand(1, 96, 128, 3, generator=gen)


# ---------------------------------------------------------------------------------------------------- tests


def test_model_choice_lists_the_release(characters, release):
    choices = characters.folders.model_choices()
    assert "tiny/image_generator" in choices
    schema = characters.DiffSenseiLoadEncoders.define_schema()
    assert "tiny/image_generator" in schema.inputs[0].options


def test_schema_has_tooltips_and_descriptions(characters):
    for node in characters.NODES:
        schema = node.define_schema()
        assert schema.node_id.startswith("DiffSensei") and schema.display_name.startswith("DiffSensei: ")
        assert schema.category == "DiffSensei/characters" and schema.description
        for socket in [*schema.inputs, *schema.outputs]:
            assert socket.tooltip, f"{schema.node_id}.{socket.id} has no tooltip"


def test_load_encoders(loading, characters, encoders):
    assert isinstance(encoders, loading.DiffSenseiEncoders)
    assert (encoders.clip_tokens, encoders.clip_width, encoders.magi_width) == (CLIP_TOKENS, CLIP_WIDTH, MAGI_WIDTH)
    assert encoders.magi_patcher.model.encoder.dtype == torch.float32  # "default" on CPU


def test_magi_dtype_option(characters, release, encoders):
    loaded = characters.DiffSenseiLoadEncoders.execute(model_name="tiny/image_generator", magi_dtype="bf16").result[0]
    assert loaded.magi.dtype == torch.bfloat16
    first, _ = images()
    low = encode(characters, loaded, character_1=first, magi_masking=False)
    full = encode(characters, encoders, character_1=first, magi_masking=False)
    assert low.magi.dtype == torch.float32
    torch.testing.assert_close(low.magi, full.magi, atol=0.1, rtol=0.05)


def test_two_images_of_different_sizes(characters, encoders, comfy):
    first, second = images()
    out = encode(characters, encoders, character_1=first, character_3=second)
    assert tuple(out.clip.shape) == (2, CLIP_TOKENS, CLIP_WIDTH)
    assert tuple(out.magi.shape) == (2, MAGI_WIDTH)
    assert out.clip.device == comfy.mm.intermediate_device() and out.magi.device == comfy.mm.intermediate_device()
    assert out.count == 2
    # input order then batch order; each image is encoded alone (no padding to a common size)
    alone = encode(characters, encoders, character_2=second)
    torch.testing.assert_close(out.clip[1:], alone.clip)


def test_batch_order_matches_inputs(characters, encoders):
    first, _ = images()
    other = torch.rand(2, 200, 160, 3, generator=torch.Generator().manual_seed(5))
    batched = encode(characters, encoders, character_1=torch.cat([first, other]), magi_masking=False)
    split = encode(characters, encoders, character_1=first, character_2=other, magi_masking=False)
    torch.testing.assert_close(batched.clip, split.clip)
    torch.testing.assert_close(batched.magi, split.magi)


def test_clip_features_equal_transformers(characters, encoders, release):
    """ComfyUI's CLIP vision on the folder == HF CLIPVisionModelWithProjection hidden_states[-2], same pixels."""
    import comfy.clip_vision
    from transformers import CLIPVisionModelWithProjection

    first, second = images()
    out = encode(characters, encoders, character_1=first, character_2=second, grayscale=False)
    model = CLIPVisionModelWithProjection.from_pretrained(str(release / "tiny" / "image_generator" /
                                                              "clip_image_encoder")).eval()
    # ComfyUI stores most CLIP vision weights in text_encoder_dtype (fp16, also on CPU) and computes in fp32:
    # give the reference the same rounded weights.
    stored = {k: v.float() for k, v in encoders.clip_vision.get_sd().items()}
    assert any(v.dtype == torch.float16 for v in encoders.clip_vision.get_sd().values())
    missing, unexpected = model.load_state_dict(stored, strict=False)
    assert not unexpected and all(k.endswith("position_ids") for k in missing)
    with torch.no_grad():
        expected = torch.cat([
            model(pixel_values=comfy.clip_vision.clip_preprocess(image, crop=True).float(),
                  output_hidden_states=True).hidden_states[-2]
            for image in (first, second)
        ])
    torch.testing.assert_close(out.clip, expected, atol=1e-4, rtol=1e-4)


def test_magi_features_equal_core_encoder(characters, encoders, release, pack):
    encoders_core = import_from_pack(pack, "diffsensei_core.model.encoders")
    magi = encoders_core.MagiEncoder.from_folder(release / "tiny" / "image_generator" / "magi_image_encoder")
    first, second = images()
    out = encode(characters, encoders, character_1=first, character_2=second, seed=7)
    generator = torch.Generator().manual_seed(7)
    expected = torch.cat([magi.encode(image, generator=generator) for image in (first, second)])
    torch.testing.assert_close(out.magi, expected, atol=1e-5, rtol=1e-5)


def test_seed_controls_magi_masking(characters, encoders):
    first, second = images()
    a = encode(characters, encoders, character_1=first, character_2=second, seed=1)
    b = encode(characters, encoders, character_1=first, character_2=second, seed=1)
    c = encode(characters, encoders, character_1=first, character_2=second, seed=2)
    torch.testing.assert_close(a.magi, b.magi, atol=0, rtol=0)
    assert not torch.allclose(a.magi, c.magi)
    torch.testing.assert_close(a.clip, c.clip, atol=0, rtol=0)  # the seed only affects Magi


def test_no_masking_is_deterministic(characters, encoders):
    first, _ = images()
    a = encode(characters, encoders, character_1=first, seed=1, magi_masking=False)
    b = encode(characters, encoders, character_1=first, seed=2, magi_masking=False)
    masked = encode(characters, encoders, character_1=first, seed=1)
    torch.testing.assert_close(a.magi, b.magi, atol=0, rtol=0)
    assert not torch.allclose(a.magi, masked.magi)


def test_grayscale_changes_a_coloured_image(characters, encoders):
    red = torch.zeros(1, 64, 64, 3)
    red[..., 0] = 0.9
    red[:, 16:48, 16:48, 2] = 0.7
    on = encode(characters, encoders, character_1=red, grayscale=True, magi_masking=False)
    off = encode(characters, encoders, character_1=red, grayscale=False, magi_masking=False)
    assert not torch.allclose(on.clip, off.clip)
    assert not torch.allclose(on.magi, off.magi)
    # an image that is already gray is unchanged by the conversion (up to 8-bit quantisation)
    gray = torch.full((1, 64, 64, 3), 100 / 255)
    torch.testing.assert_close(
        encode(characters, encoders, character_1=gray, grayscale=True, magi_masking=False).magi,
        encode(characters, encoders, character_1=gray, grayscale=False, magi_masking=False).magi,
    )


def test_zero_images(characters, encoders):
    out = encode(characters, encoders)
    assert tuple(out.clip.shape) == (0, CLIP_TOKENS, CLIP_WIDTH)
    assert tuple(out.magi.shape) == (0, MAGI_WIDTH)
    assert out.count == 0


def test_rejects_a_mask_shaped_input(characters, encoders, errors):
    with pytest.raises(errors.InputShapeError, match="character_2"):
        encode(characters, encoders, character_2=torch.rand(1, 32, 32))


def test_missing_clip_folder(characters, release, errors):
    with pytest.raises(errors.WeightsError) as info:
        characters.DiffSenseiLoadEncoders.execute(model_name="noclip/image_generator")
    message = str(info.value)
    assert "clip_image_encoder" in message and "model_name" in message
    assert "model.safetensors" in message  # the file looked for


def test_connected_clip_vision_replaces_the_shipped_one(loading, characters, encoders, release):
    import comfy.clip_vision

    path = release / "tiny" / "image_generator" / "clip_image_encoder"
    connected = loading.load_clip_vision_folder(path)  # what Load CLIP Vision would hand over
    out = characters.DiffSenseiLoadEncoders.execute(model_name="noclip/image_generator", clip_vision=connected)
    loaded = out.result[0]
    assert loaded.clip_vision is connected and loaded.clip_width == CLIP_WIDTH
    assert isinstance(connected, comfy.clip_vision.ClipVisionModel)


def test_clip_weights_must_match_the_config(loading, characters, release, errors, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "clip_image_encoder"
    shutil.copytree(release / "tiny" / "image_generator" / "clip_image_encoder", folder)
    state_dict = load_file(str(folder / "model.safetensors"))
    del state_dict["vision_model.encoder.layers.2.mlp.fc2.weight"]
    save_file(state_dict, str(folder / "model.safetensors"))
    with pytest.raises(errors.WeightsError, match=r"missing keys.*layers\.2\.mlp\.fc2"):
        loading.load_clip_vision_folder(folder)

    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(errors.WeightsError, match="unexpected keys"):
        loading.load_clip_vision_folder(folder)


def test_translated_config_fills_hf_defaults(loading, characters):
    config = loading.comfy_clip_vision_config({"model_type": "clip_vision_model", "hidden_size": 1280},
                                                 with_projection=False, source="config.json")
    assert config["patch_size"] == 32 and config["hidden_act"] == "quick_gelu" and "projection_dim" not in config
    nested = loading.comfy_clip_vision_config({"model_type": "clip", "vision_config": {"num_hidden_layers": 32}},
                                                 with_projection=True, source="config.json")
    assert nested["num_hidden_layers"] == 32 and nested["projection_dim"] == 512


def test_runs_as_a_prompt(comfy, release, run_prompt):
    assert "DiffSenseiEncodeCharacters" in comfy.nodes.NODE_CLASS_MAPPINGS, "the pack did not register its nodes"
    from PIL import Image

    Image.new("RGB", (80, 120), (200, 30, 30)).save(Path(comfy.tmp) / "input" / "character.png")
    prompt = {
        "1": {"class_type": "DiffSenseiLoadEncoders",
              "inputs": {"model_name": "tiny/image_generator", "magi_dtype": "default"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "character.png"}},
        "3": {"class_type": "DiffSenseiEncodeCharacters",
              "inputs": {"encoders": ["1", 0], "character_1": ["2", 0], "grayscale": True, "seed": 3,
                         "magi_masking": True}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    }
    executor, _outputs = run_prompt(prompt)
    assert executor.success, executor.status_messages
