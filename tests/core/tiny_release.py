"""Write a tiny DiffSensei model in the released ``image_generator/`` layout, with random weights.

The UNet takes its key names and shapes from the golden tiny model (SDXL block layout, 70 ip sites,
context width 64) and fills them with fresh random values; the resampler is a small random
:class:`Resampler` (dim_head 16); the Magi encoder is a tiny random ``ViTMAEModel``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from diffsensei_core.resampler import Resampler

from .golden import GOLDEN_DIR

GOLDEN = GOLDEN_DIR / "image_generator"
DIM_HEAD = 16


@dataclass
class TinyRelease:
    """What was written: the root folder (the download root) and the original tensors."""

    root: Path
    unet: dict[str, torch.Tensor]  # including the ip keys and dialog_bbox_embedding, as written
    resampler: dict[str, torch.Tensor]
    magi: dict[str, torch.Tensor] | None

    @property
    def image_generator(self) -> Path:
        return self.root / "image_generator"


@functools.lru_cache(maxsize=1)
def golden_unet_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
    if not (GOLDEN / "unet" / "pytorch_model.bin").is_file():
        pytest.skip(f"golden tiny model not found at {GOLDEN} (it ships in the project's shared/ folder)")
    state_dict = torch.load(GOLDEN / "unet" / "pytorch_model.bin", map_location="cpu", weights_only=True, mmap=True)
    return tuple((key, tuple(tensor.shape)) for key, tensor in state_dict.items())


def golden_unet_config() -> dict:
    return json.loads((GOLDEN / "unet" / "config.json").read_text())


def random_unet(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) for key, shape in golden_unet_shapes()}


def random_resampler(seed: int = 1, output_dim: int = 64) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    model = Resampler(dim=32, depth=2, dim_head=DIM_HEAD, heads=2, num_queries=4, num_dummy_tokens=4,
                      clip_dim=24, magi_dim=16, output_dim=output_dim, ff_mult=2)
    return {key: torch.randn(t.shape, generator=generator) for key, t in model.state_dict().items()}


def write_tiny_magi(folder: Path, seed: int = 2) -> dict[str, torch.Tensor]:
    from transformers import ViTMAEConfig, ViTMAEModel

    torch.manual_seed(seed)
    config = ViTMAEConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          image_size=32, patch_size=16, mask_ratio=0.75)
    state_dict = {k: v.clone() for k, v in ViTMAEModel(config).state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(folder / "config.json"))
    torch.save(state_dict, folder / "pytorch_model.bin")
    return state_dict


def save_weights(state_dict: dict[str, torch.Tensor], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state_dict, str(path))
    else:
        torch.save(state_dict, path)


def write_tiny_release(
    root: Path, *, unet_name: str = "pytorch_model.bin", with_config: bool = True, with_magi: bool = False,
    seed: int = 0,
) -> TinyRelease:
    """Write ``root/image_generator/{unet,image_proj_model[,magi_image_encoder]}`` and return the originals."""
    folder = root / "image_generator"
    unet = random_unet(seed)
    resampler = random_resampler(seed + 1)
    save_weights(unet, folder / "unet" / unet_name)
    if with_config:
        (folder / "unet" / "config.json").write_text(json.dumps(golden_unet_config(), indent=2))
    save_weights(resampler, folder / "image_proj_model" / "pytorch_model.bin")
    magi = write_tiny_magi(folder / "magi_image_encoder", seed + 2) if with_magi else None
    return TinyRelease(root, unet, resampler, magi)
