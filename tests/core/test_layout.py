"""Layout validation and the masks of model spec §4.3 / §5, including Appendix A's worked examples."""

import json
import logging

import pytest
import torch

from diffsensei_core.errors import LayoutError
from diffsensei_core.model.masks import MASKED, character_attention_bias, dialog_region, reference_token_grid
from diffsensei_core.model.panel_layout import MAX_BOXES, check_character_count, make_layout, parse_layout

LEFT_RIGHT = torch.tensor([[0, 0, 0.5, 1], [0.5, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)


@pytest.mark.parametrize(("grid_h", "grid_w"), [(14, 24), (7, 12)])
def test_appendix_a_left_right_masks(grid_h, grid_w):
    bias = character_attention_bias(LEFT_RIGHT, grid_h, grid_w)
    assert bias.shape == (grid_h * grid_w, 16 + 4 * 16)
    visible = (bias == 0).reshape(grid_h, grid_w, 5, 16).all(-1)  # per (row, col, [dummy, s0..s3])
    cols = torch.arange(grid_w)
    left = (cols / (grid_w - 1) <= 0.5).expand(grid_h, -1)
    assert torch.equal(visible[..., 1], left)
    assert torch.equal(visible[..., 2], ~left)
    assert not visible[..., 0].any(), "dummy tokens are hidden wherever a box covers"
    for slot in (3, 4):
        assert visible[0, 0, slot] and visible[..., slot].sum() == 1, "a zero box covers only the top-left token"
    assert set(bias.unique().tolist()) == {0.0, MASKED}


def test_zero_boxes_show_dummy_everywhere_but_top_left():
    bias = character_attention_bias(torch.zeros(4, 4), 5, 6)
    visible = bias == 0
    assert not visible[0, :16].any() and visible[0, 16:].all()
    assert visible[1:, :16].all() and not visible[1:, 16:].any()


def test_every_token_sees_something():
    torch.manual_seed(0)
    for _ in range(20):
        boxes = torch.rand(3, 4).sort(dim=1).values  # x1 ≤ y1 ≤ x2 ≤ y2: valid boxes
        bias = character_attention_bias(boxes, 9, 13)
        assert (bias == 0).any(dim=1).all()


def test_single_column_grid_uses_x_zero():
    bias = character_attention_bias(torch.tensor([[0.0, 0.0, 0.1, 1.0]]), 3, 1)
    assert (bias[:, 16:] == 0).all()


@pytest.mark.parametrize(
    ("tokens", "ratio", "expected"),
    [(75, 17 / 60, (3, 25)), (30, 19 / 21, (6, 5)), (336, 28 / 48, (14, 24)), (84, 28 / 48, (7, 12)),
     (64 * 64, 1.0, (64, 64)), (32 * 32, 1.0, (32, 32))],
)
def test_reference_grid_heuristic(tokens, ratio, expected):
    assert reference_token_grid(tokens, ratio) == expected


def test_appendix_a_dialog_region():
    region = dialog_region(torch.tensor([[0.6, 0.0, 1.0, 0.3]]), 17, 23)
    rows, cols = region.nonzero(as_tuple=True)
    assert (rows.min().item(), rows.max().item()) == (0, 4)
    assert (cols.min().item(), cols.max().item()) == (13, 22)
    assert region.sum() == 5 * 10


def test_dialog_region_is_a_union_and_clamped():
    region = dialog_region(torch.tensor([[0, 0, 0.5, 0.5], [0.25, 0.25, 1.0, 1.0]]), 8, 8)
    assert region.dtype == torch.bool and region.sum() == 16 + 36 - 4


def test_dialog_region_truncates_in_the_unet_dtype():
    """x1 = 0.23 on a 13-wide map: 0.23 × 13 is 2.99 in fp16 (the reference's dtype) and in fp32, but bf16 rounds the
    product up to 3.0, so the box starts one latent column later (a documented deviation: the reference computes in
    fp16 whatever the UNet's dtype)."""
    box = torch.tensor([[0.23, 0.0, 1.0, 1.0]])

    def first_column(dtype):
        return int(dialog_region(box, 2, 13, dtype=dtype)[0].nonzero().min())

    assert first_column(torch.float16) == 2
    assert first_column(torch.float32) == 2
    assert first_column(torch.bfloat16) == 3


def test_parse_round_trip():
    layout = parse_layout(json.dumps({"width": 1024, "height": 768, "characters": [[0.1, 0.2, 0.5, 0.9]],
                                      "dialogs": [{"box": [0.6, 0.0, 1.0, 0.3], "text": "hi"}]}))
    assert layout.latent_size == (96, 128)
    assert parse_layout(layout.to_json()) == layout


def test_swapped_and_overshooting_boxes_are_fixed_with_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        layout = make_layout(512, 512, [[0.9, 0.8, 0.1, 0.2], [-0.05, 0.5, 1.02, 1.0]])
    assert layout.characters == ((0.1, 0.2, 0.9, 0.8), (0.0, 0.5, 1.0, 1.0))
    assert "swapped" in caplog.text and "clamped" in caplog.text


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"width": 512, "height": 512, "characters": [[0, 0, 1]]}', "[x1, y1, x2, y2]"),
        ('{"width": 512, "height": 512, "characters": [[0, 0, NaN, 1]]}', "NaN"),
        ('{"width": 512, "height": 512, "characters": [[0, 0, Infinity, 1]]}', "NaN or infinite"),
        ('{"width": 512, "height": 512, "characters": [[10, 20, 300, 400]]}', "divide pixel coordinates"),
        ('{"width": 512, "height": 512, "characters": [[0.2, 0.2, 0.2, 0.9]]}', "no area"),
        ('{"width": 512, "height": 512, "dialogs": [[1.2, 0.2, 1.5, 0.9]]}', "no area"),
        ('{"width": 512, "height": 512, "characters": [["a", 0, 1, 1]]}', "4 numbers"),
        ('{"width": 512, "height": 512, "characters": "none"}', "must be a list"),
        ('{"width": 500, "height": 512}', "multiple of 8"),
        ('{"width": 0, "height": 512}', "outside 64..2048"),
        ('{"width": 4096, "height": 512}', "outside 64..2048"),
        ('{"width": 512.5, "height": 512}', "whole number"),
        ('{"height": 512}', "width/height"),
        ('{"width": 512, "height": 512, "boxes": []}', "unknown keys"),
    ],
)
def test_bad_layouts_get_clear_errors(layout, message):
    with pytest.raises(LayoutError, match=message):
        parse_layout(layout)


def test_character_count_must_match():
    layout = make_layout(512, 512, [[0, 0, 0.5, 1], [0.5, 0, 1, 1]])
    check_character_count(layout, 2)
    with pytest.raises(LayoutError, match=r"2 character box.*1 reference image.*connect 1 more"):
        check_character_count(layout, 1)
    with pytest.raises(LayoutError, match="draw 1 more"):
        check_character_count(layout, 3)
    with pytest.raises(LayoutError, match="0 reference"):
        check_character_count(layout, 0)


def test_more_than_four_characters_allowed_with_a_note(caplog):
    with caplog.at_level(logging.INFO, logger="diffsensei"):
        layout = make_layout(512, 512, [[i / 6, 0, (i + 1) / 6, 1] for i in range(6)])
    assert len(layout.characters) == 6 and "outside the trained regime" in caplog.text
    assert layout.character_boxes(6).shape == (6, 4)
    with pytest.raises(LayoutError):
        layout.character_boxes(4)


def test_at_most_64_boxes_characters_and_dialogs_together():
    box = [0.1, 0.1, 0.2, 0.2]
    layout = make_layout(512, 512, [box] * 40, [box] * 24)
    assert len(layout.characters) + len(layout.dialogs) == MAX_BOXES == 64
    with pytest.raises(LayoutError, match=r"40 character and 25 dialog boxes, 65 in all; at most 64"):
        make_layout(512, 512, [box] * 40, [box] * 25)
    with pytest.raises(LayoutError, match="at most 64"):
        parse_layout(json.dumps({"width": 512, "height": 512, "dialogs": [box] * 65}))
