"""One photo → content prompt, scene class and scores: the whole "Describe photo" pipeline with CLIP injected.

The node passes two host features in (so this module stays free of ComfyUI):

* ``encode_images(crops) -> (n, d)``: projected CLIP image embeddings of n crops, each ``(1, h, w, 3)``;
* ``encode_texts(prompts) -> (m, d)``: projected CLIP text embeddings (the matching text tower) of m prompts.

Steps: check the photo (:func:`~.photo_regions.prepare_photo`); encode every prompt of the vocabulary and of the
person search in one batch; find people (a connected person mask, else CLIP over a window grid, see
:mod:`.photo_regions`); pick the subject (the largest person, or the whole photo); score every attribute on the
subject and describe it (:func:`~.photo_prompt.describe`: low-confidence attributes are omitted, never forced).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..errors import DiffSenseiError, InputShapeError
from .prompt import Description, attribute_scores, describe, generic_description
from .regions import Box, Region, mask_regions, person_regions, prepare_photo, window_grid
from .vocabulary import Vocabulary

log = logging.getLogger("diffsensei")

SUBJECTS = ("largest person", "whole photo")
SUBJECT_PADDING = 0.12  # a found person region is grown by this fraction on every side before cropping

EncodeImages = Callable[[Sequence[torch.Tensor]], torch.Tensor]
EncodeTexts = Callable[[Sequence[str]], torch.Tensor]


@dataclass
class PhotoDescription:
    """What :func:`describe_photo` found. ``subject``: ``(1, h, w, 3)`` the part of the photo that was described."""

    description: Description
    subject: torch.Tensor
    subject_box: Box
    photo_size: tuple[int, int]
    regions: list[Region]
    region_source: str
    person_probability: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = self.description
        return {
            "scene": d.scene,
            "content_prompt": d.content_prompt,
            "kept": {k.attribute: {"option": k.option, "p": round(k.probability, 4), "lead": round(k.lead, 4)}
                     for k in d.kept},
            "omitted": {o.attribute: o.reason for o in d.omitted},
            "scores": {a: {o: round(p, 4) for o, p in opts.items()} for a, opts in d.scores.items()},
            "person_probability_whole_photo": round(self.person_probability, 4),
            "regions": [{"box": r.box.as_list(), "score": round(r.score, 4), "windows": r.windows}
                        for r in self.regions],
            "region_source": self.region_source,
            "subject_box": self.subject_box.as_list(),
            "photo_size": list(self.photo_size),
            "notes": [*self.notes, *d.notes],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1, ensure_ascii=False)

    def summary(self) -> str:
        lines = [self.description.summary()]
        lines += [f"note: {n}" for n in self.notes]
        found = ", ".join(f"{r.box.as_list()} (p={r.score:.2f})" for r in self.regions[:4]) or "none"
        lines.append(f"person regions ({self.region_source}): {found}; subject {self.subject_box.as_list()}")
        return "\n".join(lines)


def _split(embeddings: torch.Tensor, sizes: Sequence[int], what: str) -> list[torch.Tensor]:
    if embeddings.ndim != 2 or embeddings.shape[0] != sum(sizes):
        raise InputShapeError(
            f"{what}: expected ({sum(sizes)}, d) embeddings, got {tuple(embeddings.shape)}; the encoder must return "
            "one projected embedding per input."
        )
    return list(torch.split(embeddings.float().cpu(), list(sizes)))


def _text_embeddings(vocabulary: Vocabulary, encode_texts: EncodeTexts) -> tuple[dict, dict]:
    """(attribute → option → (p, d), {"person": (p, d), "background": (p, d)}) from one batched encode."""
    prompts, sizes = [], []
    layout = []
    for attribute, options in vocabulary.text_prompts().items():
        for option, texts in options.items():
            layout.append((attribute, option))
            prompts += texts
            sizes.append(len(texts))
    for key, texts in (("person", vocabulary.person_prompts), ("background", vocabulary.background_prompts)):
        layout.append(("__person__", key))
        prompts += list(texts)
        sizes.append(len(texts))
    parts = _split(encode_texts(prompts), sizes, "text embeddings")
    attributes: dict[str, dict[str, torch.Tensor]] = {}
    for (attribute, option), emb in zip(layout, parts, strict=True):
        attributes.setdefault(attribute, {})[option] = emb
    person = attributes.pop("__person__")
    return attributes, person


def describe_photo(
    image: torch.Tensor,
    vocabulary: Vocabulary,
    *,
    encode_images: EncodeImages,
    encode_texts: EncodeTexts,
    subject: str = "largest person",
    person_mask: torch.Tensor | None = None,
    allow_generic: bool = False,
    person_threshold: float | None = None,
    logit_scale: float = 100.0,
    where: str = "DiffSensei: Describe photo",
) -> PhotoDescription:
    """Describe one photo ``image`` ``(B, H, W, C)`` (first of a batch). See the module docstring.

    subject: "largest person" (several people → the largest is cropped and described, with a warning) or
    "whole photo" (the whole photo is described; several people give the ``group`` scene).
    person_mask: optional ``(B, H', W')`` MASK of the people (from a detector/segmenter pack); when given, its
    connected components are the person regions and CLIP's window search is skipped.
    No person found → :class:`DiffSenseiError`, or the vocabulary's generic prompt when ``allow_generic``.
    """
    if subject not in SUBJECTS:
        raise DiffSenseiError(f"{where} (subject): expected one of {list(SUBJECTS)}, got {subject!r}.")
    prepared = prepare_photo(image, where=f"{where} (image)")
    photo = prepared.image
    height, width = photo.shape[1:3]
    notes = list(prepared.notes)
    whole = Box(0, 0, width, height)
    threshold = vocabulary.person_threshold if person_threshold is None else float(person_threshold)

    texts, person_texts = _text_embeddings(vocabulary, encode_texts)

    if person_mask is not None:
        windows: list[Box] = []
        source = "person mask"
    else:
        windows = window_grid(height, width)
        source = f"CLIP window search, {len(windows)} windows, threshold {threshold:.2f}"
    crops = [whole.crop(photo)] + [box.crop(photo) for box in windows]
    embeds = _split(encode_images(crops), [1] * len(crops), "image embeddings")
    person_probs = [attribute_scores(e[0], person_texts, logit_scale)["person"] for e in embeds]
    whole_probability = person_probs[0]
    if person_mask is not None:
        regions = mask_regions(person_mask, height, width)
    else:
        regions = person_regions(windows, person_probs[1:], threshold=threshold)
    log.debug("describe photo: p(person | whole photo) = %.3f, %d regions", whole_probability, len(regions))

    if not regions and whole_probability < threshold:
        reason = (
            f"no person found: no window reached p(person) ≥ {threshold:.2f} and the whole photo scored "
            f"{whole_probability:.2f}" if person_mask is None else "no person found: the person mask is empty"
        )
        if not allow_generic:
            raise DiffSenseiError(
                f"{where}: {reason}. Expected a photo showing a person; use such a photo (or crop to the person), "
                "connect a person mask from a detector, lower the person threshold, or turn on allow_generic to get a "
                "generic scene prompt."
            )
        log.warning("%s: %s; using the generic prompt", where, reason)
        return PhotoDescription(generic_description(vocabulary, reason=reason), photo, whole, (width, height),
                                regions, source, whole_probability, notes)

    box = whole
    if subject == "largest person" and regions:
        if len(regions) > 1:
            message = (f"{len(regions)} people found where one is expected: describing the largest "
                       f"{regions[0].box.as_list()} (the others: {[r.box.as_list() for r in regions[1:4]]})")
            log.warning("%s: %s", where, message)
            notes.append(message)
        box = regions[0].box.padded(SUBJECT_PADDING, height, width)
    subject_image = box.crop(photo)
    if box == whole:
        subject_embed = embeds[0]
    else:
        subject_embed = _split(encode_images([box.squared(height, width).crop(photo)]), [1], "image embeddings")[0]

    scores = {name: attribute_scores(subject_embed[0], options, logit_scale) for name, options in texts.items()}
    description = describe(scores, vocabulary, allow_no_person_fallback=allow_generic)
    if description.scene == "no_person":
        subject_image, box = photo, whole
    elif subject == "largest person" and description.scene == "group":
        notes.append("the largest person region still shows several people (they stand close together); crop the "
                     "photo or connect a person mask to pick one")
    return PhotoDescription(description, subject_image.contiguous(), box, (width, height), regions, source,
                            whole_probability, notes)


__all__ = ("SUBJECTS", "PhotoDescription", "describe_photo")
