"""The models/diffsensei folder: registration with folder_paths and the choices the loaders offer."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import folder_paths

from ...diffsensei_core.errors import WeightsError
from ...diffsensei_core.model.checkpoint import UNET_FILE_NAMES

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


def find(choice: str, folder: str = FOLDER, *, directory: bool = False) -> Path | None:
    """The first existing ``<root>/<choice>`` over the roots of ``folder`` (models/diffsensei is registered first),
    or None. ``directory``: only a folder counts (a file of that name in an earlier root is passed over)."""
    if folder == FOLDER:
        register_model_folder()
    for root in folder_paths.get_folder_paths(folder):
        candidate = Path(root) / choice
        if candidate.is_dir() if directory else candidate.exists():
            return candidate
    return None


def user_files(subfolder: str, pattern: str, folder: str = FOLDER) -> list[str]:
    """``<subfolder>/<name>`` of every file matching ``pattern`` in ``<root>/<subfolder>`` over the roots of
    ``folder``, sorted, each name once (the first root wins, as in :func:`find`)."""
    if folder == FOLDER:
        register_model_folder()
    names: list[str] = []
    for root in folder_paths.get_folder_paths(folder):
        path = Path(root) / subfolder
        if path.is_dir():
            names += sorted(f"{subfolder}/{p.name}" for p in path.glob(pattern) if p.is_file())
    return sorted(set(names))


def resolve(choice: str) -> Path:
    """The absolute path of a choice from :func:`model_choices`, or a WeightsError saying where we looked."""
    path = find(choice)
    if path is not None:
        return path
    raise WeightsError(
        f"'{choice}' was not found in the diffsensei model folders {folder_paths.get_folder_paths(FOLDER)}. Put the "
        "released image_generator/ folder (or the converted diffsensei_adapter_*.safetensors) there and refresh the "
        "node list."
    )
