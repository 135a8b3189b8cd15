"""A tiny pure-torch stand-in for two CLIP text encoders that satisfies the core's PromptEncoder protocol.

Each encoder embeds [start, prefix…, context (n), end, pad…] to L = 12 positions, adds position embeddings, runs
one frozen causal mixing layer and returns the sequence; hidden states are concatenated (8 + 12 = 20 channels) and
the pooled vector (16) is a frozen projection of encoder 2's end-token state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from diffsensei_core.distribution import EncodedPrompts, EncoderIdentity, weights_fingerprint

LENGTH = 12
WIDTHS = (8, 12)
POOLED = 16
VOCAB = 10  # 0 start, 1 end, 2 pad, 3… words


class _Tower(nn.Module):
    def __init__(self, width: int, generator: torch.Generator):
        super().__init__()
        self.token_embedding = nn.Parameter(torch.randn(VOCAB, width, generator=generator))
        self.position = nn.Parameter(torch.randn(LENGTH, width, generator=generator) * 0.1)
        self.mix = nn.Parameter(torch.randn(width, width, generator=generator) / width**0.5)

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        x = embeds + self.position
        causal = torch.tril(torch.ones(LENGTH, LENGTH)) / torch.arange(1, LENGTH + 1).unsqueeze(1)
        return torch.tanh((causal @ x) @ self.mix) + x


class ToyEncoder(nn.Module):
    """``ToyEncoder(prefix_ids, suffix_ids)(contexts)`` → EncodedPrompts hidden (K, 12, 20), pooled (K, 16)."""

    def __init__(self, seed: int = 0, prefix: Sequence[int] = (), suffix: Sequence[int] = (),
                 widths: Sequence[int] = WIDTHS):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.towers = nn.ModuleList(_Tower(w, generator) for w in widths)
        self.projection = nn.Parameter(torch.randn(widths[-1], POOLED, generator=generator) / widths[-1] ** 0.5)
        self.requires_grad_(False)
        self.prefix_ids, self.suffix_ids = list(prefix), list(suffix)
        self.prefix = " ".join(map(str, prefix))
        self.suffix = " ".join(map(str, suffix))
        self.identity = EncoderIdentity(tuple(f"toy_{i}" for i in range(len(widths))), tuple(widths), POOLED,
                                        tuple(weights_fingerprint(t.token_embedding) for t in self.towers))

    def forward(self, contexts: Sequence[torch.Tensor]) -> EncodedPrompts:
        hidden, end_states = [], None
        for tower, context in zip(self.towers, contexts, strict=True):
            k, n, _ = context.shape
            head = torch.tensor([0, *self.prefix_ids])
            tail = torch.tensor([*self.suffix_ids, 1] + [2] * (LENGTH - len(head) - n - len(self.suffix_ids) - 1))
            embeds = torch.cat([tower.token_embedding[head].expand(k, -1, -1), context,
                                tower.token_embedding[tail].expand(k, -1, -1)], dim=1)
            states = tower(embeds)
            hidden.append(states)
            end_states = states[:, len(head) + n + len(self.suffix_ids)]
        return EncodedPrompts(torch.cat(hidden, dim=-1), end_states @ self.projection)


def toy_denoise_loss(seed: int = 1, images: int = 3):
    """A frozen "denoiser" that predicts a reference's latent (6 values) from the conditioning; the loss is the
    noise-prediction MSE (x − D(x, c)) / σ vs ε, which the conditioning lowers by moving towards the references."""
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(images, 6, generator=generator)
    readout = torch.randn(sum(WIDTHS) + POOLED, 6, generator=generator) / 6

    def loss(hidden: torch.Tensor, pooled: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        index = int(torch.randint(images, (1,), generator=gen))
        sigma = 0.5 + torch.rand((), generator=gen)
        eps = torch.randn(6, generator=gen)
        x = latents[index] + sigma * eps
        denoised = torch.cat([hidden.mean(1), pooled], dim=-1) @ readout
        predicted = (x - denoised) / sigma
        return (predicted - eps).square().mean()

    def expected(gaussian) -> float:
        """The squared error of the mean prompt's prediction against every reference (no noise): what training
        should lower."""
        denoised = torch.cat([gaussian.mean.mean(0), gaussian.pooled_mean]) @ readout
        return float((latents - denoised).square().mean())

    loss.expected = expected
    loss.floor = float(latents.var(0, unbiased=False).mean())  # no single prediction beats the references' spread
    return loss
