"""Reading one weights file safely: a flat ``{name: tensor}`` dict, never running code from the file.

Every weights file the pack reads (UNet, resampler, encoders, MLLM shards, converted files) goes through
:func:`load_state_dict_file`; a pickle that refers to any class or function is refused, not executed.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import WeightsError


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a flat ``{name: tensor}`` file without ever running code from it.

    ``.safetensors`` is read with safetensors; ``.bin/.pt/.pth`` with ``torch.load(weights_only=True)``
    (memory-mapped when the file is in torch's zip format, so an 11.6 GB UNet costs no RAM up front).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file not found: expected {path.name} in {path.parent}, but it does not exist. "
            "Download it again or point the loader at the folder that holds it."
        )
    if path.stat().st_size == 0:
        raise _corrupted(path, "the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        state_dict = _load_safetensors(path)
    elif suffix in (".bin", ".pt", ".pth", ".ckpt"):
        state_dict = _load_torch(path)
    else:
        raise WeightsError(
            f"{path}: unknown weights format {suffix!r}; expected .safetensors, .bin, .pt or .pth. "
            "Use the file exactly as released, or convert it with `python -m diffsensei_core convert`."
        )
    _check_tensor_dict(state_dict, path)
    return state_dict


def read_json_object(path: Path, *, what: str, fix: str) -> dict:
    """The JSON object in ``path`` (a config beside some weights); a WeightsError naming ``what`` it should be and
    ending with ``fix`` when the file cannot be read, is not JSON or holds something else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable JSON file ({error}); expected {what}; {fix}") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected {what} (a JSON object), got {type(data).__name__}; {fix}")
    return data


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        raise _corrupted(path, f"safetensors could not read it ({error})") from None


def _load_torch(path: Path) -> dict:
    is_zip = zipfile.is_zipfile(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, **({"mmap": True} if is_zip else {}))
    except pickle.UnpicklingError as error:
        if "global" in str(error).lower():  # weights_only met a class/function reference: never executed
            raise WeightsError(
                f"{path}: the file contains non-tensor objects (Python classes or functions), so it was refused "
                "for safety and nothing in it was run. Expected a plain {name: tensor} state dict. Re-download "
                "the file from the official release, or convert a trusted copy to .safetensors."
            ) from None
        raise _corrupted(path, "it is not a readable torch file") from None
    except (EOFError, RuntimeError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise _corrupted(path, f"torch.load failed: {str(error).splitlines()[0][:200]}") from None


def _corrupted(path: Path, detail: str) -> WeightsError:
    return WeightsError(
        f"{path}: the file is truncated or corrupted ({detail}; size {path.stat().st_size} bytes). "
        "Expected a complete weights file; re-download it."
    )


def _check_tensor_dict(state_dict: object, path: Path) -> None:
    if not isinstance(state_dict, Mapping):
        raise WeightsError(
            f"{path}: expected a flat {{name: tensor}} state dict, got a {type(state_dict).__name__}. "
            "Use the file exactly as released, or re-download it."
        )
    bad = [
        f"{k!r}: {type(v).__name__}" for k, v in state_dict.items() if not (isinstance(k, str) and torch.is_tensor(v))
    ]
    if bad:
        raise WeightsError(
            f"{path}: expected only tensors keyed by name, but {len(bad)} entries are not ({bad[:3]}). "
            "This is not a plain state dict; re-download the file from the official release."
        )

