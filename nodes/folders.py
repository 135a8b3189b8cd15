"""The models/diffsensei folder: registration with folder_paths and the choices the loaders offer."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import folder_paths

from ..diffsensei_core.checkpoint import UNET_FILE_NAMES
from ..diffsensei_core.errors import WeightsError

FOLDER = "diffsensei"
ADAPTER_PREFIX = "diffsensei_adapter"


def register_folder(name: str, extensions: set[str] | None = None) -> None:
    """Add models/<name> to folder_paths (idempotent), keeping the paths and extensions ComfyUI or an
    extra_model_paths.yaml already gave; ``extensions`` are added to them (default: ComfyUI's weight extensions)."""
    default = os.path.join(folder_paths.models_dir, name)
    paths, known = folder_paths.folder_names_and_paths.get(name, ([], set()))
    if default not in paths:
        paths = [*paths, default]
    wanted = set(folder_paths.supported_pt_extensions) if extensions is None else set(extensions)
    folder_paths.folder_names_and_paths[name] = (paths, set(known) | wanted)


def register_model_folder() -> None:
    """Add models/diffsensei (see :func:`register_folder`)."""
    register_folder(FOLDER)


def model_choices() -> list[str]:
    """Released image_generator folders (relative to models/diffsensei) and converted adapter files."""
    register_model_folder()
    choices = set()
    for name in folder_paths.get_filename_list(FOLDER):
        path = PurePosixPath(name.replace("\\", "/"))
        if path.parent.name == "unet" and path.name in UNET_FILE_NAMES:
            choices.add(str(path.parent.parent))
        elif path.name.startswith(ADAPTER_PREFIX) and path.suffix == ".safetensors":
            choices.add(str(path))
    return sorted(choices)


def resolve(choice: str) -> Path:
    """The absolute path of a choice from :func:`model_choices`, or a WeightsError saying where we looked."""
    register_model_folder()
    roots = folder_paths.get_folder_paths(FOLDER)
    for root in roots:
        candidate = Path(root) / choice
        if candidate.exists():
            return candidate
    raise WeightsError(
        f"'{choice}' was not found in the diffsensei model folders {roots}. Put the released image_generator/ "
        "folder (or the converted diffsensei_adapter_*.safetensors) there and refresh the node list."
    )
