"""The editable data files of "Describe photo" and "Manga style preset": attribute vocabularies and manga styles.

Both are JSON files shipped in ``diffsensei_core/photo/data/`` (users copy them into ``models/diffsensei/photo/``
to edit them). The loaders validate every field and name the file and the field in their errors; the results are frozen
dataclasses (:class:`Vocabulary`) or a plain dict (styles) that :mod:`.prompt` turns into prompts.

Vocabulary file: ``{"attributes": [{"name", "order", "threshold", "margin", "options": [{"name", "label",
"prompts", "scene"?}], "scene_role"?, "per_person"?}], "no_person_prompt"?, "person_search"?: {"threshold",
"person", "background"}}``. Style file: ``{"negative": str, "scenes": {scene class: str | [str, …]}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import DiffSenseiError

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_VOCABULARY = DATA_DIR / "photo_attributes.json"
DEFAULT_STYLES = DATA_DIR / "manga_styles.json"

SCENE_CLASSES = ("single_man", "single_woman", "single_person", "group", "child", "elder", "no_person")
SCENE_HINTS = {
    "people": ("none", "one", "many"),
    "gender": ("man", "woman"),
    "age": ("child", "adult", "elder"),
}
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
