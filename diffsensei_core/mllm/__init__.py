"""DiffSensei's optional MLLM stage (SEED-X based, model spec §6): an LLM reads the panel caption and the 64
character tokens and rewrites them so that expressions, poses and actions follow the text.

* :mod:`.qwen_resampler`, :mod:`.agent` — the two resamplers of ``mllm/agent`` (strict loading);
* :mod:`.folder` — checks ``mllm/`` and loads the tokenizer and transformers' ``LlamaForCausalLM``;
* :mod:`.llama_tokenizer` — ``tokenizer.model`` read with sentencepiece, tokenized as the reference's slow tokenizer;
* :mod:`.template` — special tokens, prompt template, 77-token caption truncation;
* :mod:`.generation` — greedy decoding up to ``<img>``, the forced 64 image tokens, hidden-state read-out;
* :mod:`.mixing` — character tokens for the LLM and ``mllm_scale`` mixing (conditional branch only).

Importing this package is cheap: transformers is imported inside the functions that need it.
"""

from .agent import AgentResamplers, load_agent
from .folder import MLLMFolder, find_mllm_folder, load_llm, load_tokenizer
from .generation import AdaptedTokens, adapt_character_tokens
from .mixing import DEFAULT_MLLM_SCALE, character_tokens, mix_tokens
from .qwen_resampler import QwenResampler, sincos_grid_embedding
from .template import MLLMPrompt, build_prompt, image_token_ids, truncate_caption

__all__ = [
    "DEFAULT_MLLM_SCALE",
    "AdaptedTokens",
    "AgentResamplers",
    "MLLMFolder",
    "MLLMPrompt",
    "QwenResampler",
    "adapt_character_tokens",
    "build_prompt",
    "character_tokens",
    "find_mllm_folder",
    "image_token_ids",
    "load_agent",
    "load_llm",
    "load_tokenizer",
    "mix_tokens",
    "sincos_grid_embedding",
    "truncate_caption",
]
