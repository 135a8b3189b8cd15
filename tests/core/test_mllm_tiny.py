"""A tiny MLLM in the released ``mllm/`` layout, built offline: a BPE tokenizer with SEED-X's special tokens, a
2-layer LLaMA and two small Qwen resamplers keyed like ``mllm/agent/pytorch_model.bin``. Also imported by the
host tests. The tests here check the builders themselves."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from diffsensei_core.mllm.qwen_resampler import QwenResampler
from diffsensei_core.mllm.template import BOI, EOI, IMAGE_TOKEN

CORPUS = (
    "a girl with long hair smiles at the boy",
    "the boy runs across the street\nshouting her name",
    "two friends laugh together in the rain",
    "an old man frowns and crosses his arms",
)
LLM_DIM = 48
LLM_HEADS = 4
AGENT_HEADS = 4


def special_tokens() -> list[str]:
    return [BOI, EOI, *(IMAGE_TOKEN.format(i) for i in range(100))]


def tiny_tokenizer(*, with_image_tokens: bool = True):
    """A PreTrainedTokenizerFast: BPE with SentencePiece-style ``▁`` word starts, <s>/</s>/<unk> and, by default,
    <img>, </img>, <img_00000>…<img_00099> as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                  initial_alphabet=list("abcdefghijklmnopqrstuvwxyz\n.,!?'"))
    tokenizer.train_from_iterator(list(CORPUS) * 4, trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    if with_image_tokens:
        wrapped.add_tokens(special_tokens(), special_tokens=True)
    return wrapped


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
    tokenizer = tiny_tokenizer()
    llm = tiny_llm(len(tokenizer), seed=seed, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
    llm.save_pretrained(str(root / "llm"), **({"max_shard_size": max_shard_size} if max_shard_size else {}))
    tokenizer.save_pretrained(str(root / "tokenizer"))
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
        BOI, *(IMAGE_TOKEN.format(i) for i in range(64)), EOI]


def test_written_layout(tmp_path):
    write_tiny_mllm(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "llm" / "config.json").is_file()
    assert (tmp_path / "llm" / "model.safetensors.index.json").is_file()
    assert (tmp_path / "tokenizer" / "tokenizer.json").is_file()
    assert (tmp_path / "agent" / "pytorch_model.bin").is_file()
