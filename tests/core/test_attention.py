"""Contract tests of the masked character attention (model spec §4.2), diffusers-style."""

import math

import pytest
import torch

from diffsensei_core.errors import InputShapeError
from diffsensei_core.model.attention import masked_character_attention, project_character_tokens, sdpa_attention
from diffsensei_core.model.masks import character_attention_bias

HEADS, HEAD_DIM, CTX, GRID_H, GRID_W = 2, 8, 12, 6, 10
WIDTH = HEADS * HEAD_DIM
BOXES = torch.tensor([[0.0, 0.0, 0.4, 1.0], [0.6, 0.2, 1.0, 0.9], [0, 0, 0, 0], [0, 0, 0, 0]])


def make_inputs(seed=0, batch=2, slots=4):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, GRID_H * GRID_W, WIDTH, generator=g)
    k = torch.randn(batch, 7, WIDTH, generator=g)
    v = torch.randn(batch, 7, WIDTH, generator=g)
    tokens = torch.randn(batch, 16 + 16 * slots, CTX, generator=g)
    to_k_ip = torch.randn(WIDTH, CTX, generator=g) / math.sqrt(CTX)
    to_v_ip = torch.randn(WIDTH, CTX, generator=g) / math.sqrt(CTX)
    return q, k, v, tokens, to_k_ip, to_v_ip


def run(q, k, v, tokens, to_k_ip, to_v_ip, boxes=BOXES, ip_scale=0.6, attention=sdpa_attention):
    bias = character_attention_bias(boxes, GRID_H, GRID_W).expand(q.shape[0], -1, -1)

    def characters():
        return (*project_character_tokens(tokens, to_k_ip, to_v_ip), bias)

    return masked_character_attention(q, k, v, characters, heads=HEADS, ip_scale=ip_scale, attention=attention)


def inside(box):
    xs, ys = torch.linspace(0, 1, GRID_W), torch.linspace(0, 1, GRID_H)
    x1, y1, x2, y2 = box.tolist()
    return ((ys[:, None] >= y1) & (ys[:, None] <= y2) & (xs >= x1) & (xs <= x2)).flatten()


def test_ip_scale_zero_is_exactly_text_attention():
    q, k, v, *rest = make_inputs()
    assert torch.equal(run(q, k, v, *rest, ip_scale=0.0), sdpa_attention(q, k, v, HEADS))


def test_ip_scale_zero_never_builds_the_character_part():
    q, k, v, *_ = make_inputs()

    def characters():
        raise AssertionError("the character keys, values and masks are not needed at ip_scale 0")

    out = masked_character_attention(q, k, v, characters, heads=HEADS, ip_scale=0.0)
    assert torch.equal(out, sdpa_attention(q, k, v, HEADS))


def test_the_text_part_comes_from_the_given_text_attention():
    """ComfyUI passes the site's previous patch (another pack's) or its kernel as the text part."""
    q, k, v, tokens, to_k_ip, to_v_ip = make_inputs()
    calls = []

    def previous(q, k, v, heads):
        calls.append(heads)
        return torch.full_like(q, 0.5)

    bias = character_attention_bias(BOXES, GRID_H, GRID_W).expand(q.shape[0], -1, -1)
    char_k, char_v = project_character_tokens(tokens, to_k_ip, to_v_ip)
    out = masked_character_attention(q, k, v, lambda: (char_k, char_v, bias), heads=HEADS, ip_scale=0.6,
                                     text_attention=previous)
    expected = 0.5 + 0.6 * sdpa_attention(q, char_k, char_v, HEADS, mask=bias)
    assert calls == [HEADS]
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_characters_change_the_output():
    q, k, v, *rest = make_inputs()
    assert (run(q, k, v, *rest) - sdpa_attention(q, k, v, HEADS)).abs().max() > 1e-3


def test_a_character_changes_the_output_only_inside_its_box():
    q, k, v, tokens, to_k_ip, to_v_ip = make_inputs()
    changed = tokens.clone()
    changed[:, 16:32] = torch.randn(2, 16, CTX)  # slot 0 only
    diff = (run(q, k, v, changed, to_k_ip, to_v_ip) - run(q, k, v, tokens, to_k_ip, to_v_ip)).abs().amax(dim=(0, 2))
    box = inside(BOXES[0])
    assert (diff[box] > 1e-4).all()
    assert (diff[~box] == 0).all()


def test_disjoint_boxes_isolate_characters():
    q, k, v, tokens, to_k_ip, to_v_ip = make_inputs()
    changed = tokens.clone()
    changed[:, 32:48] += 5.0  # slot 1 only
    diff = (run(q, k, v, changed, to_k_ip, to_v_ip) - run(q, k, v, tokens, to_k_ip, to_v_ip)).abs().amax(dim=(0, 2))
    assert (diff[inside(BOXES[0])] == 0).all(), "slot 0's region is blind to slot 1's tokens"


def test_swapping_two_characters_with_their_boxes_changes_nothing():
    q, k, v, tokens, to_k_ip, to_v_ip = make_inputs()
    swapped_tokens = torch.cat((tokens[:, :16], tokens[:, 32:48], tokens[:, 16:32], tokens[:, 48:]), dim=1)
    swapped_boxes = BOXES[[1, 0, 2, 3]]
    a = run(q, k, v, tokens, to_k_ip, to_v_ip)
    b = run(q, k, v, swapped_tokens, to_k_ip, to_v_ip, boxes=swapped_boxes)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def straightforward_attention(q, k, v, tokens, to_k_ip, to_v_ip, boxes, ip_scale):
    """The formula written out with loops: per row, head and grid point, no masks tensor, no caching."""
    b, n, _ = q.shape
    out = torch.zeros_like(q)
    # grid points as the reference makes them: float32 linspace (0.2 on a grid line must compare equal)
    xs = torch.linspace(0, 1, GRID_W).tolist()
    ys = torch.linspace(0, 1, GRID_H).tolist()
    kc, vc = tokens @ to_k_ip.T, tokens @ to_v_ip.T
    for row in range(b):
        for h in range(HEADS):
            sl = slice(h * HEAD_DIM, (h + 1) * HEAD_DIM)
            for idx in range(n):
                i, j = divmod(idx, GRID_W)
                qi = q[row, idx, sl]
                text_w = torch.softmax(k[row, :, sl] @ qi / math.sqrt(HEAD_DIM), 0)
                text = text_w @ v[row, :, sl]
                covered = [bool(x1 <= xs[j] <= x2 and y1 <= ys[i] <= y2) for x1, y1, x2, y2 in boxes.tolist()]
                allowed = [not any(covered)] * 16 + [c for c in covered for _ in range(16)]
                logits = kc[row, :, sl] @ qi / math.sqrt(HEAD_DIM)
                logits = torch.stack([lg if ok else lg - 10000.0 for lg, ok in zip(logits, allowed, strict=True)])
                chars = torch.softmax(logits, 0) @ vc[row, :, sl]
                out[row, idx, sl] = text + ip_scale * chars
    return out


def test_matches_a_straightforward_loop_formulation():
    q, k, v, tokens, to_k_ip, to_v_ip = make_inputs(seed=3)
    overlapping = torch.tensor([[0.0, 0.0, 0.7, 1.0], [0.3, 0.2, 1.0, 0.9], [0.1, 0.5, 0.5, 1.0], [0, 0, 0, 0]])
    expected = straightforward_attention(q, k, v, tokens, to_k_ip, to_v_ip, overlapping, 0.6)
    got = run(q, k, v, tokens, to_k_ip, to_v_ip, boxes=overlapping)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_bias_shape_is_checked():
    q, k, v, tokens, to_k_ip, to_v_ip = make_inputs()
    char_k, char_v = project_character_tokens(tokens, to_k_ip, to_v_ip)
    with pytest.raises(InputShapeError, match="token grid"):
        masked_character_attention(q, k, v, lambda: (char_k, char_v, torch.zeros(2, 5, 80)), heads=HEADS,
                                   ip_scale=1.0)


def test_token_width_is_checked():
    _, _, _, tokens, to_k_ip, to_v_ip = make_inputs()
    with pytest.raises(InputShapeError, match="different models"):
        project_character_tokens(tokens[..., :5], to_k_ip, to_v_ip)
