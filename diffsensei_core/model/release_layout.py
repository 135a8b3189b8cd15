"""Where the released ``image_generator/`` keeps its files (model spec §1.1–1.2), as downloaded.

:func:`find_image_generator` accepts ``image_generator/`` itself or the download root above it and names every
file the loader will read; a missing file is reported with the folder's contents.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError

UNET_FILE_NAMES = (
    "pytorch_model.bin",  # current release
    "diffusion_pytorch_model.safetensors",  # renamed upload, later deleted
    "diffusion_pytorch_model.bin",
    "diffsensei_unet.safetensors",  # first upload (2024-12-03)
)
RESAMPLER_FILE_NAMES = ("pytorch_model.bin", "model.safetensors")
ENCODER_FILE_NAMES = ("pytorch_model.bin", "model.safetensors")


@dataclass(frozen=True)
class ReleasedLayout:
    """Paths of one ``image_generator/`` folder as downloaded (model spec §1.1–1.2)."""

    root: Path
    unet_weights: Path
    unet_config: Path | None
    image_proj_model: Path
    magi_dir: Path | None
    clip_dir: Path | None


def find_image_generator(path: str | os.PathLike) -> ReleasedLayout:
    """Locate the released files; ``path`` is ``image_generator/`` itself or the download root above it."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise WeightsError(
            f"DiffSensei folder not found: {path} does not exist or is not a folder. Expected the downloaded "
            "DiffSensei folder (containing image_generator/) or its image_generator/ subfolder."
        )
    candidates = [path, path / "image_generator"]
    root = next((c for c in candidates if (c / "unet").is_dir() or (c / "image_proj_model").is_dir()), None)
    if root is None:
        raise WeightsError(
            f"{path}: no DiffSensei image_generator folder here; looked for {path / 'unet'} and "
            f"{path / 'image_generator' / 'unet'}. Point the loader at the downloaded DiffSensei folder "
            "or at its image_generator/ subfolder."
        )
    unet = _first_file(root / "unet", UNET_FILE_NAMES, "UNet weights")
    proj = _first_file(root / "image_proj_model", RESAMPLER_FILE_NAMES, "character resampler weights")
    config = root / "unet" / "config.json"
    return ReleasedLayout(
        root=root,
        unet_weights=unet,
        unet_config=config if config.is_file() else None,
        image_proj_model=proj,
        magi_dir=encoder_dir(root / "magi_image_encoder"),
        clip_dir=encoder_dir(root / "clip_image_encoder"),
    )


def _first_file(folder: Path, names: Iterable[str], what: str) -> Path:
    names = tuple(names)
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise WeightsError(
        f"{what} not found in {folder}: looked for {', '.join(names)} and found none "
        f"(folder contents: {sorted(p.name for p in folder.iterdir())[:8] if folder.is_dir() else 'folder missing'}). "
        "Download the missing file from the DiffSensei release into that folder."
    )


def encoder_dir(folder: Path) -> Path | None:
    """``folder`` when it holds an encoder (config.json and a weights file), else None (the encoder is optional)."""
    has_weights = any((folder / name).is_file() for name in ENCODER_FILE_NAMES)
    return folder if has_weights and (folder / "config.json").is_file() else None
