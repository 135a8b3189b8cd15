"""The released ``mllm/`` folder: check that it is complete, then load the tokenizer and the LLM with transformers.

Layout as downloaded (model spec §1.1)::

    mllm/llm/        config.json, model.safetensors.index.json, model-000NN-of-00011.safetensors (LLaMA-2-13B shape)
    mllm/tokenizer/  tokenizer.model (SentencePiece), added_tokens.json, special_tokens_map.json, tokenizer_config.json
    mllm/agent/      pytorch_model.bin (the two resamplers, see agent.py)

The LLM is transformers' standard ``LlamaForCausalLM`` (no xformers); its loading report is checked so that a
missing or unexpected tensor raises instead of leaving random weights. transformers is imported lazily.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import WeightsError
from .agent import find_agent_file
from .llama_tokenizer import load_sentencepiece_tokenizer

log = logging.getLogger("diffsensei")

LLM_SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
LLM_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json")
# tensors old LLaMA checkpoints carry that today's implementation recomputes
_IGNORABLE = ("rotary_emb.inv_freq",)
QUANTIZATIONS = ("8bit", "4bit")


@dataclass(frozen=True)
class MLLMFolder:
    root: Path
    llm: Path
    tokenizer: Path
    agent: Path


def _listing(folder: Path) -> str:
    return str(sorted(p.name for p in folder.iterdir())[:8]) if folder.is_dir() else "nothing (no such folder)"


def find_mllm_folder(path: str | os.PathLike) -> MLLMFolder:
    """Check the ``mllm/`` folder (or the download root above it); the error names the first missing file."""
    root = Path(path).expanduser()
    if not (root / "llm").exists() and (root / "mllm").is_dir():
        root = root / "mllm"
    for sub in ("llm", "tokenizer", "agent"):
        if not (root / sub).is_dir():
            raise WeightsError(
                f"MLLM folder {root}: the subfolder {sub}/ is missing; expected llm/, tokenizer/ and agent/ as in the "
                f"DiffSensei release (found {_listing(root)}). Download mllm/{sub}/ from the release into {root}."
            )
    llm = root / "llm"
    if not (llm / "config.json").is_file():
        raise WeightsError(
            f"MLLM folder: {llm / 'config.json'} is missing (found {_listing(llm)}). Download mllm/llm/config.json."
        )
    _check_llm_weights(llm)
    tokenizer = root / "tokenizer"
    if not any((tokenizer / name).is_file() for name in TOKENIZER_FILES):
        raise WeightsError(
            f"MLLM folder: no tokenizer in {tokenizer}; expected {' or '.join(TOKENIZER_FILES)} (found "
            f"{_listing(tokenizer)}). Download mllm/tokenizer/ (tokenizer.model, added_tokens.json, "
            "special_tokens_map.json, tokenizer_config.json) from the release."
        )
    find_agent_file(root / "agent")
    return MLLMFolder(root, llm, tokenizer, root / "agent")


def _check_llm_weights(llm: Path) -> None:
    index = next((llm / name for name in LLM_INDEX_FILES if (llm / name).is_file()), None)
    if index is None:
        if any((llm / name).is_file() for name in LLM_SINGLE_FILES):
            return
        raise WeightsError(
            f"MLLM folder: no LLM weights in {llm}; expected {LLM_INDEX_FILES[0]} with its shards (found "
            f"{_listing(llm)}). Download every file of mllm/llm/ from the release (11 shards, 52 GB)."
        )
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise WeightsError(f"{index}: not a readable weight index ({error!r}); re-download it.") from None
    missing = [name for name in shards if not (llm / name).is_file()]
    if missing:
        raise WeightsError(
            f"MLLM folder: the LLM shard {llm / missing[0]} is missing ({len(missing)} of {len(shards)} shards "
            f"missing: {missing[:3]}). Download it from mllm/llm/ of the release; an interrupted download leaves "
            "shards out."
        )


def load_tokenizer(folder: str | os.PathLike):
    """The tokenizer of ``mllm/tokenizer`` (offline).

    The release's ``tokenizer.model`` is read with the ``sentencepiece`` package under the reference's tokenization
    rules (:mod:`.llama_tokenizer`), whatever transformers version is installed; a folder with only a
    ``tokenizer.json`` goes to transformers' ``AutoTokenizer``.
    """
    folder = Path(folder)
    if (folder / "tokenizer.model").is_file():
        return load_sentencepiece_tokenizer(folder)
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, ImportError) as error:
        raise WeightsError(
            f"{folder}: transformers could not load the tokenizer ({str(error).splitlines()[0][:200]}). Expected the "
            "released mllm/tokenizer with its tokenizer.model (read with the 'sentencepiece' package), or a "
            "tokenizer.json that transformers can read. Re-download mllm/tokenizer from the release."
        ) from None


def _dtype_kwarg(dtype: torch.dtype) -> dict:
    import transformers

    major = int(transformers.__version__.split(".")[0])
    return {"dtype": dtype} if major >= 5 else {"torch_dtype": dtype}


def load_llm(folder: str | os.PathLike, *, dtype: torch.dtype, quantization: str | None = None,
             device: torch.device | str | None = None):
    """transformers ``LlamaForCausalLM`` from ``mllm/llm`` in ``dtype``, on the CPU.

    ``quantization`` "8bit"/"4bit" (bitsandbytes, nf4 with ``dtype`` compute) places the weights on ``device``
    while loading, since quantised layers are made on the GPU.
    """
    from transformers import AutoConfig, LlamaForCausalLM

    folder = Path(folder)
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    if config.model_type != "llama":
        raise WeightsError(
            f"{folder / 'config.json'}: model_type is {config.model_type!r}; expected 'llama' (SEED-X's LLaMA-2-13B). "
            "Use mllm/llm of the DiffSensei release."
        )
    kwargs = {"config": config, "local_files_only": True, "attn_implementation": "sdpa", **_dtype_kwarg(dtype)}
    if quantization is not None:
        kwargs.update(_quantization_kwargs(quantization, dtype, device))
    model, info = LlamaForCausalLM.from_pretrained(str(folder), output_loading_info=True, **kwargs)
    _check_loading_info(info, folder)
    return model.eval().requires_grad_(False)


def _quantization_kwargs(quantization: str, dtype: torch.dtype, device) -> dict:
    from transformers import BitsAndBytesConfig

    if quantization not in QUANTIZATIONS:
        raise WeightsError(f"unknown quantization {quantization!r}; expected one of {QUANTIZATIONS}.")
    if device is None or torch.device(device).type != "cuda":
        raise WeightsError(
            f"{quantization} quantization (bitsandbytes) needs a CUDA GPU, got device {device}. Pick bf16 or fp16."
        )
    if quantization == "8bit":
        config = BitsAndBytesConfig(load_in_8bit=True)
    else:
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    index = torch.device(device).index
    return {"quantization_config": config, "device_map": {"": 0 if index is None else index}}


def _check_loading_info(info: dict, folder: Path) -> None:
    def relevant(keys) -> list[str]:
        return sorted(k for k in keys or () if not k.endswith(_IGNORABLE))

    missing, unexpected = relevant(info.get("missing_keys")), relevant(info.get("unexpected_keys"))
    mismatched = list(info.get("mismatched_keys") or ())
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"{folder}: the LLM weights do not match config.json: missing {len(missing)} {missing[:3]}, unexpected "
            f"{len(unexpected)} {unexpected[:3]}, wrong shape {len(mismatched)} {mismatched[:3]}. Expected a plain "
            "LlamaForCausalLM checkpoint (LoRA merged) as released in mllm/llm; re-download the folder."
        )
