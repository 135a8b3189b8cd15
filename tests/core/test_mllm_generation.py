"""Forced generation of the image tokens and the read-out of their hidden states, on a tiny random LLaMA.

The LM head is replaced by a scripted one where a test needs a particular answer (a random tiny LLM answers
anything); the hidden states still come from the real transformer.
"""

from __future__ import annotations

import logging

import pytest
import torch

from diffsensei_core.errors import InputShapeError
from diffsensei_core.mllm.agent import AgentResamplers
from diffsensei_core.mllm.generation import adapt_character_tokens
from diffsensei_core.mllm.template import build_prompt

from .test_mllm_tiny import AGENT_HEADS, ScriptedHead, tiny_agent_state_dict, tiny_llm, tiny_tokenizer

TOKEN_DIM = 32


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture
def llm(tokenizer):
    return tiny_llm(len(tokenizer), bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)


@pytest.fixture(scope="module")
def agent():
    return AgentResamplers.from_state_dict(tiny_agent_state_dict(token_dim=TOKEN_DIM, grid=8), heads=AGENT_HEADS)


@pytest.fixture(scope="module")
def characters():
    return torch.randn(1, 64, TOKEN_DIM, generator=torch.Generator().manual_seed(7))


def word_ids(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def slow_reference(llm, agent, prompt, characters, answer):
    """No cache, no batching: the whole sequence prompt + answer in one forward; hidden states of the image tokens."""
    ids = torch.cat([prompt.input_ids, torch.tensor([answer])], dim=1)
    embeds = llm.get_input_embeddings()(ids).clone()
    embeds[:, prompt.image_positions] = agent.input_resampler(characters)
    hidden = llm.model(inputs_embeds=embeds).last_hidden_state
    start = prompt.input_ids.shape[1] + answer.index(prompt.tokens.boi) + 1
    return agent.output_resampler(hidden[:, start:start + 64])


def test_forced_generation_yields_exactly_the_image_tokens(tokenizer, llm, agent, characters):
    prompt = build_prompt(tokenizer, "the girl smiles")
    free = word_ids(tokenizer, "two friends")
    llm.lm_head = ScriptedHead(len(tokenizer), free, default=prompt.tokens.boi)
    result = adapt_character_tokens(llm, agent, prompt, characters, device="cpu")
    ids = prompt.tokens
    assert result.generated_ids == (*free, ids.boi, *ids.images, ids.eoi)
    assert result.generated_ids.count(ids.boi) == 1 and len(set(result.generated_ids) & set(ids.images)) == 64
    assert llm.lm_head.calls == len(free) + 1  # the 64 image tokens are forced, not predicted
    assert result.tokens.shape == (1, 64, TOKEN_DIM) and result.tokens.dtype == torch.float32
    with torch.no_grad():
        expected = slow_reference(llm, agent, prompt, characters, [*free, ids.boi, *ids.images])
    torch.testing.assert_close(result.tokens, expected, atol=1e-5, rtol=1e-5)


def test_the_characters_reach_the_llm(tokenizer, llm, agent, characters):
    prompt = build_prompt(tokenizer, "the girl smiles")
    llm.lm_head = ScriptedHead(len(tokenizer), [], default=prompt.tokens.boi)
    first = adapt_character_tokens(llm, agent, prompt, characters, device="cpu").tokens
    llm.lm_head.calls = 0
    second = adapt_character_tokens(llm, agent, prompt, characters.flip(1), device="cpu").tokens
    assert not torch.allclose(first, second)


def test_image_token_logits_are_set_to_zero_not_minus_infinity(tokenizer, llm, agent, characters):
    """With every other logit negative, the clamped-to-0 <img> wins (lowest id among the tied image tokens)."""
    prompt = build_prompt(tokenizer, "a boy")
    llm.lm_head = ScriptedHead(len(tokenizer), [], default=None)
    result = adapt_character_tokens(llm, agent, prompt, characters, device="cpu")
    assert result.generated_ids[0] == prompt.tokens.boi and result.tokens is not None


class FixedLogits(torch.nn.Module):
    """The same logits at every step: ``default`` everywhere, ``chosen`` {token id: logit} on top."""

    def __init__(self, vocab: int, chosen: dict[int, float], default: float = -1.0):
        super().__init__()
        self.logits = torch.full((vocab,), default)
        self.logits[list(chosen)] = torch.tensor(list(chosen.values()))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*hidden.shape[:-1], -1).to(hidden.dtype)


def test_the_lone_space_forces_img_and_img_itself_is_clamped(tokenizer, llm, agent, characters):
    """The released tokenizer encodes '<img>…' as [▁, <img>, …] (as transformers 4.4x's slow tokenizer did): before
    the answer reaches ▁, <img> is clamped to 0 like the image tokens, and emitting ▁ forces <img> next."""
    prompt = build_prompt(tokenizer, "a boy")
    space, ids = tokenizer.convert_tokens_to_ids("▁"), prompt.tokens
    assert prompt.response == (space, ids.boi, *ids.images, ids.eoi)
    llm.lm_head = FixedLogits(len(tokenizer), {ids.boi: 5.0, space: 1.0, tokenizer.eos_token_id: 0.5})
    result = adapt_character_tokens(llm, agent, prompt, characters, device="cpu")
    assert result.generated_ids == (space, ids.boi, *ids.images, ids.eoi)
    with torch.no_grad():
        expected = slow_reference(llm, agent, prompt, characters, [space, ids.boi, *ids.images])
    torch.testing.assert_close(result.tokens, expected, atol=1e-5, rtol=1e-5)


def test_no_image_when_the_answer_ends(tokenizer, llm, agent, characters, caplog):
    prompt = build_prompt(tokenizer, "a boy")
    llm.lm_head = ScriptedHead(len(tokenizer), [*word_ids(tokenizer, "the"), tokenizer.eos_token_id])
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        result = adapt_character_tokens(llm, agent, prompt, characters, device="cpu")
    assert result.tokens is None and result.generated_ids[-1] == tokenizer.eos_token_id
    assert "no image tokens" in caplog.text


def test_no_image_within_the_token_budget(tokenizer, llm, agent, characters):
    prompt = build_prompt(tokenizer, "a boy")
    word = word_ids(tokenizer, "the")[0]
    llm.lm_head = ScriptedHead(len(tokenizer), [], default=word)
    result = adapt_character_tokens(llm, agent, prompt, characters, device="cpu", max_new_tokens=5)
    assert result.tokens is None and result.generated_ids == (word,) * 5


def test_wrong_character_token_count(tokenizer, llm, agent):
    prompt = build_prompt(tokenizer, "a boy")
    with pytest.raises(InputShapeError, match=r"\(1, 80, 32\); expected \(1, 64, 32\)"):
        adapt_character_tokens(llm, agent, prompt, torch.zeros(1, 80, TOKEN_DIM), device="cpu")


def test_half_precision_llm(tokenizer, llm, agent, characters):
    prompt = build_prompt(tokenizer, "a boy")
    llm = llm.to(torch.bfloat16)
    llm.lm_head = ScriptedHead(len(tokenizer), [], default=prompt.tokens.boi)
    result = adapt_character_tokens(llm, agent, prompt, characters, device="cpu")
    assert result.tokens.dtype == torch.float32 and torch.isfinite(result.tokens).all()
