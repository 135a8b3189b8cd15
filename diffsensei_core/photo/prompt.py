"""Photo → manga prompt: zero-shot attributes from CLIP embeddings, content prompt, scene class, style.

The pure half of the "Describe photo" node (design: photo-to-manga.md). The node encodes the photo with a
CLIP vision tower and every option's prompts with the matching text tower (SDXL's CLIP-L with the CLIP-L
vision model, or CLIP-G with ViT-bigG) and hands the embeddings here:

1. :func:`attribute_scores` turns one image embedding ``(d,)`` and each option's prompt embeddings
   ``(p, d)`` into option probabilities (cosine similarity, softmax with CLIP's logit scale).
2. :func:`describe` keeps an attribute only when its best option reaches the attribute's ``threshold``
   AND leads the runner-up by its ``margin``; everything else is omitted, never forced. It builds the
   content prompt in the vocabulary's ``order`` and picks the scene class.
3. :func:`final_prompt` appends the scene's manga style (or the user's own style text).

Vocabulary and styles are editable JSON files shipped in ``diffsensei_core/photo/data/``, read and validated by
:mod:`.photo_vocabulary` (its names are re-exported here).

Several people where one is expected: :func:`describe` only reports it (scene ``group``, per-person
attributes left out). A node that needs one character crops the largest person, with a warning, before
it calls this module.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import DiffSenseiError, InputShapeError
from .vocabulary import (
    DEFAULT_STYLES,
    DEFAULT_VOCABULARY,
    SCENE_CLASSES,
    Attribute,
    Option,
    Vocabulary,
    load_styles,
    load_vocabulary,
    parse_styles,
    parse_vocabulary,
)

log = logging.getLogger("diffsensei")

PROBABILITY_SUM_TOLERANCE = 1e-3


# ------------------------------------------------------------------------------------------------- scoring


def attribute_scores(
    image_embeds: torch.Tensor, text_embeds: Mapping[str, torch.Tensor], logit_scale: float = 100.0
) -> dict[str, float]:
    """Zero-shot probabilities of one attribute's options.

    image_embeds: (d,) — the photo's projected CLIP image embedding (a leading batch of 1 is accepted).
    text_embeds: option → (p, d) projected text embeddings of that option's p prompts ((d,) for p = 1).
    Each option's class vector is the mean of its L2-normalised prompt embeddings, normalised again; the
    logits are ``logit_scale`` · cosine(image, class); softmax over the options. Returns option → prob
    (floats summing to 1, in the mapping's order).
    """
    if not isinstance(image_embeds, torch.Tensor):
        raise InputShapeError(f"image_embeds must be a tensor of shape (d,), got {type(image_embeds).__name__}.")
    image = image_embeds.squeeze(0) if image_embeds.ndim == 2 and image_embeds.shape[0] == 1 else image_embeds
    if image.ndim != 1:
        raise InputShapeError(
            f"image_embeds has shape {tuple(image_embeds.shape)}, expected (d,) for one photo; "
            "describe one photo at a time (pick the person/crop first)."
        )
    if len(text_embeds) < 2:
        raise InputShapeError(f"an attribute needs 2 or more options to compare, got {list(text_embeds)}.")
    d = image.shape[0]
    classes = []
    for name, emb in text_embeds.items():
        emb = emb.unsqueeze(0) if emb.ndim == 1 else emb
        if emb.ndim != 2 or emb.shape[1] != d or emb.shape[0] == 0:
            raise InputShapeError(
                f"text embeddings of option '{name}' have shape {tuple(emb.shape)}, expected (p, {d}) to match "
                f"the image embedding; use the text tower that belongs to the vision model (CLIP-L with CLIP-L "
                f"vision, CLIP-G with ViT-bigG)."
            )
        mean = torch.nn.functional.normalize(emb.float(), dim=-1).mean(0)
        classes.append(torch.nn.functional.normalize(mean, dim=0))
    image = torch.nn.functional.normalize(image.float(), dim=0)
    logits = float(logit_scale) * (torch.stack(classes) @ image.to(classes[0].device))
    probs = torch.softmax(logits, dim=0)
    if not torch.isfinite(probs).all():
        raise InputShapeError("attribute scores are not finite; the embeddings contain NaN/inf or are all zero.")
    return {name: float(p) for name, p in zip(text_embeds, probs.tolist(), strict=True)}


# ------------------------------------------------------------------------------------------------ describe


@dataclass(frozen=True)
class Decision:
    """What happened to one attribute: kept (option set) or omitted (``reason`` set)."""

    attribute: str
    option: str | None
    label: str
    probability: float
    lead: float
    reason: str = ""


@dataclass
class Description:
    """Result of :func:`describe`; ``scores`` are the input probabilities, for display."""

    content_prompt: str
    scene: str
    kept: list[Decision]
    omitted: list[Decision]
    scores: dict[str, dict[str, float]]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Human-readable lines for the node's display output."""
        lines = [f"scene: {self.scene}", f"content: {self.content_prompt}"]
        lines += [f"kept {d.attribute} = {d.option} (p={d.probability:.2f}, lead {d.lead:.2f})" for d in self.kept]
        lines += [f"omitted {d.attribute}: {d.reason}" for d in self.omitted]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _checked_scores(attribute: Attribute, raw: Mapping[str, Any]) -> dict[str, float]:
    names = [o.name for o in attribute.options]
    unknown = sorted(set(raw) - set(names))
    missing = sorted(set(names) - set(raw))
    if unknown or missing:
        raise InputShapeError(
            f"scores for attribute '{attribute.name}' have options {sorted(raw)}, expected {names} "
            f"(unknown {unknown}, missing {missing}); score with the same vocabulary you describe with."
        )
    probs = {n: float(raw[n]) for n in names}
    bad = [n for n, p in probs.items() if not math.isfinite(p) or p < 0.0]
    total = sum(probs.values())
    if bad or abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise InputShapeError(
            f"scores for attribute '{attribute.name}' are not probabilities: expected non-negative values summing "
            f"to 1, got {probs} (sum {total:.4f}); pass the softmax output of attribute_scores."
        )
    return probs


def _decide(attribute: Attribute, probs: Mapping[str, float]) -> Decision:
    ranked = sorted(probs.values(), reverse=True)
    top, runner_up = ranked[0], ranked[1]
    lead = top - runner_up
    winners = [n for n, p in probs.items() if p == top]
    if len(winners) > 1 or lead < attribute.margin:
        return Decision(
            attribute.name, None, "", top, lead, f"ambiguous: lead {lead:.2f} < margin {attribute.margin:.2f}"
        )
    if top < attribute.threshold:
        return Decision(
            attribute.name, None, "", top, lead, f"low confidence: p {top:.2f} < threshold {attribute.threshold:.2f}"
        )
    option = attribute.option(winners[0])
    return Decision(attribute.name, option.name, option.label, top, lead)


def _scene(hints: Mapping[str, str]) -> str:
    if hints.get("people") == "many":
        return "group"
    if hints.get("age") == "child":
        return "child"
    if hints.get("age") == "elder":
        return "elder"
    return {"man": "single_man", "woman": "single_woman"}.get(hints.get("gender", ""), "single_person")


def describe(
    scores: Mapping[str, Mapping[str, Any]], vocabulary: Vocabulary, *, allow_no_person_fallback: bool = False
) -> Description:
    """Content prompt and scene class from attribute probabilities.

    scores: attribute → option → probability (floats or 0-d tensors, summing to 1 per attribute), e.g.
    from :func:`attribute_scores`. Attributes of the vocabulary that are missing from ``scores`` are
    omitted ("not scored"); unknown attributes or options raise :class:`InputShapeError`.

    Keep rule: the best option must reach ``threshold`` AND lead the runner-up by ``margin``; exact ties
    are always omitted, so no option wins by its position in the file.

    Scene: people count "many" → ``group`` (per-person attributes are then omitted); otherwise age child →
    ``child``, elder → ``elder`` (age takes precedence over gender), else gender → ``single_man`` /
    ``single_woman``, gender omitted → ``single_person``. An omitted people count is treated as one person
    (noted). A kept people count "none" raises :class:`DiffSenseiError` ("no person found") unless
    ``allow_no_person_fallback``: then the content is the vocabulary's generic prompt and the scene
    ``no_person``. Several people where one is expected is the caller's business (crop the largest).
    """
    known = {a.name for a in vocabulary.attributes}
    unknown = sorted(set(scores) - known)
    if unknown:
        raise InputShapeError(
            f"scores name attributes {unknown} that the vocabulary ({vocabulary.source}) does not have; expected "
            f"some of {sorted(known)}. Score with the same vocabulary you describe with."
        )
    checked: dict[str, dict[str, float]] = {}
    decisions: list[Decision] = []
    for attribute in vocabulary.attributes:
        if attribute.name not in scores:
            decisions.append(Decision(attribute.name, None, "", 0.0, 0.0, "not scored"))
            continue
        checked[attribute.name] = _checked_scores(attribute, scores[attribute.name])
        decisions.append(_decide(attribute, checked[attribute.name]))

    by_name = {a.name: a for a in vocabulary.attributes}
    hints: dict[str, str] = {}
    for d in decisions:
        attribute = by_name[d.attribute]
        if d.option is not None and attribute.scene_role is not None:
            scene_hint = attribute.option(d.option).scene
            if scene_hint is not None:
                hints[attribute.scene_role] = scene_hint
    notes: list[str] = []
    if any(a.scene_role == "people" for a in vocabulary.attributes) and "people" not in hints:
        notes.append("people count uncertain: assumed one person for the scene")

    if hints.get("people") == "none":
        people = next(d for d in decisions if d.option is not None and by_name[d.attribute].scene_role == "people")
        if not allow_no_person_fallback:
            raise DiffSenseiError(
                f"no person was found in the photo: people count '{people.option}' with p={people.probability:.2f}. "
                "Expected a photo showing at least one person; use such a photo (or crop to the person), or turn on "
                "the no-person fallback to get a generic scene prompt."
            )
        log.warning("describe photo: no person found (p=%.2f); using the generic prompt", people.probability)
        notes.append("no person found: generic prompt used")
        kept = [people]
        omitted = [
            d if d.option is None else Decision(d.attribute, None, "", d.probability, d.lead, "no person")
            for d in decisions
            if d is not people
        ]
        return Description(vocabulary.no_person_prompt, "no_person", kept, omitted, checked, notes)

    kept, omitted = [], []
    for d in decisions:
        if d.option is not None and hints.get("people") == "many" and by_name[d.attribute].per_person:
            d = Decision(d.attribute, None, "", d.probability, d.lead, "several people: per-person attribute unused")
        (kept if d.option is not None else omitted).append(d)
    content = ", ".join(d.label for d in kept if d.label)
    scene = _scene({k: v for k, v in hints.items() if hints.get("people") != "many" or k == "people"})
    for d in omitted:
        log.debug("describe photo: omitted %s (%s)", d.attribute, d.reason)
    return Description(content, scene, kept, omitted, checked, notes)


def generic_description(
    vocabulary: Vocabulary, scores: Mapping[str, Mapping[str, float]] | None = None, *, reason: str
) -> Description:
    """The no-person result: the vocabulary's generic prompt, scene ``no_person``, every attribute omitted."""
    omitted = [Decision(a.name, None, "", 0.0, 0.0, "no person") for a in vocabulary.attributes]
    checked = {k: dict(v) for k, v in (scores or {}).items()}
    return Description(vocabulary.no_person_prompt, "no_person", [], omitted, checked, [reason])


def _style_variants(styles: Mapping[str, Any], scene: str) -> list[str]:
    scenes = styles.get("scenes", {}) if isinstance(styles, Mapping) else {}
    variants = scenes.get(scene)
    if not variants:
        raise DiffSenseiError(
            f"no manga style for scene '{scene}': expected one of {sorted(scenes) or list(SCENE_CLASSES)}; connect "
            "the scene output of Describe photo, type one of those names, or add the scene to the style file "
            "(read it with load_styles())."
        )
    return [variants] if isinstance(variants, str) else list(variants)


def style_for_scene(styles: Mapping[str, Any], scene: str, *, variant: int = 0) -> str:
    """The style text of ``scene`` in ``styles`` (from :func:`load_styles`): variant ``variant`` modulo their count."""
    variants = _style_variants(styles, scene)
    return variants[int(variant) % len(variants)]


def final_prompt(
    description: Description, styles: Mapping[str, Any], *, user_style: str | None = None, seed: int | None = None
) -> tuple[str, str]:
    """(positive, negative): the content prompt followed by the scene's style, or by ``user_style`` when given.

    ``styles`` is what :func:`load_styles` returns. A scene with several style variants uses the first one,
    or one drawn with ``random.Random(seed)`` when ``seed`` is given (a sampled prompt distribution).
    """
    if user_style is not None and user_style.strip():
        style = user_style.strip()
    else:
        count = len(_style_variants(styles, description.scene))
        variant = 0 if seed is None else random.Random(seed).randrange(count)
        style = style_for_scene(styles, description.scene, variant=variant)
    positive = ", ".join(part for part in (description.content_prompt.strip(), style) if part)
    return positive, str(styles.get("negative", ""))


__all__ = (
    "DEFAULT_STYLES",
    "DEFAULT_VOCABULARY",
    "SCENE_CLASSES",
    "Attribute",
    "Decision",
    "Description",
    "Option",
    "Vocabulary",
    "attribute_scores",
    "describe",
    "final_prompt",
    "generic_description",
    "load_styles",
    "load_vocabulary",
    "parse_styles",
    "parse_vocabulary",
    "style_for_scene",
)
