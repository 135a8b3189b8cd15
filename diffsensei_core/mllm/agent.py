"""The MLLM "agent": the two Qwen resamplers around the LLM, from ``mllm/agent/pytorch_model.bin``.

The released file holds exactly ``input_resampler.*`` and ``output_resampler.*`` (11 tensors each, model spec §6.2,
``keys/agent_keys.txt``). The reference loads it with ``strict=False``, which would silently keep random
resamplers on a key mismatch; here every key must be present with the right shape, nothing may be left over.

Shape legend: c character-token width (2048 for SDXL), d LLM width (5120 for the released LLaMA-2-13B),
n image tokens (64).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ..model.checkpoint import load_state_dict_file
from .qwen_resampler import RELEASED_HEADS, QwenResampler

AGENT_FILE_NAMES = ("pytorch_model.bin", "model.safetensors")
PREFIXES = ("input_resampler.", "output_resampler.")


class AgentResamplers(nn.Module):
    """input_resampler: (b, n, c) → (b, n, d); output_resampler: (b, n, d) → (b, n, c)."""

    def __init__(self, input_resampler: QwenResampler, output_resampler: QwenResampler):
        super().__init__()
        self.input_resampler = input_resampler
        self.output_resampler = output_resampler

    @property
    def num_image_tokens(self) -> int:
        return self.output_resampler.num_queries

    @property
    def token_dim(self) -> int:
        """c: width of the character tokens read and written."""
        return self.input_resampler.kv_dim

    @property
    def llm_dim(self) -> int:
        """d: width of the LLM embeddings written and hidden states read."""
        return self.input_resampler.embed_dim

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, heads: int = RELEASED_HEADS,
                        source: str = "mllm/agent") -> AgentResamplers:
        stray = sorted(k for k in state_dict if not k.startswith(PREFIXES))
        if stray:
            raise WeightsError(
                f"{source}: {len(stray)} keys belong to neither resampler, e.g. {stray[:3]}; expected only "
                f"'input_resampler.*' and 'output_resampler.*' (22 tensors). Use mllm/agent/pytorch_model.bin exactly "
                "as released (not a full SEED-X checkpoint, not a re-saved module with another prefix)."
            )
        parts = []
        for prefix in PREFIXES:
            sub = {k.removeprefix(prefix): v for k, v in state_dict.items() if k.startswith(prefix)}
            if not sub:
                raise WeightsError(
                    f"{source}: no '{prefix}*' keys; expected both resamplers (got {len(state_dict)} keys). "
                    "Re-download mllm/agent/pytorch_model.bin."
                )
            parts.append(QwenResampler.from_state_dict(sub, heads=heads, source=f"{source} ({prefix}*)"))
        agent = cls(*parts)
        inp, out = agent.input_resampler, agent.output_resampler
        if (inp.kv_dim, inp.embed_dim) != (out.embed_dim, out.kv_dim) or inp.num_queries != out.num_queries:
            raise WeightsError(
                f"{source}: the resamplers do not fit together: input maps {inp.kv_dim}→{inp.embed_dim} with "
                f"{inp.num_queries} queries, output maps {out.kv_dim}→{out.embed_dim} with {out.num_queries}; expected "
                "mirror images (2048→5120 and 5120→2048, 64 queries each). The file mixes models; re-download it."
            )
        return agent.eval().requires_grad_(False)


def find_agent_file(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    for name in AGENT_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p.name for p in folder.iterdir())[:8] if folder.is_dir() else "the folder does not exist"
    raise WeightsError(
        f"MLLM agent weights missing: expected {folder / AGENT_FILE_NAMES[0]} (the two resamplers, 574 MB), found "
        f"{found}. Download mllm/agent/pytorch_model.bin from the DiffSensei release into that folder."
    )


def load_agent(folder: str | os.PathLike, *, heads: int | None = None) -> AgentResamplers:
    """Load ``agent/`` strictly, on the CPU in the file's dtype.

    The head count cannot be read from the weights; it is 32 in the release. An optional ``agent/config.json``
    ``{"num_heads": N}`` overrides it (for small test or demo models), as does ``heads``.
    """
    path = find_agent_file(folder)
    if heads is None:
        heads = RELEASED_HEADS
        config_path = Path(folder) / "config.json"
        if config_path.is_file():
            try:
                heads = int(json.loads(config_path.read_text(encoding="utf-8"))["num_heads"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise WeightsError(
                    f"{config_path}: expected a JSON object with an integer 'num_heads' ({error!r}). "
                    "Fix or delete the file (the release has none; 32 heads are assumed)."
                ) from None
    return AgentResamplers.from_state_dict(load_state_dict_file(path), heads=heads, source=str(path))
