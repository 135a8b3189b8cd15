"""The resampler against the official implementation's outputs (../shared/golden) and its key layout."""

from pathlib import Path

import pytest
import torch

from diffsensei_core.errors import InputShapeError, WeightsError
from diffsensei_core.model.resampler import Resampler
from tests.support.skips import skip_or_fail

from .golden import CASES, RESAMPLER_DIM_HEAD, TOKENS_ATOL, golden_resampler_state_dict, load_golden

KEYS_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "design" / "keys" / "resampler_keys.txt"


@pytest.fixture(scope="module")
def resampler():
    return Resampler.from_state_dict(golden_resampler_state_dict(), dim_head=RESAMPLER_DIM_HEAD).eval()


@pytest.mark.parametrize("case", CASES)
def test_tokens_match_the_official_implementation(resampler, case):
    golden = load_golden(case)
    with torch.no_grad():
        cond = resampler(golden["clip"], golden["magi"])
    torch.testing.assert_close(cond, golden["cond_tokens"], atol=TOKENS_ATOL, rtol=0)
    torch.testing.assert_close(resampler.unconditional_tokens(4), golden["uncond_tokens"], atol=TOKENS_ATOL, rtol=0)


def test_dummy_tokens_come_first(resampler):
    golden = load_golden("two_chars")
    with torch.no_grad():
        tokens = resampler(golden["clip"], golden["magi"])
    assert torch.equal(tokens[0, :16], resampler.dummy_tokens)


def test_released_key_names_and_shapes():
    if not KEYS_FILE.is_file():
        skip_or_fail("golden", f"{KEYS_FILE} not found")
    expected = {}
    for line in KEYS_FILE.read_text().splitlines():
        name, shape = line.split("\t")
        expected[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    with torch.device("meta"):
        model = Resampler()  # the released defaults
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected


def test_wrong_shape_is_named():
    sd = golden_resampler_state_dict()
    sd["proj_out.weight"] = torch.zeros(64, 65)
    with pytest.raises(WeightsError, match=r"proj_out\.weight"):
        Resampler.from_state_dict(sd, dim_head=RESAMPLER_DIM_HEAD)


def test_not_a_resampler():
    with pytest.raises(WeightsError, match="not a DiffSensei resampler"):
        Resampler.from_state_dict({"conv_in.weight": torch.zeros(1)})


def test_input_shapes_are_checked(resampler):
    with pytest.raises(InputShapeError, match="CLIP character features"):
        resampler(torch.zeros(1, 4, 257, 47), torch.zeros(1, 4, 24))
    with pytest.raises(InputShapeError, match="Magi"):
        resampler(torch.zeros(1, 4, 257, 48), torch.zeros(1, 3, 24))
