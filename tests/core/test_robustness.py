"""Weight files with wrong dtypes, structurally corrupted files, an adapter for fewer sites, and a few layout gaps
that tests/core/test_checkpoint.py and test_layout_fuzz.py leave open (issue 7)."""

import json
import pathlib

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

from diffsensei_core.errors import DiffSenseiError, LayoutError, WeightsError
from diffsensei_core.model.checkpoint import (
    load_adapter_file,
    load_image_generator,
    load_state_dict_file,
)
from diffsensei_core.model.convert import convert_image_generator
from diffsensei_core.model.panel_layout import parse_layout

from .fuzz import fuzz_settings
from .tiny_release import DIM_HEAD, write_tiny_release


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """``(tensors, metadata)`` of a converted fp32 adapter file of the tiny release."""
    root = tmp_path_factory.mktemp("converted")
    release = write_tiny_release(root / "dl")
    _, adapter_path = convert_image_generator(release.root, root / "out", dtype=torch.float32,
                                              resampler_dim_head=DIM_HEAD)
    with safe_open(str(adapter_path), framework="pt") as handle:
        metadata = handle.metadata()
    return load_state_dict_file(adapter_path), metadata


@pytest.fixture
def fresh(tmp_path):
    return write_tiny_release(tmp_path / "dl")


def write_adapter(path: pathlib.Path, tensors: dict, metadata: dict) -> pathlib.Path:
    save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize(
    ("what", "dtype", "message"),
    [
        ("ip", torch.int64, r"to_k_ip is torch\.int64; expected floating-point weights.*re-download"),
        ("dialog", torch.bool, r"dialog_bbox_embedding is torch\.bool; expected floating-point"),
        ("resampler", torch.int32, r"not floating-point 1 .*torch\.int32.*re-run the converter"),
    ],
)
def test_adapter_safetensors_with_integer_weights_is_refused(converted, tmp_path, what, dtype, message):
    tensors, metadata = converted
    key = {"ip": next(k for k in sorted(tensors) if k.startswith("ip.") and k.endswith(".to_k")),
           "dialog": "dialog_bbox_embedding",
           "resampler": next(k for k in sorted(tensors) if k.startswith("resampler.") and tensors[k].ndim == 2)}[what]
    bad = dict(tensors, **{key: (tensors[key] > 0) if dtype is torch.bool else tensors[key].to(dtype)})
    with pytest.raises(WeightsError, match=message):
        load_adapter_file(write_adapter(tmp_path / "diffsensei_adapter_bad.safetensors", bad, metadata))


def test_adapter_safetensors_with_a_wrong_shape_is_refused(converted, tmp_path):
    tensors, metadata = converted
    key = next(k for k in sorted(tensors) if k.startswith("ip.") and k.endswith("to_v"))
    bad = dict(tensors, **{key: tensors[key][:, :-1].contiguous()})
    with pytest.raises(WeightsError, match=r"must be \(inner, \d+\) like the other sites.*re-download"):
        load_adapter_file(write_adapter(tmp_path / "diffsensei_adapter_bad.safetensors", bad, metadata))


def test_adapter_for_fewer_sites_loads_and_reports_its_count(converted, tmp_path):
    # Such a file is consistent in itself; Apply refuses it against a 70-site UNet (tests/host/test_robustness.py).
    tensors, metadata = converted
    name = next(k for k in sorted(tensors) if k.startswith("ip."))[3:].rsplit(".", 1)[0]
    fewer = {k: v for k, v in tensors.items() if not k.startswith(f"ip.{name}.")}
    adapter = load_adapter_file(write_adapter(tmp_path / "diffsensei_adapter_69.safetensors", fewer,
                                              dict(metadata, num_sites="69")))
    assert adapter.num_sites == 69
    with pytest.raises(WeightsError, match=r"metadata says 70 ip sites but the file holds 69.*damaged"):
        load_adapter_file(write_adapter(tmp_path / "diffsensei_adapter_lie.safetensors", fewer, metadata))


def test_release_unet_with_integer_tensors_is_refused(fresh):
    unet = dict(fresh.unet)
    unet["conv_in.weight"] = unet["conv_in.weight"].to(torch.int16)
    torch.save(unet, fresh.image_generator / "unet" / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"conv_in\.weight is torch\.int16; expected floating-point"):
        load_image_generator(fresh.root, resampler_dim_head=DIM_HEAD)


@pytest.mark.parametrize(
    ("damage", "suffix"),
    [
        ("header", ".bin"),  # the zip's local header overwritten
        ("central_directory", ".bin"),  # the end of the zip zeroed
        ("header", ".safetensors"),  # the JSON header mangled
        ("length", ".safetensors"),  # a header length far beyond the file
    ],
)
def test_structurally_corrupted_files_are_refused(tmp_path, damage, suffix):
    path = tmp_path / f"w{suffix}"
    tensors = {"a": torch.randn(64, 64), "b": torch.randn(32)}
    torch.save(tensors, path) if suffix == ".bin" else save_file(tensors, str(path))
    data = bytearray(path.read_bytes())
    if damage == "header":
        start = 0 if suffix == ".bin" else 8
        data[start : start + 64] = b"\xff" * 64
    elif damage == "central_directory":
        data[-200:] = bytes(200)
    else:
        data[:8] = (2**40).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"truncated or corrupted.*re-download"):
        load_state_dict_file(path)


def test_pickle_that_is_not_a_torch_file_is_refused(tmp_path):
    import pickle

    path = tmp_path / "plain.bin"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    with pytest.raises(WeightsError):
        load_state_dict_file(path)


# ---------------------------------------------------------------------------------------------- layout gaps

FUZZ = fuzz_settings(200)


@FUZZ
@given(st.text(max_size=120), st.integers(-(2**31), 2**31), st.integers(-(2**31), 2**31))
def test_node_arguments_and_any_text_parse_or_raise_the_packs_error(text, width, height):
    # The node passes its width/height widgets as defaults; test_layout_fuzz.py parses without them.
    try:
        layout = parse_layout(text, width=width, height=height)
    except DiffSenseiError:
        return
    assert 64 <= layout.width <= 2048 and 64 <= layout.height <= 2048


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ('{"characters": [[0.1, 0.1, 0.5, NaN]]}', "NaN or infinite"),
        ('{"characters": [[0.1, 0.1, 0.5, Infinity]]}', "NaN or infinite"),
        ('{"characters": [[0.1, 0.1, 0.5, -Infinity]]}', "NaN or infinite"),
        ('{"characters": [[1e308, 0, 1e309, 1]]}', "NaN or infinite"),
        ('{"width": NaN, "height": 512}', "whole number of pixels"),
        ('{"width": 1e400, "height": 512}', "whole number of pixels"),
        ('{"characters": [[1.5, 1.5, 1.9, 1.9]]}', "no area inside the panel"),
        ('{"characters": [[0.5, 0.5, 0.5, 0.5]]}', "no area"),
        ('{"characters": [[0, 0, 1, 1, 1]]}', r"must be \[x1, y1, x2, y2\]"),
        ('{"characters": [["a", 0, 1, 1]]}', "must hold 4 numbers"),
        ('{"characters": [[null, 0, 1, 1]]}', "must hold 4 numbers"),
        ('{"characters": {"a": 1}}', "must be a list"),
        ('{"characters": [], "dialogs": [], "extra": 1}', "unknown keys"),
        ("[]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
    ],
)
def test_bad_boxes_and_sizes_get_the_packs_error(layout, message):
    with pytest.raises(LayoutError, match=message):
        parse_layout(layout, width=512, height=512)


def test_more_boxes_than_the_limit_is_refused_quickly():
    boxes = [[0.1, 0.1, 0.2, 0.2]] * 10_000
    with pytest.raises(LayoutError, match="at most 64 boxes"):
        parse_layout(json.dumps({"characters": boxes}), width=512, height=512)
