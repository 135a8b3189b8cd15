"""The pack's custom socket types and the values that travel on them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from comfy_api.v0_0_2 import io

Adapter = io.Custom("DIFFSENSEI_ADAPTER")
Encoders = io.Custom("DIFFSENSEI_ENCODERS")
Characters = io.Custom("DIFFSENSEI_CHARACTERS")
Layout = io.Custom("DIFFSENSEI_LAYOUT")
Page = io.Custom("DIFFSENSEI_PAGE")  # diffsensei_core.page.layout.PageLayout
PromptDistribution = io.Custom("DIFFSENSEI_PROMPT_DISTRIBUTION")  # diffsensei_core.distribution.PromptDistribution


@dataclass(frozen=True)
class EncodedCharacters:
    """DIFFSENSEI_CHARACTERS: features of n reference images, in box order, on the intermediate device.

    clip: (n, s, c_clip) CLIP penultimate hidden states (s = 257 for ViT-H/14 at 224 px);
    magi: (n, c_magi) Magi CLS features;
    adapted_tokens: None, or (1, k·q, c) character tokens for all k slots (no dummy tokens) that replace the
    resampler's in the conditional branch only — what the MLLM stage produces (model spec §6.4, step 8).
    """

    clip: torch.Tensor
    magi: torch.Tensor
    adapted_tokens: torch.Tensor | None = None

    @property
    def count(self) -> int:
        return self.clip.shape[0]
