"""A tiny MLLM in the released ``mllm/`` layout, built offline: a SentencePiece tokenizer trained here like LLaMA's
with SEED-X's added tokens (the files of ``mllm/tokenizer``), a 2-layer LLaMA and two small Qwen resamplers keyed like
``mllm/agent/pytorch_model.bin``. Also imported by the host tests. The tests here check the builders themselves."""

from __future__ import annotations

import functools
import io
import json
import tempfile
from pathlib import Path

import torch
from torch import nn

from diffsensei_core.mllm.folder import load_tokenizer
from diffsensei_core.mllm.qwen_resampler import QwenResampler
from diffsensei_core.mllm.template import BOI, EOI, IMAGE_TOKEN

# no newline in the corpus: "\n" is byte-encoded (<0x0A>) as in LLaMA's vocabulary
CORPUS = (
    "a girl with long hair smiles at the boy",
    "the boy runs across the street shouting her name",
    "two friends laugh together in the rain",
    "an old man frowns and crosses his arms",
    "two rivals glare at each other,  then 12 smiles.",
    "a café in Tōkyō: 漫画 and 少女",
)
LLM_DIM = 48
LLM_HEADS = 4
AGENT_HEADS = 4
FIXED_TOKENIZER_MODEL = Path(__file__).resolve().parent / "data" / "tiny_llama_tokenizer.model"


@functools.cache
def train_tiny_sentencepiece(*, remove_extra_whitespaces: bool = False) -> bytes:
    """A SentencePiece BPE model (400 pieces) trained like LLaMA's: byte fallback, digits split, whitespace-only
    pieces, spaces kept as they are (unless ``remove_extra_whitespaces``), dummy prefix, <unk>/<s>/</s> = 0/1/2.
    Deterministic (one thread)."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=model, model_type="bpe", vocab_size=400,
        byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=remove_extra_whitespaces, normalization_rule_name="identity", add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    return model.getvalue()


def added_token_names(image_tokens: int | None = 100) -> list[str]:
    """SEED-X's added tokens in order: <img>, </img>, <img_00000>…, <box_start>, <box_end>, <loc-0>…<loc-223>,
    <patch>, </patch>. ``image_tokens`` None leaves out <img>, </img> and the image tokens."""
    images = [] if image_tokens is None else [BOI, EOI, *(IMAGE_TOKEN.format(i) for i in range(image_tokens))]
    return [*images, "<box_start>", "<box_end>", *(f"<loc-{i}>" for i in range(224)), "<patch>", "</patch>"]


def _added_token(content: str) -> dict:
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False}


def write_release_tokenizer(folder: Path, *, model: bytes | None = None, image_tokens: int | None = 100) -> Path:
    """``folder`` as the release's mllm/tokenizer: tokenizer.model, added_tokens.json (ids after the SentencePiece
    vocabulary), special_tokens_map.json and a LLaMA-2 style tokenizer_config.json (``legacy: false``)."""
    import sentencepiece

    model = train_tiny_sentencepiece() if model is None else model
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes(model)
    first = sentencepiece.SentencePieceProcessor(model_proto=model).get_piece_size()
    added = {name: first + i for i, name in enumerate(added_token_names(image_tokens))}
    (folder / "added_tokens.json").write_text(json.dumps(added, indent=2))
    special = {"bos_token": _added_token("<s>"), "eos_token": _added_token("</s>"), "unk_token": _added_token("<unk>")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    config = {"add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False, "legacy": False,
              "model_max_length": 4096, "pad_token": None, "padding_side": "right", "sp_model_kwargs": {},
              "tokenizer_class": "LlamaTokenizer", **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return folder


def tiny_tokenizer(*, image_tokens: int | None = 100):
    """The pack's tokenizer loaded from a tiny release-format tokenizer folder (see :func:`write_release_tokenizer`)."""
    with tempfile.TemporaryDirectory() as folder:
        return load_tokenizer(write_release_tokenizer(Path(folder), image_tokens=image_tokens))


def tiny_llm(vocab_size: int, *, seed: int = 0, bos: int = 1, eos: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=LLM_DIM, intermediate_size=96, num_hidden_layers=2, num_attention_heads=LLM_HEADS,
                         num_key_value_heads=LLM_HEADS, vocab_size=vocab_size, max_position_embeddings=512,
                         bos_token_id=bos, eos_token_id=eos, tie_word_embeddings=False)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def tiny_agent_state_dict(*, token_dim: int, grid: int, llm_dim: int = LLM_DIM, seed: int = 1) -> dict:
    """Random resampler weights under the released key names (``input_resampler.*``, ``output_resampler.*``)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for prefix, embed, kv in (("input_resampler.", llm_dim, token_dim), ("output_resampler.", token_dim, llm_dim)):
        module = QwenResampler(grid=grid, embed_dim=embed, kv_dim=kv, heads=AGENT_HEADS)
        for key, tensor in module.state_dict().items():
            value = tensor.clone() if key == "pos_embed" else torch.randn(tensor.shape, generator=generator) * 0.2
            if key.startswith("ln_") and key.endswith("weight"):
                value = 1 + value
            state[prefix + key] = value
    return state


def write_tiny_mllm(root: Path, *, token_dim: int = 32, grid: int = 8, seed: int = 0,
                    max_shard_size: str | None = None) -> dict:
    """Write ``root/{llm,tokenizer,agent}`` like the release; returns the objects written."""
    tokenizer = load_tokenizer(write_release_tokenizer(root / "tokenizer"))
    llm = tiny_llm(len(tokenizer), seed=seed, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
    llm.save_pretrained(str(root / "llm"), **({"max_shard_size": max_shard_size} if max_shard_size else {}))
    agent = tiny_agent_state_dict(token_dim=token_dim, grid=grid, seed=seed + 1)
    (root / "agent").mkdir(parents=True, exist_ok=True)
    torch.save(agent, root / "agent" / "pytorch_model.bin")
    (root / "agent" / "config.json").write_text(json.dumps({"num_heads": AGENT_HEADS}))
    return {"tokenizer": tokenizer, "llm": llm, "agent": agent}


class ScriptedHead(nn.Module):
    """Logits −1 everywhere except +5 for the next token of ``script`` (then ``default``)."""

    def __init__(self, vocab: int, script: list[int], default: int | None = None):
        super().__init__()
        self.vocab, self.script, self.default = vocab, list(script), default
        self.calls = 0

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = torch.full((*hidden.shape[:-1], self.vocab), -1.0, dtype=hidden.dtype)
        target = self.script[self.calls] if self.calls < len(self.script) else self.default
        self.calls += 1
        if target is not None:
            logits[..., target] = 5.0
        return logits


def test_special_tokens_stay_whole():
    tokenizer = tiny_tokenizer()
    text = BOI + "".join(IMAGE_TOKEN.format(i) for i in range(64)) + EOI
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False)) == [
        "▁", BOI, *(IMAGE_TOKEN.format(i) for i in range(64)), EOI]


def test_written_layout(tmp_path):
    write_tiny_mllm(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "llm" / "config.json").is_file()
    assert (tmp_path / "llm" / "model.safetensors.index.json").is_file()
    assert sorted(p.name for p in (tmp_path / "tokenizer").iterdir()) == [
        "added_tokens.json", "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json"]
    assert (tmp_path / "agent" / "pytorch_model.bin").is_file()


def test_sentencepiece_training_is_llama_like():
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_proto=train_tiny_sentencepiece())
    assert [processor.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert processor.encode("a\n", out_type=str) == ["▁a", "<0x0A>"]  # newline byte-encoded, as in LLaMA
    assert processor.encode(" two", out_type=str) == ["▁", "▁two"]  # spaces kept, dummy prefix added
