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

Vocabulary and styles are editable JSON files shipped in ``diffsensei_core/data/``.

Several people where one is expected: :func:`describe` only reports it (scene ``group``, per-person
attributes left out). A node that needs one character crops the largest person, with a warning, before
it calls this module.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .errors import DiffSenseiError, InputShapeError

log = logging.getLogger("diffsensei")

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_VOCABULARY = DATA_DIR / "photo_attributes.json"
DEFAULT_STYLES = DATA_DIR / "manga_styles.json"

SCENE_CLASSES = ("single_man", "single_woman", "single_person", "group", "child", "elder", "no_person")
SCENE_HINTS = {
    "people": ("none", "one", "many"),
    "gender": ("man", "woman"),
    "age": ("child", "adult", "elder"),
}
PROBABILITY_SUM_TOLERANCE = 1e-3
DEFAULT_PERSON_PROMPTS = ("a photo of a person", "a photo of a human face", "a photo of people")
DEFAULT_BACKGROUND_PROMPTS = ("a photo of an empty background", "a photo of an object", "a photo of a landscape")
DEFAULT_PERSON_THRESHOLD = 0.6


# --------------------------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Option:
    """One answer of an attribute: ``label`` goes into the prompt, ``prompts`` are what CLIP compares."""

    name: str
    label: str
    prompts: tuple[str, ...]
    scene: str | None = None


@dataclass(frozen=True)
class Attribute:
    """One zero-shot question (people count, glasses, …) with its keep rule."""

    name: str
    order: int
    threshold: float
    margin: float
    options: tuple[Option, ...]
    scene_role: str | None = None
    per_person: bool = False

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)


@dataclass(frozen=True)
class Vocabulary:
    """The attributes, sorted by ``order``, plus the generic prompt used when nobody is in the photo."""

    attributes: tuple[Attribute, ...]
    no_person_prompt: str
    source: str = "<memory>"
    person_prompts: tuple[str, ...] = DEFAULT_PERSON_PROMPTS
    background_prompts: tuple[str, ...] = DEFAULT_BACKGROUND_PROMPTS
    person_threshold: float = DEFAULT_PERSON_THRESHOLD

    def attribute(self, name: str) -> Attribute:
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise KeyError(name)

    def text_prompts(self) -> dict[str, dict[str, list[str]]]:
        """What the node must encode with the text tower: attribute → option → prompts."""
        return {a.name: {o.name: list(o.prompts) for o in a.options} for a in self.attributes}

    def with_overrides(self, *, threshold: float | None = None, margin: float | None = None) -> Vocabulary:
        """A copy whose every attribute uses ``threshold`` / ``margin`` (None keeps each file value)."""
        if threshold is not None and not 0.0 < float(threshold) <= 1.0:
            raise DiffSenseiError(
                f"threshold override: expected a probability in (0, 1], got {threshold}; use 0 in the node to keep "
                "each attribute's own threshold from the vocabulary file."
            )
        if margin is not None and not 0.0 < float(margin) < 1.0:
            raise DiffSenseiError(
                f"margin override: expected a number in (0, 1), got {margin}; use 0 in the node to keep each "
                "attribute's own margin from the vocabulary file."
            )
        attributes = tuple(
            replace(
                a,
                threshold=a.threshold if threshold is None else float(threshold),
                margin=a.margin if margin is None else float(margin),
            )
            for a in self.attributes
        )
        return replace(self, attributes=attributes)


def _file_error(source: str, where: str, expected: str, got: Any) -> DiffSenseiError:
    return DiffSenseiError(
        f"{source}: field '{where}' is invalid: expected {expected}, got {got!r}. "
        "Fix the file (or delete it to use the pack's default)."
    )


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DiffSenseiError(
            f"cannot read the {what} file {path}: {exc}. Expected a readable JSON file; "
            "check the path or leave it empty to use the pack's default."
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DiffSenseiError(
            f"the {what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
            "Fix the syntax (a trailing comma or a missing quote is the usual cause)."
        ) from exc


def _need(obj: Mapping, key: str, kind: type | tuple[type, ...], source: str, where: str, expected: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise _file_error(source, where, expected, "<missing>")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise _file_error(source, where, expected, value)
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _text(value: Any, source: str, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise _file_error(source, where, "a string" if allow_empty else "a non-empty string", value)
    return value.strip()


def _parse_option(raw: Any, role: str | None, source: str, where: str) -> Option:
    if not isinstance(raw, Mapping):
        raise _file_error(source, where, "an object with name, label and prompts", raw)
    name = _text(_need(raw, "name", str, source, f"{where}.name", "a non-empty string"), source, f"{where}.name")
    label = _text(
        _need(raw, "label", str, source, f"{where}.label", "a string"), source, f"{where}.label", allow_empty=True
    )
    prompts = _need(raw, "prompts", list, source, f"{where}.prompts", "a list of 1 or more prompt strings")
    if not prompts:
        raise _file_error(source, f"{where}.prompts", "a list of 1 or more prompt strings", prompts)
    texts = tuple(_text(p, source, f"{where}.prompts[{i}]") for i, p in enumerate(prompts))
    scene = raw.get("scene")
    if scene is not None:
        if role is None:
            raise _file_error(source, f"{where}.scene", "no scene hint on an attribute without 'scene_role'", scene)
        if scene not in SCENE_HINTS[role]:
            raise _file_error(source, f"{where}.scene", f"one of {list(SCENE_HINTS[role])} for role '{role}'", scene)
    return Option(name=name, label=label, prompts=texts, scene=scene)


def _parse_attribute(raw: Any, source: str, where: str) -> Attribute:
    if not isinstance(raw, Mapping):
        raise _file_error(source, where, "an object with name, order, threshold, margin and options", raw)
    name = _text(_need(raw, "name", str, source, f"{where}.name", "a non-empty string"), source, f"{where}.name")
    where = f"attributes[{name}]"
    order = _need(raw, "order", int, source, f"{where}.order", "an integer")
    threshold = _need(raw, "threshold", (int, float), source, f"{where}.threshold", "a number in (0, 1]")
    if not 0.0 < float(threshold) <= 1.0:
        raise _file_error(source, f"{where}.threshold", "a number in (0, 1]", threshold)
    margin = _need(raw, "margin", (int, float), source, f"{where}.margin", "a number in (0, 1)")
    if not 0.0 < float(margin) < 1.0:
        raise _file_error(
            source, f"{where}.margin", "a number in (0, 1) (> 0 so ties are never broken by order)", margin
        )
    role = raw.get("scene_role")
    if role is not None and role not in SCENE_HINTS:
        raise _file_error(source, f"{where}.scene_role", f"one of {list(SCENE_HINTS)} or absent", role)
    per_person = raw.get("per_person", False)
    if not isinstance(per_person, bool):
        raise _file_error(source, f"{where}.per_person", "true or false", per_person)
    raw_options = _need(raw, "options", list, source, f"{where}.options", "a list of 2 or more options")
    if len(raw_options) < 2:
        raise _file_error(source, f"{where}.options", "a list of 2 or more options", raw_options)
    options = tuple(_parse_option(o, role, source, f"{where}.options[{i}]") for i, o in enumerate(raw_options))
    names = [o.name for o in options]
    if len(set(names)) != len(names):
        raise _file_error(source, f"{where}.options", "distinct option names", names)
    return Attribute(
        name=name,
        order=order,
        threshold=float(threshold),
        margin=float(margin),
        options=options,
        scene_role=role,
        per_person=per_person,
    )


def parse_vocabulary(data: Any, source: str = "<memory>") -> Vocabulary:
    """Validate a vocabulary already read from JSON; errors name ``source`` and the field."""
    if not isinstance(data, Mapping):
        raise _file_error(source, "<top level>", "a JSON object with 'attributes'", type(data).__name__)
    raw_attributes = _need(data, "attributes", list, source, "attributes", "a list of 1 or more attributes")
    if not raw_attributes:
        raise _file_error(source, "attributes", "a list of 1 or more attributes", raw_attributes)
    attributes = [_parse_attribute(a, source, f"attributes[{i}]") for i, a in enumerate(raw_attributes)]
    for key, values in (("name", [a.name for a in attributes]), ("order", [a.order for a in attributes])):
        if len(set(values)) != len(values):
            raise _file_error(source, f"attributes[*].{key}", f"a distinct {key} per attribute", values)
    roles = [a.scene_role for a in attributes if a.scene_role is not None]
    if len(set(roles)) != len(roles):
        raise _file_error(source, "attributes[*].scene_role", "each scene_role at most once", roles)
    no_person = _text(data.get("no_person_prompt", "a scene without people"), source, "no_person_prompt")
    person, background, person_threshold = _parse_person_search(data.get("person_search"), source)
    return Vocabulary(
        attributes=tuple(sorted(attributes, key=lambda a: a.order)),
        no_person_prompt=no_person,
        source=source,
        person_prompts=person,
        background_prompts=background,
        person_threshold=person_threshold,
    )


def _parse_person_search(raw: Any, source: str) -> tuple[tuple[str, ...], tuple[str, ...], float]:
    """The optional ``person_search`` block: person prompts, background prompts and the window threshold."""
    if raw is None:
        return DEFAULT_PERSON_PROMPTS, DEFAULT_BACKGROUND_PROMPTS, DEFAULT_PERSON_THRESHOLD
    if not isinstance(raw, Mapping):
        raise _file_error(source, "person_search", "an object with threshold, person and background", raw)
    threshold = raw.get("threshold", DEFAULT_PERSON_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < float(threshold) < 1.0:
        raise _file_error(source, "person_search.threshold", "a probability in (0, 1)", threshold)
    lists = []
    for key, default in (("person", DEFAULT_PERSON_PROMPTS), ("background", DEFAULT_BACKGROUND_PROMPTS)):
        prompts = raw.get(key, list(default))
        if not isinstance(prompts, list) or not prompts:
            raise _file_error(source, f"person_search.{key}", "a list of 1 or more prompt strings", prompts)
        lists.append(tuple(_text(p, source, f"person_search.{key}[{i}]") for i, p in enumerate(prompts)))
    return lists[0], lists[1], float(threshold)


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Read and validate an attribute vocabulary (default: the pack's ``data/photo_attributes.json``)."""
    path = Path(path) if path else DEFAULT_VOCABULARY
    return parse_vocabulary(_read_json(path, "attribute vocabulary"), source=str(path))


def parse_styles(data: Any, source: str = "<memory>") -> dict[str, Any]:
    """Validate styles read from JSON → ``{"negative": str, "scenes": {scene: [variant, …]}}``."""
    if not isinstance(data, Mapping):
        raise _file_error(source, "<top level>", "a JSON object with 'scenes' and 'negative'", type(data).__name__)
    negative = _text(_need(data, "negative", str, source, "negative", "a string"), source, "negative", allow_empty=True)
    raw_scenes = _need(data, "scenes", Mapping, source, "scenes", f"an object with the keys {list(SCENE_CLASSES)}")
    unknown = sorted(set(raw_scenes) - set(SCENE_CLASSES))
    if unknown:
        raise _file_error(source, "scenes", f"only the scene classes {list(SCENE_CLASSES)}", unknown)
    scenes: dict[str, list[str]] = {}
    for scene in SCENE_CLASSES:
        if scene not in raw_scenes:
            raise _file_error(source, f"scenes.{scene}", "a style string or a list of style strings", "<missing>")
        value = raw_scenes[scene]
        variants = [value] if isinstance(value, str) else value
        if not isinstance(variants, list) or not variants:
            raise _file_error(source, f"scenes.{scene}", "a style string or a non-empty list of style strings", value)
        scenes[scene] = [_text(v, source, f"scenes.{scene}[{i}]") for i, v in enumerate(variants)]
    return {"negative": negative, "scenes": scenes}


def load_styles(path: str | Path | None = None) -> dict[str, Any]:
    """Read and validate manga styles (default: the pack's ``data/manga_styles.json``)."""
    path = Path(path) if path else DEFAULT_STYLES
    return parse_styles(_read_json(path, "manga style"), source=str(path))


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


def style_for_scene(styles: Mapping[str, Any], scene: str, *, variant: int = 0) -> str:
    """The style text of ``scene`` in ``styles`` (from :func:`load_styles`): variant ``variant`` modulo their count."""
    scenes = styles.get("scenes", {}) if isinstance(styles, Mapping) else {}
    variants = scenes.get(scene)
    if not variants:
        raise DiffSenseiError(
            f"no manga style for scene '{scene}': expected one of {sorted(scenes) or list(SCENE_CLASSES)}; connect "
            "the scene output of Describe photo, type one of those names, or add the scene to the style file."
        )
    variants = [variants] if isinstance(variants, str) else list(variants)
    return variants[int(variant) % len(variants)]


def final_prompt(
    description: Description, styles: Mapping[str, Any], *, user_style: str | None = None, seed: int | None = None
) -> tuple[str, str]:
    """(positive, negative): the content prompt followed by the scene's style, or by ``user_style`` when given.

    ``styles`` is what :func:`load_styles` returns. A scene with several style variants uses the first one,
    or one drawn with ``random.Random(seed)`` when ``seed`` is given (a sampled prompt distribution).
    """
    scenes = styles.get("scenes", {}) if isinstance(styles, Mapping) else {}
    if user_style is not None and user_style.strip():
        style = user_style.strip()
    else:
        variants = scenes.get(description.scene)
        if not variants:
            raise DiffSenseiError(
                f"no manga style for scene '{description.scene}': expected it among {sorted(scenes)}; "
                "load the styles with load_styles() or add the scene to the style file."
            )
        variants = [variants] if isinstance(variants, str) else list(variants)
        style = variants[0] if seed is None else random.Random(seed).choice(variants)
    positive = ", ".join(part for part in (description.content_prompt.strip(), style) if part)
    return positive, str(styles.get("negative", ""))


__all__ = (
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
