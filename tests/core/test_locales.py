"""The translation files in locales/ (what ComfyUI's /i18n route serves to the frontend), checked as plain JSON.

ComfyUI reads ``locales/<lang>/main.json`` of every custom node pack and merges ``nodeDefs.json`` (and
``settings.json`` / ``commands.json``) into it under their file names. Here: every file parses, Chinese and
Japanese carry exactly the same keys, no entry is empty, node entries have the frontend's shape, and the text is in
the language its folder says. Whether the entries match the nodes' real inputs and outputs needs ComfyUI:
tests/host/test_locales.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

LOCALES = Path(__file__).resolve().parents[2] / "locales"
LANGUAGES = ("zh", "ja")
FILES = ("main.json", "nodeDefs.json")  # settings.json / commands.json: the pack has no settings or commands yet
OPTIONAL_FILES = ("settings.json", "commands.json")
NODE_KEYS = {"display_name", "description", "inputs", "outputs"}
SLOT_KEYS = {"name", "tooltip"}

KANA = re.compile(r"[\u3040-\u30ff]")
HAN = re.compile(r"[\u4e00-\u9fff]")


def load(lang: str, name: str) -> dict:
    return json.loads((LOCALES / lang / name).read_text(encoding="utf-8"))


def leaves(tree: dict, path: str = ""):
    """``(dotted path, value)`` of every non-dict value in a nested dict."""
    for key, value in tree.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            yield from leaves(value, where)
        else:
            yield where, value


def present_files(lang: str) -> list[str]:
    return [name for name in (*FILES, *OPTIONAL_FILES) if (LOCALES / lang / name).is_file()]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_file_is_a_json_object_in_utf8(lang):
    for name in FILES:
        assert (LOCALES / lang / name).is_file(), f"locales/{lang}/{name} is missing"
    for name in present_files(lang):
        data = load(lang, name)
        assert isinstance(data, dict) and data, f"locales/{lang}/{name} must be a non-empty JSON object"


def test_chinese_and_japanese_have_the_same_files_and_keys():
    assert present_files("zh") == present_files("ja")
    for name in present_files("zh"):
        zh = {path for path, _ in leaves(load("zh", name))}
        ja = {path for path, _ in leaves(load("ja", name))}
        assert not zh - ja, f"{name}: only in zh: {sorted(zh - ja)}"
        assert not ja - zh, f"{name}: only in ja: {sorted(ja - zh)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_entry_is_empty_or_not_text(lang):
    bad = [f"{name}: {path} = {value!r}" for name in present_files(lang)
           for path, value in leaves(load(lang, name)) if not isinstance(value, str) or not value.strip()]
    assert not bad, "every entry must be non-empty text (null shows the English):\n" + "\n".join(bad)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_node_entries_have_the_frontend_shape(lang):
    problems = []
    for node, entry in load(lang, "nodeDefs.json").items():
        if not isinstance(entry, dict) or "display_name" not in entry or set(entry) - NODE_KEYS:
            problems.append(f"{node}: keys {sorted(entry) if isinstance(entry, dict) else entry!r}")
            continue
        for name, slot in entry.get("inputs", {}).items():
            if not isinstance(slot, dict) or "name" not in slot or set(slot) - SLOT_KEYS:
                problems.append(f"{node}.inputs.{name}: {slot!r}")
        outputs = entry.get("outputs", {})
        if sorted(outputs) != [str(i) for i in range(len(outputs))]:
            problems.append(f"{node}.outputs: keys must be the output indices 0, 1, …, got {sorted(outputs)}")
        for index, slot in outputs.items():
            if not isinstance(slot, dict) or "name" not in slot or set(slot) - SLOT_KEYS:
                problems.append(f"{node}.outputs.{index}: {slot!r}")
    assert not problems, "\n".join(problems)


def sentences(lang: str):
    """The descriptions and tooltips of locales/<lang>/nodeDefs.json (labels may be Latin, like 'CLIP')."""
    for path, value in leaves(load(lang, "nodeDefs.json")):
        if path.endswith((".description", ".tooltip")) and isinstance(value, str):
            yield path, value


def test_japanese_sentences_are_japanese():
    bad = [path for path, text in sentences("ja") if not KANA.search(text)]
    assert not bad, f"Japanese descriptions and tooltips always contain kana; these have none: {bad}"


def test_chinese_sentences_are_chinese():
    bad = [path for path, text in sentences("zh") if not HAN.search(text) or KANA.search(text)]
    assert not bad, f"Chinese descriptions and tooltips contain Han characters and no kana; these do not: {bad}"
