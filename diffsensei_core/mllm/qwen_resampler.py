"""SEED-X's single-layer "Qwen" resampler: a fixed set of grid² learned queries cross-attends to a token sequence.

DiffSensei ships two of them in ``mllm/agent/pytorch_model.bin`` (model spec §6.2): the input resampler maps the
64 character tokens (width 2048) to 64 LLM input embeddings (width 5120), the output resampler maps 64 LLM hidden
states back to 64 character tokens. Parameter names equal the released ones (``pos_embed``, ``query``,
``kv_proj.weight``, ``attn.*`` of a torch ``MultiheadAttention``, ``ln_q.*``, ``ln_kv.*``) so loading is strict.

Shape legend: b batch, l input tokens, n = grid² queries, c_kv input width, e output (embedding) width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputShapeError, WeightsError
from ..model.resampler import load_strict

RELEASED_HEADS = 32


def sincos_grid_embedding(dim: int, grid: int) -> torch.Tensor:
    """MAE-style fixed 2-D sine-cosine position table, (grid², dim), row-major over the grid.

    The first half of the channels encodes the column index, the second half the row index; each half is
    [sin(p·ω), cos(p·ω)] with ω_i = 10000^(−i/(dim/4)). Only used to build fresh modules: the released table
    is stored in the checkpoint and loaded as is.
    """
    if dim % 4:
        raise InputShapeError(f"sincos_grid_embedding: dim must be a multiple of 4, got {dim}.")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                                indexing="ij")

    def encode(positions: torch.Tensor) -> torch.Tensor:
        angles = positions.reshape(-1, 1) * omega
        return torch.cat((angles.sin(), angles.cos()), dim=1)

    return torch.cat((encode(cols), encode(rows)), dim=1).float()


class QwenResampler(nn.Module):
    """n = grid² learned queries (+ fixed position table) attend once over the projected input tokens.

    forward: x (b, l, c_kv) → (b, n, e). Keys get the position table too (resized bicubically when l is another
    square number, as the reference does); values do not. No residual, no output norm.
    """

    def __init__(self, *, grid: int, embed_dim: int, kv_dim: int, heads: int = RELEASED_HEADS):
        super().__init__()
        if embed_dim % heads:
            raise WeightsError(
                f"Qwen resampler: width {embed_dim} is not divisible by {heads} attention heads; expected a multiple. "
                "Set num_heads in mllm/agent/config.json to the value the weights were trained with (32 released)."
            )
        self.grid = grid
        self.pos_embed = nn.Parameter(sincos_grid_embedding(embed_dim, grid), requires_grad=False)
        self.query = nn.Parameter(torch.zeros(grid * grid, embed_dim))
        self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False)
        self.attn = nn.MultiheadAttention(embed_dim, heads, batch_first=True)
        self.ln_q = nn.LayerNorm(embed_dim)
        self.ln_kv = nn.LayerNorm(embed_dim)

    @property
    def num_queries(self) -> int:
        return self.query.shape[0]

    @property
    def embed_dim(self) -> int:
        return self.query.shape[1]

    @property
    def kv_dim(self) -> int:
        return self.kv_proj.in_features

    @property
    def heads(self) -> int:
        return self.attn.num_heads

    def _key_positions(self, length: int) -> torch.Tensor:
        if length == self.num_queries:
            return self.pos_embed
        side = math.isqrt(length)
        if side * side != length:
            raise InputShapeError(
                f"Qwen resampler: {length} input tokens do not form a square grid; expected {self.num_queries} "
                f"(4 characters × 16 tokens for the released model). Adapt at most 4 characters with the MLLM."
            )
        table = self.pos_embed.float().reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table, size=(side, side), mode="bicubic", align_corners=False)
        return table.permute(0, 2, 3, 1).reshape(length, -1).to(self.pos_embed.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.kv_dim:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputShapeError(f"Qwen resampler: expected tokens (batch, length, {self.kv_dim}); got {got}.")
        dtype = self.query.dtype
        kv = self.ln_kv(self.kv_proj(x.to(dtype)))
        query = (self.ln_q(self.query) + self.pos_embed).unsqueeze(0).expand(x.shape[0], -1, -1)
        key = kv + self._key_positions(x.shape[1])
        out, _ = self.attn(query, key, kv, need_weights=False)
        return out

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, heads: int = RELEASED_HEADS,
                        source: str = "qwen resampler") -> QwenResampler:
        """Sizes from the tensors' shapes (``heads`` cannot be read from shapes), then a strict load."""
        try:
            queries, embed_dim = state_dict["query"].shape
            kv_dim = state_dict["kv_proj.weight"].shape[1]
        except (KeyError, ValueError) as error:
            raise WeightsError(
                f"{source}: not a Qwen resampler state dict ({error!r}; got keys {sorted(state_dict)[:4]}). "
                "Expected query (n, e), kv_proj.weight (e, c_kv), attn.*, ln_q.*, ln_kv.*, pos_embed. "
                "Use mllm/agent/pytorch_model.bin exactly as released."
            ) from None
        grid = math.isqrt(queries)
        if grid * grid != queries:
            raise WeightsError(f"{source}: query has {queries} rows; expected a square number (64 = 8×8 released).")
        with torch.device("meta"):
            module = cls(grid=grid, embed_dim=embed_dim, kv_dim=kv_dim, heads=heads)
        load_strict(module, state_dict, source)
        module.pos_embed.requires_grad_(False)
        return module
