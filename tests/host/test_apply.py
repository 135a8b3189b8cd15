"""Apply DiffSensei inside real ComfyUI: parity with the official implementation (../shared/golden), every
site running, any cond/uncond batch layout, composition with other patches, and clone isolation."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from conftest import GOLDEN_DIR, import_from_pack
from unet_calls import case, unet_eps

from tests.support import random_models

CASES = ("two_chars", "four_chars_wide", "no_chars")
UNCOND, COND = 1, 0


@pytest.fixture(scope="session")
def core(pack):
    modules = {"checkpoint": "model.checkpoint", "layout": "model.panel_layout", "errors": "errors"}
    return {name: import_from_pack(pack, f"diffsensei_core.{module}") for name, module in modules.items()}


@pytest.fixture(scope="session")
def golden_adapter(pack, core, golden_model):
    adapter_module = import_from_pack(pack, "nodes.host.adapter")
    checkpoint = core["checkpoint"].load_image_generator(GOLDEN_DIR / "image_generator", resampler_dim_head=16)
    return adapter_module.DiffSenseiAdapter(checkpoint.adapter, dtype=torch.float32, source="golden",
                                            unet=golden_model.model)


@pytest.fixture(scope="session")
def apply_node(pack):
    return import_from_pack(pack, "nodes.apply").DiffSenseiApply


@pytest.fixture(scope="session")
def sockets(pack):
    return import_from_pack(pack, "nodes.host.sockets")


def golden_inputs(core, sockets, data):
    n, dialogs = int(data["num_characters"]), int(data["num_dialogs"])
    h, w = data["x"].shape[-2:]
    layout = core["layout"].make_layout(int(w) * 8, int(h) * 8, data["boxes"][0, :n].tolist(),
                                        data["dialog"][0, :dialogs].tolist())
    characters = sockets.EncodedCharacters(clip=data["clip"][0, :n], magi=data["magi"][0, :n])
    return characters, layout


def patched_options(patched, cond_or_uncond):
    options = dict(patched.model_options["transformer_options"])
    options["cond_or_uncond"] = cond_or_uncond
    return options


def apply(apply_node, model, adapter, characters, layout, ip_scale, token_grid="true grid"):
    return apply_node.execute(model, adapter, characters, layout, ip_scale, token_grid)[0]


@pytest.mark.parametrize("name", CASES)
def test_matches_the_official_implementation(golden, golden_model, golden_adapter, apply_node, core, sockets, name):
    data = case(golden, name)
    characters, layout = golden_inputs(core, sockets, data)
    patched = apply(apply_node, golden_model, golden_adapter, characters, layout, float(data["ip_scale"]))
    eps = unet_eps(patched, data, patched_options(patched, [UNCOND, COND]))
    torch.testing.assert_close(eps, data["eps"], atol=1e-5, rtol=0)
    assert (eps - data["eps_plain"]).abs().mean() > 1e-2, "the DiffSensei part must show"


class CountingAttention:
    """Another pack's attn2 replace patch: plain attention, counting its calls per site.

    Like most packs' patches it is deep-copied when ComfyUI clones the model, so the log is a class attribute.
    """

    calls: ClassVar[list] = []

    def __init__(self, key):
        self.key = key

    def __call__(self, q, k, v, extra_options):
        import comfy.ldm.modules.attention as attention

        CountingAttention.calls.append(self.key)
        return attention.optimized_attention(q, k, v, extra_options["n_heads"])


def test_every_site_runs_and_another_packs_patch_is_kept(golden, golden_model, golden_adapter, apply_node, core,
                                                        sockets):
    data = case(golden, "four_chars_wide")
    characters, layout = golden_inputs(core, sockets, data)
    other = golden_model.clone()
    calls = CountingAttention.calls
    calls.clear()
    for key in golden_adapter.site_keys:
        other.set_model_attn2_replace(CountingAttention(key), *key)
    patched = apply(apply_node, other, golden_adapter, characters, layout, float(data["ip_scale"]))
    eps = unet_eps(patched, data, patched_options(patched, [UNCOND, COND]))
    assert len(calls) == 70 and set(calls) == set(golden_adapter.site_keys), "each of the 70 sites ran once"
    torch.testing.assert_close(eps, data["eps"], atol=1e-5, rtol=0)


def rows_for(data, order, per_chunk=1):
    """The golden inputs re-batched for a cond_or_uncond order: uncond row 0, cond row 1 of each tensor."""
    picked = {**data}
    index = [flag_row for flag in order for flag_row in [0 if flag == UNCOND else 1] * per_chunk]
    for key in ("text", "pooled", "time_ids"):
        picked[key] = data[key][index]
    return picked, index


@pytest.mark.parametrize(
    ("order", "per_chunk"),
    [([COND, UNCOND], 1), ([COND], 1), ([UNCOND], 1), ([UNCOND, COND, COND], 1), ([UNCOND, COND], 2)],
)
def test_any_batch_layout_gets_the_right_rows(golden, golden_model, golden_adapter, apply_node, core, sockets,
                                              order, per_chunk):
    data = case(golden, "two_chars")
    characters, layout = golden_inputs(core, sockets, data)
    patched = apply(apply_node, golden_model, golden_adapter, characters, layout, float(data["ip_scale"]))
    batch, index = rows_for(data, order, per_chunk)
    eps = unet_eps(patched, batch, patched_options(patched, order))
    torch.testing.assert_close(eps, data["eps"][index], atol=1e-5, rtol=0)


def test_input_model_is_untouched(golden, golden_model, golden_adapter, apply_node, core, sockets):
    data = case(golden, "two_chars")
    before = repr(golden_model.model_options)
    characters, layout = golden_inputs(core, sockets, data)
    apply(apply_node, golden_model, golden_adapter, characters, layout, 0.6)
    assert repr(golden_model.model_options) == before
    eps = unet_eps(golden_model, data, dict(golden_model.model_options["transformer_options"]))
    torch.testing.assert_close(eps, data["eps_plain"], atol=1e-5, rtol=0)


def test_clones_share_the_adapter_weights(golden, golden_model, golden_adapter, apply_node, core, sockets):
    data = case(golden, "two_chars")
    characters, layout = golden_inputs(core, sockets, data)
    patched = apply(apply_node, golden_model, golden_adapter, characters, layout, 0.6)
    clone = patched.clone()
    key = golden_adapter.site_keys[0]
    first = patched.model_options["transformer_options"]["patches_replace"]["attn2"][key]
    second = clone.model_options["transformer_options"]["patches_replace"]["attn2"][key]
    assert first.adapter.module is second.adapter.module
    assert golden_adapter.patcher in first.models()


def test_patches_move_and_report_their_models(golden, golden_model, golden_adapter, apply_node, core, sockets):
    data = case(golden, "two_chars")
    characters, layout = golden_inputs(core, sockets, data)
    patched = apply(apply_node, golden_model, golden_adapter, characters, layout, 0.6)
    patched.model_patches_to(torch.device("cpu"))
    patched.model_patches_to(torch.float32)
    assert golden_adapter.patcher in patched.model_patches_models()
    eps = unet_eps(patched, data, patched_options(patched, [UNCOND, COND]))
    torch.testing.assert_close(eps, data["eps"], atol=1e-5, rtol=0)

    # an offload to another device drops the caches built on this one (as after sampling on a GPU) …
    patch = patched.model_options["transformer_options"]["patches_replace"]["attn2"][golden_adapter.site_keys[0]]
    assert patch.memo._items and patch.panel._cache
    patched.model_patches_to(torch.device("meta"))
    assert not patch.memo._items and not patch.panel._cache
    # … and they are rebuilt, with the same result, when the model comes back
    patched.model_patches_to(torch.device("cpu"))
    torch.testing.assert_close(unet_eps(patched, data, patched_options(patched, [UNCOND, COND])), eps, atol=0, rtol=0)


def test_weight_patches_compose_in_either_order(golden, golden_model, golden_adapter, apply_node, core, sockets):
    data = case(golden, "two_chars")
    characters, layout = golden_inputs(core, sockets, data)
    key = "diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_q.weight"
    weight = golden_model.model.state_dict()[key]
    lora_like = {key: (torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)) * 0.05,)}

    def with_lora(model):
        m = model.clone()
        m.add_patches(lora_like, 1.0)
        return m

    def eps_of(patcher):
        patcher.patch_model()
        try:
            return unet_eps(patcher, data, patched_options(patcher, [UNCOND, COND]))
        finally:
            patcher.unpatch_model()

    lora_then_apply = eps_of(apply(apply_node, with_lora(golden_model), golden_adapter, characters, layout, 0.6))
    apply_then_lora = eps_of(with_lora(apply(apply_node, golden_model, golden_adapter, characters, layout, 0.6)))
    torch.testing.assert_close(lora_then_apply, apply_then_lora, atol=1e-6, rtol=0)
    assert (lora_then_apply - data["eps"]).abs().max() > 1e-4, "the weight patch took effect"


def test_ip_scale_zero_without_dialogs_is_exactly_the_plain_model(golden, golden_model, golden_adapter, apply_node,
                                                                  core, sockets):
    """The patch's text part is ComfyUI's own attention call: at ip_scale 0 nothing else is added, bit for bit."""
    data = case(golden, "two_chars")
    characters, layout = golden_inputs(core, sockets, data)
    no_dialogs = core["layout"].make_layout(layout.width, layout.height, list(layout.characters))
    patched = apply(apply_node, golden_model, golden_adapter, characters, no_dialogs, 0.0)
    assert len(patched.model_options["transformer_options"]["patches_replace"]["attn2"]) == 70
    plain = unet_eps(golden_model, data, patched_options(golden_model, [UNCOND, COND]))
    assert torch.equal(unet_eps(patched, data, patched_options(patched, [UNCOND, COND])), plain)


def test_a_call_without_cond_or_uncond_is_refused(golden, golden_model, golden_adapter, apply_node, core, sockets):
    """Without the batch layout the unconditional rows would get the characters: the pack's error, not a guess."""
    data = case(golden, "two_chars")
    characters, layout = golden_inputs(core, sockets, data)
    patched = apply(apply_node, golden_model, golden_adapter, characters, layout, 0.6)
    options = dict(patched.model_options["transformer_options"])
    with pytest.raises(core["errors"].InputShapeError, match=r"cond_or_uncond.*is missing.*stock ComfyUI sampler"):
        unet_eps(patched, data, options)


LEFT_HALF = [[0.0, 0.0, 0.5, 1.0]]
GRIDS_17x60 = {"true grid": {270: (9, 30), 75: (5, 15)},  # the token grids of a 17×60 latent at SDXL's two levels
               "reference grid (exact reproduction)": {270: (9, 30), 75: (3, 25)}}  # the reference's (wrong) guess


@pytest.mark.parametrize("token_grid", list(GRIDS_17x60))
def test_which_latent_positions_see_the_character_at_17x60(pack, tiny_sdxl, apply_node, core, sockets, token_grid):
    """One character on the left half of a 480×136 panel (latent 17×60): at every attention site the conditional
    row's mask lets exactly the grid points with x ≤ 0.5 see the character's tokens, on the true grid — or on the
    reference's guess when asked. The masks are read where the kernel gets them, through ComfyUI's attention
    override (which the patch passes through)."""
    adapter = random_models.random_adapter(pack, tiny_sdxl, source="tiny")
    layout = core["layout"].make_layout(480, 136, LEFT_HALF)
    characters = sockets.EncodedCharacters(clip=torch.randn(1, 257, 48), magi=torch.randn(1, 24))
    patched = apply(apply_node, tiny_sdxl, adapter, characters, layout, 0.6, token_grid)
    masks = {}

    def override(func, *args, **kwargs):
        if kwargs.get("mask") is not None:
            masks.setdefault(args[0].shape[1], []).append(kwargs["mask"])
        return func(*args, **kwargs)

    options = patched_options(patched, [UNCOND, COND])
    options["optimized_attention_override"] = override
    x = torch.randn(2, 4, 17, 60)
    with torch.inference_mode():
        out = patched.model.diffusion_model(x, torch.tensor([500.0, 500.0]), context=torch.randn(2, 77, 2048),
                                            y=torch.randn(2, 2816), transformer_options=options)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert sum(len(found) for found in masks.values()) == 70, "every site's character attention was seen"
    for tokens, (h, w) in GRIDS_17x60[token_grid].items():
        for mask in masks[tokens]:
            sees_character = (mask[1, :, 16:] == 0).any(dim=-1)  # conditional row: any character token visible
            x_of_token = torch.linspace(0, 1, w)[torch.arange(h * w) % w]
            assert torch.equal(sees_character, x_of_token <= 0.5), f"{token_grid}, {h}×{w} grid"
            assert (mask[0, 1:, 16:] != 0).all(), "unconditional rows: zero boxes, only the top-left token sees them"


def test_wrong_models_get_clear_errors(golden_model, tiny_sdxl, golden_adapter, apply_node, core, sockets):
    errors = core["errors"]
    layout = core["layout"].make_layout(256, 256, [[0, 0, 0.5, 1]])
    characters = sockets.EncodedCharacters(clip=torch.zeros(1, 257, 48), magi=torch.zeros(1, 24))
    with pytest.raises(errors.InputShapeError, match=r"input 'model'.*\(128, 2048\)|input 'model'.*projects"):
        apply(apply_node, tiny_sdxl, golden_adapter, characters, layout, 0.6)
    two = core["layout"].make_layout(256, 256, [[0, 0, 0.5, 1], [0.5, 0, 1, 1]])
    with pytest.raises(errors.LayoutError, match=r"2 character box.*1 reference image"):
        apply(apply_node, golden_model, golden_adapter, characters, two, 0.6)


def test_adapted_tokens_replace_the_conditional_characters_only(golden, golden_model, golden_adapter, apply_node,
                                                                core, sockets):
    data = case(golden, "two_chars")
    characters, layout = golden_inputs(core, sockets, data)
    same = sockets.EncodedCharacters(characters.clip, characters.magi, adapted_tokens=data["cond_tokens"][:, 16:])
    patched = apply(apply_node, golden_model, golden_adapter, same, layout, float(data["ip_scale"]))
    torch.testing.assert_close(unet_eps(patched, data, patched_options(patched, [UNCOND, COND])), data["eps"],
                               atol=1e-5, rtol=0)

    other = sockets.EncodedCharacters(characters.clip, characters.magi,
                                      adapted_tokens=torch.randn_like(data["cond_tokens"][:, 16:]))
    patched = apply(apply_node, golden_model, golden_adapter, other, layout, float(data["ip_scale"]))
    eps = unet_eps(patched, data, patched_options(patched, [UNCOND, COND]))
    torch.testing.assert_close(eps[0], data["eps"][0], atol=1e-5, rtol=0)  # the unconditional row is untouched
    assert (eps[1] - data["eps"][1]).abs().max() > 1e-3

    wrong = sockets.EncodedCharacters(characters.clip, characters.magi, adapted_tokens=torch.zeros(1, 32, 64))
    with pytest.raises(core["errors"].InputShapeError, match="adapted character tokens"):
        apply(apply_node, golden_model, golden_adapter, wrong, layout, 0.6)
