"""Access to ../shared/golden: the official implementation's outputs on tiny random weights."""

from pathlib import Path

import torch

from tests.support.skips import skip_or_fail

GOLDEN_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
CASES = ("two_chars", "four_chars_wide", "no_chars")
RESAMPLER_DIM_HEAD = 16  # the golden resampler has 4 heads of 16 (README); not readable from shapes
TOKENS_ATOL = 5e-6
"""Resampler tokens vs the official ones: fp32 matmuls round differently per CPU kernel (2.5e-6 seen on an AVX2 EPYC,
exact on others); a wrong weight, scale or token order moves them by 1e-2 or more."""


def load_golden(case: str) -> dict[str, torch.Tensor]:
    path = GOLDEN_DIR / "golden.safetensors"
    if not path.is_file():
        skip_or_fail("golden", f"golden data not found at {path} (it ships in the project's shared/ folder)")
    from safetensors.torch import load_file

    return {key.split(".", 1)[1]: value for key, value in load_file(path).items() if key.startswith(case + ".")}


def golden_resampler_state_dict() -> dict[str, torch.Tensor]:
    path = GOLDEN_DIR / "image_generator" / "image_proj_model" / "pytorch_model.bin"
    if not path.is_file():
        skip_or_fail("golden", f"golden data not found at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)
