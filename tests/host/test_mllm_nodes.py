"""The MLLM nodes in real ComfyUI on a tiny MLLM written in the released layout: loading from models/diffsensei,
adapting characters (also per panel after Page → panel layouts), Apply using the adapted tokens for the conditional
branch only, ComfyUI's partial loading of the LLM, and the errors for incomplete folders, too many characters and
out-of-memory."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import GOLDEN_DIR, add_models_root, import_from_pack, registered_nodes, source_node


def _tiny_builders():
    """tests/core/test_mllm_tiny.py, loaded by path (ComfyUI's own ``tests`` package shadows ours)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "core" / "test_mllm_tiny.py"
    spec = importlib.util.spec_from_file_location("diffsensei_test_mllm_tiny", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_TINY = _tiny_builders()
ScriptedHead, write_tiny_mllm = _TINY.ScriptedHead, _TINY.write_tiny_mllm

TOKEN_DIM = 64  # the golden adapter's token width; 4 slots × 16 tokens = the agent's 64 image tokens


@pytest.fixture(scope="module")
def mllm_module(pack):
    return import_from_pack(pack, "nodes.mllm")


@pytest.fixture(scope="module")
def models_root(comfy, pack, tmp_path_factory):
    root = tmp_path_factory.mktemp("models_diffsensei")
    write_tiny_mllm(root / "tiny_release" / "mllm", token_dim=TOKEN_DIM, grid=8)
    add_models_root(comfy, pack, root)
    return root


@pytest.fixture(scope="module")
def adapter(pack):
    checkpoint = import_from_pack(pack, "diffsensei_core.model.checkpoint")
    weights = checkpoint.load_image_generator(GOLDEN_DIR / "image_generator", resampler_dim_head=16).adapter
    return import_from_pack(pack, "nodes.host.adapter").DiffSenseiAdapter(weights, dtype=torch.float32, source="golden")


@pytest.fixture
def mllm(mllm_module, models_root):
    loaded = mllm_module.DiffSenseiLoadMLLM.execute("tiny_release/mllm", "fp32", "auto")[0]
    boi = loaded.tokenizer.convert_tokens_to_ids("<img>")
    loaded.llm.lm_head = ScriptedHead(len(loaded.tokenizer), [], default=boi)
    return loaded


@pytest.fixture(scope="module")
def sockets(pack):
    return import_from_pack(pack, "nodes.host.sockets")


def characters(sockets, n: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return sockets.EncodedCharacters(clip=torch.randn(n, 5, 48, generator=generator),
                                     magi=torch.randn(n, 24, generator=generator))


def adapt(mllm_module, mllm, adapter, chars, prompt="the girl smiles", scale=0.4):
    return mllm_module.DiffSenseiMLLMAdaptCharacters.execute(mllm, adapter, chars, prompt, scale)[0]


def test_nodes_are_registered(comfy, pack, models_root, mllm_module):
    for node_id in ("DiffSenseiLoadMLLM", "DiffSenseiMLLMAdaptCharacters"):
        assert node_id in comfy.nodes.NODE_CLASS_MAPPINGS
    assert "tiny_release/mllm" in mllm_module.mllm_choices()


def test_loader_output(mllm, mllm_module):
    assert (mllm.num_image_tokens, mllm.token_dim) == (64, TOKEN_DIM)
    assert mllm.llm.dtype == torch.float32
    assert not mllm.full_load
    layers = [m for m in mllm.llm.modules() if hasattr(m, "comfy_cast_weights")]
    assert len(layers) == 2 * 7 + 2 * 2 + 1 + 1  # linears, norms, final norm, embedding (the LM head is scripted)


def test_adapted_tokens_are_the_mix(mllm_module, mllm, adapter, sockets, pack):
    core = import_from_pack(pack, "diffsensei_core.mllm")
    encoders = import_from_pack(pack, "diffsensei_core.model.encoders")
    chars = characters(sockets)
    out = adapt(mllm_module, mllm, adapter, chars)
    assert out.adapted_tokens.shape == (1, 64, TOKEN_DIM)
    assert torch.equal(out.clip, chars.clip) and torch.equal(out.magi, chars.magi)
    clip, magi = encoders.pad_character_features(chars.clip, chars.magi)
    original = core.character_tokens(adapter.module.resampler, clip, magi)
    mllm.llm.lm_head.calls = 0
    prompt = core.build_prompt(mllm.tokenizer, "the girl smiles")
    result = core.adapt_character_tokens(mllm.llm, mllm.agent, prompt, original, device="cpu")
    torch.testing.assert_close(out.adapted_tokens, 0.4 * result.tokens + 0.6 * original.float())
    assert (out.adapted_tokens - original).abs().mean() > 1e-3


def reference_answer(llm, agent, prompt_ids: list[int], characters, forced: list[int], eos: int, limit: int = 80):
    """The reference's generation, written out without KV cache: greedy decoding where, if the last token is in
    ``forced[:-1]``, the next element of ``forced`` gets max + 10, and otherwise the logits of ``forced[1:]`` are set
    to 0; the input embeddings strictly between <img> (forced[1]) and </img> (forced[-1]) of the prompt are the input
    resampler's output. Returns the generated ids (up to </img> or EOS) and the final-norm hidden states (1, L, d)
    of the prompt + all generated tokens but the last."""
    start, end = prompt_ids.index(forced[1]) + 1, prompt_ids.index(forced[-1])
    image_embeds = agent.input_resampler(characters)
    generated: list[int] = []
    for _ in range(limit):
        sequence = prompt_ids + generated
        embeds = llm.get_input_embeddings()(torch.tensor([sequence])).clone()
        embeds[:, start:end] = image_embeds
        hidden = llm.model(inputs_embeds=embeds).last_hidden_state
        scores = llm.lm_head(hidden[:, -1]).float()[0]
        if sequence[-1] in forced[:-1]:
            scores[forced[forced.index(sequence[-1]) + 1]] = scores.max() + 10
        else:
            scores[forced[1:]] = 0.0
        generated.append(int(scores.argmax()))
        if generated[-1] in (forced[-1], eos):
            break
    return generated, hidden


@torch.no_grad()
def test_the_lone_space_forces_img_as_the_reference_does(mllm_module, models_root, adapter, sockets, pack,
                                                        monkeypatch):
    """The released LLM answers "▁ <img> …". Load MLLM reads the release-format SentencePiece tokenizer; the tiny
    LLaMA's LM head gets a bias that makes it prefer the image tokens, then <img>, then the lone ▁. As in the
    reference, <img> is clamped to 0 with the image tokens, so ▁ is emitted, and ▁ forces <img>: the generated ids,
    the 64 hidden states and the adapted tokens are those of :func:`reference_answer`."""
    import sentencepiece

    core = import_from_pack(pack, "diffsensei_core.mllm")
    encoders = import_from_pack(pack, "diffsensei_core.encoders")
    mllm = mllm_module.DiffSenseiLoadMLLM.execute("tiny_release/mllm", "fp32", "auto")[0]
    folder = models_root / "tiny_release" / "mllm" / "tokenizer"
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    added = json.loads((folder / "added_tokens.json").read_text())
    space, boi, eoi = pieces.piece_to_id("▁"), added["<img>"], added["</img>"]
    images = [added[f"<img_{i:05d}>"] for i in range(64)]
    llm = mllm.llm
    bias = torch.zeros(llm.lm_head.out_features)
    bias[[*images, eoi]], bias[boi], bias[space] = 9.0, 6.0, 3.0
    llm.lm_head.bias = torch.nn.Parameter(bias)

    results, states = [], []
    monkeypatch.setattr(mllm_module, "adapt_character_tokens",
                        lambda *a, **k: results.append(core.adapt_character_tokens(*a, **k)) or results[-1])
    hook = llm.model.norm.register_forward_hook(lambda module, args, output: states.append(output))
    chars = characters(sockets)
    try:
        out = adapt(mllm_module, mllm, adapter, chars, prompt="two friends laugh")
    finally:
        hook.remove()

    caption = "two friends laugh"  # "▁"-prefixed SentencePiece pieces, then "\n" (byte-encoded), as the reference
    newline = pieces.piece_to_id("<0x0A>")
    prompt_ids = [llm.config.bos_token_id, *pieces.encode(caption), newline, boi, *images, eoi, newline]
    original = core.character_tokens(adapter.module.resampler,
                                     *encoders.pad_character_features(chars.clip, chars.magi))
    generated, hidden = reference_answer(llm, mllm.agent, prompt_ids, original.float(), [space, boi, *images, eoi],
                                         llm.config.eos_token_id)
    assert generated == [space, boi, *images, eoi]
    assert results[0].generated_ids == tuple(generated)
    end = len(prompt_ids) + generated.index(eoi)
    reference_hidden = hidden[:, end - 64:end]
    torch.testing.assert_close(states[-1][:, 1:], reference_hidden, atol=1e-5, rtol=1e-5)
    reference_tokens = mllm.agent.output_resampler(reference_hidden)
    torch.testing.assert_close(out.adapted_tokens, 0.4 * reference_tokens + 0.6 * original.float(),
                               atol=1e-5, rtol=1e-5)


def test_apply_uses_the_adapted_tokens_for_the_conditional_branch_only(mllm_module, mllm, adapter, sockets, pack):
    apply = import_from_pack(pack, "nodes.apply")
    layout_core = import_from_pack(pack, "diffsensei_core.model.panel_layout")
    chars = characters(sockets)
    layout = layout_core.make_layout(512, 512, [[0, 0, 0.5, 1], [0.5, 0, 1, 1]], [])
    plain = apply._panel_conditioning(adapter, chars, layout)
    adapted = apply._panel_conditioning(adapter, adapt(mllm_module, mllm, adapter, chars), layout)
    dummy = adapter.module.resampler.num_dummy_tokens
    assert torch.equal(adapted.uncond_tokens, plain.uncond_tokens)
    assert torch.equal(adapted.cond_tokens[:, :dummy], plain.cond_tokens[:, :dummy])
    assert not torch.allclose(adapted.cond_tokens[:, dummy:], plain.cond_tokens[:, dummy:])


def test_scale_zero_leaves_the_characters_unchanged(mllm_module, mllm, adapter, sockets):
    chars = characters(sockets)
    assert adapt(mllm_module, mllm, adapter, chars, scale=0.0) is chars
    assert mllm.llm.lm_head.calls == 0  # the LLM did not run


def test_no_image_falls_back_to_the_characters(mllm_module, mllm, adapter, sockets):
    mllm.llm.lm_head = ScriptedHead(len(mllm.tokenizer), [mllm.tokenizer.eos_token_id])
    chars = characters(sockets)
    assert adapt(mllm_module, mllm, adapter, chars) is chars


def test_too_many_characters(mllm_module, mllm, adapter, sockets):
    with pytest.raises(Exception, match=r"input 'characters': 5 characters .* at most 4"):
        adapt(mllm_module, mllm, adapter, characters(sockets, n=5))


def test_partial_loading_streams_layers_with_the_same_result(mllm_module, mllm, adapter, sockets, pack):
    """ComfyUI's lowvram path (weights cast per call) gives the same tokens as the whole model."""
    chars = characters(sockets)
    whole = adapt(mllm_module, mllm, adapter, chars).adapted_tokens
    patcher = mllm.llm_patcher
    patcher.unpatch_model(patcher.offload_device)
    patcher.patch_model(device_to=torch.device("cpu"), lowvram_model_memory=20_000)
    try:
        assert patcher.model.model_lowvram
        assert any(getattr(m, "comfy_cast_weights", False) for m in mllm.llm.modules())
        mllm.llm.lm_head.calls = 0
        core = import_from_pack(pack, "diffsensei_core.mllm")
        prompt = core.build_prompt(mllm.tokenizer, "the girl smiles")
        encoders = import_from_pack(pack, "diffsensei_core.model.encoders")
        original = core.character_tokens(adapter.module.resampler, *encoders.pad_character_features(chars.clip,
                                                                                                   chars.magi))
        streamed = core.adapt_character_tokens(mllm.llm, mllm.agent, prompt, original, device="cpu").tokens
    finally:
        patcher.unpatch_model(patcher.offload_device)
    torch.testing.assert_close(0.4 * streamed + 0.6 * original.float(), whole)


def test_out_of_memory_gives_advice(mllm_module, mllm, adapter, sockets, monkeypatch):
    import comfy.model_management as mm

    real = mm.load_models_gpu

    def oom(models, *args, **kwargs):
        if mllm.llm_patcher in models:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real(models, *args, **kwargs)

    monkeypatch.setattr(mm, "load_models_gpu", oom)
    with pytest.raises(Exception, match=r"out of GPU memory .* 8-bit or 4-bit") as info:
        adapt(mllm_module, mllm, adapter, characters(sockets), scale=0.4)
    assert type(info.value).__name__ == "DiffSenseiError"


def test_incomplete_folder_names_the_file(mllm_module, models_root):
    import shutil

    broken = models_root / "broken" / "mllm"
    shutil.copytree(models_root / "tiny_release" / "mllm", broken)
    (broken / "agent" / "pytorch_model.bin").unlink()
    (broken / "agent" / "model.safetensors").write_bytes(b"")  # keeps it listed; the weights are unusable
    with pytest.raises(Exception, match=r"Load MLLM, input 'mllm_name': .*model\.safetensors"):
        mllm_module.DiffSenseiLoadMLLM.execute("broken/mllm", "fp32", "auto")
    shutil.rmtree(broken / "tokenizer")
    with pytest.raises(Exception, match=r"subfolder tokenizer/ is missing"):
        mllm_module.DiffSenseiLoadMLLM.execute("broken/mllm", "fp32", "auto")


def test_the_mllm_folder_is_the_first_folder_of_that_name_over_the_roots(comfy, pack, mllm_module, models_root,
                                                                          tmp_path):
    (models_root / "shadow").mkdir(exist_ok=True)
    (models_root / "shadow" / "mllm").write_text("a file, not the folder")  # in an earlier root
    (tmp_path / "shadow" / "mllm").mkdir(parents=True)
    add_models_root(comfy, pack, tmp_path)
    assert mllm_module.resolve_mllm("shadow/mllm") == tmp_path / "shadow" / "mllm"
    (models_root / "only_a_file").write_text("")
    with pytest.raises(Exception, match=r"Load MLLM, input 'mllm_name': 'only_a_file' was not found in the diffsensei "
                                        r"model folders .*Put the release's mllm/ folder") as info:
        mllm_module.resolve_mllm("only_a_file")
    assert type(info.value).__name__ == "WeightsError"


def test_unavailable_precision(mllm_module, models_root):
    if "8-bit (bitsandbytes)" in mllm_module.precision_choices():
        pytest.skip("bitsandbytes is installed")
    with pytest.raises(Exception, match="bitsandbytes"):
        mllm_module.DiffSenseiLoadMLLM.execute("tiny_release/mllm", "8-bit (bitsandbytes)", "auto")


def test_empty_slots_are_black_images_when_encoders_are_connected(comfy, pack, mllm_module, mllm, adapter,
                                                                 tmp_path_factory):
    from headless.demo_weights import build_demo_release

    root = tmp_path_factory.mktemp("demo_encoders")
    build_demo_release(root / "demo")  # its CLIP (48 wide) and Magi (24 wide) fit the golden adapter's resampler
    add_models_root(comfy, pack, root)
    characters_module = import_from_pack(pack, "nodes.characters")
    encoders = characters_module.DiffSenseiLoadEncoders.execute("demo/image_generator", "fp32", None)[0]
    reference = torch.rand(1, 96, 64, 3, generator=torch.Generator().manual_seed(0))
    chars = characters_module.encode_characters(encoders, [reference], grayscale=True, seed=0, masking=True)

    clip, magi = mllm_module._slot_features(mllm, adapter, chars, encoders)
    black_clip, black_magi = mllm_module._black_image_features(encoders)
    assert clip.shape[1] == 4 and torch.equal(clip[0, 0], chars.clip[0]) and torch.equal(magi[0, 0], chars.magi[0])
    for slot in (1, 2, 3):  # the official MLLM demo encodes empty slots as black 224² images, not zeros
        assert torch.equal(clip[0, slot], black_clip) and torch.equal(magi[0, slot], black_magi)
    assert black_clip.abs().sum() > 0

    with_black = mllm_module.DiffSenseiMLLMAdaptCharacters.execute(mllm, adapter, chars, "a smile", 0.4, encoders)[0]
    with_zeros = mllm_module.DiffSenseiMLLMAdaptCharacters.execute(mllm, adapter, chars, "a smile", 0.4)[0]
    assert with_black.adapted_tokens.shape == with_zeros.adapted_tokens.shape == (1, 64, TOKEN_DIM)
    assert (with_black.adapted_tokens[:, 16:] - with_zeros.adapted_tokens[:, 16:]).abs().max() > 1e-4


def test_adapt_per_panel_after_page_panels(comfy, mllm_module, mllm, adapter, sockets, run_prompt):
    """Page (2 panels, casts [1] and [3, 1]) → Page → panel layouts → MLLM Adapt Characters, mapped over the
    per-panel 'characters' and 'prompt' lists: each panel's tokens come from its own cast and its own prompt."""
    chars = characters(sockets, n=3, seed=5)
    casts, prompts = [[1], [3, 1]], ["the girl smiles", "two rivals glare at each other"]
    page = {"panels": [
        {"box": [0.0, 0.0, 0.5, 1.0], "characters": [[0.1, 0.2, 0.9, 1.0]], "cast": casts[0], "prompt": prompts[0]},
        {"box": [0.5, 0.0, 1.0, 1.0], "characters": [[0.0, 0.2, 0.5, 1.0], [0.5, 0.2, 1.0, 1.0]], "cast": casts[1],
         "prompt": prompts[1]},
    ]}
    seen = []

    class Record:
        RETURN_TYPES = ("DIFFSENSEI_CHARACTERS",)
        FUNCTION = "run"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"characters": ("DIFFSENSEI_CHARACTERS",)}}

        def run(self, characters):
            seen.append(characters)
            return (characters,)

    inputs = source_node(("DIFFSENSEI_MLLM", "DIFFSENSEI_ADAPTER", "DIFFSENSEI_CHARACTERS"),
                         lambda: (mllm, adapter, chars))
    prompt = {
        "inputs": {"class_type": "DSSTestMLLMInputs", "inputs": {}},
        "page": {"class_type": "DiffSenseiPageLayout", "inputs": {
            "preset": "custom (drawn panels)", "page_size": "A5 (148×210 mm)", "dpi": 50, "direction": "ltr",
            "margin_mm": 8.0, "gutter_mm": 3.0, "border_mm": 0.5, "page": json.dumps(page)}},
        "panels": {"class_type": "DiffSenseiPagePanels", "inputs": {
            "page": ["page", 0], "scale": 128, "panel_index": -1, "batch_size": 1, "characters": ["inputs", 2]}},
        "adapt": {"class_type": "DiffSenseiMLLMAdaptCharacters", "inputs": {
            "mllm": ["inputs", 0], "adapter": ["inputs", 1], "characters": ["panels", 4], "prompt": ["panels", 2],
            "mllm_scale": 0.4}},
        "record": {"class_type": "DSSTestRecordAdapted", "inputs": {"characters": ["adapt", 0]}},
        "keep": {"class_type": "PreviewAny", "inputs": {"source": ["record", 0]}},
    }
    with registered_nodes(comfy, DSSTestMLLMInputs=inputs, DSSTestRecordAdapted=Record):
        executor, _ = run_prompt(prompt)
    assert executor.success, executor.status_messages
    assert len(seen) == 2, "MLLM Adapt Characters ran once per panel"
    for got, cast, text in zip(seen, casts, prompts, strict=True):
        rows = [c - 1 for c in cast]
        assert got.count == len(cast), f"cast {cast}: {got.count} characters"
        assert torch.equal(got.clip, chars.clip[rows]) and torch.equal(got.magi, chars.magi[rows])
        assert got.adapted_tokens is not None and got.adapted_tokens.shape == (1, 64, TOKEN_DIM)
        own = sockets.EncodedCharacters(clip=chars.clip[rows], magi=chars.magi[rows])
        reference = adapt(mllm_module, mllm, adapter, own, prompt=text).adapted_tokens
        torch.testing.assert_close(got.adapted_tokens, reference)
        whole_page = adapt(mllm_module, mllm, adapter, chars, prompt=text).adapted_tokens
        assert (got.adapted_tokens - whole_page).abs().max() > 1e-3, "the MLLM read the panel's cast, not the page's"
    assert (seen[0].adapted_tokens - seen[1].adapted_tokens).abs().max() > 1e-3
