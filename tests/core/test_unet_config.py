"""Diffusers UNet configs → ComfyUI's UNet: what maps, and what is refused because ComfyUI cannot compute it."""

import json
from pathlib import Path

import pytest

from diffsensei_core.errors import WeightsError
from diffsensei_core.model.unet_config import FIXED, check_fields, unet_config_from_diffusers
from headless.demo_weights import DEMO_UNET_CONFIG
from tests.support.skips import skip_or_fail

GOLDEN_CONFIG = Path(__file__).resolve().parents[2].parent / "shared" / "golden" / "image_generator" / "unet" / \
    "config.json"


def golden_config() -> dict:
    if not GOLDEN_CONFIG.is_file():
        skip_or_fail("golden", f"golden UNet config not found at {GOLDEN_CONFIG}")
    return json.loads(GOLDEN_CONFIG.read_text())


def test_the_released_layout_and_the_demo_config_map():
    unet_config, heads = unet_config_from_diffusers(golden_config())
    assert unet_config["model_channels"] == 32 and heads == 32 and unet_config["context_dim"] == 64
    unet_config_from_diffusers(DEMO_UNET_CONFIG)


@pytest.mark.parametrize(("field", "value"), [
    ("norm_num_groups", 8), ("norm_eps", 1e-6), ("act_fn", "gelu"), ("flip_sin_to_cos", False), ("freq_shift", 1),
    ("upcast_attention", True), ("resnet_time_scale_shift", "scale_shift"), ("conv_in_kernel", 1),
    ("class_embed_type", "timestep"), ("addition_embed_type", "text_image"), ("only_cross_attention", True),
    ("time_cond_proj_dim", 256), ("center_input_sample", True),
])
def test_a_value_comfyui_cannot_compute_is_refused_by_name(field, value):
    config = {**golden_config(), field: value}
    with pytest.raises(WeightsError, match=rf"{field} = {value!r}.*ComfyUI's UNet always computes with"):
        unet_config_from_diffusers(config)


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(WeightsError, match=r"'new_knob' = 3.*does not know how to map"):
        check_fields({**golden_config(), "new_knob": 3})


def test_json_numbers_and_booleans_compare_as_json():
    check_fields({"norm_num_groups": 32.0, "mid_block_scale_factor": 1.0, "resnet_out_scale_factor": 1})
    with pytest.raises(WeightsError, match="center_input_sample"):
        check_fields({"center_input_sample": 0})  # 0 is not false in a config
    with pytest.raises(WeightsError, match="norm_num_groups"):
        check_fields({"norm_num_groups": True})


def test_metadata_and_private_fields_pass():
    check_fields({"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.30.0", "sample_size": 128,
                  "dropout": 0.1})


def test_the_released_values_are_supported():
    config = golden_config()
    for field, allowed in FIXED.items():
        if field in config:
            assert config[field] in allowed, field
