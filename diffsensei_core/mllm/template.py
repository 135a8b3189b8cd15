"""The MLLM prompt: SEED-X's special tokens, DiffSensei's prompt template and the token positions it uses.

Prompt (model spec §6.3, no chat template, no system prompt)::

    [BOS] + encode(caption + "\\n" + "<img>" + "<img_00000>" … "<img_00063>" + "</img>" + "\\n")

The input embeddings of the 64 tokens strictly between the first ``<img>`` and the first ``</img>`` are replaced by
the input resampler's output. The answer the model is made to give is ``encode("<img>…</img>")``; with the released
tokenizer (read by :mod:`.llama_tokenizer` as the reference's slow LLaMA tokenizer reads it) that is
``[▁, <img>, 64 image tokens, </img>]``. Ids are looked up with ``convert_tokens_to_ids`` (the reference picks
element [1] of ``encode("<img>")``, which gives the same id with that tokenizer), and the template is checked:
exactly n image tokens, in order, between ``<img>`` and ``</img>``; otherwise the tokenizer is not the one the model
was trained with and the error says so. Captions longer than the 77 LLaMA tokens used in training are truncated the
way the training data was (first 77 tokens, decoded back to text), with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..errors import InputShapeError, WeightsError

log = logging.getLogger("diffsensei")

BOI = "<img>"
EOI = "</img>"
IMAGE_TOKEN = "<img_{:05d}>"
MAX_CAPTION_TOKENS = 77
RELEASED_IMAGE_TOKENS = 64


def image_token_string(count: int) -> str:
    """``<img><img_00000>…<img_{count-1}></img>`` — the image part of the prompt and of the response."""
    return BOI + "".join(IMAGE_TOKEN.format(i) for i in range(count)) + EOI


@dataclass(frozen=True)
class ImageTokenIds:
    """Vocabulary ids of ``<img>``, ``</img>`` and ``<img_00000>``… (count of them, in order)."""

    boi: int
    eoi: int
    images: tuple[int, ...]

    @property
    def all(self) -> frozenset[int]:
        return frozenset((self.boi, self.eoi, *self.images))


def image_token_ids(tokenizer, count: int = RELEASED_IMAGE_TOKENS, *, source: str = "mllm/tokenizer") -> ImageTokenIds:
    """Look the special tokens up; a WeightsError names the first one the tokenizer lacks."""
    names = [BOI, EOI, *(IMAGE_TOKEN.format(i) for i in range(count))]
    unk = getattr(tokenizer, "unk_token_id", None)
    ids = []
    for name in names:
        token_id = tokenizer.convert_tokens_to_ids(name)
        if token_id is None or (token_id == unk and name != getattr(tokenizer, "unk_token", None)):
            raise WeightsError(
                f"{source}: the tokenizer has no special token {name!r}; expected SEED-X's tokenizer with <img>, "
                f"</img> and <img_00000>…<img_00099> (32330 tokens), got a vocabulary of {len(tokenizer)}. "
                "Use the mllm/tokenizer folder of the DiffSensei release, not a stock LLaMA tokenizer."
            )
        ids.append(int(token_id))
    if len(set(ids)) != len(ids):
        raise WeightsError(
            f"{source}: the special tokens <img>, </img>, <img_xxxxx> do not have distinct ids ({len(set(ids))} "
            f"distinct of {len(ids)}). Use the mllm/tokenizer folder of the DiffSensei release."
        )
    return ImageTokenIds(boi=ids[0], eoi=ids[1], images=tuple(ids[2:]))


def truncate_caption(tokenizer, caption: str, max_tokens: int = MAX_CAPTION_TOKENS) -> str:
    """The caption cut to its first ``max_tokens`` LLaMA tokens (decoded back to text), as in training."""
    token_ids = tokenizer.encode(caption, add_special_tokens=False)
    if len(token_ids) <= max_tokens:
        return caption
    truncated = tokenizer.decode(token_ids[:max_tokens])
    log.warning(
        "the MLLM prompt has %d LLaMA tokens; DiffSensei's MLLM was trained on captions of at most %d, so it was "
        "truncated to %r (shorten the prompt to keep its end)", len(token_ids), max_tokens, truncated,
    )
    return truncated


@dataclass(frozen=True)
class MLLMPrompt:
    """input_ids: (1, p) prompt token ids; image_positions: (n,) indices of the image tokens inside it;
    response: the ids the model is made to answer with (``encode("<img>…</img>")``: the lone ``▁`` with the
    released tokenizer, then <img>, n image tokens, </img>); tokens: the special-token ids."""

    input_ids: torch.Tensor
    image_positions: torch.Tensor
    response: tuple[int, ...]
    tokens: ImageTokenIds
    caption: str


def build_prompt(tokenizer, caption: str, *, num_image_tokens: int = RELEASED_IMAGE_TOKENS,
                 max_caption_tokens: int = MAX_CAPTION_TOKENS, source: str = "mllm/tokenizer") -> MLLMPrompt:
    """Tokenize DiffSensei's MLLM prompt for ``caption`` and check where the image tokens landed."""
    if not isinstance(caption, str):
        raise InputShapeError(f"MLLM prompt: expected text, got {type(caption).__name__}.")
    tokens = image_token_ids(tokenizer, num_image_tokens, source=source)
    special = [name for name in (BOI, EOI, "<img_") if name in caption]
    if special:
        raise InputShapeError(
            f"MLLM prompt: the text contains the MLLM's special token marker {special[0]!r}; expected plain text "
            "(the image tokens are added by the node). Remove it from the prompt."
        )
    if tokenizer.bos_token_id is None:
        raise WeightsError(f"{source}: the tokenizer has no BOS token; expected LLaMA's <s>. Use the released one.")
    caption = truncate_caption(tokenizer, caption, max_caption_tokens)
    text = caption + "\n" + image_token_string(num_image_tokens) + "\n"
    ids = [int(tokenizer.bos_token_id), *tokenizer.encode(text, add_special_tokens=False)]
    positions = _image_positions(ids, tokens, source)
    response = tuple(int(i) for i in tokenizer.encode(image_token_string(num_image_tokens), add_special_tokens=False))
    tail = (tokens.boi, *tokens.images, tokens.eoi)
    if response[-len(tail):] != tail or tokens.boi in response[: -len(tail)]:
        raise WeightsError(
            f"{source}: encoding '<img><img_00000>…</img>' gave {len(response)} tokens that do not end with <img>, the "
            f"{num_image_tokens} image tokens in order and </img> (first ids {list(response[:4])}); the tokenizer "
            "splits DiffSensei's special tokens. Use the mllm/tokenizer folder of the DiffSensei release."
        )
    return MLLMPrompt(torch.tensor([ids], dtype=torch.long), positions, response, tokens, caption)


def _image_positions(ids: list[int], tokens: ImageTokenIds, source: str) -> torch.Tensor:
    if tokens.boi not in ids or tokens.eoi not in ids:
        raise WeightsError(
            f"{source}: <img> or </img> is not a single token in the encoded prompt; expected both as special tokens. "
            "Use the mllm/tokenizer folder of the DiffSensei release."
        )
    start, end = ids.index(tokens.boi) + 1, ids.index(tokens.eoi)
    between = ids[start:end]
    if tuple(between) != tokens.images:
        raise WeightsError(
            f"{source}: {len(between)} tokens lie between <img> and </img> in the encoded prompt; expected exactly "
            f"{len(tokens.images)} image tokens <img_00000>…, one token each, in order. The tokenizer does not keep "
            "DiffSensei's special tokens whole; use the mllm/tokenizer folder of the DiffSensei release."
        )
    return torch.arange(start, end, dtype=torch.long)
