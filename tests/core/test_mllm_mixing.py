"""mllm_scale mixing and the character tokens handed to the MLLM."""

from __future__ import annotations

import pytest
import torch

from diffsensei_core.errors import InputShapeError
from diffsensei_core.mllm.mixing import DEFAULT_MLLM_SCALE, character_tokens, mix_tokens
from diffsensei_core.model.encoders import pad_character_features
from diffsensei_core.model.resampler import Resampler


def test_default_scale_is_the_reference_one():
    assert DEFAULT_MLLM_SCALE == 0.4


def test_worked_example_from_the_spec():
    """Spec §6.4 step 7: F = mllm_scale · (MLLM output) + (1 − mllm_scale) · (character tokens). Worked by hand:
    MLLM output (2, 10), characters (1, 0), scale 0.4 → (0.8 + 0.6, 4.0 + 0.0) = (1.4, 4.0)."""
    adapted = torch.tensor([[[2.0, 10.0]]])
    original = torch.tensor([[[1.0, 0.0]]])
    torch.testing.assert_close(mix_tokens(adapted, original, 0.4), torch.tensor([[[1.4, 4.0]]]))


def test_the_scale_weights_the_mllm_output():
    """A small scale stays near the encoded characters: at 0.25 the mix is three times closer to them than to the
    MLLM output; 0 and 1 give each side exactly."""
    generator = torch.Generator().manual_seed(0)
    adapted, original = torch.randn(2, 1, 64, 8, generator=generator)
    mixed = mix_tokens(adapted, original, 0.25)
    to_original, to_adapted = (mixed - original).norm(), (mixed - adapted).norm()
    torch.testing.assert_close(to_adapted / to_original, torch.tensor(3.0))
    assert torch.equal(mix_tokens(adapted, original, 0.0), original)
    assert torch.equal(mix_tokens(adapted, original, 1.0), adapted)


def test_result_is_float32_on_the_original_device():
    out = mix_tokens(torch.ones(1, 4, 2, dtype=torch.bfloat16), torch.zeros(1, 4, 2, dtype=torch.float16), 0.5)
    assert out.dtype == torch.float32 and torch.equal(out, torch.full((1, 4, 2), 0.5))


@pytest.mark.parametrize(("adapted", "scale", "match"), [
    (torch.zeros(1, 48, 8), 0.4, "same shape"),
    (torch.zeros(1, 64, 8), 1.5, "0..1"),
])
def test_bad_inputs(adapted, scale, match):
    with pytest.raises(InputShapeError, match=match):
        mix_tokens(adapted, torch.zeros(1, 64, 8), scale)


def test_character_tokens_drop_the_dummy_tokens():
    torch.manual_seed(0)
    resampler = Resampler(dim=32, depth=1, dim_head=16, heads=2, num_queries=4, num_dummy_tokens=3, clip_dim=24,
                          magi_dim=16, output_dim=40, ff_mult=2).eval()
    clip, magi = pad_character_features(torch.randn(2, 5, 24), torch.randn(2, 16))
    tokens = character_tokens(resampler, clip, magi)
    assert tokens.shape == (1, 4 * 4, 40)
    with torch.no_grad():
        assert torch.equal(tokens, resampler(clip, magi)[:, 3:])
