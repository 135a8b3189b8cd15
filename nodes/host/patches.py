"""The patch objects Apply DiffSensei registers on a cloned MODEL.

* :class:`CharacterAttentionPatch` — one per attn2 site (an ``attn2`` replace patch): the core's one formula,
  ``diffsensei_core.model.attention.masked_character_attention``, with the site's previous patch (another pack's) or
  ComfyUI's attention kernel as the text part.
* :class:`DialogPatch` — an ``input_block_patch`` that adds the dialog embedding right after conv_in
  (block ``("input", 0)``), conditional rows only.

Both pick each batch chunk's tokens and boxes from ``cond_or_uncond``, whatever its order and length, and refuse a
call without it (the unconditional rows would otherwise get the characters). They are frozen once built: ``to()``
returns the same object, or a new one when the patch they wrap moved to a new object. What they cache (projected
keys and values here, masks in the panel) lives in memo objects shared across clones (``__deepcopy__`` returns
self) and is emptied of other devices' tensors when ComfyUI moves the model. ``models()`` hands the adapter's
ModelPatcher to ComfyUI's memory manager, which moves its weights with the UNet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import comfy.ldm.modules.attention as comfy_attention
import torch

from ...diffsensei_core.errors import InputShapeError
from ...diffsensei_core.model.attention import masked_character_attention, project_character_tokens
from ...diffsensei_core.model.dialog import add_dialog_embedding
from ...diffsensei_core.model.masks import site_token_grid
from ...diffsensei_core.model.panel_conditioning import COND, UNCOND, PanelConditioning
from .adapter import DiffSenseiAdapter

DIALOG_BLOCK = ("input", 0)


def batch_layout(options: dict, where: str) -> Sequence[int]:
    """The host's ``cond_or_uncond`` (which chunk of the batch is which branch), or the pack's error."""
    chunks = options.get("cond_or_uncond")
    if not chunks:
        raise InputShapeError(
            f"DiffSensei: Apply, {where}: the sampler did not say which batch rows are conditional "
            "(transformer_options['cond_or_uncond'] is missing); expected ComfyUI's sampling path, which always sets "
            "it. Sample with a stock ComfyUI sampler node, or report the sampler that calls the UNet without it.")
    return chunks


class Memo:
    """Tensors derived from a patch's fixed inputs, built on first use per (key, dtype, device) and kept.

    The only mutable part of a patch: filling it never changes a result, and ``release_off`` frees the tensors on
    other devices when ComfyUI moves the model (e.g. the offload after sampling).
    """

    def __init__(self):
        self._items: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def get(self, key: tuple, build) -> tuple[torch.Tensor, ...]:
        if key not in self._items:
            self._items[key] = build()
        return self._items[key]

    def release_off(self, device: torch.device) -> None:
        for key in [k for k, tensors in self._items.items() if tensors[0].device.type != device.type]:
            del self._items[key]


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class SharedPatch:
    """Common plumbing: shared on copy, moved by the adapter's ModelPatcher, chained to a previous patch."""

    adapter: DiffSenseiAdapter
    panel: PanelConditioning
    previous: object = None
    memo: Memo = dataclasses.field(default_factory=Memo)

    def to(self, device_or_dtype):
        if isinstance(device_or_dtype, torch.device):
            self.panel.drop_caches_off(device_or_dtype)
            self.memo.release_off(device_or_dtype)
        moved = self.previous.to(device_or_dtype) if hasattr(self.previous, "to") else self.previous
        return self if moved is self.previous else dataclasses.replace(self, previous=moved)

    def models(self) -> list:
        extra = self.previous.models() if hasattr(self.previous, "models") else []
        return [self.adapter.patcher, *extra]

    def __deepcopy__(self, memo):
        return self


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class CharacterAttentionPatch(SharedPatch):
    """``patch(q, k, v, extra_options) -> (b, n, h·d)`` for one attn2 site of the UNet.

    ``token_grid``: "true" builds the masks on the site's real token grid, "reference" on the official code's guess
    (see ``masks.site_token_grid``).
    """

    site: int
    ip_scale: float
    token_grid: str = "true"

    def __call__(self, q, k, v, extra_options):
        precision = extra_options.get("attn_precision")

        def text_attention(q, k, v, heads):
            if self.previous is not None:
                return self.previous(q, k, v, extra_options)
            return comfy_attention.optimized_attention(q, k, v, heads, attn_precision=precision,
                                                       transformer_options=extra_options)

        def attention(q, k, v, heads, mask=None):
            return comfy_attention.optimized_attention_masked(q, k, v, heads, mask=mask, attn_precision=precision,
                                                              transformer_options=extra_options)

        return masked_character_attention(q, k, v, lambda: self._characters(q, extra_options),
                                          heads=extra_options["n_heads"], ip_scale=self.ip_scale,
                                          attention=attention, text_attention=text_attention)

    def _characters(self, q: torch.Tensor, options: dict):
        """(keys, values, bias) for the rows of this call: (b, m, h·d), (b, m, h·d), (b, n, m)."""
        chunks = batch_layout(options, f"cross-attention site {self.site}")
        grid_h, grid_w = options["activations_shape"][-2:]
        latent_h, latent_w = options.get("original_shape", options["activations_shape"])[-2:]
        grid = site_token_grid(self.token_grid, grid_h, grid_w, latent_h, latent_w)
        rows = q.shape[0]
        char_k, char_v = self.memo.get(("rows", tuple(chunks), rows, q.dtype, q.device),
                                       lambda: self._assemble(chunks, rows, q.dtype, q.device))
        bias = self.panel.character_bias(chunks, rows, *grid, dtype=q.dtype, device=q.device)
        return char_k, char_v, bias

    def _assemble(self, chunks: Sequence[int], rows: int, dtype, device):
        """Each branch's tokens projected once per site, then expanded to the rows of a batch layout."""
        per_branch = [self._project(flag, dtype, device) for flag in (COND, UNCOND)]
        per_chunk = rows // len(chunks)
        keys = torch.cat([per_branch[f][0].expand(per_chunk, -1, -1) for f in chunks])
        values = torch.cat([per_branch[f][1].expand(per_chunk, -1, -1) for f in chunks])
        return keys, values

    def _project(self, flag: int, dtype, device):
        """One branch's character tokens through this site's to_k_ip / to_v_ip: (1, m, h·d) each, built once."""
        def build():
            tokens = self.panel.tokens([flag], 1, dtype=dtype, device=device)
            weights_k = self.adapter.module.site_k[self.site].to(device=device, dtype=dtype)
            weights_v = self.adapter.module.site_v[self.site].to(device=device, dtype=dtype)
            return project_character_tokens(tokens, weights_k, weights_v)

        return self.memo.get(("projected", flag, dtype, device), build)


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class DialogPatch(SharedPatch):
    """``patch(h, transformer_options) -> h``; acts only after conv_in, on conditional rows with dialog boxes."""

    def __call__(self, h, transformer_options):
        if transformer_options.get("block") != DIALOG_BLOCK or not self.panel.has_dialogs:
            return h
        chunks = batch_layout(transformer_options, "dialog embedding")
        rows, height, width = h.shape[0], h.shape[-2], h.shape[-1]
        region = self.panel.dialog_region(chunks, rows, height, width, dtype=h.dtype, device=h.device)
        return add_dialog_embedding(h, self.adapter.module.dialog_embedding, region)
