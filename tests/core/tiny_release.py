"""Write a tiny DiffSensei model in the released ``image_generator/`` layout, with random weights.

The UNet has the demo/golden tiny model's key names and shapes (SDXL block layout, 70 ip sites, context
width 64, from ``headless/demo_weights.py``) with fresh random values; the resampler is a small random
:class:`Resampler` (dim_head 16); the Magi encoder is a tiny random ``ViTMAEModel``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from headless.demo_weights import DEMO_UNET_CONFIG, random_resampler, random_unet, save_weights, write_tiny_magi

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


def write_tiny_release(
    root: Path, *, unet_name: str = "pytorch_model.bin", with_config: bool = True, with_magi: bool = False,
    seed: int = 0,
) -> TinyRelease:
    """Write ``root/image_generator/{unet,image_proj_model[,magi_image_encoder]}`` and return the originals."""
    folder = root / "image_generator"
    unet = random_unet(seed, scaled=False)
    resampler = random_resampler(seed + 1)
    save_weights(unet, folder / "unet" / unet_name)
    if with_config:
        (folder / "unet" / "config.json").write_text(json.dumps(DEMO_UNET_CONFIG, indent=2))
    save_weights(resampler, folder / "image_proj_model" / "pytorch_model.bin")
    magi = write_tiny_magi(folder / "magi_image_encoder", seed + 2) if with_magi else None
    return TinyRelease(root, unet, resampler, magi)
