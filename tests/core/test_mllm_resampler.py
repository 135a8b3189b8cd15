"""The agent's Qwen resamplers: released key layout, forward against a slow formulation, strict loading."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from diffsensei_core.errors import InputShapeError, WeightsError
from diffsensei_core.mllm.agent import AgentResamplers, load_agent
from diffsensei_core.mllm.qwen_resampler import QwenResampler, sincos_grid_embedding
from tests.support.skips import skip_or_fail

from .test_mllm_tiny import AGENT_HEADS, tiny_agent_state_dict

KEYS_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "design" / "keys" / "agent_keys.txt"


def released_shapes() -> dict[str, tuple[int, ...]]:
    if not KEYS_FILE.is_file():
        skip_or_fail("golden", f"{KEYS_FILE} not found")
    shapes = {}
    for line in KEYS_FILE.read_text().splitlines():
        name, shape = line.split("\t")
        shapes[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return shapes


def test_released_key_names_and_shapes():
    with torch.device("meta"):
        agent = AgentResamplers(QwenResampler(grid=8, embed_dim=5120, kv_dim=2048),
                                QwenResampler(grid=8, embed_dim=2048, kv_dim=5120))
    assert {k: tuple(v.shape) for k, v in agent.state_dict().items()} == released_shapes()


def test_sincos_table_columns_then_rows():
    dim, grid = 16, 3
    table = sincos_grid_embedding(dim, grid)
    omega = 1.0 / 10000 ** (torch.arange(4, dtype=torch.float64) / 4)
    for row in range(grid):
        for col in range(grid):
            expected = torch.cat([torch.sin(col * omega), torch.cos(col * omega),
                                  torch.sin(row * omega), torch.cos(row * omega)]).float()
            torch.testing.assert_close(table[row * grid + col], expected)


def slow_forward(module: QwenResampler, x: torch.Tensor) -> torch.Tensor:
    """Per-head attention written out: q = ln_q(query) + pos, k = ln_kv(kv_proj x) + pos, v = ln_kv(kv_proj x)."""
    e, h = module.embed_dim, module.heads
    kv = module.ln_kv(x @ module.kv_proj.weight.T)
    q = module.ln_q(module.query) + module.pos_embed
    k = kv + module.pos_embed
    w, b = module.attn.in_proj_weight, module.attn.in_proj_bias
    q, k, v = q @ w[:e].T + b[:e], k @ w[e:2 * e].T + b[e:2 * e], kv @ w[2 * e:].T + b[2 * e:]
    d = e // h
    heads = []
    for i in range(h):
        s = slice(i * d, (i + 1) * d)
        att = torch.softmax(q[..., s] @ k[..., s].transpose(-1, -2) / math.sqrt(d), dim=-1)
        heads.append(att @ v[..., s])
    return torch.cat(heads, dim=-1) @ module.attn.out_proj.weight.T + module.attn.out_proj.bias


@pytest.mark.parametrize("prefix", ["input_resampler.", "output_resampler."])
def test_forward_matches_slow_formulation(prefix):
    state = tiny_agent_state_dict(token_dim=32, grid=4)
    agent = AgentResamplers.from_state_dict(state, heads=AGENT_HEADS)
    module = getattr(agent, prefix.rstrip("."))
    x = torch.randn(2, 16, module.kv_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = module(x)
        expected = slow_forward(module, x)
    assert out.shape == (2, 16, module.embed_dim)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_non_square_length_is_refused():
    module = QwenResampler(grid=4, embed_dim=16, kv_dim=8, heads=2)
    with pytest.raises(InputShapeError, match="square"):
        module(torch.zeros(1, 20, 8))
    assert module(torch.zeros(1, 9, 8)).shape == (1, 16, 16)  # another square grid: resized position table


def test_loads_from_file_strictly(tmp_path):
    state = tiny_agent_state_dict(token_dim=32, grid=8)
    torch.save(state, tmp_path / "pytorch_model.bin")
    agent = load_agent(tmp_path, heads=AGENT_HEADS)
    assert (agent.num_image_tokens, agent.token_dim, agent.llm_dim) == (64, 32, 48)
    for key, value in agent.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda sd: sd.pop("output_resampler.ln_kv.bias"), r"missing 1 \['ln_kv.bias'\]"),
        (lambda sd: sd.__setitem__("input_resampler.extra", torch.zeros(1)), r"unexpected 1 \['extra'\]"),
        (lambda sd: sd.__setitem__("input_resampler.query", torch.zeros(64, 40)), r"attn.in_proj_weight"),
        (lambda sd: sd.__setitem__("llm.model.norm.weight", torch.zeros(1)), r"neither resampler"),
        (lambda sd: [sd.pop(k) for k in list(sd) if k.startswith("output_")], r"no 'output_resampler\.\*' keys"),
    ],
)
def test_key_mismatches_are_named(tmp_path, edit, match):
    state = tiny_agent_state_dict(token_dim=32, grid=8)
    edit(state)
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=match):
        load_agent(tmp_path, heads=AGENT_HEADS)


def test_released_head_count_is_the_default(tmp_path):
    torch.save(tiny_agent_state_dict(token_dim=32, grid=8), tmp_path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="not divisible by 32"):
        load_agent(tmp_path)  # no config.json: the released 32 heads do not divide the tiny width 48


def test_missing_file_is_named(tmp_path):
    with pytest.raises(WeightsError, match=r"agent weights missing: expected .*pytorch_model\.bin"):
        load_agent(tmp_path / "agent")
