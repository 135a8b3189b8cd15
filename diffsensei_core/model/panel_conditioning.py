"""Per-panel conditioning for both classifier-free-guidance branches, with masks built once per grid.

The host runs the UNet on batches made of equal chunks, each either conditional (0) or
unconditional (1), in any order and count (``cond_or_uncond``, e.g. [1, 0], [0], [1, 0, 0]).
Following the released pipeline (§2.4–2.6):

* conditional rows: the characters' tokens (padded slots = resampler of zero features), the layout's
  character boxes (padded slots = zero boxes), the dialog embedding inside the dialog boxes;
* unconditional rows: resampler-of-zeros tokens in every slot, all-zero boxes, no dialog embedding.

Shape legend: b batch rows, m = num_dummy + k·q character tokens, c token width, n = h·w grid tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputShapeError
from .masks import character_attention_bias, dialog_region
from .panel_layout import PanelLayout
from .resampler import Resampler

COND = 0
UNCOND = 1


class PanelConditioning:
    """Tokens, boxes and cached masks of one panel. Immutable once built (caches aside)."""

    def __init__(
        self,
        *,
        cond_tokens: torch.Tensor,
        uncond_tokens: torch.Tensor,
        layout: PanelLayout,
        num_slots: int,
        num_dummy_tokens: int = 16,
        tokens_per_character: int = 16,
    ):
        expected = num_dummy_tokens + num_slots * tokens_per_character
        for name, tokens in (("conditional", cond_tokens), ("unconditional", uncond_tokens)):
            if tokens.ndim != 3 or tokens.shape[:2] != (1, expected):
                raise InputShapeError(
                    f"{name} character tokens are {tuple(tokens.shape)}; expected (1, {expected}, width) for "
                    f"{num_slots} slots of {tokens_per_character} tokens plus {num_dummy_tokens} dummy tokens."
                )
        if len(layout.characters) > num_slots:
            raise InputShapeError(f"{len(layout.characters)} character boxes but only {num_slots} token slots.")
        self.cond_tokens = cond_tokens
        self.uncond_tokens = uncond_tokens
        self.layout = layout
        self.num_slots = num_slots
        self.num_dummy_tokens = num_dummy_tokens
        self.tokens_per_character = tokens_per_character
        self._boxes = (layout.character_boxes(num_slots), torch.zeros(num_slots, 4))
        self._cache: dict[tuple, torch.Tensor] = {}

    @classmethod
    def from_features(
        cls,
        resampler: Resampler,
        clip: torch.Tensor,
        magi: torch.Tensor,
        layout: PanelLayout,
        *,
        uncond_tokens: torch.Tensor | None = None,
    ) -> PanelConditioning:
        """clip: (1, k, s, c_clip), magi: (1, k, c_magi) with padded slots already zeroed."""
        num_slots = clip.shape[1]
        with torch.no_grad():
            cond = resampler(clip, magi)
            if uncond_tokens is None:
                uncond_tokens = resampler.unconditional_tokens(num_slots, clip_tokens=clip.shape[2])
        return cls(
            cond_tokens=cond,
            uncond_tokens=uncond_tokens,
            layout=layout,
            num_slots=num_slots,
            num_dummy_tokens=resampler.num_dummy_tokens,
            tokens_per_character=resampler.num_queries,
        )

    def tokens(self, cond_or_uncond: Sequence[int], batch: int, *, dtype=None, device=None) -> torch.Tensor:
        """(b, m, c): each row's character tokens."""
        per_branch = (self.cond_tokens, self.uncond_tokens)
        return self._rows(cond_or_uncond, batch, lambda flag: self._cached(
            ("tokens", flag, dtype, device), lambda: per_branch[flag].to(device=device, dtype=dtype)))

    def character_bias(
        self, cond_or_uncond: Sequence[int], batch: int, grid_h: int, grid_w: int, *, dtype, device
    ) -> torch.Tensor:
        """(b, grid_h·grid_w, m) additive bias: each row's boxes on the given token grid.

        Each branch's mask is built once per grid; the rows assembled for a batch layout are cached too, so the
        attention calls after the first one of a step allocate nothing.
        """
        def build(flag: int) -> torch.Tensor:
            return character_attention_bias(
                self._boxes[flag], grid_h, grid_w, num_dummy_tokens=self.num_dummy_tokens,
                tokens_per_character=self.tokens_per_character, dtype=dtype, device=device,
            ).unsqueeze(0)
        return self._cached(
            ("bias rows", tuple(cond_or_uncond), batch, grid_h, grid_w, dtype, device),
            lambda: self._rows(cond_or_uncond, batch, lambda flag: self._cached(
                ("bias", flag, grid_h, grid_w, dtype, device), lambda: build(flag))))

    def dialog_region(
        self, cond_or_uncond: Sequence[int], batch: int, height: int, width: int, *, dtype, device
    ) -> torch.Tensor:
        """(b, 1, height, width) 0/1 in ``dtype``: the dialog boxes for conditional rows, zeros otherwise."""
        def build(flag: int) -> torch.Tensor:
            if flag == UNCOND or not self.layout.dialogs:
                region = torch.zeros(height, width, dtype=torch.bool, device=device)
            else:
                region = dialog_region(self.layout.dialog_boxes().to(device), height, width, dtype=dtype)
            return region.to(dtype).view(1, 1, height, width)
        return self._rows(cond_or_uncond, batch, lambda flag: self._cached(
            ("dialog", flag, height, width, dtype, device), lambda: build(flag)))

    @property
    def has_dialogs(self) -> bool:
        return bool(self.layout.dialogs)

    def clear_cache(self) -> None:
        self._cache.clear()

    def drop_caches_off(self, device: torch.device) -> None:
        """Forget cached tensors that live on another kind of device than ``device`` (they are rebuilt on demand)."""
        for key in [k for k, v in self._cache.items() if v.device.type != torch.device(device).type]:
            del self._cache[key]

    def _cached(self, key: tuple, build) -> torch.Tensor:
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = build()
        return value

    @staticmethod
    def _rows(cond_or_uncond: Sequence[int], batch: int, per_flag) -> torch.Tensor:
        chunks = len(cond_or_uncond)
        if chunks == 0 or batch % chunks:
            raise InputShapeError(
                f"a batch of {batch} rows cannot be split into {chunks} equal cond/uncond chunks "
                f"({list(cond_or_uncond)}); the host passed an unexpected batch layout."
            )
        rows = batch // chunks
        parts = []
        for flag in cond_or_uncond:
            if flag not in (COND, UNCOND):
                raise InputShapeError(f"cond_or_uncond entries must be 0 or 1; got {list(cond_or_uncond)}.")
            part = per_flag(flag)
            parts.append(part.expand(rows, *part.shape[1:]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
