"""Per-row selection of tokens, boxes and dialog masks for any cond/uncond batch layout."""

import pytest
import torch

from diffsensei_core.errors import InputShapeError
from diffsensei_core.model import panel_conditioning
from diffsensei_core.model.encoders import pad_character_features
from diffsensei_core.model.masks import character_attention_bias
from diffsensei_core.model.panel_conditioning import COND, UNCOND, PanelConditioning
from diffsensei_core.model.panel_layout import make_layout
from diffsensei_core.model.resampler import Resampler

from .golden import RESAMPLER_DIM_HEAD, TOKENS_ATOL, golden_resampler_state_dict, load_golden

LAYOUT = make_layout(256, 256, [[0.05, 0.1, 0.45, 0.95], [0.55, 0.1, 0.95, 0.95]], [[0.6, 0.0, 1.0, 0.3]])


@pytest.fixture(scope="module")
def panel():
    resampler = Resampler.from_state_dict(golden_resampler_state_dict(), dim_head=RESAMPLER_DIM_HEAD).eval()
    golden = load_golden("two_chars")
    return PanelConditioning.from_features(resampler, golden["clip"], golden["magi"], LAYOUT)


def test_tokens_follow_the_batch_layout(panel):
    golden = load_golden("two_chars")
    tokens = panel.tokens([UNCOND, COND, COND], 6)
    assert tokens.shape == (6, 80, 64)
    for row, expected in enumerate(["uncond"] * 2 + ["cond"] * 4):
        torch.testing.assert_close(tokens[row:row + 1], golden[f"{expected}_tokens"], atol=TOKENS_ATOL, rtol=0)


@pytest.mark.parametrize("order", [[UNCOND, COND], [COND, UNCOND], [COND], [UNCOND, COND, COND], [UNCOND]])
def test_boxes_and_dialogs_per_row(panel, order):
    bias = panel.character_bias(order, 2 * len(order), 8, 8, dtype=torch.float32, device="cpu")
    region = panel.dialog_region(order, 2 * len(order), 8, 8, dtype=torch.float32, device="cpu")
    cond_bias = character_attention_bias(LAYOUT.character_boxes(4), 8, 8)
    uncond_bias = character_attention_bias(torch.zeros(4, 4), 8, 8)
    for chunk, flag in enumerate(order):
        for row in (2 * chunk, 2 * chunk + 1):
            assert torch.equal(bias[row], cond_bias if flag == COND else uncond_bias)
            assert (region[row].sum() > 0) == (flag == COND), "unconditional rows get no dialog embedding"


def test_masks_are_built_once_per_grid(panel, monkeypatch):
    builds = []
    build = panel_conditioning.character_attention_bias
    monkeypatch.setattr(panel_conditioning, "character_attention_bias",
                        lambda boxes, h, w, **kw: builds.append((h, w)) or build(boxes, h, w, **kw))
    panel.clear_cache()
    for _ in range(30):  # 30 steps × several sites at two grids
        for grid in ((8, 8), (4, 4)):
            panel.character_bias([UNCOND, COND], 2, *grid, dtype=torch.float32, device="cpu")
    assert sorted(builds) == [(4, 4), (4, 4), (8, 8), (8, 8)]  # (cond, uncond) × 2 grids


def test_uneven_batch_is_refused(panel):
    with pytest.raises(InputShapeError, match="equal cond/uncond chunks"):
        panel.tokens([UNCOND, COND], 3)


def test_padded_slots_use_zero_features_and_boxes():
    """Two characters in four slots: the padded slots' features are zeros, so their conditional tokens are exactly the
    unconditional ones (resampler of zeros), and their boxes are zero boxes."""
    golden = load_golden("two_chars")
    resampler = Resampler.from_state_dict(golden_resampler_state_dict(), dim_head=RESAMPLER_DIM_HEAD).eval()
    clip, magi = pad_character_features(golden["clip"][0, :2], golden["magi"][0, :2])
    assert clip.shape[1] == magi.shape[1] == 4
    assert not clip[0, 2:].any() and not magi[0, 2:].any()
    panel = PanelConditioning.from_features(resampler, clip, magi, LAYOUT)
    cond, uncond = panel.tokens([COND], 1), panel.tokens([UNCOND], 1)
    padded = slice(16 + 2 * 16, None)  # after the dummy tokens and two characters' 16 tokens each
    assert torch.equal(cond[:, padded], uncond[:, padded])
    assert (cond[:, 16:padded.start] - uncond[:, 16:padded.start]).abs().max() > 1e-2, "real characters differ"
    assert torch.equal(LAYOUT.character_boxes(4)[2:], torch.zeros(2, 4))
