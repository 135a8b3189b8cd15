"""Character reference images as DiffSensei's encoders expect them (model spec §2.3, §10 items 1–2).

ComfyUI hands images over as IMAGE tensors: float (b, h, w, 3) in 0..1.

* :func:`check_image_batch` — refuse anything that is not such a batch, saying what was got.
* :func:`to_grayscale_rgb` — the demo's PIL ``convert("L").convert("RGB")``.
* :func:`magi_preprocess` — HF ``ViTImageProcessor()`` defaults (squash to 224², mean/std 0.5).

Shape legend: b images, h/w pixel size, H/W the encoder's input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputShapeError

MAGI_MEAN = 0.5
MAGI_STD = 0.5

# Pillow's RGB→L is ITU-R 601-2 luma in 16-bit fixed point with round-half-up:
# L = (R·19595 + G·38470 + B·7471 + 2^15) >> 16, the weights being 0.299/0.587/0.114 · 2^16 (sum 2^16).
_LUMA_WEIGHTS = (19595, 38470, 7471)
_LUMA_HALF = 1 << 15
_LUMA_SHIFT = 16


def check_image_batch(images: torch.Tensor, what: str, *, allow_alpha: bool = False) -> None:
    """Raise InputShapeError unless ``images`` is a non-empty float IMAGE batch (b, h, w, 3) (or 4 with alpha)."""
    channels = (3, 4) if allow_alpha else (3,)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in channels:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputShapeError(
            f"{what}: expected an IMAGE tensor (batch, height, width, 3) with values in 0..1; got {got}. "
            "Connect an RGB IMAGE (drop an alpha channel or convert a mask to an image first)."
        )
    if not images.is_floating_point():
        raise InputShapeError(
            f"{what}: expected a floating-point IMAGE in 0..1; got dtype {images.dtype}. "
            "Divide 8-bit pixel values by 255 before connecting them."
        )
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise InputShapeError(
            f"{what}: the images are empty, size {tuple(images.shape[1:3])}; expected at least 1×1 pixels. "
            "Connect a non-empty reference image."
        )


def to_grayscale_rgb(images: torch.Tensor) -> torch.Tensor:
    """Grayscale, replicated to three channels, exactly like PIL ``.convert("L").convert("RGB")``.

    images: (b, h, w, 3) float in 0..1 → (b, h, w, 3) of the same dtype, every channel equal.

    The reference demo converts every character image this way before encoding (spec §2.1, §10.1).
    Values are first quantised to 8-bit (round(x·255), as a saved 8-bit image would be), then mapped
    with Pillow's fixed-point ITU-R 601-2 luma L = R·299/1000 + G·587/1000 + B·114/1000, so the
    result is on the 1/255 grid and equals PIL for 8-bit inputs.
    """
    check_image_batch(images, "to_grayscale_rgb")
    levels = (images.float().clamp(0.0, 1.0) * 255.0).round().to(torch.int32)
    weights = torch.tensor(_LUMA_WEIGHTS, dtype=torch.int32, device=images.device)
    luma = ((levels * weights).sum(dim=-1, keepdim=True) + _LUMA_HALF) >> _LUMA_SHIFT
    gray = luma.to(torch.float32) / 255.0
    return gray.expand(-1, -1, -1, 3).to(images.dtype).contiguous()


def size_pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """(height, width) from one side length or a (height, width) pair (a config's ``image_size``)."""
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def magi_preprocess(images: torch.Tensor, image_size: int | tuple[int, int] = 224) -> torch.Tensor:
    """IMAGE → Magi encoder pixel values, like HF ``ViTImageProcessor()`` defaults.

    images: (b, h, w, 3) float in 0..1 → (b, 3, H, W) float32 with (H, W) = ``image_size`` (the encoder
    config's ``image_size``, 224 for the released model), values in -1..1.

    Steps: squash-resize to (H, W) (no crop, aspect ratio not kept), then normalise with mean 0.5 and
    std 0.5 per channel (not ImageNet statistics; spec §2.3.3, §10.2).

    Deviation: the reference resizes an 8-bit PIL image with PIL bilinear and keeps 8-bit results; here
    the resize is ``F.interpolate(mode="bilinear", antialias=True, align_corners=False)`` on floats, a
    close match to PIL's bilinear filter (differences around one 8-bit level), without requantising.
    """
    check_image_batch(images, "magi_preprocess")
    height, width = size_pair(image_size)
    pixels = images.float().permute(0, 3, 1, 2)
    if pixels.shape[-2:] != (height, width):
        pixels = F.interpolate(pixels, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return ((pixels - MAGI_MEAN) / MAGI_STD).contiguous()

