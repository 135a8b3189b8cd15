"""The patch objects Apply DiffSensei registers on a cloned MODEL.

* :class:`CharacterAttentionPatch` — one per attn2 site (an ``attn2`` replace patch): text attention
  (or the patch another pack already put there) plus ip_scale × masked attention over the characters.
* :class:`DialogPatch` — an ``input_block_patch`` that adds the dialog embedding right after conv_in
  (block ``("input", 0)``), conditional rows only.

Both pick each batch chunk's tokens and boxes from ``cond_or_uncond``, whatever its order and length.
They share the adapter's weights and the panel's caches across clones (``__deepcopy__`` returns self),
are never mutated after registration, and expose ``to()``/``models()`` so ComfyUI moves the adapter's
weights with the UNet.
"""

from __future__ import annotations

import comfy.ldm.modules.attention as comfy_attention
import torch

from ...diffsensei_core.model.attention import character_attention, project_character_tokens
from ...diffsensei_core.model.dialog import add_dialog_embedding
from ...diffsensei_core.model.panel_conditioning import COND, UNCOND, PanelConditioning
from .adapter import DiffSenseiAdapter

DIALOG_BLOCK = ("input", 0)


class SharedPatch:
    """Common plumbing: shared on copy, moved by the adapter's ModelPatcher, chained to a previous patch."""

    def __init__(self, adapter: DiffSenseiAdapter, panel: PanelConditioning, previous=None):
        self.adapter = adapter
        self.panel = panel
        self.previous = previous

    def to(self, device_or_dtype):
        # The adapter's weights move with its ModelPatcher (see models()). Caches are keyed by device and dtype;
        # on a move (e.g. the offload after sampling) the cached tensors left on other devices are dropped so they
        # do not hold GPU memory. A patch from another pack that we wrap gets the call it would have got itself.
        if isinstance(device_or_dtype, torch.device):
            self.panel.drop_caches_off(device_or_dtype)
            self._drop_caches_off(device_or_dtype)
        if self.previous is not None and hasattr(self.previous, "to"):
            self.previous = self.previous.to(device_or_dtype)
        return self

    def _drop_caches_off(self, device: torch.device) -> None:
        pass

    def models(self) -> list:
        extra = self.previous.models() if self.previous is not None and hasattr(self.previous, "models") else []
        return [self.adapter.patcher, *extra]

    def __deepcopy__(self, memo):
        return self


class CharacterAttentionPatch(SharedPatch):
    """``patch(q, k, v, extra_options) -> (b, n, h·d)`` for one attn2 site of the UNet."""

    def __init__(self, adapter, panel, *, site: int, ip_scale: float, previous=None):
        super().__init__(adapter, panel, previous)
        self.site = site
        self.ip_scale = float(ip_scale)
        self._projected: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._rows: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, q, k, v, extra_options):
        heads = extra_options["n_heads"]
        precision = extra_options.get("attn_precision")
        if self.previous is not None:
            text = self.previous(q, k, v, extra_options)
        else:
            text = comfy_attention.optimized_attention(q, k, v, heads, attn_precision=precision)
        if self.ip_scale == 0:
            return text
        cond_or_uncond = extra_options.get("cond_or_uncond") or [COND]
        grid_h, grid_w = extra_options["activations_shape"][-2:]
        rows = q.shape[0]
        char_k, char_v = self._character_keys_values(cond_or_uncond, rows, q.dtype, q.device)
        bias = self.panel.character_bias(cond_or_uncond, rows, grid_h, grid_w, dtype=q.dtype, device=q.device)

        def attention(q, k, v, heads, mask=None):
            return comfy_attention.optimized_attention_masked(q, k, v, heads, mask=mask, attn_precision=precision)

        return text + self.ip_scale * character_attention(q, char_k, char_v, bias, heads=heads, attention=attention)

    def _drop_caches_off(self, device: torch.device) -> None:
        for cache in (self._projected, self._rows):
            for key in [k for k, (keys, _) in cache.items() if keys.device.type != device.type]:
                del cache[key]

    def _character_keys_values(self, cond_or_uncond, rows: int, dtype, device):
        """(rows, m, h·d) keys and values; the projection of each branch's tokens is computed once per site, and the
        rows for a batch layout are assembled once."""
        layout_key = (tuple(cond_or_uncond), rows, dtype, device)
        if layout_key not in self._rows:
            self._rows[layout_key] = self._assemble(cond_or_uncond, rows, dtype, device)
        return self._rows[layout_key]

    def _assemble(self, cond_or_uncond, rows: int, dtype, device):
        per_branch = []
        for flag in (COND, UNCOND):
            key = (flag, dtype, device)
            if key not in self._projected:
                tokens = self.panel.tokens([flag], 1, dtype=dtype, device=device)
                weights_k = self.adapter.module.site_k[self.site].to(device=device, dtype=dtype)
                weights_v = self.adapter.module.site_v[self.site].to(device=device, dtype=dtype)
                self._projected[key] = project_character_tokens(tokens, weights_k, weights_v)
            per_branch.append(self._projected[key])
        chunks = len(cond_or_uncond)
        per_chunk = rows // chunks
        keys = torch.cat([per_branch[f][0].expand(per_chunk, -1, -1) for f in cond_or_uncond])
        values = torch.cat([per_branch[f][1].expand(per_chunk, -1, -1) for f in cond_or_uncond])
        return keys, values


class DialogPatch(SharedPatch):
    """``patch(h, transformer_options) -> h``; acts only after conv_in, on conditional rows with dialog boxes."""

    def __call__(self, h, transformer_options):
        if transformer_options.get("block") != DIALOG_BLOCK or not self.panel.has_dialogs:
            return h
        cond_or_uncond = transformer_options.get("cond_or_uncond") or [COND]
        rows, height, width = h.shape[0], h.shape[-2], h.shape[-1]
        region = self.panel.dialog_region(cond_or_uncond, rows, height, width, dtype=h.dtype, device=h.device)
        return add_dialog_embedding(h, self.adapter.module.dialog_embedding, region)
