"""The MLLM prompt: template, special-token ids, image-token positions, 77-token truncation, tokenizer checks."""

from __future__ import annotations

import logging

import pytest

from diffsensei_core.errors import InputShapeError, WeightsError
from diffsensei_core.mllm.template import (
    BOI,
    EOI,
    IMAGE_TOKEN,
    MAX_CAPTION_TOKENS,
    build_prompt,
    image_token_ids,
    truncate_caption,
)

from .test_mllm_tiny import tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def test_template_and_positions(tokenizer):
    prompt = build_prompt(tokenizer, "the girl smiles")
    ids = prompt.input_ids[0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    caption = tokenizer.encode("the girl smiles", add_special_tokens=False)
    assert ids[0] == tokenizer.bos_token_id
    assert ids[1:1 + len(caption)] == caption
    assert tokens[1 + len(caption)] == "<0x0A>"  # "\n", byte-encoded as in LLaMA
    start = 2 + len(caption)
    assert tokens[start] == BOI
    assert prompt.image_positions.tolist() == list(range(start + 1, start + 65))
    assert [tokens[i] for i in prompt.image_positions] == [IMAGE_TOKEN.format(i) for i in range(64)]
    assert tokens[start + 65] == EOI
    assert tokens[start + 66:] == ["<0x0A>"]
    # the answer the model is made to give starts with a lone ▁, as the reference tokenizer encodes it
    space = tokenizer.convert_tokens_to_ids("▁")
    assert prompt.response == (space, prompt.tokens.boi, *prompt.tokens.images, prompt.tokens.eoi)


def test_ids_come_from_convert_tokens_to_ids(tokenizer):
    ids = image_token_ids(tokenizer, 64)
    assert ids.boi == tokenizer.convert_tokens_to_ids(BOI)
    assert ids.images[63] == tokenizer.convert_tokens_to_ids("<img_00063>")
    assert len(ids.images) == 64


def test_tokenizer_without_special_tokens_is_named():
    with pytest.raises(WeightsError, match=r"no special token '<img>'.*mllm/tokenizer"):
        build_prompt(tiny_tokenizer(image_tokens=None), "a boy")


def test_tokenizer_with_too_few_image_tokens():
    tokenizer = tiny_tokenizer(image_tokens=10)
    with pytest.raises(WeightsError, match="'<img_00010>'"):
        build_prompt(tokenizer, "a boy")


def test_image_tokens_that_do_not_stay_whole_are_refused(tokenizer):
    class Splitting:
        """A tokenizer that knows the ids but drops one image token when encoding."""

        def __init__(self, inner):
            self.inner = inner
            self.bos_token_id = inner.bos_token_id

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __len__(self):
            return len(self.inner)

        def encode(self, text, add_special_tokens=False):
            drop = self.inner.convert_tokens_to_ids("<img_00005>")
            return [i for i in self.inner.encode(text, add_special_tokens=add_special_tokens) if i != drop]

    with pytest.raises(WeightsError, match=r"63 tokens lie between <img> and </img>.*expected exactly 64"):
        build_prompt(Splitting(tokenizer), "a boy")


def test_special_markers_in_the_prompt_are_refused(tokenizer):
    with pytest.raises(InputShapeError, match="special token marker '<img>'"):
        build_prompt(tokenizer, "a boy <img> smiles")


def test_long_captions_are_truncated_with_a_warning(tokenizer, caplog):
    caption = " ".join(["the boy runs across the street"] * 30)
    ids = tokenizer.encode(caption, add_special_tokens=False)
    assert len(ids) > MAX_CAPTION_TOKENS
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        prompt = build_prompt(tokenizer, caption)
    assert "truncated" in caplog.text and str(len(ids)) in caplog.text
    assert prompt.caption == tokenizer.decode(ids[:MAX_CAPTION_TOKENS])
    assert prompt.image_positions[0] - 1 <= 1 + MAX_CAPTION_TOKENS + 2


def test_short_captions_are_kept(tokenizer, caplog):
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        assert truncate_caption(tokenizer, "two friends laugh") == "two friends laugh"
    assert not caplog.text
