"""The host-side UNet builder against the golden data, and the attn2 site walk, in real ComfyUI."""

from __future__ import annotations

import logging

import pytest
import torch
from unet_calls import case, sdxl_adm, unet_eps

log = logging.getLogger("diffsensei")

CASES = ("two_chars", "four_chars_wide", "no_chars")

# SDXL's 70 attn2 patch keys (block, number, block_index) in execution order.
SDXL_ATTN2_KEYS = (
    [("input", n, i) for n in (4, 5) for i in range(2)]
    + [("input", n, i) for n in (7, 8) for i in range(10)]
    + [("middle", 0, i) for i in range(10)]
    + [("output", n, i) for n in (0, 1, 2) for i in range(10)]
    + [("output", n, i) for n in (3, 4, 5) for i in range(2)]
)

SDXL_DIFFUSERS_CONFIG = {
    "block_out_channels": [320, 640, 1280],
    "attention_head_dim": [5, 10, 20],
    "transformer_layers_per_block": [1, 2, 10],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "layers_per_block": 2,
    "cross_attention_dim": 2048,
    "projection_class_embeddings_input_dim": 2816,
    "use_linear_projection": True,
    "in_channels": 4,
    "out_channels": 4,
}


def test_harness_loads_pack_and_runs_a_prompt(comfy, pack, run_prompt):
    assert pack.__file__.startswith(str(comfy.tmp))
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "dss_harness"}},
    }
    executor, outputs = run_prompt(prompt)
    assert executor.success
    assert outputs["2"]["images"][0]["filename"].startswith("dss_harness")


def test_pack_loads_without_import_errors(comfy, pack):
    assert not comfy.pack_errors, "ComfyUI reported errors loading the pack:\n" + "\n".join(comfy.pack_errors)


def test_sdxl_adm_matches_golden_time_id_layout(golden_model, golden):
    data = case(golden, "two_chars")
    y = sdxl_adm(golden_model.model, data["pooled"], data["time_ids"])
    assert y.shape == (2, 2816)
    direct = golden_model.model.embedder(data["time_ids"].reshape(-1)).reshape(2, -1)
    assert torch.equal(y, torch.cat([data["pooled"], direct], dim=1))


@pytest.mark.parametrize("name", CASES)
def test_golden_unet_reproduces_eps_plain(golden_model, golden, name):
    data = case(golden, name)
    eps = unet_eps(golden_model, data)
    diff = (eps - data["eps_plain"]).abs().max().item()
    log.info("%s: max |eps - eps_plain| = %.3g", name, diff)
    assert eps.shape == data["eps_plain"].shape
    assert diff <= 1e-5


def test_golden_build_uses_every_plain_key(golden_unet_files, golden_model):
    plain, _config, extra = golden_unet_files
    assert len(extra) == 141
    assert all(k == "dialog_bbox_embedding" or k.endswith(("to_k_ip.weight", "to_v_ip.weight")) for k in extra)
    assert len(plain) == len(golden_model.model.diffusion_model.state_dict()) == 1678


def test_attn2_site_keys_match_sdxl(comfy_unet, golden_model, tiny_sdxl):
    assert comfy_unet.attn2_site_keys(golden_model.model.diffusion_model) == SDXL_ATTN2_KEYS
    assert comfy_unet.attn2_site_keys(tiny_sdxl.model.diffusion_model) == SDXL_ATTN2_KEYS
    assert len(SDXL_ATTN2_KEYS) == 70


def test_every_attn2_site_key_is_hit_at_run_time(comfy_unet, golden_model, golden):
    from comfy.ldm.modules.attention import optimized_attention

    hits = []

    def plain_attention(q, k, v, extra_options):
        hits.append((*extra_options["block"], extra_options["block_index"]))
        return optimized_attention(q, k, v, extra_options["n_heads"])

    patched = golden_model.clone()
    for key in comfy_unet.attn2_site_keys(patched.model.diffusion_model):
        patched.set_model_attn2_replace(plain_attention, *key)
    data = case(golden, "four_chars_wide")
    eps = unet_eps(patched, data, patched.model_options["transformer_options"])
    assert hits == SDXL_ATTN2_KEYS
    assert (eps - data["eps_plain"]).abs().max().item() <= 1e-5
    assert "patches_replace" not in golden_model.model_options.get("transformer_options", {})


def test_unet_config_from_diffusers_sdxl(comfy_unet):
    unet_config, heads = comfy_unet.unet_config_from_diffusers(SDXL_DIFFUSERS_CONFIG)
    assert heads == 64
    assert unet_config["model_channels"] == 320
    assert unet_config["channel_mult"] == [1, 2, 4]
    assert unet_config["num_res_blocks"] == [2, 2, 2]
    assert unet_config["transformer_depth"] == [0, 0, 2, 2, 10, 10]
    assert unet_config["transformer_depth_middle"] == 10
    assert unet_config["transformer_depth_output"] == [0, 0, 0, 2, 2, 2, 10, 10, 10]
    assert unet_config["context_dim"] == 2048
    assert unet_config["adm_in_channels"] == 2816
    assert unet_config["use_linear_in_transformer"] is True


@pytest.mark.parametrize(
    ("option", "dtype", "tolerance"),
    [("fp16", torch.float16, 2e-2), ("bf16", torch.bfloat16, 2e-1), ("fp8_e4m3fn", torch.float8_e4m3fn, None),
     ("fp8_e4m3fn_fast", torch.float8_e4m3fn, None)],
)
def test_weight_dtype_is_respected(comfy_unet, golden_unet_files, golden, option, dtype, tolerance):
    plain, config, _extra = golden_unet_files
    weight_dtype, fp8_fast = comfy_unet.weight_dtype_option(option)
    patcher = comfy_unet.build_sdxl_model(plain, config, weight_dtype=weight_dtype, fp8_optimizations=fp8_fast)
    dtypes = {p.dtype for p in patcher.model.diffusion_model.parameters()}
    assert dtype in dtypes
    assert dtypes <= {dtype, torch.float32}  # ComfyUI keeps a few small layers (e.g. norms) in fp32 for fp8
    if not option.startswith("fp8"):
        assert dtypes == {dtype}
    if tolerance is not None:
        data = case(golden, "two_chars")
        diff = (unet_eps(patcher, data) - data["eps_plain"]).abs().max().item()
        log.info("%s: max |eps - eps_plain| = %.3g", option, diff)
        assert diff <= tolerance


def test_weight_dtype_option_maps_like_unet_loader(comfy_unet):
    assert comfy_unet.weight_dtype_option("default") == (None, False)
    assert comfy_unet.weight_dtype_option("fp8_e4m3fn_fast") == (torch.float8_e4m3fn, True)
    with pytest.raises(comfy_unet.WeightsError, match="fp4"):
        comfy_unet.weight_dtype_option("fp4")


def test_missing_key_raises_weights_error(comfy_unet, golden_unet_files):
    plain, config, _extra = golden_unet_files
    broken = dict(plain)
    del broken["mid_block.attentions.0.transformer_blocks.3.attn2.to_k.weight"]
    missing = r"1 missing key.*mid_block\.attentions\.0\.transformer_blocks\.3\.attn2\.to_k"
    with pytest.raises(comfy_unet.WeightsError, match=missing):
        comfy_unet.build_sdxl_model(broken, config, weight_dtype=torch.float32)
    assert len(broken) == len(plain) - 1  # the caller's dict is left alone


def test_unexpected_key_raises_weights_error(comfy_unet, golden_unet_files):
    plain, config, extra = golden_unet_files
    with_extra = {**plain, "dialog_bbox_embedding": extra["dialog_bbox_embedding"]}
    with pytest.raises(comfy_unet.WeightsError, match=r"1 unexpected key.*dialog_bbox_embedding"):
        comfy_unet.build_sdxl_model(with_extra, config, weight_dtype=torch.float32)


def test_undetectable_unet_without_config_raises(comfy_unet, golden_unet_files):
    plain, _config, _extra = golden_unet_files
    with pytest.raises(comfy_unet.WeightsError, match=r"config\.json"):
        comfy_unet.build_sdxl_model(plain)


def test_an_8_group_unet_is_refused_not_loaded_wrong(comfy_unet, golden_unet_files):
    """GroupNorm weights are per channel, so an 8-group UNet passes the strict key check; ComfyUI's UNet always uses
    32 groups and would compute something else. The config field is refused by name instead."""
    plain, config, _extra = golden_unet_files
    with pytest.raises(comfy_unet.WeightsError, match=r"norm_num_groups = 8.*always computes with 32"):
        comfy_unet.build_sdxl_model(plain, {**config, "norm_num_groups": 8}, weight_dtype=torch.float32)
