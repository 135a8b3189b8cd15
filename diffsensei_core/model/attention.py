"""DiffSensei's masked character cross-attention as a pure function (model spec §4.2).

Inside every cross-attention site the text part is computed as usual; a second attention over the
character tokens, with the site's own ``to_k_ip``/``to_v_ip`` and the layout's additive bias, is added
with weight ``ip_scale`` before the output projection.

Shape legend: b batch rows, n image tokens (grid h·w), t text tokens, m character tokens
(num_dummy + k·q), c context width, h·d attention width (heads × head dim).
The attention kernel is injected: any ``attention(q, k, v, heads, mask=None)`` taking and returning
(b, n, h·d), e.g. ComfyUI's ``optimized_attention``; :func:`sdpa_attention` is the plain default.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange

from ..errors import InputShapeError

AttentionFn = Callable[..., torch.Tensor]


def sdpa_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Scaled dot-product attention. q: (b, n, h·d), k/v: (b, m, h·d), mask: additive (b, n, m) or (b, heads, n, m)."""
    q, k, v = (rearrange(t, "b s (h d) -> b h s d", h=heads) for t in (q, k, v))
    if mask is not None and mask.ndim == 3:
        mask = mask.unsqueeze(1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return rearrange(out, "b h s d -> b s (h d)")


def project_character_tokens(
    tokens: torch.Tensor, to_k_ip: torch.Tensor, to_v_ip: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens: (b, m, c), to_k_ip/to_v_ip: (h·d, c) weights (no bias) → keys and values (b, m, h·d)."""
    if tokens.shape[-1] != to_k_ip.shape[1]:
        raise InputShapeError(
            f"character tokens are {tokens.shape[-1]} wide but this site's to_k_ip expects {to_k_ip.shape[1]}; "
            "the adapter and the character tokens come from different models."
        )
    return F.linear(tokens, to_k_ip), F.linear(tokens, to_v_ip)


def character_attention(
    q: torch.Tensor,
    char_k: torch.Tensor,
    char_v: torch.Tensor,
    bias: torch.Tensor,
    *,
    heads: int,
    attention: AttentionFn = sdpa_attention,
) -> torch.Tensor:
    """The masked attention over the character tokens alone (without ip_scale).

    q: (b, n, h·d); char_k/char_v: (b, m, h·d) from :func:`project_character_tokens`; bias: (b, n, m)
    additive, from ``masks.character_attention_bias``. Returns (b, n, h·d).
    """
    if bias.shape != (q.shape[0], q.shape[1], char_k.shape[1]):
        raise InputShapeError(
            f"character attention bias is {tuple(bias.shape)} but the query has {q.shape[1]} tokens in "
            f"{q.shape[0]} rows and there are {char_k.shape[1]} character tokens; expected "
            f"{(q.shape[0], q.shape[1], char_k.shape[1])}. Build the bias for this site's token grid."
        )
    return attention(q, char_k, char_v, heads, mask=bias.to(q.dtype))


CharacterKV = Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
"""Zero-argument callable → (char_k, char_v, bias) for :func:`character_attention`; called only when needed."""


def masked_character_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    characters: CharacterKV,
    *,
    heads: int,
    ip_scale: float,
    attention: AttentionFn = sdpa_attention,
    text_attention: AttentionFn | None = None,
) -> torch.Tensor:
    """DiffSensei's cross-attention: text attention plus ``ip_scale`` × masked character attention (§4.2).

    The one place this formula lives; ComfyUI's attn2 patch calls it too. q: (b, n, h·d) from the site's to_q;
    k/v: (b, t, h·d) text keys/values from to_k/to_v; ``characters()`` gives the character keys, values and bias as
    in :func:`character_attention` and is not called when ``ip_scale == 0``. ``text_attention(q, k, v, heads)``
    computes the text part (default: ``attention`` without a mask; in ComfyUI: the kernel, or the patch another pack
    put at this site). Returns (b, n, h·d); ``ip_scale == 0`` returns the text attention exactly.
    """
    text = (text_attention or attention)(q, k, v, heads)
    if ip_scale == 0:
        return text
    char_k, char_v, bias = characters()
    return text + ip_scale * character_attention(q, char_k, char_v, bias, heads=heads, attention=attention)
