"""Perceiver resampler that turns character features into DiffSensei image tokens.

IP-Adapter-Plus style resampler with DiffSensei's two additions: a projection of the Magi CLS
feature, appended to the CLIP tokens as one more key/value token, and learned dummy tokens that are
prepended to the output (model spec §3). Parameter names equal the released
``image_proj_model/pytorch_model.bin`` so it loads with ``strict=True``.

Shape legend: b panels, k character slots, s CLIP tokens (257 for ViT-H), q queries (16),
c_clip / c_magi input widths, d resampler width, o output width (2048 for SDXL).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from einops import rearrange
from torch import nn

from ..errors import InputShapeError, WeightsError


class PerceiverAttention(nn.Module):
    """Latent queries attend over [image features ‖ latents]."""

    def __init__(self, *, dim: int, dim_head: int, heads: int):
        super().__init__()
        inner = dim_head * heads
        self.heads = heads
        self.scale = dim_head**-0.25
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """x: (n, s, d) features, latents: (n, q, d) → (n, q, d)."""
        x = self.norm1(x)
        latents = self.norm2(latents)
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat((x, latents), dim=1)).chunk(2, dim=-1)
        q, k, v = (rearrange(t, "n s (h e) -> n h s e", h=self.heads) for t in (q, k, v))
        # the reference scales q and k by dim_head^-1/4 each and takes the softmax in float32
        logits = (q * self.scale) @ (k * self.scale).transpose(-2, -1)
        weights = torch.softmax(logits.float(), dim=-1).to(logits.dtype)
        return self.to_out(rearrange(weights @ v, "n h q e -> n q (h e)"))


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    """LayerNorm → Linear(d→mult·d) → GELU → Linear(mult·d→d); indices 0..3 match the keys."""
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, dim * mult, bias=False),
        nn.GELU(),
        nn.Linear(dim * mult, dim, bias=False),
    )


class Resampler(nn.Module):
    """CLIP penultimate tokens + Magi CLS per character → 16 tokens per character, plus dummy tokens.

    ``forward(clip, magi)`` with clip: (b, k, s, c_clip) and magi: (b, k, c_magi) returns
    (b, num_dummy + k·q, o): the dummy tokens first, then slot 0's q tokens, slot 1's, …
    """

    def __init__(
        self,
        *,
        dim: int = 1280,
        depth: int = 4,
        dim_head: int = 64,
        heads: int = 20,
        num_queries: int = 16,
        num_dummy_tokens: int = 16,
        clip_dim: int = 1280,
        magi_dim: int = 768,
        output_dim: int = 2048,
        ff_mult: int = 4,
    ):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, num_queries, dim) / math.sqrt(dim))
        self.proj_in = nn.Linear(clip_dim, dim)
        self.proj_in_magi = nn.Linear(magi_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.dummy_tokens = nn.Parameter(torch.randn(num_dummy_tokens, output_dim))
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [PerceiverAttention(dim=dim, dim_head=dim_head, heads=heads), feed_forward(dim, ff_mult)]
            )
            for _ in range(depth)
        )

    @property
    def num_queries(self) -> int:
        return self.latents.shape[1]

    @property
    def num_dummy_tokens(self) -> int:
        return self.dummy_tokens.shape[0]

    @property
    def clip_dim(self) -> int:
        return self.proj_in.in_features

    @property
    def magi_dim(self) -> int:
        return self.proj_in_magi.in_features

    @property
    def output_dim(self) -> int:
        return self.proj_out.out_features

    def forward(self, clip: torch.Tensor, magi: torch.Tensor) -> torch.Tensor:
        self._check_inputs(clip, magi)
        b, k = clip.shape[:2]
        dtype = self.proj_in.weight.dtype
        x = self.proj_in(rearrange(clip.to(dtype), "b k s c -> (b k) s c"))
        magi_token = self.proj_in_magi(rearrange(magi.to(dtype), "b k c -> (b k) 1 c"))
        x = torch.cat((x, magi_token), dim=1)
        latents = self.latents.expand(b * k, -1, -1)
        for attention, ff in self.layers:
            latents = attention(x, latents) + latents
            latents = ff(latents) + latents
        tokens = self.norm_out(self.proj_out(latents))
        tokens = rearrange(tokens, "(b k) q o -> b (k q) o", b=b, k=k)
        dummy = self.dummy_tokens.unsqueeze(0).expand(b, -1, -1)
        return torch.cat((dummy, tokens), dim=1)

    @torch.no_grad()
    def unconditional_tokens(self, num_slots: int, clip_tokens: int = 257) -> torch.Tensor:
        """Tokens of the unconditional branch, (1, num_dummy + k·q, o).

        resampler(zero CLIP features, zero Magi features) with the dummy tokens prepended, as the
        reference builds its negative branch (never literal zeros). The count of zero CLIP tokens
        matters (it weights the softmax); the released model sees 257 (ViT-H/14 at 224 px).
        """
        weight = self.proj_in.weight
        zeros_clip = torch.zeros(1, num_slots, clip_tokens, self.clip_dim, dtype=weight.dtype, device=weight.device)
        zeros_magi = torch.zeros(1, num_slots, self.magi_dim, dtype=weight.dtype, device=weight.device)
        return self(zeros_clip, zeros_magi)

    def _check_inputs(self, clip: torch.Tensor, magi: torch.Tensor) -> None:
        if clip.ndim != 4 or clip.shape[-1] != self.clip_dim:
            raise InputShapeError(
                f"CLIP character features must be (panels, slots, tokens, {self.clip_dim}); got {tuple(clip.shape)}. "
                "Use the penultimate hidden states of the CLIP vision model that shipped with DiffSensei (ViT-H/14)."
            )
        if magi.ndim != 3 or magi.shape[-1] != self.magi_dim or magi.shape[:2] != clip.shape[:2]:
            raise InputShapeError(
                f"Magi character features must be (panels, slots, {self.magi_dim}) matching the CLIP features' "
                f"{tuple(clip.shape[:2])}; got {tuple(magi.shape)}. Encode every reference image with both encoders."
            )

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, dim_head: int = 64,
                        source: str = "image_proj_model") -> Resampler:
        """Build a resampler whose sizes are read from the tensors' shapes, then load strictly.

        ``dim_head`` cannot be read from shapes (only heads·dim_head can); the released model uses 64.
        """
        try:
            dim = state_dict["latents"].shape[-1]
            num_queries = state_dict["latents"].shape[1]
            inner = state_dict["layers.0.0.to_q.weight"].shape[0]
            config = dict(
                dim=dim,
                depth=len({key.split(".")[1] for key in state_dict if key.startswith("layers.")}),
                dim_head=dim_head,
                heads=inner // dim_head,
                num_queries=num_queries,
                num_dummy_tokens=state_dict["dummy_tokens"].shape[0],
                clip_dim=state_dict["proj_in.weight"].shape[1],
                magi_dim=state_dict["proj_in_magi.weight"].shape[1],
                output_dim=state_dict["proj_out.weight"].shape[0],
                ff_mult=state_dict["layers.0.1.1.weight"].shape[0] // dim,
            )
        except KeyError as missing:
            raise WeightsError(
                f"{source}: not a DiffSensei resampler state dict; key {missing} is missing "
                f"(got {len(state_dict)} keys, first: {sorted(state_dict)[:3]}). "
                "Point the loader at the released image_generator/image_proj_model/pytorch_model.bin."
            ) from None
        if inner % dim_head:
            raise WeightsError(f"{source}: attention width {inner} is not a multiple of dim_head {dim_head}.")
        with torch.device("meta"):
            model = cls(**config)
        load_strict(model, state_dict, source)
        return model


def load_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load with exact key and shape checking; raise :class:`WeightsError` naming the first mismatches."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k}: expected {tuple(expected[k].shape)}, got {tuple(state_dict[k].shape)}"
        for k in expected
        if k in state_dict and expected[k].shape != state_dict[k].shape
    ]
    # a float parameter must get float data: load_state_dict would cast integers silently (or fail obscurely)
    not_float = [
        f"{k}: {state_dict[k].dtype}"
        for k in expected
        if k in state_dict and expected[k].is_floating_point() and not state_dict[k].is_floating_point()
    ]
    if missing or unexpected or wrong or not_float:
        raise WeightsError(
            f"{source}: the weights do not match {type(module).__name__}. "
            f"missing {len(missing)} {missing[:3]}, unexpected {len(unexpected)} {unexpected[:3]}, "
            f"wrong shape {len(wrong)} {wrong[:3]}, not floating-point {len(not_float)} {not_float[:3]}. "
            "Use the file exactly as released, or re-run the converter."
        )
    module.load_state_dict(state_dict, strict=True, assign=True)
