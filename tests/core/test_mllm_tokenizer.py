"""The MLLM tokenizer gives the reference's ids whatever transformers is installed.

The reference tokenizes with transformers 4.4x's slow ``LlamaTokenizer(legacy=False)``. The ids pinned below are what
that tokenizer (transformers 4.46.3, sentencepiece 0.2.3) gives for ``data/tiny_llama_tokenizer.model`` (made by
:func:`train_tiny_sentencepiece`) with SEED-X's added tokens; the pack must give the same ids under transformers 4.x
and 5.x. For comparison, transformers 5.25 (which converts tokenizer.model to a fast tokenizer, with protobuf) gives
``[<img>, …]`` without the leading ``▁`` (366) and ``[▁two, ▁frie, nds]`` for ``" two friends"``.

``test_same_as_the_slow_transformers_tokenizer`` compares with the real slow tokenizer on random text; it runs only
where transformers 4.x, sentencepiece and protobuf are installed, e.g. a venv with
``pip install "transformers==4.46.3" sentencepiece protobuf`` next to torch and pytest.
"""

from __future__ import annotations

import logging
import random
import sys

import pytest

from diffsensei_core.errors import WeightsError
from diffsensei_core.mllm.folder import load_tokenizer
from diffsensei_core.mllm.template import build_prompt

from .test_mllm_tiny import FIXED_TOKENIZER_MODEL, train_tiny_sentencepiece, write_release_tokenizer

IMAGE_IDS = [400, *range(402, 466), 401]  # <img>, <img_00000>…<img_00063>, </img>
PINNED = [
    # text, tokens (None: too long to list), ids
    ("<img>" + "".join(f"<img_{i:05d}>" for i in range(64)) + "</img>", None, [366, *IMAGE_IDS]),
    ("<img>", ["▁", "<img>"], [366, 400]),
    (" two friends", ["▁", "▁two", "▁frie", "nds"], [366, 291, 357, 330]),
    ("two friends", ["▁two", "▁frie", "nds"], [291, 357, 330]),
    ("  two", ["▁", "▁", "▁two"], [366, 366, 291]),
    ("12 cafés, 漫画!", ["▁", "1", "2", "▁café", "s", ",", "▁漫画", "<0x21>"], [366, 389, 390, 355, 369, 387, 342, 36]),
    ("a\n\nb", ["▁a", "<0x0A>", "<0x0A>", "b"], [259, 13, 13, 385]),
    ("▁hi", ["▁", "▁h", "i"], [366, 282, 374]),
    ("<s>hi", ["<s>", "h", "i"], [1, 372, 374]),
    ("x <box_start> y", ["▁", "<0x78>", "▁", "<box_start>", "▁", "y"], [366, 123, 366, 502, 366, 384]),
    ("tab\there", ["▁t", "a", "b", "<0x09>", "her", "e"], [261, 367, 385, 12, 269, 368]),
    ("😀", ["▁", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"], [366, 243, 162, 155, 131]),
]
PINNED_DECODED = {" two friends": " two friends", "  two": "  two", "▁hi": " hi", "<s>hi": "<s> hi",
                  "x <box_start> y": "x  <box_start> y", "12 cafés, 漫画!": "12 cafés, 漫画!"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_release_tokenizer(tmp_path_factory.mktemp("tokenizer"), model=FIXED_TOKENIZER_MODEL.read_bytes())


@pytest.fixture(scope="module")
def tokenizer(folder):
    return load_tokenizer(folder)


@pytest.mark.parametrize(("text", "tokens", "ids"), PINNED, ids=[repr(case[0][:16]) for case in PINNED])
def test_pinned_ids(tokenizer, text, tokens, ids):
    assert tokenizer.encode(text, add_special_tokens=False) == ids
    if tokens is not None:
        assert tokenizer.convert_ids_to_tokens(ids) == tokens
    if text in PINNED_DECODED:
        assert tokenizer.decode(ids) == PINNED_DECODED[text]


def test_pinned_prompt(tokenizer):
    """[<s>] + "the girl smiles\\n<img>…</img>\\n"; the forced answer keeps its leading ▁."""
    prompt = build_prompt(tokenizer, "the girl smiles")
    assert prompt.input_ids[0].tolist() == [1, 262, 358, 293, 13, *IMAGE_IDS, 13]
    assert prompt.image_positions.tolist() == list(range(6, 70))
    assert prompt.response == (366, *IMAGE_IDS)
    spaced = build_prompt(tokenizer, " two friends")
    assert spaced.input_ids[0].tolist() == [1, 366, 291, 357, 330, 13, *IMAGE_IDS, 13]


# transformers 4.46's slow tokenizer on a model trained with remove_extra_whitespaces (LLaMA's is not): a stretch of
# text that starts with a space is encoded behind "<unk>", so SentencePiece does not strip its leading space
STRIPPING_MODEL_TOKENS = {
    " two friends": ["▁", "▁two", "▁frie", "nds"],
    "  two": ["▁", "▁two"],
    "a  b": ["▁a", "▁", "b"],
    "x <box_start>  y ": ["▁", "<0x78>", "<box_start>", "▁", "y"],
    "<img>": ["<img>"],
}


def test_a_model_that_strips_spaces(tmp_path):
    model = train_tiny_sentencepiece(remove_extra_whitespaces=True)
    tokenizer = load_tokenizer(write_release_tokenizer(tmp_path, model=model))
    assert {text: tokenizer.tokenize(text) for text in STRIPPING_MODEL_TOKENS} == STRIPPING_MODEL_TOKENS


def test_vocabulary_size(tokenizer):
    assert len(tokenizer) == 400 + 330  # SentencePiece pieces + SEED-X's added tokens
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (1, 2, 0)
    assert tokenizer.convert_tokens_to_ids("<img_00099>") == 501
    assert tokenizer.convert_tokens_to_ids("<not a token>") == 0


def test_transformers_is_not_used_for_tokenizer_model(folder, monkeypatch):
    transformers = pytest.importorskip("transformers")

    def refuse(*args, **kwargs):
        raise AssertionError("AutoTokenizer was used for a tokenizer.model folder")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    assert load_tokenizer(folder).encode("<img>") == [366, 400]


def test_missing_sentencepiece_names_the_package(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # import raises ImportError
    with pytest.raises(WeightsError, match=r"needs the Python package 'sentencepiece'.*pip install sentencepiece"):
        load_tokenizer(folder)


def test_unreadable_model_is_named(folder, tmp_path):
    import shutil

    broken = shutil.copytree(folder, tmp_path / "tokenizer")
    (broken / "tokenizer.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(WeightsError, match=r"tokenizer\.model: not a readable SentencePiece model"):
        load_tokenizer(broken)
    (broken / "tokenizer.model").write_bytes(FIXED_TOKENIZER_MODEL.read_bytes())
    (broken / "added_tokens.json").write_text("{")
    with pytest.raises(WeightsError, match=r"added_tokens\.json: not a readable JSON file"):
        load_tokenizer(broken)


def test_a_legacy_config_still_gets_the_reference_behaviour(folder, tmp_path, caplog):
    import json
    import shutil

    legacy = shutil.copytree(folder, tmp_path / "tokenizer")
    config = json.loads((legacy / "tokenizer_config.json").read_text())
    (legacy / "tokenizer_config.json").write_text(json.dumps({**config, "legacy": True}))
    with caplog.at_level(logging.WARNING, logger="diffsensei"):
        assert load_tokenizer(legacy).encode("<img>") == [366, 400]
    assert "legacy" in caplog.text


def random_texts(count: int, seed: int = 0) -> list[str]:
    """Short texts mixing words, spaces, ▁, newlines, bytes, digits, special and added tokens (and near misses)."""
    parts = [*"ab xyz▁\n\t.,!?'", "  ", "the", " girl", "12", "é", "漫", "😀", "<s>", "</s>", "<unk>", "<img>",
             "</img>", "<img_00007>", "<box_start>", "<loc-12>", "<loc-1", "<img", "n't", " 's"]
    rng = random.Random(seed)
    return ["".join(rng.choice(parts) for _ in range(rng.randint(0, 12))) for _ in range(count)]


@pytest.mark.parametrize(("strips_spaces", "clean_up"), [(False, False), (False, True), (True, False)])
def test_same_as_the_slow_transformers_tokenizer(tmp_path, strips_spaces, clean_up):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("google.protobuf", reason="the slow non-legacy LlamaTokenizer needs protobuf")
    if int(transformers.__version__.split(".")[0]) >= 5:
        pytest.skip(f"transformers {transformers.__version__} has no slow LlamaTokenizer (the reference ran 4.4x)")
    import json

    model = train_tiny_sentencepiece(remove_extra_whitespaces=True) if strips_spaces else FIXED_TOKENIZER_MODEL
    folder = write_release_tokenizer(tmp_path, model=model if strips_spaces else model.read_bytes())
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "clean_up_tokenization_spaces": clean_up}))
    reference = transformers.LlamaTokenizer.from_pretrained(str(folder), legacy=False)
    ours = load_tokenizer(folder)
    assert len(ours) == len(reference)
    for text in random_texts(1500, seed=2 * strips_spaces + clean_up):
        ids = reference.encode(text, add_special_tokens=False)
        assert ours.encode(text) == ids, repr(text)
        assert ours.decode(ids) == reference.decode(ids), repr(text)
