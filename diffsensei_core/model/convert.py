"""Convert the released ``image_generator/`` to two compact safetensors files.

One plain diffusers SDXL UNet (ComfyUI's stock "Load Diffusion Model" node reads it) and one small DiffSensei
adapter (ip weights, dialog embedding, resampler; format and version in its metadata). Tensors are cast and
written one at a time, so converting the 11.6 GB fp32 release never holds a second full copy in memory.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch

from ..errors import WeightsError
from .checkpoint import DTYPE_NAMES, load_image_generator

log = logging.getLogger("diffsensei")

_SAFETENSORS_DTYPES = {
    torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def write_safetensors_streaming(
    path: Path, items: Iterable[tuple[str, torch.Tensor]], *, dtype: torch.dtype | None, metadata: dict[str, str]
) -> None:
    """Write a safetensors file one tensor at a time (peak memory: one cast tensor).

    ``items`` is iterated twice (header, then data); floating tensors are cast to ``dtype`` when given.
    The file appears atomically: it is written under a temporary name and renamed at the end.
    """
    items = list(items)

    def out_dtype(tensor: torch.Tensor) -> torch.dtype:
        return dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype

    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, tensor in items:
        size = tensor.numel() * out_dtype(tensor).itemsize
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[out_dtype(tensor)],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(struct.pack("<Q", len(blob)))
            out.write(blob)
            for _name, tensor in items:
                data = tensor.detach().to("cpu", out_dtype(tensor)).contiguous().reshape(-1)
                out.write(data.view(torch.uint8).numpy())  # buffer protocol: no extra copy
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; weights are shared files like any download
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert_image_generator(
    src: str | os.PathLike, out_dir: str | os.PathLike, *, dtype: torch.dtype = torch.float16,
    resampler_dim_head: int = 64,
) -> tuple[Path, Path]:
    """Convert the release to ``diffsensei_unet_<dt>.safetensors`` + ``diffsensei_adapter_<dt>.safetensors``.

    The UNet file holds only the standard diffusers keys (ComfyUI's stock UNet loader detects SDXL from
    them); the adapter holds ``ip.<name>.to_k/to_v``, ``dialog_bbox_embedding`` and ``resampler.*``.
    ``unet/config.json`` is copied as ``diffsensei_unet_<dt>.config.json``. Returns both paths.
    """
    if dtype not in DTYPE_NAMES:
        raise WeightsError(
            f"unsupported output dtype {dtype}; expected one of {sorted(DTYPE_NAMES.values())}. "
            "Pick fp16, bf16 or fp32."
        )
    checkpoint = load_image_generator(src, resampler_dim_head=resampler_dim_head)
    out_dir = Path(out_dir).expanduser()
    suffix = DTYPE_NAMES[dtype]
    unet_path = out_dir / f"diffsensei_unet_{suffix}.safetensors"
    adapter_path = out_dir / f"diffsensei_adapter_{suffix}.safetensors"
    log.info("writing %d UNet tensors to %s", len(checkpoint.unet_state_dict), unet_path)
    write_safetensors_streaming(
        unet_path, checkpoint.unet_state_dict.items(), dtype=dtype,
        metadata={"format": "pt", "source": "DiffSensei image_generator/unet"},
    )
    log.info("writing %d adapter sites and the resampler to %s", checkpoint.adapter.num_sites, adapter_path)
    write_safetensors_streaming(
        adapter_path, checkpoint.adapter.to_state_dict().items(), dtype=dtype, metadata=checkpoint.adapter.metadata()
    )
    if checkpoint.layout is not None and checkpoint.layout.unet_config is not None:
        shutil.copyfile(checkpoint.layout.unet_config, unet_path.with_suffix(".config.json"))
    return unet_path, adapter_path
