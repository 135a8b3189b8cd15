"""Soft prompts: K learnable contexts of n_ctx token embeddings per text encoder, and the encoder protocol.

Shapes: K prompts, n tokens per prompt, w_e the token-embedding width of encoder e, L the encoded sequence length
(77 for CLIP), D the concatenated hidden width (SDXL: 768 + 1280 = 2048), P the pooled width (SDXL: 1280).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from ..errors import DistributionError

INIT_STD = 0.02  # the contexts start as N(0, 0.02²), as in the paper's code


@dataclass(frozen=True)
class EncoderIdentity:
    """Which text encoders a distribution belongs to: names, token widths, pooled width and weight fingerprints."""

    names: tuple[str, ...]
    widths: tuple[int, ...]
    pooled_width: int
    fingerprints: tuple[str, ...]

    def describe(self) -> str:
        encoders = " + ".join(f"{name} ({width}-d)" for name, width in zip(self.names, self.widths, strict=True))
        return f"{encoders}, pooled {self.pooled_width}-d"

    def same_shape(self, other: EncoderIdentity) -> bool:
        return (self.names, self.widths, self.pooled_width) == (other.names, other.widths, other.pooled_width)


@dataclass(frozen=True)
class EncodedPrompts:
    """hidden (K, L, D): the encoders' hidden states concatenated on channels; pooled (K, P)."""

    hidden: torch.Tensor
    pooled: torch.Tensor


class PromptEncoder(Protocol):
    """What the host hands the core: frozen text encoders that take the soft contexts in place of words.

    ``encoder(contexts)`` with one ``(K, n, w_e)`` tensor per encoder (in ``identity.names`` order) places each
    context after the start token and any prefix tokens, before any suffix tokens and the end token, pads to L,
    runs the frozen transformers and returns :class:`EncodedPrompts`; gradients flow back to the contexts.
    """

    identity: EncoderIdentity
    prefix: str
    suffix: str

    def __call__(self, contexts: Sequence[torch.Tensor]) -> EncodedPrompts: ...


def weights_fingerprint(weight: torch.Tensor, rows: int = 256) -> str:
    """A short stable hash of a token-embedding matrix (V, w): its shape and up to ``rows`` evenly spaced rows.

    The rows are hashed rounded to float16, so the same weights loaded in float32 (CPU) or float16 (GPU, ComfyUI's
    usual text-encoder dtype) give the same fingerprint."""
    count = weight.shape[0]
    index = torch.linspace(0, count - 1, steps=min(rows, count)).round().long()
    sample = weight.detach()[index.to(weight.device)].to(device="cpu", dtype=torch.float16).contiguous()
    digest = hashlib.sha256(repr(tuple(weight.shape)).encode())
    digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:16]


class SoftPrompts(nn.Module):
    """K soft prompts for each encoder: ``contexts[e]`` is a (K, n, w_e) parameter, initialised N(0, 0.02²)."""

    def __init__(self, *, prompts: int, tokens: int, widths: Sequence[int], seed: int = 0,
                 device: torch.device | str | None = None):
        super().__init__()
        if prompts < 2:
            raise DistributionError(f"a prompt distribution needs at least 2 prompts to fit a spread, got K={prompts}; "
                                    "use K ≥ 2 (the paper uses 32)")
        if tokens < 1:
            raise DistributionError(f"each soft prompt needs at least 1 token, got {tokens}; use 4 (the paper's value)")
        generator = torch.Generator().manual_seed(seed)
        self.contexts = nn.ParameterList(
            nn.Parameter((torch.randn(prompts, tokens, width, generator=generator) * INIT_STD).to(device))
            for width in widths
        )

    @property
    def prompts(self) -> int:
        return self.contexts[0].shape[0]

    @property
    def tokens(self) -> int:
        return self.contexts[0].shape[1]

    def tensors(self) -> list[torch.Tensor]:
        return list(self.contexts)

    def snapshot(self) -> tuple[torch.Tensor, ...]:
        """Detached copies of the contexts (what "the last good state" is)."""
        return tuple(c.detach().clone() for c in self.contexts)

    def restore(self, snapshot: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for parameter, saved in zip(self.contexts, snapshot, strict=True):
                parameter.copy_(saved)

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(c).all()) for c in self.contexts)

    @classmethod
    def from_tensors(cls, contexts: Sequence[torch.Tensor]) -> SoftPrompts:
        module = cls.__new__(cls)
        nn.Module.__init__(module)
        module.contexts = nn.ParameterList(nn.Parameter(c.detach().clone()) for c in contexts)
        return module
