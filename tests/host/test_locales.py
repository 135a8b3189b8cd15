"""locales/zh and locales/ja against the nodes as ComfyUI describes them to the frontend, so they cannot drift.

The reference is each node's ``GET_NODE_INFO_V1()`` (what /object_info sends): every node, input, output, tooltip,
description and category segment the frontend shows must have a Chinese and a Japanese entry, and no entry may name
a node, input or output that does not exist. The frontend reads them at ``nodeDefs.<node>.display_name``,
``.description``, ``.inputs.<input>.name/.tooltip``, ``.outputs.<index>.name/.tooltip``, the category segments at
``nodeCategories.<segment>`` and an output named like its type at ``dataTypes.<TYPE>`` (main.json).

When a node's English changes: a new or renamed input/output fails the structure test; a reworded text fails
test_translations_were_made_from_the_current_english (locales/translated_from_en.json is the English zh and ja were
translated from: update both translations, then that file).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = ("zh", "ja")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
PACK_TYPE = re.compile(r"^DIFFSENSEI_")


def _locale(lang: str, name: str) -> dict:
    return json.loads((REPO / "locales" / lang / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def node_infos(pack) -> dict[str, dict]:
    """``{node id: GET_NODE_INFO_V1()}`` of every node the pack's extension registers."""
    extension = asyncio.run(pack.comfy_entrypoint())
    classes = asyncio.run(extension.get_node_list())
    infos = {}
    for cls in classes:
        info = cls.GET_NODE_INFO_V1()
        infos[info["name"]] = info
    assert len(infos) == len(classes) >= 21
    return infos


def visible_inputs(info: dict) -> dict[str, dict]:
    """``{input name: options}`` of the inputs the frontend draws (required and optional, not hidden)."""
    inputs = {}
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            inputs[name] = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return inputs


def expected_entry(info: dict) -> dict:
    """The nodeDefs entry's shape for one node: which keys must exist (values say whether a tooltip must)."""
    inputs = {name: bool(options.get("tooltip")) for name, options in visible_inputs(info).items()}
    if any(options.get("control_after_generate") for options in visible_inputs(info).values()):
        inputs["control_after_generate"] = False  # the widget the frontend adds after a seed
    tooltips = info.get("output_tooltips") or [None] * len(info["output"])
    outputs = {str(i): bool(tip) for i, tip in enumerate(tooltips)}
    return {"description": bool(info.get("description")), "inputs": inputs, "outputs": outputs}


def compare_slots(where: str, kind: str, expected: dict[str, bool], got: dict) -> list[str]:
    problems = [f"{where}: {kind} '{k}' has no entry" for k in expected if k not in got]
    problems += [f"{where}: {kind} '{k}' does not exist on the node" for k in got if k not in expected]
    for key, needs_tooltip in expected.items():
        slot = got.get(key, {})
        if key in got and "name" not in slot:
            problems.append(f"{where}: {kind} '{key}' has no name")
        if key in got and needs_tooltip != ("tooltip" in slot):
            state = "lacks the tooltip" if needs_tooltip else "has a tooltip the node does not have"
            problems.append(f"{where}: {kind} '{key}' {state}")
    return problems


def entry_problems(node: str, info: dict, entry: dict) -> list[str]:
    expected = expected_entry(info)
    where = f"{node}"
    problems = [] if entry.get("display_name") else [f"{where}: no display_name"]
    if expected["description"] != ("description" in entry):
        problems.append(f"{where}: description {'missing' if expected['description'] else 'without an English one'}")
    problems += compare_slots(where, "input", expected["inputs"], entry.get("inputs", {}))
    problems += compare_slots(where, "output", expected["outputs"], entry.get("outputs", {}))
    return problems


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_node_input_output_and_tooltip_is_translated(node_infos, lang):
    node_defs = _locale(lang, "nodeDefs.json")
    problems = [f"node {n} has no entry" for n in node_infos if n not in node_defs]
    problems += [f"entry {n} names no node of the pack" for n in node_defs if n not in node_infos]
    for node, info in node_infos.items():
        if node in node_defs:
            problems += entry_problems(node, info, node_defs[node])
    assert not problems, f"locales/{lang}/nodeDefs.json:\n" + "\n".join(problems)


def english_and_translated_sentences(node_infos: dict, node_defs: dict):
    """``(where, English, translation)`` for every description and tooltip that both sides have."""
    for node, info in node_infos.items():
        entry = node_defs.get(node, {})
        yield f"{node}.description", info.get("description") or "", entry.get("description", "")
        for name, options in visible_inputs(info).items():
            yield (f"{node}.inputs.{name}", options.get("tooltip") or "",
                   entry.get("inputs", {}).get(name, {}).get("tooltip", ""))
        for i, tip in enumerate(info.get("output_tooltips") or []):
            yield f"{node}.outputs.{i}", tip or "", entry.get("outputs", {}).get(str(i), {}).get("tooltip", "")


def english_texts(node_infos: dict) -> dict:
    """The English the translations are made from, in the shape of locales/translated_from_en.json."""
    texts = {}
    for node, info in sorted(node_infos.items()):
        entry = {"display_name": info["display_name"]}
        if info.get("description"):
            entry["description"] = info["description"]
        inputs = {name: options["tooltip"] for name, options in visible_inputs(info).items() if options.get("tooltip")}
        outputs = {str(i): tip for i, tip in enumerate(info.get("output_tooltips") or []) if tip}
        if inputs:
            entry["inputs"] = inputs
        if outputs:
            entry["outputs"] = outputs
        texts[node] = entry
    return texts


def test_translations_were_made_from_the_current_english(node_infos):
    """locales/translated_from_en.json holds the English that zh and ja translate. A reworded display name,
    description or tooltip fails here: update both translations, then put the new English into that file."""
    recorded = json.loads((REPO / "locales" / "translated_from_en.json").read_text(encoding="utf-8"))
    current = english_texts(node_infos)
    changed = []
    for node in sorted(set(recorded) | set(current)):
        old, new = recorded.get(node, {}), current.get(node, {})
        for key in ("display_name", "description"):
            if old.get(key) != new.get(key):
                changed.append(f"{node}.{key}:\n  was: {old.get(key)!r}\n  now: {new.get(key)!r}")
        for part in ("inputs", "outputs"):
            for name in sorted(set(old.get(part, {})) | set(new.get(part, {}))):
                if old.get(part, {}).get(name) != new.get(part, {}).get(name):
                    changed.append(f"{node}.{part}.{name}:\n  was: {old.get(part, {}).get(name)!r}\n"
                                   f"  now: {new.get(part, {}).get(name)!r}")
    assert not changed, ("the English changed since zh/ja were translated; update locales/zh and locales/ja, then "
                         "locales/translated_from_en.json:\n" + "\n".join(changed))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_carry_the_numbers_of_the_english(node_infos, lang):
    """Every number of the English text appears in the translation, so a changed default or limit (0.6 → 0.5)
    makes the stale translation fail. The translation may add numbers (Japanese counts with digits: 1枚, 1人)."""
    problems = []
    for where, english, translated in english_and_translated_sentences(node_infos, _locale(lang, "nodeDefs.json")):
        want, got = set(NUMBER.findall(english)), set(NUMBER.findall(translated))
        if english and translated and not want <= got:
            problems.append(f"{where}: {lang} lacks {sorted(want - got)} of the English text")
    assert not problems, "translations that lost numbers of the English text:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_category_segment_and_pack_type_is_translated(node_infos, lang):
    main = _locale(lang, "main.json")
    segments = {part for info in node_infos.values() for part in info["category"].split("/")}
    categories = main.get("nodeCategories", {})
    assert set(categories) == segments, (f"missing: {sorted(segments - set(categories))}, "
                                         f"not a category segment of the pack: {sorted(set(categories) - segments)}")
    types = {kind for info in node_infos.values() for kind in info["output"] if PACK_TYPE.match(kind)}
    types |= {spec[0] for info in node_infos.values() for section in ("required", "optional")
              for spec in info["input"].get(section, {}).values()
              if isinstance(spec[0], str) and PACK_TYPE.match(spec[0])}
    data_types = main.get("dataTypes", {})
    assert set(data_types) == types, (f"missing: {sorted(types - set(data_types))}, "
                                      f"not a type of the pack: {sorted(set(data_types) - types)}")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_output_named_like_its_pack_type_reads_as_the_type(node_infos, lang):
    """The frontend labels such an output with dataTypes.<TYPE>; nodeDefs must not say something else."""
    data_types = _locale(lang, "main.json")["dataTypes"]
    node_defs = _locale(lang, "nodeDefs.json")
    problems = []
    for node, info in node_infos.items():
        for i, (kind, name) in enumerate(zip(info["output"], info["output_name"], strict=True)):
            label = node_defs.get(node, {}).get("outputs", {}).get(str(i), {}).get("name")
            if kind == name and kind in data_types and label != data_types[kind]:
                problems.append(f"{node}.outputs.{i}: '{label}' but dataTypes.{kind} is '{data_types[kind]}'")
    assert not problems, "\n".join(problems)


def test_comfyui_serves_the_translations_on_its_i18n_route(comfy, pack, node_infos):
    """ComfyUI's own collector behind GET /i18n finds the pack's locales (its custom_nodes folder holds only the
    pack here) and merges nodeDefs.json into main.json, as the frontend expects."""
    from app.custom_node_manager import CustomNodeManager

    served = CustomNodeManager().build_translations()
    for lang in LANGUAGES:
        assert set(node_infos) <= set(served[lang]["nodeDefs"]), lang
        assert served[lang]["nodeDefs"] == _locale(lang, "nodeDefs.json")
        for key, value in _locale(lang, "main.json").items():
            assert served[lang][key] == value, (lang, key)
