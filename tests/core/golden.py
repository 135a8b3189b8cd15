"""Access to ../shared/golden: the official implementation's outputs on tiny random weights."""

from pathlib import Path

import pytest
import torch

GOLDEN_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
CASES = ("two_chars", "four_chars_wide", "no_chars")
RESAMPLER_DIM_HEAD = 16  # the golden resampler has 4 heads of 16 (README); not readable from shapes


def load_golden(case: str) -> dict[str, torch.Tensor]:
    path = GOLDEN_DIR / "golden.safetensors"
    if not path.is_file():
        pytest.skip(f"golden data not found at {path} (it ships in the project's shared/ folder)")
    from safetensors.torch import load_file

    return {key.split(".", 1)[1]: value for key, value in load_file(path).items() if key.startswith(case + ".")}


def golden_resampler_state_dict() -> dict[str, torch.Tensor]:
    path = GOLDEN_DIR / "image_generator" / "image_proj_model" / "pytorch_model.bin"
    if not path.is_file():
        pytest.skip(f"golden data not found at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)
