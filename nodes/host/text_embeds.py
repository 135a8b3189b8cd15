"""ComfyUI CLIP → the core's PromptEncoder: soft contexts spliced into the token embeddings of ComfyUI's own text
transformers, with a differentiable forward.

Per encoder the sequence is ``[start, prefix…, context (n), suffix…, end, pad…]`` (77 positions); the pooled vector is
the end token's final state (projected when the model projects it). SDXL: CLIP-L ‖ CLIP-G hidden states (penultimate
layer, or CLIPSetLastLayer's choice), pooled from CLIP-G. SD1.x: CLIP-L alone.

ComfyUI's ``CLIPLayer`` adds its residuals in place, which autograd cannot differentiate through when the input
needs gradients, so the layers are run here one sub-module at a time with out-of-place adds — the same arithmetic
as ``comfy.clip_model`` (a host test checks equality with ``CLIP.encode_from_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import comfy.ops
import torch
from comfy.ldm.modules.attention import optimized_attention_for_device

from ...diffsensei_core.distribution import EncodedPrompts, EncoderIdentity, weights_fingerprint
from ...diffsensei_core.errors import DistributionError

LENGTH = 77
SUPPORTED = "SDXL (CLIP-L + OpenCLIP-G, e.g. from an SDXL checkpoint) and SD1.x (CLIP-L)"


@dataclass(frozen=True)
class Tower:
    """One ComfyUI text encoder (``SDClipModel``) with its tokenizer (``SDTokenizer``)."""

    name: str
    model: object
    tokenizer: object

    @property
    def text_model(self):
        return self.model.transformer.text_model

    @property
    def width(self) -> int:
        return self.text_model.embeddings.token_embedding.weight.shape[1]

    def layer(self, clip_layer_idx: int | None) -> tuple[str, int | None]:
        """("last" | "hidden", index) as ``CLIP.encode_from_tokens`` would set it, without touching the model."""
        if clip_layer_idx is not None:
            if abs(clip_layer_idx) > self.model.num_layers:
                return "last", None
            return "hidden", clip_layer_idx
        layer, index, _ = self.model.options_default
        return layer, index

    def ids(self, text: str) -> list[int]:
        """The text's BPE token ids without start/end (ComfyUI's weight syntax and embeddings are not parsed)."""
        if not text.strip():
            return []
        ids = self.tokenizer.tokenizer(text)["input_ids"]
        return [i for i in ids if i not in (self.tokenizer.start_token, self.tokenizer.end_token)]


def towers(clip, where: str) -> tuple[list[Tower], Tower]:
    """The encoders of a ComfyUI CLIP in concatenation order, and the one the pooled vector comes from."""
    model, tokenizer = clip.cond_stage_model, clip.tokenizer
    if hasattr(model, "clip_l") and hasattr(model, "clip_g") and hasattr(tokenizer, "clip_g"):
        found = [Tower("clip_l", model.clip_l, tokenizer.clip_l), Tower("clip_g", model.clip_g, tokenizer.clip_g)]
    elif getattr(model, "clip", None) == "clip_l" and hasattr(tokenizer, "clip_l"):
        found = [Tower("clip_l", model.clip_l, tokenizer.clip_l)]
    else:
        raise DistributionError(
            f"{where}: the connected CLIP is a {type(model).__name__}; prompt distributions support {SUPPORTED}. "
            "Connect the CLIP output of an SDXL or SD1.x checkpoint loader")
    for tower in found:
        if not hasattr(getattr(tower.model, "transformer", None), "text_model") or tower.model.layer == "all":
            raise DistributionError(
                f"{where}: the {tower.name} text encoder of this CLIP is not ComfyUI's CLIP text transformer "
                f"(got {type(getattr(tower.model, 'transformer', None)).__name__}); prompt distributions support "
                f"{SUPPORTED}")
    return found, found[-1]


class ComfyPromptEncoder:
    """``encoder(contexts)`` → EncodedPrompts hidden (K, 77, Σw), pooled (K, P), differentiable in the contexts.

    Load the CLIP's ModelPatcher (``comfy.model_management.load_models_gpu``) before calling.
    """

    def __init__(self, clip, *, prefix: str = "", suffix: str = "", tokens: int, where: str):
        self.towers, self.pooled_tower = towers(clip, where)
        self.prefix, self.suffix, self.tokens = prefix.strip(), suffix.strip(), tokens
        self.layer_idx = getattr(clip, "layer_idx", None)
        self.device = clip.patcher.load_device
        """Where the encoders run: the CLIP patcher's load device (with dynamic VRAM the weights themselves stay in
        RAM until each layer casts them, so a weight's device says nothing)."""
        self.where = where
        self._ids = []
        for tower in self.towers:
            prefix_ids, suffix_ids = tower.ids(self.prefix), tower.ids(self.suffix)
            used = 2 + len(prefix_ids) + tokens + len(suffix_ids)
            if used > LENGTH:
                raise DistributionError(
                    f"{where}: start + prefix ({len(prefix_ids)} tokens) + soft prompt ({tokens}) + suffix "
                    f"({len(suffix_ids)}) + end = {used} tokens, more than the {LENGTH} the {tower.name} encoder "
                    "takes; shorten the prefix/suffix or use fewer tokens per prompt")
            self._ids.append((prefix_ids, suffix_ids))
        projection = self.pooled_tower.model.transformer.text_projection
        pooled_width = projection.weight.shape[0] if self.pooled_tower.model.options_default[2] \
            else self.pooled_tower.width
        self.identity = EncoderIdentity(
            tuple(t.name for t in self.towers), tuple(t.width for t in self.towers), int(pooled_width),
            tuple(weights_fingerprint(t.text_model.embeddings.token_embedding.weight) for t in self.towers))

    def __call__(self, contexts: Sequence[torch.Tensor]) -> EncodedPrompts:
        if len(contexts) != len(self.towers):
            raise DistributionError(f"{self.where}: {len(contexts)} context tensors for {len(self.towers)} text "
                                    f"encoders ({', '.join(self.identity.names)})")
        hidden, pooled = [], None
        for tower, (prefix_ids, suffix_ids), context in zip(self.towers, self._ids, contexts, strict=True):
            states, end_state = self._encode(tower, prefix_ids, suffix_ids, context)
            hidden.append(states)
            if tower is self.pooled_tower:
                pooled = end_state
        return EncodedPrompts(torch.cat(hidden, dim=-1), pooled)

    def _encode(self, tower: Tower, prefix_ids: list[int], suffix_ids: list[int], context: torch.Tensor):
        """hidden (K, 77, w), pooled (K, P) of one encoder, following ``comfy.clip_model.CLIPTextModel_``."""
        text_model, special = tower.text_model, tower.tokenizer
        count, n = context.shape[0], context.shape[1]
        device = self.device
        head = [special.start_token, *prefix_ids]
        tail = [*suffix_ids, special.end_token]
        tail += [special.pad_token] * (LENGTH - len(head) - n - len(tail))
        embedding = tower.model.transformer.get_input_embeddings()
        head_embeds = embedding(torch.tensor([head], device=device), out_dtype=torch.float32)
        tail_embeds = embedding(torch.tensor([tail], device=device), out_dtype=torch.float32)
        x = torch.cat([head_embeds.expand(count, -1, -1), context.to(device, torch.float32),
                       tail_embeds.expand(count, -1, -1)], dim=1)
        x = x + comfy.ops.cast_to(text_model.embeddings.position_embedding.weight, dtype=torch.float32, device=device)
        num_tokens = len(head) + n + len(suffix_ids) + 1  # up to and including the end token
        mask = torch.full((LENGTH, LENGTH), -torch.finfo(x.dtype).max, dtype=x.dtype, device=device).triu_(1)
        if tower.model.enable_attention_masks:
            mask[:, num_tokens:] = -torch.finfo(x.dtype).max
        attention = optimized_attention_for_device(device, mask=True, small_input=True)
        layer, index = tower.layer(self.layer_idx)
        layers = text_model.encoder.layers
        if index is not None and index < 0:
            index += len(layers)
        intermediate = None
        for i, block in enumerate(layers):
            x = x + block.self_attn(block.layer_norm1(x), mask, attention)
            x = x + block.mlp(block.layer_norm2(x))
            if i == index:
                intermediate = x
        final = text_model.final_layer_norm(x)
        if layer == "last":
            states = final
        else:
            states = text_model.final_layer_norm(intermediate) if tower.model.layer_norm_hidden_state else intermediate
        if tower.model.zero_out_masked:
            states = states * (torch.arange(LENGTH, device=device) < num_tokens).to(states.dtype)[None, :, None]
        end_state = final[:, num_tokens - 1]
        if tower.model.options_default[2]:  # return_projected_pooled
            end_state = tower.model.transformer.text_projection(end_state)
        return states.float(), end_state.float()
