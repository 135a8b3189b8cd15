"""Finding, safe loading, splitting, validation and conversion of the released weights (model spec §1, §4.1, §8)."""

import json
import logging
import pathlib
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from diffsensei_core.__main__ import main
from diffsensei_core.errors import WeightsError
from diffsensei_core.model.checkpoint import (
    UNET_FILE_NAMES,
    AdapterWeights,
    find_image_generator,
    load_adapter_file,
    load_diffsensei,
    load_image_generator,
    load_state_dict_file,
    runtime_key,
    split_unet_state_dict,
)
from diffsensei_core.model.convert import convert_image_generator
from tests.support.skips import skip_or_fail

from .tiny_release import DIM_HEAD, GOLDEN, write_tiny_release

KEYS_FILE = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "design" / "keys" / "unet_new_keys.txt"
EXTRA = "dialog_bbox_embedding"


def is_extra(key):
    return key == EXTRA or "_ip." in key


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """One tiny release with a Magi folder, shared read-only by the tests that do not break it."""
    return write_tiny_release(tmp_path_factory.mktemp("release"), with_magi=True)


@pytest.fixture
def fresh(tmp_path):
    """A tiny release of this test's own, free to damage."""
    return write_tiny_release(tmp_path / "dl")


def unet_file(rel):
    return rel.image_generator / "unet" / "pytorch_model.bin"


def assert_same_adapter(adapter, rel, *, exact=True):
    close = torch.equal if exact else (lambda a, b: torch.allclose(a.float(), b, rtol=1e-3, atol=1e-3))
    assert adapter.num_sites == 70
    for site in adapter.sites:
        prefix = f"{site.name}.processor"
        assert close(site.to_k, rel.unet[f"{prefix}.to_k_ip.weight"])
        assert close(site.to_v, rel.unet[f"{prefix}.to_v_ip.weight"])
    assert close(adapter.dialog_embedding, rel.unet[EXTRA])
    assert adapter.resampler_state_dict.keys() == rel.resampler.keys()
    assert all(close(adapter.resampler_state_dict[k], v) for k, v in rel.resampler.items())


# ------------------------------------------------------------------------------------------------ happy paths


def test_golden_release_loads():
    if not (GOLDEN / "unet").is_dir():
        skip_or_fail("golden", f"golden tiny model not found at {GOLDEN}")
    checkpoint = load_image_generator(GOLDEN, resampler_dim_head=16)
    adapter = checkpoint.adapter
    keys = [site.key for site in adapter.sites]
    assert adapter.num_sites == 70 and len(set(keys)) == 70
    assert {("middle", 0, 0), ("input", 4, 0), ("output", 5, 1), ("input", 8, 9), ("output", 0, 9)} <= set(keys)
    assert keys.index(("input", 4, 0)) == 0 and keys[-1] == ("output", 5, 1)
    assert adapter.dialog_embedding.shape == (32,) and adapter.context_dim == 64
    assert len(checkpoint.unet_state_dict) == 1678 and not any(map(is_extra, checkpoint.unet_state_dict))
    resampler = adapter.resampler()
    assert resampler.layers[0][0].heads == 4 and resampler.output_dim == 64
    assert checkpoint.unet_config["layers_per_block"] == 2 and checkpoint.layout.root == GOLDEN


def test_sdxl_site_names_map_to_comfyui_runtime_keys():
    if not KEYS_FILE.is_file():
        skip_or_fail("golden", f"key list not found at {KEYS_FILE}")
    names = [line.split("\t")[0] for line in KEYS_FILE.read_text().splitlines() if "to_" in line]
    state_dict = {name: torch.zeros(2, 3) for name in names} | {EXTRA: torch.zeros(4), "conv_in.weight": torch.ones(1)}
    unet_sd, sites, dialog = split_unet_state_dict(state_dict)
    assert list(unet_sd) == ["conv_in.weight"] and unet_sd["conv_in.weight"] is state_dict["conv_in.weight"]
    assert dialog is state_dict[EXTRA] and len(state_dict) == 142  # the input was not modified
    expected = (
        [("input", b, t) for b in (4, 5) for t in range(2)]
        + [("input", b, t) for b in (7, 8) for t in range(10)]
        + [("middle", 0, t) for t in range(10)]
        + [("output", b, t) for b in (0, 1, 2) for t in range(10)]
        + [("output", b, t) for b in (3, 4, 5) for t in range(2)]
    )
    assert [site.key for site in sites] == expected


@pytest.mark.parametrize(
    ("name", "layers_per_block", "key"),
    [
        ("down_blocks.1.attentions.0.transformer_blocks.1.attn2", 2, ("input", 4, 1)),
        ("down_blocks.2.attentions.1.transformer_blocks.9", 2, ("input", 8, 9)),
        ("mid_block.attentions.0.transformer_blocks.3.attn2", 2, ("middle", 0, 3)),
        ("up_blocks.1.attentions.2.transformer_blocks.0", 2, ("output", 5, 0)),
        ("down_blocks.1.attentions.0.transformer_blocks.0", 1, ("input", 3, 0)),
        ("up_blocks.1.attentions.1.transformer_blocks.0", 1, ("output", 3, 0)),
    ],
)
def test_runtime_key(name, layers_per_block, key):
    assert runtime_key(name, layers_per_block) == key


def test_split_accepts_keys_without_attn2_infix():
    state_dict = {
        "mid_block.attentions.0.transformer_blocks.2.processor.to_k_ip.weight": torch.ones(2, 3),
        "mid_block.attentions.0.transformer_blocks.2.processor.to_v_ip.weight": torch.ones(2, 3),
    }
    _, sites, dialog = split_unet_state_dict(state_dict)
    assert [s.key for s in sites] == [("middle", 0, 2)] and dialog is None


def test_release_round_trip_is_exact(release):
    checkpoint = load_diffsensei(release.root, resampler_dim_head=DIM_HEAD)
    assert_same_adapter(checkpoint.adapter, release)
    standard = {k: v for k, v in release.unet.items() if not is_extra(k)}
    assert checkpoint.unet_state_dict.keys() == standard.keys()
    assert all(torch.equal(checkpoint.unet_state_dict[k], v) for k, v in standard.items())
    resampler = checkpoint.adapter.resampler()
    assert all(torch.equal(resampler.state_dict()[k], v) for k, v in release.resampler.items())
    assert checkpoint.unet_config["block_out_channels"] == [32, 64, 64]
    assert checkpoint.magi_dir == release.image_generator / "magi_image_encoder" and checkpoint.clip_dir is None
    magi = load_state_dict_file(checkpoint.magi_dir / "pytorch_model.bin")
    assert magi.keys() == release.magi.keys() and all(torch.equal(magi[k], v) for k, v in release.magi.items())


def test_parent_and_image_generator_folder_give_the_same_layout(release):
    assert find_image_generator(release.root) == find_image_generator(release.image_generator)
    assert find_image_generator(release.root).unet_weights == unet_file(release)


@pytest.mark.parametrize(
    "name", ["diffsensei_unet.safetensors", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]
)
def test_earlier_published_unet_file_names_are_found(tmp_path, name):
    rel = write_tiny_release(tmp_path, unet_name=name)
    checkpoint = load_image_generator(rel.root, resampler_dim_head=DIM_HEAD)
    assert checkpoint.layout.unet_weights.name == name
    assert_same_adapter(checkpoint.adapter, rel)


def test_current_unet_file_name_is_preferred(fresh):
    shutil.copyfile(unet_file(fresh), fresh.image_generator / "unet" / "diffsensei_unet.safetensors")
    assert find_image_generator(fresh.root).unet_weights == unet_file(fresh)


def test_convert_fp32_is_exact_and_loads_back(release, tmp_path):
    unet_path, adapter_path = convert_image_generator(release.root, tmp_path, dtype=torch.float32,
                                                      resampler_dim_head=DIM_HEAD)
    assert unet_path.name == "diffsensei_unet_fp32.safetensors"
    unet = load_state_dict_file(unet_path)
    standard = {k: v for k, v in release.unet.items() if not is_extra(k)}
    assert unet.keys() == standard.keys() and all(torch.equal(unet[k], v) for k, v in standard.items())
    adapter = load_adapter_file(adapter_path)
    assert_same_adapter(adapter, release)
    assert adapter.resampler_dim_head == DIM_HEAD and adapter.layers_per_block == 2
    with safe_open(str(adapter_path), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["format"] == "diffsensei-adapter" and meta["format_version"] == "1" and meta["num_sites"] == "70"
    config = json.loads((tmp_path / "diffsensei_unet_fp32.config.json").read_text())
    assert config["block_out_channels"] == [32, 64, 64]
    for path in (tmp_path, adapter_path):
        checkpoint = load_diffsensei(path)
        assert checkpoint.unet_state_dict.keys() == standard.keys() and checkpoint.unet_config == config
        assert [s.key for s in checkpoint.adapter.sites] == [s.key for s in adapter.sites]
    assert load_diffsensei(adapter_path, load_unet=False).unet_state_dict is None


def test_convert_fp16_is_close(release, tmp_path):
    unet_path, adapter_path = convert_image_generator(release.root, tmp_path, resampler_dim_head=DIM_HEAD)
    assert unet_path.name == "diffsensei_unet_fp16.safetensors"
    assert unet_path.stat().st_mode & 0o777 == 0o644, "readable by others, like any downloaded weights"
    unet = load_state_dict_file(unet_path)
    assert {v.dtype for v in unet.values()} == {torch.float16}
    key = "conv_in.weight"
    assert torch.allclose(unet[key].float(), release.unet[key], rtol=1e-3, atol=1e-3)
    adapter = load_adapter_file(adapter_path)
    assert adapter.dialog_embedding.dtype == torch.float16
    assert_same_adapter(adapter, release, exact=False)


def test_adapter_state_dict_round_trip(release):
    adapter = load_image_generator(release.root, resampler_dim_head=DIM_HEAD).adapter
    again = AdapterWeights.from_state_dict(adapter.to_state_dict(), adapter.metadata(), source="memory")
    assert [(s.key, s.name) for s in again.sites] == [(s.key, s.name) for s in adapter.sites]
    assert_same_adapter(again, release)


def test_cli_convert_and_inspect(release, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="diffsensei"):
        assert main(["convert", str(release.root), str(tmp_path), "--dtype", "bf16", "--resampler-dim-head", "16"]) == 0
        assert (tmp_path / "diffsensei_adapter_bf16.safetensors").is_file()
        assert main(["inspect", str(tmp_path), "--resampler-dim-head", "16"]) == 0
        assert "70 ip sites" in caplog.text
        assert main(["inspect", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in caplog.records[-1].getMessage()


# ------------------------------------------------------------------------------------------------- bad input


def test_missing_folder(tmp_path):
    with pytest.raises(WeightsError, match=r"not found.*nowhere"):
        load_image_generator(tmp_path / "nowhere")


def test_folder_without_release(tmp_path):
    with pytest.raises(WeightsError, match="no DiffSensei image_generator folder"):
        load_image_generator(tmp_path)


def test_missing_unet_file_lists_the_names_looked_for(fresh):
    unet_file(fresh).unlink()
    with pytest.raises(WeightsError) as error:
        load_image_generator(fresh.root)
    message = str(error.value)
    assert all(name in message for name in UNET_FILE_NAMES) and str(fresh.image_generator / "unet") in message


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match=r"not found: expected gone\.bin in"):
        load_state_dict_file(tmp_path / "gone.bin")


def test_empty_file(fresh):
    unet_file(fresh).write_bytes(b"")
    with pytest.raises(WeightsError, match=r"pytorch_model\.bin.*truncated or corrupted.*empty.*re-download"):
        load_image_generator(fresh.root)


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_truncated_file(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    tensors = {"a": torch.randn(64, 64), "b": torch.randn(32)}
    torch.save(tensors, path) if suffix == ".bin" else save_file(tensors, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"truncated or corrupted.*re-download"):
        load_state_dict_file(path)


class Payload:
    """Pickles to a call of ``Path.touch``: loading it unsafely would create a file."""

    def __init__(self, target):
        self.target = pathlib.Path(target)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.target,))


@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, zip_format):
    control, target = tmp_path / "control_ran", tmp_path / "pwned"
    torch.save({"w": Payload(control)}, tmp_path / "control.bin", _use_new_zipfile_serialization=zip_format)
    torch.load(tmp_path / "control.bin", weights_only=False)  # the payload is live: an unsafe load runs it
    assert control.exists()
    path = tmp_path / "evil.bin"
    torch.save({"w": torch.ones(2), "x": Payload(target)}, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(WeightsError, match=r"non-tensor objects.*refused for safety"):
        load_state_dict_file(path)
    assert not target.exists()


def test_malicious_unet_in_release_is_refused(fresh):
    target = fresh.root / "pwned"
    torch.save({"w": Payload(target)}, unet_file(fresh))
    with pytest.raises(WeightsError, match="refused for safety"):
        load_image_generator(fresh.root, resampler_dim_head=DIM_HEAD)
    assert not target.exists()


def test_non_tensor_values_are_refused(tmp_path):
    path = tmp_path / "mixed.pt"
    torch.save({"w": torch.ones(2), "epoch": 3}, path)
    with pytest.raises(WeightsError, match="not a plain state dict"):
        load_state_dict_file(path)


def test_sd15_shaped_unet_is_refused(fresh):
    state_dict = {k: v for k, v in fresh.unet.items() if not k.startswith("add_embedding.")}
    torch.save(state_dict, unet_file(fresh))
    with pytest.raises(WeightsError, match=r"not an SDXL-layout DiffSensei UNet.*add_embedding"):
        load_image_generator(fresh.root, resampler_dim_head=DIM_HEAD)


def test_plain_unet_without_ip_weights_is_refused(fresh):
    torch.save({k: v for k, v in fresh.unet.items() if "_ip." not in k}, unet_file(fresh))
    with pytest.raises(WeightsError, match="no to_k_ip/to_v_ip weights"):
        load_image_generator(fresh.root, resampler_dim_head=DIM_HEAD)


def test_resampler_with_a_wrong_shape_names_the_key(fresh):
    resampler = dict(fresh.resampler, **{"layers.1.0.to_out.weight": torch.zeros(32, 16)})
    torch.save(resampler, fresh.image_generator / "image_proj_model" / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"image_proj_model.*layers\.1\.0\.to_out\.weight"):
        load_image_generator(fresh.root, resampler_dim_head=DIM_HEAD)


def test_k_without_v_is_refused(fresh):
    name = "up_blocks.0.attentions.2.transformer_blocks.7.attn2"
    del fresh.unet[f"{name}.processor.to_v_ip.weight"]
    torch.save(fresh.unet, unet_file(fresh))
    with pytest.raises(WeightsError, match=rf"{name} has to_k_ip but no to_v_ip"):
        load_image_generator(fresh.root, resampler_dim_head=DIM_HEAD)


def test_config_disagreeing_with_weights_is_refused(fresh):
    config_path = fresh.image_generator / "unet" / "config.json"
    config = json.loads(config_path.read_text())
    config["block_out_channels"] = [320, 640, 1280]
    config_path.write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"block_out_channels\[0\]=320.*32 channels"):
        load_image_generator(fresh.root, resampler_dim_head=DIM_HEAD)


def test_adapter_file_with_wrong_format_or_unknown_keys(release, tmp_path):
    _, adapter_path = convert_image_generator(release.root, tmp_path, dtype=torch.float32,
                                              resampler_dim_head=DIM_HEAD)
    tensors = load_state_dict_file(adapter_path)
    with safe_open(str(adapter_path), framework="pt") as handle:
        meta = handle.metadata()
    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, str(wrong), metadata=dict(meta, format="something-else"))
    with pytest.raises(WeightsError, match=r"not a DiffSensei adapter file.*something-else"):
        load_adapter_file(wrong)
    save_file(dict(tensors, extra=torch.ones(1)), str(wrong), metadata=meta)
    with pytest.raises(WeightsError, match=r"unexpected adapter keys \['extra'\]"):
        load_adapter_file(wrong)
