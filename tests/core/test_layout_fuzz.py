"""Property-based fuzzing of the layout parser and the mask builders (hypothesis)."""

import json
import math

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from diffsensei_core.errors import DiffSenseiError
from diffsensei_core.model.masks import MASKED, character_attention_bias, dialog_region
from diffsensei_core.model.panel_layout import PanelLayout, make_layout, parse_layout

from .fuzz import fuzz_settings

FUZZ = fuzz_settings(300)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=30,
)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
coordinate = st.floats(min_value=-3, max_value=3) | non_finite | st.integers(-5, 5)
box = st.lists(coordinate, min_size=0, max_size=6)
layout_like = st.fixed_dictionaries(
    {},
    optional={
        "width": st.integers(-10, 5000) | st.sampled_from([64, 512, 1024, 2048]) | st.floats(),
        "height": st.integers(-10, 5000) | st.sampled_from([64, 512, 768, 2048]),
        "characters": st.lists(box | st.fixed_dictionaries({"box": box}), max_size=8) | json_values,
        "dialogs": st.lists(box, max_size=8) | json_values,
    },
)


def parses_or_raises_ours(value) -> PanelLayout | None:
    try:
        return parse_layout(value)
    except DiffSenseiError:
        return None


@FUZZ
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_the_packs_error(text):
    parses_or_raises_ours(text)


@FUZZ
@given(json_values)
def test_any_json_value_parses_or_raises_the_packs_error(value):
    parses_or_raises_ours(json.dumps(value, allow_nan=True))


@FUZZ
@given(layout_like)
def test_layout_shaped_input_gives_a_valid_layout_or_our_error(value):
    layout = parses_or_raises_ours(json.dumps(value, allow_nan=True))
    if layout is None:
        return
    assert 64 <= layout.width <= 2048 and layout.width % 8 == 0
    assert 64 <= layout.height <= 2048 and layout.height % 8 == 0
    for x1, y1, x2, y2 in (*layout.characters, *layout.dialogs):
        assert all(math.isfinite(c) and 0.0 <= c <= 1.0 for c in (x1, y1, x2, y2))
        assert x1 < x2 and y1 < y2
    assert parse_layout(layout.to_json()) == layout, "a valid layout round-trips"


valid_box = st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)).filter(
    lambda b: min(b[2], b[0]) < max(b[2], b[0]) and min(b[3], b[1]) < max(b[3], b[1])
)


@FUZZ
@given(st.lists(valid_box, max_size=6), st.integers(1, 40), st.integers(1, 40), st.integers(0, 3))
def test_every_mask_row_sees_a_token_and_masks_are_deterministic(boxes, grid_h, grid_w, padded):
    layout = make_layout(512, 512, boxes)
    slots = len(layout.characters) + padded
    if slots == 0:
        return
    padded_boxes = layout.character_boxes(slots)
    bias = character_attention_bias(padded_boxes, grid_h, grid_w, num_dummy_tokens=4, tokens_per_character=2)
    assert bias.shape == (grid_h * grid_w, 4 + 2 * slots)
    assert ((bias == 0) | (bias == MASKED)).all()
    assert (bias == 0).any(dim=1).all(), "every query row must attend to at least one token"
    again = character_attention_bias(padded_boxes.clone(), grid_h, grid_w, num_dummy_tokens=4, tokens_per_character=2)
    assert torch.equal(bias, again)


@FUZZ
@given(st.lists(valid_box, max_size=10), st.integers(1, 60), st.integers(1, 60))
@example(boxes=[(0.0, 0.0, 1.0, 0.02)], height=50, width=1)  # float32 rounding of the box × size product
def test_dialog_region_is_deterministic_and_inside_the_boxes(boxes, height, width):
    layout = make_layout(512, 512, dialogs=boxes)
    tensor = layout.dialog_boxes()
    region = dialog_region(tensor, height, width)
    assert region.shape == (height, width) and torch.equal(region, dialog_region(tensor.clone(), height, width))
    # the reference multiplies in the UNet's dtype (float32 here): 0.02f × 50 rounds to exactly 1.0, not 0.99…
    bounds = (tensor * torch.tensor([width, height, width, height], dtype=torch.float32)).trunc().long().tolist()
    for i, j in region.nonzero().tolist():
        assert any(x1 <= j < x2 and y1 <= i < y2 for x1, y1, x2, y2 in bounds)
