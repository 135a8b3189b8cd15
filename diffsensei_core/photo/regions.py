"""Photo checks and person regions without a detector: the pure half of "Describe photo"'s person finding.

Shapes: a photo is a ComfyUI IMAGE ``(1, H, W, 3)`` float in [0, 1]; boxes are integer pixel corners
``(x0, y0, x1, y1)`` with ``x1``/``y1`` exclusive.

The heuristic (no detector, so honest about its limits):

1. :func:`window_grid` lays square windows over the photo at several scales (fractions of the short side) with
   50 % overlap; the caller scores each window with CLIP ("a person" vs "a background" prompts).
2. :func:`person_regions` keeps the windows whose person probability reaches a threshold and joins overlapping
   ones (IoU ≥ ``link_iou``) into regions; each region's box is the union of its windows. Regions are sorted by
   area, so "the largest person" is ``regions[0]``. Two people standing close together can merge into one region
   (the caller then sees several people in the crop and says so); a person smaller than the smallest window is
   only found through the whole photo.
3. :func:`mask_regions` does the same from a person mask made by another pack (a segmenter or detector):
   connected components of the mask, largest first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import InputShapeError

MIN_SIDE = 64  # pixels: below this a photo has too little detail for CLIP (it sees 224 px)
MAX_SIDE = 2048  # pixels: larger photos are downscaled before the windows are cut (CLIP sees 224 px anyway)
DEFAULT_SCALES = (0.8, 0.6, 0.4)  # window side as a fraction of the photo's short side
DEFAULT_OVERLAP = 0.5
DEFAULT_LINK_IOU = 0.3
GRAY_TOLERANCE = 2.0 / 255.0  # channels closer than this everywhere → the photo is grayscale
MASK_WORK_SIDE = 128  # masks are labelled at this long side at most (components, not pixel-exact outlines)


# ------------------------------------------------------------------------------------------------------ boxes


@dataclass(frozen=True)
class Box:
    """A pixel rectangle ``[x0, x1) × [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def intersection(self, other: Box) -> int:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(0, w) * max(0, h)

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def padded(self, fraction: float, height: int, width: int) -> Box:
        """Grown by ``fraction`` of its size on every side, clamped to a ``height × width`` photo."""
        dx, dy = round(self.width * fraction), round(self.height * fraction)
        return Box(max(0, self.x0 - dx), max(0, self.y0 - dy), min(width, self.x1 + dx), min(height, self.y1 + dy))

    def squared(self, height: int, width: int) -> Box:
        """The smallest square around the box's centre that holds it, shifted (and if need be cut) to fit."""
        side = min(max(self.width, self.height), height, width)
        cx, cy = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        x0 = min(max(0, round(cx - side / 2)), width - side)
        y0 = min(max(0, round(cy - side / 2)), height - side)
        return Box(x0, y0, x0 + side, y0 + side)

    def crop(self, photo: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` → ``(B, y1-y0, x1-x0, C)``."""
        return photo[:, self.y0 : self.y1, self.x0 : self.x1]

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True)
class Region:
    """A place where a person probably is: the union ``box`` of ``windows`` confident windows, best ``score``."""

    box: Box
    score: float
    windows: int


# ------------------------------------------------------------------------------------------------ photo checks


@dataclass(frozen=True)
class PreparedPhoto:
    """A checked photo ``(1, H, W, 3)``, whether it is grayscale, and what was done to it (for the user)."""

    image: torch.Tensor
    grayscale: bool
    notes: tuple[str, ...]


def prepare_photo(
    image: torch.Tensor, *, where: str, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE
) -> PreparedPhoto:
    """Check a ComfyUI IMAGE and bring it to one RGB photo ``(1, H, W, 3)`` in [0, 1].

    image: ``(B, H, W, C)`` with C = 1 (grayscale), 3 (RGB) or 4 (alpha dropped); a batch uses its first photo.
    A short side below ``min_side`` raises :class:`InputShapeError`; a long side above ``max_side`` is
    downscaled (area filter) to ``max_side``. ``where`` names the node and input in messages.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputShapeError(
            f"{where}: expected an IMAGE of shape (batch, height, width, channels), got {shape}; connect an image "
            "(e.g. from Load Image), not a mask or a latent."
        )
    if image.shape[-1] not in (1, 3, 4):
        raise InputShapeError(
            f"{where}: expected 1, 3 or 4 colour channels, got {image.shape[-1]} (shape {tuple(image.shape)}); "
            "connect an RGB or grayscale image."
        )
    notes = []
    if image.shape[0] > 1:
        notes.append(f"a batch of {image.shape[0]} photos was given: only the first is described")
    photo = image[:1].float()
    if photo.shape[-1] == 1:
        photo = photo.expand(-1, -1, -1, 3)
    photo = photo[..., :3]
    if not torch.isfinite(photo).all():
        raise InputShapeError(f"{where}: the image contains NaN or infinite values; expected pixels in [0, 1].")
    photo = photo.clamp(0.0, 1.0)
    height, width = photo.shape[1:3]
    if min(height, width) < min_side:
        raise InputShapeError(
            f"{where}: the photo is {width}×{height} pixels; expected at least {min_side} pixels on the short side "
            "so that a face has enough detail. Use a larger photo (or upscale it first, e.g. with Upscale Image)."
        )
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(min_side, round(height * scale)), max(min_side, round(width * scale)))
        photo = torch.nn.functional.interpolate(photo.movedim(-1, 1), size=size, mode="area").movedim(1, -1)
        notes.append(f"large photo {width}×{height} downscaled to {size[1]}×{size[0]} for the analysis")
    spread = (photo.amax(dim=-1) - photo.amin(dim=-1)).amax()
    grayscale = bool(spread <= GRAY_TOLERANCE)
    if grayscale:
        notes.append("grayscale photo: described from shapes and tones only")
    return PreparedPhoto(photo.contiguous(), grayscale, tuple(notes))


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(b, h, w, c)`` → ``(b, height, width, c)`` float, bicubic with antialiasing, clamped to [0, 1]."""
    image = image.float()
    if image.shape[1:3] != (height, width):
        image = torch.nn.functional.interpolate(
            image.movedim(-1, 1), size=(height, width), mode="bicubic", antialias=True, align_corners=False
        ).movedim(1, -1)
    return image.clamp(0.0, 1.0)


def resize_square(crop: torch.Tensor, side: int) -> torch.Tensor:
    """``(1, h, w, 3)`` → ``(1, side, side, 3)`` (see :func:`resize_image`)."""
    return resize_image(crop, side, side)


def target_size(height: int, width: int, long_side: int, *, multiple: int = 16) -> tuple[int, int]:
    """(height, width) with the photo's aspect ratio, the long side ≈ ``long_side``, both multiples of ``multiple``
    (at least one ``multiple``). With multiple 16 the half size of the fast path is still a multiple of 8 (latents)."""
    if height < 1 or width < 1 or long_side < multiple:
        raise InputShapeError(
            f"target size: expected a photo of at least 1×1 and a long side ≥ {multiple}, got {width}×{height} and "
            f"{long_side}."
        )
    scale = long_side / max(height, width)

    def fit(side: int) -> int:
        return max(multiple, round(side * scale / multiple) * multiple)

    return fit(height), fit(width)


# ------------------------------------------------------------------------------------------------ window grid


def _starts(length: int, side: int, stride: float) -> list[int]:
    if side >= length:
        return [0]
    count = math.ceil((length - side) / stride) + 1
    return sorted({round(i * (length - side) / (count - 1)) for i in range(count)})


def window_grid(
    height: int, width: int, *, scales: Sequence[float] = DEFAULT_SCALES, overlap: float = DEFAULT_OVERLAP
) -> list[Box]:
    """Square windows over a ``height × width`` photo: for each scale s a side of s · min(H, W), stepped by
    (1 − overlap) · side and spread evenly so the last window touches the far edge. The whole photo is not
    included (the caller scores it separately). Order: by scale, then rows, then columns."""
    if height < 1 or width < 1:
        raise InputShapeError(f"window grid: expected a photo of at least 1×1 pixels, got {width}×{height}.")
    if not 0.0 <= overlap < 1.0:
        raise InputShapeError(f"window grid: expected an overlap in [0, 1), got {overlap}.")
    boxes: list[Box] = []
    seen = set()
    for scale in scales:
        if not 0.0 < scale <= 1.0:
            raise InputShapeError(f"window grid: expected scales in (0, 1], got {scale}.")
        side = max(1, round(scale * min(height, width)))
        stride = max(1.0, side * (1.0 - overlap))
        for y in _starts(height, side, stride):
            for x in _starts(width, side, stride):
                box = Box(x, y, x + side, y + side)
                if box not in seen:
                    seen.add(box)
                    boxes.append(box)
    return boxes


# ------------------------------------------------------------------------------------------------ regions


def _components(count: int, linked) -> list[list[int]]:
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            if linked(i, j):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def person_regions(
    boxes: Sequence[Box], probs: Sequence[float], *, threshold: float, link_iou: float = DEFAULT_LINK_IOU
) -> list[Region]:
    """Confident windows (p ≥ threshold) joined into regions (overlap IoU ≥ link_iou), largest area first
    (ties: higher score first)."""
    if len(boxes) != len(probs):
        raise InputShapeError(f"person regions: {len(boxes)} windows but {len(probs)} scores; expected one each.")
    confident = [(b, float(p)) for b, p in zip(boxes, probs, strict=True) if float(p) >= threshold]
    groups = _components(len(confident), lambda i, j: confident[i][0].iou(confident[j][0]) >= link_iou)
    regions = []
    for group in groups:
        box = confident[group[0]][0]
        for i in group[1:]:
            box = box.union(confident[i][0])
        regions.append(Region(box, max(confident[i][1] for i in group), len(group)))
    return sorted(regions, key=lambda r: (-r.box.area, -r.score, r.box.as_list()))


def mask_regions(mask: torch.Tensor, height: int, width: int, *, min_fraction: float = 0.002) -> list[Region]:
    """Connected components of a person mask as regions of a ``height × width`` photo, largest first.

    mask: ``(H', W')`` or ``(B, H', W')`` (first used), any size (scaled to the photo); pixels > 0.5 are person.
    Components smaller than ``min_fraction`` of the photo are dropped (speckles). Score = 1 (given, not guessed).
    """
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputShapeError(f"person mask: expected a MASK of shape (batch, height, width), got {shape}.")
    mask = (mask[0] if mask.ndim == 3 else mask).float()
    scale = min(1.0, MASK_WORK_SIDE / max(height, width))
    work = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = torch.nn.functional.interpolate(mask[None, None], size=work, mode="area")[0, 0] > 0.5
    labels = _label(small)
    regions = []
    for label in labels.unique().tolist():
        if label == 0:
            continue
        ys, xs = torch.nonzero(labels == label, as_tuple=True)
        if ys.numel() < min_fraction * small.numel():
            continue
        box = Box(
            math.floor(int(xs.min()) / scale),
            math.floor(int(ys.min()) / scale),
            min(width, math.ceil((int(xs.max()) + 1) / scale)),
            min(height, math.ceil((int(ys.max()) + 1) / scale)),
        )
        regions.append(Region(box, 1.0, 1))
    return sorted(regions, key=lambda r: (-r.box.area, r.box.as_list()))


def _label(binary: torch.Tensor) -> torch.Tensor:
    """8-connected component labels of a bool ``(h, w)`` map (0 = background) by max-label propagation."""
    h, w = binary.shape
    labels = torch.where(binary, torch.arange(1, h * w + 1, dtype=torch.float32).reshape(h, w), torch.zeros(()))
    for _ in range(h * w):
        grown = torch.nn.functional.max_pool2d(labels[None, None], 3, stride=1, padding=1)[0, 0] * binary
        if torch.equal(grown, labels):
            break
        labels = grown
    return labels.long()


__all__ = (
    "DEFAULT_SCALES",
    "MAX_SIDE",
    "MIN_SIDE",
    "Box",
    "PreparedPhoto",
    "Region",
    "mask_regions",
    "person_regions",
    "prepare_photo",
    "resize_image",
    "resize_square",
    "target_size",
    "window_grid",
)
