"""Run the LLM on the prompt and the character tokens and read out the 64 "text-adapted" character tokens.

Reference behaviour (model spec §6.4): greedy decoding with a logits processor; after the prompt the model answers
with ``[▁] <img> <img_00000> … <img_00063> </img>``. Once the answer has reached ``<img>`` every following token is
forced, so the features are the last-layer (final-norm) hidden states computed while the 64 image tokens are fed in,
mapped back by the output resampler.

Here the free part (up to ``<img>``) is decoded greedily one token at a time with the reference's rule — a token of
the response list whose predecessor was just emitted is forced, otherwise the logits of ``<img>``, the image tokens and
``</img>`` are set to 0 (not −∞) — and the forced part is fed in one forward pass over the KV cache, which gives the
same hidden states as 64 single-token steps. With the released tokenizer the response list is
``[▁, <img>, …, </img>]``: ``<img>`` is clamped with the image tokens, and emitting the lone ``▁`` forces ``<img>``
(wherever it comes, as in the reference). Decoding stops at ``<img>``: what the reference generates after ``</img>``
does not change the first image's features.

Deviation: if the model picks an image token or ``</img>`` before ``<img>`` (possible only when every other logit is
negative, i.e. not with DiffSensei's trained LLM), it is taken as the start of the image; the reference would force
on from that token and read misaligned hidden states.

Shape legend: p prompt tokens, n image tokens (64), c character-token width, d LLM width.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..errors import InputShapeError
from .agent import AgentResamplers
from .template import MLLMPrompt

log = logging.getLogger("diffsensei")

REFERENCE_MAX_NEW_TOKENS = 500


@dataclass(frozen=True)
class AdaptedTokens:
    """tokens: (1, n, c) output-resampler result, float32, or None when the LLM never reached ``<img>``;
    generated_ids: what the LLM answered after the prompt (the forced image part included when reached)."""

    tokens: torch.Tensor | None
    generated_ids: tuple[int, ...]


def _cache_step(llm, out, **inputs):
    """One forward of the base model continuing ``out``'s KV cache (``cache`` in transformers ≥ 5.2x,
    ``past_key_values`` before)."""
    cache = getattr(out, "cache", None)
    if cache is not None:
        return llm.model(cache=cache, use_cache=True, **inputs)
    return llm.model(past_key_values=out.past_key_values, use_cache=True, **inputs)


def _device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def _dtype_of(module: torch.nn.Module) -> torch.dtype:
    return next(p for p in module.parameters() if p.is_floating_point()).dtype


@torch.no_grad()
def adapt_character_tokens(
    llm, agent: AgentResamplers, prompt: MLLMPrompt, character_tokens: torch.Tensor, *,
    device: torch.device | str, max_new_tokens: int = REFERENCE_MAX_NEW_TOKENS,
) -> AdaptedTokens:
    """character_tokens (1, n, c) + prompt → adapted tokens (1, n, c) (or None, see :class:`AdaptedTokens`).

    ``llm`` is a transformers ``LlamaForCausalLM`` (its ``model`` and ``lm_head`` are called directly, so its
    layers may sit partly on another device and cast themselves); its compute runs on ``device``. The agent
    runs wherever its weights are.
    """
    n = agent.num_image_tokens
    if tuple(character_tokens.shape) != (1, n, agent.token_dim):
        raise InputShapeError(
            f"MLLM: the character tokens are {tuple(character_tokens.shape)}; expected (1, {n}, {agent.token_dim}) — "
            f"4 character slots of 16 tokens for the released model. Adapt at most 4 characters."
        )
    if len(prompt.image_positions) != n:
        raise InputShapeError(
            f"MLLM: the prompt holds {len(prompt.image_positions)} image tokens but the agent reads {n}; build the "
            f"prompt with num_image_tokens={n}."
        )
    device = torch.device(device)
    input_ids = prompt.input_ids.to(device)
    embeds = llm.get_input_embeddings()(input_ids).clone()
    agent_device, agent_dtype = _device_of(agent), _dtype_of(agent)
    image_embeds = agent.input_resampler(character_tokens.to(agent_device, agent_dtype))
    embeds[:, prompt.image_positions.to(device)] = image_embeds.to(device, embeds.dtype)
    out = llm.model(inputs_embeds=embeds, use_cache=True)

    ids = prompt.tokens
    response = prompt.response
    clamped = torch.tensor(response[1:], dtype=torch.long, device=device)
    eos = llm.config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    last = int(input_ids[0, -1])
    generated: list[int] = []
    for _ in range(max_new_tokens):
        if last in response[:-1]:
            choice = response[response.index(last) + 1]
        else:
            logits = llm.lm_head(out.last_hidden_state[:, -1]).float()
            logits[:, clamped] = 0.0
            choice = int(logits.argmax(dim=-1))
        if choice in ids.all:
            break
        generated.append(choice)
        if choice in eos:
            return _no_image(generated, "it ended its answer")
        out = _cache_step(llm, out, input_ids=torch.tensor([[choice]], device=device))
        last = choice
    else:
        return _no_image(generated, f"it did not reach <img> within {max_new_tokens} tokens")

    forced = torch.tensor([[ids.boi, *ids.images]], device=device)
    out = _cache_step(llm, out, input_ids=forced)
    hidden = out.last_hidden_state[:, 1:]  # (1, n, d): the states computed while feeding the n image tokens
    tokens = agent.output_resampler(hidden.to(agent_device, agent_dtype)).float()
    return AdaptedTokens(tokens, (*generated, ids.boi, *ids.images, ids.eoi))


def _no_image(generated: list[int], why: str) -> AdaptedTokens:
    log.warning("the MLLM produced no image tokens (%s after %d tokens); the characters stay as encoded",
                why, len(generated))
    return AdaptedTokens(None, tuple(generated))
