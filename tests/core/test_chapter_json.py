"""The chapter script as JSON and back to text: round trips, and JSON errors that name their path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diffsensei_core.chapter.formatting import format_script
from diffsensei_core.chapter.grammar import parse_script
from diffsensei_core.chapter.script_json import chapter_from_dict, chapter_from_json, chapter_to_dict, chapter_to_json
from diffsensei_core.errors import ScriptError

from .chapter_strategies import chapters, single_line
from .fuzz import fuzz_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "chapters"


@pytest.mark.parametrize("name", ["the_late_bell.txt", "the_late_bell_ja.txt"])
def test_examples_round_trip_through_json_and_text(name):
    chapter = parse_script((EXAMPLES / name).read_text(encoding="utf-8"))
    text = chapter_to_json(chapter)
    assert chapter_from_json(text) == chapter
    assert chapter_to_json(chapter_from_json(text)) == text, "JSON → chapter → JSON is byte-identical"
    assert parse_script(format_script(chapter)) == chapter


@fuzz_settings(150)
@given(chapters())
def test_any_chapter_round_trips(chapter):
    assert chapter_from_dict(json.loads(json.dumps(chapter_to_dict(chapter)))) == chapter
    script = format_script(chapter)
    assert parse_script(script) == chapter, script
    assert format_script(parse_script(script)) == script


@fuzz_settings(150)
@given(caption=single_line(), text=single_line())
def test_captions_and_texts_that_look_like_keywords_survive_the_text_form(caption, text):
    """A caption typed after '\\' is kept whatever it looks like, and format_script escapes it when needed."""
    chapter = parse_script(f"Character Ren: ren.png\nPage\nPanel\n\\{caption}\nRen: {text}\n")
    assert chapter.pages[0].panels[0].caption == caption
    assert chapter.pages[0].panels[0].lines[0].text == text
    assert parse_script(format_script(chapter)) == chapter


JSON_ERRORS = [
    ([], r"chapter JSON the chapter: got list; expected a JSON object"),
    ({"pages": []}, r"pages: got \[\]; expected a non-empty list"),
    ({}, r'"pages" is missing'),
    ({"pages": [{"panels": [{"caption": "a"}]}], "titel": "x"}, r"titel: unknown key 'titel'.*Did you mean 'title'"),
    ({"format": "other", "pages": [{"panels": [{"caption": "a"}]}]}, r"format 'other'"),
    ({"pages": [{"panels": [{"caption": 3}]}]}, r"pages\[0\]\.panels\[0\]\.caption: got 3; expected a string"),
    ({"pages": [{"panels": [{"caption": "a", "shot": "closup"}]}]},
     r"pages\[0\]\.panels\[0\]: unknown shot 'closup'.*Did you mean 'close-up'"),
    ({"pages": [{"panels": [{"caption": "a", "lines": [{"speaker": "Ren", "text": "hi"}]}]}]},
     r"pages\[0\]\.panels\[0\]\.lines\[0\]: unknown speaker 'Ren'"),
    ({"characters": [{"name": "Ren", "references": ["ren.png"]}],
      "pages": [{"panels": [{"caption": "a", "lines": [{"speaker": "Rne", "text": "hi"}]}]}]},
     r"unknown speaker 'Rne'.*Did you mean 'Ren'"),
    ({"characters": [{"name": "Ren", "references": []}], "pages": [{"panels": [{"caption": "a"}]}]},
     r"characters\[0\]\.references: got \[\]; expected a non-empty list"),
    ({"characters": [{"name": "Ren", "references": ["ren.txt"]}], "pages": [{"panels": [{"caption": "a"}]}]},
     r"characters\[0\]: the reference image 'ren.txt' has no image extension"),
    ({"seed": True, "pages": [{"panels": [{"caption": "a"}]}]}, r"seed: got True; expected a whole number"),
    ({"direction": "up", "pages": [{"panels": [{"caption": "a"}]}]}, r"direction: unknown reading direction"),
    ({"pages": [{"panels": [{"caption": "a", "lines": [{"narration": "x", "text": "y"}]}]}]},
     r"lines\[0\]\.text: unknown key 'text'"),
    ({"pages": [{"panels": [{"caption": ""}]}]}, r"pages\[0\]\.panels\[0\]: the panel has no caption"),
]


@pytest.mark.parametrize(("data", "pattern"), JSON_ERRORS, ids=[f"j{k}" for k in range(len(JSON_ERRORS))])
def test_json_errors_name_the_path(data, pattern):
    with pytest.raises(ScriptError) as caught:
        chapter_from_dict(data)
    assert caught.value.line is None
    assert re.search(pattern, str(caught.value), re.DOTALL), str(caught.value)


def test_unparsable_json_names_line_and_column():
    with pytest.raises(ScriptError) as caught:
        chapter_from_json('{"pages": [\n  {"panels": [}]\n}')
    assert (caught.value.line, caught.value.column) == (2, 15) and "does not parse" in str(caught.value)


@given(st.text(max_size=40))
@fuzz_settings(100)
def test_garbage_never_escapes_as_another_error(text):
    for reader in (parse_script, chapter_from_json):
        try:
            reader(text)
        except ScriptError:
            pass
