"""The MLLM's tokenizer rebuilt on the ``sentencepiece`` package: token ids exactly as the reference demo got them.

The reference loads ``mllm/tokenizer`` with the slow ``LlamaTokenizer`` of transformers 4.4x in its non-legacy mode
(``legacy: false``): only that mode encodes ``"<img>"`` as ``[▁, <img>]``, which the demo's ``encode(...)[1]`` and
its forced-token list rely on, and which the released LLM was trained on. transformers 5 has no slow tokenizer: it
converts ``tokenizer.model`` into a fast one (that needs ``protobuf``) with other whitespace rules — ``"<img>…"`` loses
its leading ``▁`` and a caption that starts with a space loses its lone ``▁``. So the pack does not go through
transformers for a ``tokenizer.model`` folder; it applies the reference's rules itself:

1. every ``▁`` in the text becomes a space and one ``▁`` is put in front of the whole text;
2. the text is cut at the added tokens (``added_tokens.json`` plus ``<s>``, ``</s>``, ``<unk>``) — at the earliest
   position, the longest token first — and each added token is one id;
3. each stretch of plain text is encoded by the SentencePiece model with its dummy prefix switched off; a stretch that
   starts with a space or ``▁`` is encoded behind the text ``<unk>`` whose pieces are then dropped, so that its
   leading space stays a ``▁``;
4. a lone ``▁`` in front of a leading ``<s>``, ``</s>`` or ``<unk>`` is dropped (not in front of ``<img>``: the image
   tokens are added tokens but not special ones).

Decoding (used to cut captions to 77 tokens, as in training) mirrors the reference too: the text between added tokens
is decoded by SentencePiece with its first ``▁`` removed, and the parts are joined with spaces.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import WeightsError
from ..model.weights_file import read_json_object

log = logging.getLogger("diffsensei")

SPIECE_UNDERLINE = "▁"
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
DEFAULT_SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
# A protobuf NormalizerSpec (ModelProto field 3) holding only add_dummy_prefix (its field 3) = false. Appended to a
# serialized model, the parser merges it into the model's own spec: the same edit as ``MergeFrom`` in transformers.
NO_DUMMY_PREFIX = bytes([3 << 3 | 2, 2, 3 << 3 | 0, 0])
INSTALL_SENTENCEPIECE = (
    "install it into ComfyUI's Python with `python -m pip install sentencepiece` (it is listed in the pack's "
    "requirements.txt; on the portable build: `python_embeded\\python.exe -m pip install sentencepiece`)"
)
_CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
             (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class SlowLlamaTokenizer:
    """Encode/decode like transformers 4.4x's ``LlamaTokenizer(legacy=False)`` on the released files.

    Offers what the pack uses of a transformers tokenizer: ``encode``, ``decode``, ``tokenize``,
    ``convert_tokens_to_ids``, ``convert_ids_to_tokens``, ``len()`` and the ``bos/eos/unk`` token attributes.
    """

    def __init__(self, model_proto: bytes, added_tokens: dict[str, int], special_tokens: dict[str, str], *,
                 additional_special_tokens: tuple[str, ...] = (), clean_up_spaces: bool = False):
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor()
        self._sp.LoadFromSerializedProto(model_proto + NO_DUMMY_PREFIX)
        self.vocab_size = self._sp.get_piece_size()
        self.bos_token = special_tokens.get("bos_token")
        self.eos_token = special_tokens.get("eos_token")
        self.unk_token = special_tokens.get("unk_token")
        self.clean_up_spaces = clean_up_spaces
        self._special = {t for t in (*special_tokens.values(), *additional_special_tokens) if t}
        self._added = {**{t: self._sp.piece_to_id(t) for t in self._special}, **added_tokens}
        self._added_by_id = {i: t for t, i in self._added.items()}
        # added tokens that are not special: decoded on their own and joined with spaces
        self._plain_added = set(self._added) - self._special
        by_length = sorted(self._added, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, by_length)) + ")") if by_length else None
        self._unk_pieces = len(self._sp.encode(self.unk_token or "", out_type=str))
        self._size = len({self._sp.id_to_piece(i) for i in range(self.vocab_size)} | set(self._added))

    def __len__(self) -> int:
        return self._size

    @property
    def bos_token_id(self) -> int | None:
        return None if self.bos_token is None else self.convert_tokens_to_ids(self.bos_token)

    @property
    def eos_token_id(self) -> int | None:
        return None if self.eos_token is None else self.convert_tokens_to_ids(self.eos_token)

    @property
    def unk_token_id(self) -> int:
        return self._sp.unk_id() if self.unk_token is None else self.convert_tokens_to_ids(self.unk_token)

    # ------------------------------------------------------------------------------------------------ encoding

    def tokenize(self, text: str) -> list[str]:
        """Token strings of ``text`` (rules 1–4 of the module docstring)."""
        if not text:
            return []
        text = SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " ")
        parts = self._split.split(text) if self._split is not None else [text]
        tokens: list[str] = []
        for index, part in enumerate(parts):
            if index % 2:  # the separators the split kept: added tokens
                tokens.append(part)
            elif part:
                tokens.extend(self._encode_plain(part))
        if len(tokens) > 1 and tokens[0] == SPIECE_UNDERLINE and tokens[1] in self._special:
            tokens = tokens[1:]
        return tokens

    def _encode_plain(self, text: str) -> list[str]:
        if not text.startswith((SPIECE_UNDERLINE, " ")):
            return self._sp.encode(text, out_type=str)
        pieces = self._sp.encode((self.unk_token or "") + text, out_type=str)
        return pieces[self._unk_pieces:] if len(pieces) >= self._unk_pieces else pieces

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        return [self.bos_token_id, *ids] if add_special_tokens and self.bos_token is not None else ids

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        if isinstance(tokens, str):
            found = self._added.get(tokens)
            return found if found is not None else self._sp.piece_to_id(tokens)
        return [self.convert_tokens_to_ids(token) for token in tokens]

    def convert_ids_to_tokens(self, ids: int | list[int]) -> str | list[str]:
        if isinstance(ids, int):
            found = self._added_by_id.get(ids)
            return found if found is not None else self._sp.id_to_piece(ids)
        return [self.convert_ids_to_tokens(int(i)) for i in ids]

    # ------------------------------------------------------------------------------------------------ decoding

    def decode(self, ids) -> str:
        """Text of ``ids``: runs between added tokens decoded by SentencePiece, the parts joined by spaces."""
        parts: list[str] = []
        run: list[str] = []
        for token in self.convert_ids_to_tokens([int(i) for i in ids]):
            if token not in self._plain_added:
                run.append(token)
                continue
            if run:
                text = self._decode_run(run)
                parts.extend([text] if text else [])
                run = []
            parts.append(token)
        if run:
            parts.append(self._decode_run(run))
        text = " ".join(parts)
        if self.clean_up_spaces:
            for before, after in _CLEAN_UP:
                text = text.replace(before, after)
        return text

    def _decode_run(self, tokens: list[str]) -> str:
        tokens = list(tokens)
        if tokens[0].startswith(SPIECE_UNDERLINE):
            tokens[0] = tokens[0][1:]  # the ▁ that encoding put in front
        out: list[str] = []
        pending: list[str] = []
        after_special = False
        for index, token in enumerate(tokens):
            if token in self._special:
                out.append(self._sp.decode(pending) + token)
                pending, after_special = [], True
                continue
            if after_special and index == 1 and not token.startswith(SPIECE_UNDERLINE):
                out.append(" ")
            pending.append(token)
            after_special = False
        out.append(self._sp.decode(pending))
        return "".join(out)


# ------------------------------------------------------------------------------------------------------ loading


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    return read_json_object(path, what="a tokenizer file", fix="re-download it from mllm/tokenizer.")


def _content(value) -> str | None:
    """A special token as stored: a string, or an AddedToken dict with its text under ``content``."""
    return value.get("content") if isinstance(value, dict) else value


def _special_tokens(config: dict, special_map: dict) -> tuple[dict[str, str], tuple[str, ...]]:
    tokens = dict(DEFAULT_SPECIAL_TOKENS)
    for source in (config, special_map):  # special_tokens_map.json wins, as in transformers
        for key in SPECIAL_TOKEN_KEYS:
            if key in source:
                tokens[key] = _content(source[key])
    additional = special_map.get("additional_special_tokens", config.get("additional_special_tokens")) or ()
    return tokens, tuple(t for t in map(_content, additional) if t)


def _added_tokens(folder: Path, config: dict) -> dict[str, int]:
    added = {}
    for token_id, entry in (config.get("added_tokens_decoder") or {}).items():
        if _content(entry):
            added[_content(entry)] = int(token_id)
    for token, token_id in _read_json(folder / "added_tokens.json").items():
        added[str(token)] = int(token_id)
    return added


def load_sentencepiece_tokenizer(folder: str | Path) -> SlowLlamaTokenizer:
    """``mllm/tokenizer`` as released (tokenizer.model, added_tokens.json, special_tokens_map.json,
    tokenizer_config.json) → :class:`SlowLlamaTokenizer`. Needs the ``sentencepiece`` package only."""
    folder = Path(folder)
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        raise WeightsError(
            f"{folder / 'tokenizer.model'}: reading the MLLM's SentencePiece tokenizer needs the Python package "
            f"'sentencepiece', which is not installed; {INSTALL_SENTENCEPIECE}, then restart ComfyUI."
        ) from None
    config = _read_json(folder / "tokenizer_config.json")
    special, additional = _special_tokens(config, _read_json(folder / "special_tokens_map.json"))
    if config.get("legacy") is True:
        log.warning("%s: tokenizer_config.json asks for LLaMA's legacy tokenization; DiffSensei's demo only works "
                    "with the non-legacy one (it reads encode('<img>')[1]), which is used", folder)
    try:
        return SlowLlamaTokenizer(
            (folder / "tokenizer.model").read_bytes(), _added_tokens(folder, config), special,
            additional_special_tokens=additional, clean_up_spaces=bool(config.get("clean_up_tokenization_spaces")),
        )
    except (OSError, RuntimeError) as error:
        raise WeightsError(
            f"{folder / 'tokenizer.model'}: not a readable SentencePiece model ({str(error).splitlines()[0][:200]}); "
            "expected the tokenizer.model of the release's mllm/tokenizer. Re-download it."
        ) from None
