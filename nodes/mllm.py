"""The optional MLLM stage: load SEED-X's LLM + resamplers and rewrite the character tokens from the panel prompt.

* ``DiffSenseiLoadMLLM`` → DIFFSENSEI_MLLM: ``models/diffsensei/<…>/mllm`` (``llm/``, ``tokenizer/``, ``agent/``) with
  a precision (bf16/fp16/fp32; 8-bit/4-bit when bitsandbytes is installed) and an offload mode. The LLM and the
  resamplers live in ComfyUI ModelPatchers: loaded when the adapt node runs, evicted when the UNet needs the memory.
  With offload "auto" the LLM's layers are made castable like ComfyUI's own ops, so a LLM larger than the free GPU
  memory is partly kept in system RAM and streamed layer by layer.
* ``DiffSenseiMLLMAdaptCharacters`` → DIFFSENSEI_CHARACTERS with ``adapted_tokens`` (1, k·q, c) =
  mllm_scale·MLLM(characters, prompt) + (1 − mllm_scale)·characters, which Apply uses in the conditional branch.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import folder_paths
import torch
from comfy_api.v0_0_2 import io
from torch import nn

from ..diffsensei_core.errors import DiffSenseiError, InputShapeError, WeightsError
from ..diffsensei_core.mllm import (
    DEFAULT_MLLM_SCALE,
    adapt_character_tokens,
    build_prompt,
    character_tokens,
    find_mllm_folder,
    image_token_ids,
    load_agent,
    load_llm,
    load_tokenizer,
    mix_tokens,
)
from ..diffsensei_core.mllm.agent import AGENT_FILE_NAMES
from ..diffsensei_core.model.encoders import pad_character_features
from .host import folders
from .host.adapter import DiffSenseiAdapter
from .host.sockets import Adapter, Characters, EncodedCharacters, Encoders

log = logging.getLogger("diffsensei")

CATEGORY = "DiffSensei/mllm"
MLLM = io.Custom("DIFFSENSEI_MLLM")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
QUANTIZED = {"8-bit (bitsandbytes)": "8bit", "4-bit nf4 (bitsandbytes)": "4bit"}
OFFLOAD_MODES = ("auto", "gpu only", "cpu")
OOM_ADVICE = (
    "Free memory first (close other models), or load the MLLM with offload 'auto' (layers that do not fit stay in "
    "system RAM), with precision 8-bit or 4-bit (needs the bitsandbytes package), or with offload 'cpu'; or leave "
    "the MLLM out (Apply works without it)."
)


def precision_choices() -> list[str]:
    quantized = list(QUANTIZED) if importlib.util.find_spec("bitsandbytes") is not None else []
    return ["auto", *DTYPES, *quantized]


def mllm_choices() -> list[str]:
    """Folders under models/diffsensei holding ``agent/pytorch_model.bin`` (the ``mllm/`` folder of the release)."""
    folders.register_model_folder()
    found = set()
    for name in folder_paths.get_filename_list(folders.FOLDER):
        path = PurePosixPath(name.replace("\\", "/"))
        if path.name in AGENT_FILE_NAMES and path.parent.name == "agent":
            found.add(str(path.parent.parent))
    return sorted(found)


def resolve_mllm(choice: str) -> Path:
    """The first ``<root>/<choice>`` folder over the models/diffsensei roots, or a WeightsError naming them."""
    path = folders.find(choice, directory=True)
    if path is not None:
        return path
    raise WeightsError(
        f"DiffSensei: Load MLLM, input 'mllm_name': '{choice}' was not found in the diffsensei model folders "
        f"{folder_paths.get_folder_paths(folders.FOLDER)}. Put the release's mllm/ folder (llm/, tokenizer/, agent/) "
        "there and refresh the node list."
    )


# ---------------------------------------------------------------------------------------------- memory plumbing


class Holder(nn.Module):
    """What a ModelPatcher manages: a plain module with a writable ``device`` (transformers models have none)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner


@functools.cache
def _castable_rmsnorm(base: type) -> type:
    """``base`` (transformers' LlamaRMSNorm) whose weight ComfyUI may keep offloaded and cast per call."""

    class CastableRMSNorm(base, comfy.ops.CastWeightBiasOp):
        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            if not (self.comfy_cast_weights or self.weight_function or self.bias_function):
                return super().forward(hidden)
            weight, _ = comfy.ops.cast_bias_weight(self, hidden)
            x = hidden.float()
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
            return weight * x.to(hidden.dtype)

    return CastableRMSNorm


def make_layers_castable(model: nn.Module) -> int:
    """Give the LLM's Linear, Embedding and RMSNorm layers ComfyUI's cast-on-demand behaviour (in place).

    ComfyUI's partial loading keeps layers that do not fit on the GPU in system RAM and casts their weights to the
    GPU at each call, but only for layers that carry ``comfy_cast_weights`` (its ``comfy.ops`` classes). Swapping
    the classes keeps the parameters and the transformers forward; returns how many layers were made castable.
    """
    ops = comfy.ops.disable_weight_init
    count = 0
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = ops.Linear
        elif type(module) is nn.Embedding:
            module.__class__ = ops.Embedding
            module.bias = None
        elif type(module).__name__.endswith("RMSNorm") and hasattr(module, "variance_epsilon"):
            module.__class__ = _castable_rmsnorm(type(module))
            module.bias = None
        else:
            continue
        count += 1
    return count


@dataclass(frozen=True, eq=False)
class DiffSenseiMLLM:
    """DIFFSENSEI_MLLM: the LLM (ModelPatcher around a Holder of ``LlamaForCausalLM``), the agent resamplers
    (their own ModelPatcher, always loaded whole), the tokenizer and the sizes: n image tokens of width c."""

    llm_patcher: comfy.model_patcher.ModelPatcher
    agent_patcher: comfy.model_patcher.ModelPatcher
    tokenizer: Any
    num_image_tokens: int
    token_dim: int
    full_load: bool
    source: str

    @property
    def llm(self):
        return self.llm_patcher.model.inner

    @property
    def agent(self):
        return self.agent_patcher.model.inner

    def load(self, prompt_tokens: int) -> None:
        """Bring the agent (whole) and the LLM (whole, or as much as fits with offload 'auto') to the GPU."""
        config = self.llm.config
        itemsize = 2 if self.llm.dtype in (torch.float16, torch.bfloat16) else 4
        # KV cache + a few activations of the prompt, per layer
        inference = 4 * prompt_tokens * config.hidden_size * config.num_hidden_layers * itemsize + (256 << 20)
        try:
            mm.load_models_gpu([self.agent_patcher], force_full_load=True)
            mm.load_models_gpu([self.llm_patcher], memory_required=inference, force_full_load=self.full_load)
        except torch.OutOfMemoryError:
            raise DiffSenseiError(
                f"DiffSensei: MLLM Adapt Characters, input 'mllm': out of GPU memory while loading the MLLM "
                f"({self.llm_patcher.model_size() / 2**30:.1f} GiB of weights, {self.source}). {OOM_ADVICE}"
            ) from None


def _default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cpu":
        return torch.bfloat16  # 26 GB instead of 52 GB of RAM for the released 13B LLM
    return torch.bfloat16 if mm.should_use_bf16(device, prioritize_performance=False) else torch.float16


def load_mllm(path: Path, precision: str, offload: str, *, source: str) -> DiffSenseiMLLM:
    layout = find_mllm_folder(path)
    tokenizer = load_tokenizer(layout.tokenizer)
    agent = load_agent(layout.agent)
    image_token_ids(tokenizer, agent.num_image_tokens, source=str(layout.tokenizer))
    load_device = torch.device("cpu") if offload == "cpu" else mm.get_torch_device()
    offload_device = mm.unet_offload_device()
    quantization = QUANTIZED.get(precision)
    dtype = DTYPES.get(precision) or _default_dtype(load_device)
    if quantization is not None:
        dtype = torch.float16 if dtype == torch.float32 else dtype
    try:
        llm = load_llm(layout.llm, dtype=dtype, quantization=quantization, device=load_device)
    except torch.OutOfMemoryError:
        raise DiffSenseiError(f"DiffSensei: Load MLLM, input 'precision': out of GPU memory while loading "
                              f"{layout.llm} in "
                              f"{precision}. {OOM_ADVICE}") from None
    _check_vocabulary(llm, tokenizer, layout.llm)
    if quantization is None:
        castable = make_layers_castable(llm)
        log.debug("MLLM: %d layers castable for partial loading", castable)
    else:
        offload_device = load_device  # bitsandbytes layers are made on the GPU and stay there
    llm_patcher = comfy.model_patcher.ModelPatcher(Holder(llm), load_device=load_device, offload_device=offload_device)
    agent_patcher = comfy.model_patcher.ModelPatcher(
        Holder(agent.to(dtype)), load_device=load_device, offload_device=mm.unet_offload_device()
    )
    log.info("loaded the MLLM from %s: %s, %.1f GiB, runs on %s (offload %s)", layout.root, precision if quantization
             else dtype, llm_patcher.model_size() / 2**30, load_device, offload)
    return DiffSenseiMLLM(llm_patcher, agent_patcher, tokenizer, agent.num_image_tokens, agent.token_dim,
                          full_load=offload == "gpu only" or quantization is not None, source=source)


def _check_vocabulary(llm, tokenizer, folder: Path) -> None:
    rows = llm.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise WeightsError(
            f"DiffSensei: Load MLLM, input 'mllm_name': the tokenizer has {len(tokenizer)} tokens but the LLM in "
            f"{folder} "
            f"embeds only {rows}; expected the tokenizer that ships with this LLM (32330 tokens released). "
            "Re-download mllm/tokenizer and mllm/llm together."
        )


# ------------------------------------------------------------------------------------------------------- nodes


class DiffSenseiLoadMLLM(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiLoadMLLM",
            display_name="DiffSensei: Load MLLM",
            category=CATEGORY,
            description=(
                "Loads DiffSensei's optional MLLM (SEED-X LLaMA-2-13B + two resamplers) from the release's mllm/ "
                "folder in models/diffsensei. It rewrites the characters' features so that expressions, poses and "
                "actions follow the panel prompt. Needs about 26 GB in bf16/fp16, 14 GB in 8-bit, 8 GB in 4-bit; "
                "ComfyUI loads it only while MLLM Adapt Characters runs and gives the memory back to the UNet."
            ),
            inputs=[
                io.Combo.Input(
                    "mllm_name", options=mllm_choices(),
                    tooltip="The release's mllm/ folder (with llm/, tokenizer/ and agent/) inside models/diffsensei.",
                ),
                io.Combo.Input(
                    "precision", options=precision_choices(), default="auto",
                    tooltip=(
                        "Weight precision of the LLM. auto: bf16 where the GPU supports it (and on CPU), else fp16. "
                        "8-bit and 4-bit appear when the bitsandbytes package is installed; they keep the LLM on the "
                        "GPU (about 14 / 8 GB) and change its answers slightly."
                    ),
                ),
                io.Combo.Input(
                    "offload", options=list(OFFLOAD_MODES), default="auto",
                    tooltip=(
                        "auto: load the whole LLM on the GPU when it fits, otherwise keep the layers that do not fit "
                        "in system RAM and stream them (slower, needs ~26 GB RAM in bf16). gpu only: load it whole "
                        "or fail. cpu: run the LLM on the CPU (slow, no GPU memory). Ignored for 8-/4-bit."
                    ),
                ),
            ],
            outputs=[MLLM.Output(display_name="mllm", tooltip="The MLLM, for DiffSensei: MLLM Adapt Characters.")],
        )

    @classmethod
    def execute(cls, mllm_name: str, precision: str = "auto", offload: str = "auto") -> io.NodeOutput:
        if precision not in precision_choices():
            raise InputShapeError(
                f"DiffSensei: Load MLLM, input 'precision': {precision!r} is not available; expected one of "
                f"{precision_choices()} (8-/4-bit need the bitsandbytes package)."
            )
        path = resolve_mllm(mllm_name)
        try:
            mllm = load_mllm(path, precision, offload, source=mllm_name)
        except WeightsError as error:
            message = str(error)
            if not message.startswith("DiffSensei:"):
                message = f"DiffSensei: Load MLLM, input 'mllm_name': {message}"
            raise WeightsError(message) from None
        return io.NodeOutput(mllm)


class DiffSenseiMLLMAdaptCharacters(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiMLLMAdaptCharacters",
            display_name="DiffSensei: MLLM Adapt Characters",
            category=CATEGORY,
            description=(
                "Lets the MLLM read the panel prompt and the characters' tokens and rewrite them so expressions, "
                "poses and actions follow the text; the result is mixed with the original tokens by mllm_scale and "
                "used by Apply for the conditional branch only. At most 4 characters. mllm_scale 0 skips the MLLM."
            ),
            inputs=[
                MLLM.Input("mllm", tooltip="The MLLM from DiffSensei: Load MLLM."),
                Adapter.Input("adapter", tooltip="The DiffSensei adapter (its resampler makes the character tokens); "
                                                 "the same one Apply uses."),
                Characters.Input("characters", tooltip="Encoded reference images from Encode Characters (at most 4)."),
                io.String.Input("prompt", multiline=True, default="",
                                tooltip="The panel prompt (the same text as the positive prompt). Longer than 77 "
                                        "LLaMA tokens is cut to 77, as in training, with a warning."),
                io.Float.Input("mllm_scale", default=DEFAULT_MLLM_SCALE, min=0.0, max=1.0, step=0.05,
                               tooltip="Share of the MLLM's tokens in the mix: mllm_scale·MLLM + (1 − mllm_scale)·"
                                       "original. 0.4 is the official default; 0 leaves the characters unchanged."),
                Encoders.Input("encoders", optional=True,
                               tooltip="Optional: the encoders from Load Encoders. When connected, empty character "
                                       "slots are encoded as black images, as the official MLLM demo does; "
                                       "otherwise they are zero features, as in the non-MLLM pipeline."),
            ],
            outputs=[Characters.Output(display_name="characters",
                                       tooltip="The same characters carrying the adapted tokens, for Apply.")],
        )

    @classmethod
    def execute(cls, mllm: DiffSenseiMLLM, adapter: DiffSenseiAdapter, characters: EncodedCharacters, prompt: str,
                mllm_scale: float = DEFAULT_MLLM_SCALE, encoders=None) -> io.NodeOutput:
        if mllm_scale == 0.0:
            log.info("MLLM Adapt Characters: mllm_scale is 0, the characters pass unchanged")
            return io.NodeOutput(characters)
        clip, magi = _slot_features(mllm, adapter, characters, encoders)
        mm.load_models_gpu([adapter.patcher])
        original = character_tokens(adapter.module.resampler, clip, magi)
        try:
            mllm_prompt = build_prompt(mllm.tokenizer, prompt, num_image_tokens=mllm.num_image_tokens)
        except InputShapeError as error:
            raise InputShapeError(f"DiffSensei: MLLM Adapt Characters, input 'prompt': {error}") from None
        mllm.load(mllm_prompt.input_ids.shape[1] + 8)
        try:
            result = adapt_character_tokens(mllm.llm, mllm.agent, mllm_prompt, original,
                                             device=mllm.llm_patcher.load_device)
        except torch.OutOfMemoryError:
            raise DiffSenseiError(f"DiffSensei: MLLM Adapt Characters, input 'mllm': out of GPU memory while "
                                  f"running the "
                                  f"MLLM. {OOM_ADVICE}") from None
        if result.tokens is None:
            return io.NodeOutput(characters)
        adapted = mix_tokens(result.tokens, original, mllm_scale).to(mm.intermediate_device())
        log.info("MLLM adapted %d characters (mllm_scale %.2f)", characters.count, mllm_scale)
        return io.NodeOutput(EncodedCharacters(clip=characters.clip, magi=characters.magi, adapted_tokens=adapted))


def _slot_features(mllm: DiffSenseiMLLM, adapter: DiffSenseiAdapter, characters: EncodedCharacters,
                   encoders) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, k, s, c_clip), (1, k, c_magi): the characters in k = n_image_tokens / q slots, padded slots filled."""
    resampler = adapter.module.resampler
    if mllm.token_dim != resampler.output_dim or mllm.num_image_tokens % resampler.num_queries:
        raise InputShapeError(
            f"DiffSensei: MLLM Adapt Characters, input 'adapter': the MLLM reads {mllm.num_image_tokens} tokens of "
            f"width "
            f"{mllm.token_dim} but the adapter's resampler makes {resampler.num_queries} tokens of width "
            f"{resampler.output_dim} per character; expected width {mllm.token_dim} and a divisor of "
            f"{mllm.num_image_tokens}. Use the MLLM and the adapter of the same DiffSensei release."
        )
    if characters.clip.shape[-1] != resampler.clip_dim or characters.magi.shape[-1] != resampler.magi_dim:
        raise InputShapeError(
            f"DiffSensei: MLLM Adapt Characters, input 'characters': features are {characters.clip.shape[-1]} "
            f"(CLIP) and "
            f"{characters.magi.shape[-1]} (Magi) wide but the adapter's resampler expects {resampler.clip_dim} and "
            f"{resampler.magi_dim}. Encode the characters with the encoders of this DiffSensei model."
        )
    slots = mllm.num_image_tokens // resampler.num_queries
    if characters.count > slots:
        raise InputShapeError(
            f"DiffSensei: MLLM Adapt Characters, input 'characters': {characters.count} characters are connected "
            f"but the "
            f"MLLM was trained with {slots} slots ({mllm.num_image_tokens} tokens); expected at most {slots}. Remove "
            "characters, or bypass this node (Apply alone takes more, outside the trained regime)."
        )
    clip, magi = pad_character_features(characters.clip, characters.magi, num_slots=slots)
    if encoders is not None and characters.count < slots:
        black_clip, black_magi = _black_image_features(encoders)
        clip[0, characters.count:] = black_clip.to(clip)
        magi[0, characters.count:] = black_magi.to(magi)
    return clip, magi


def _black_image_features(encoders) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP (s, c_clip) and Magi (c_magi) features of a black 224×224 image (Magi masking seeded with 0)."""
    from .characters import encode_characters

    black = torch.zeros(1, 224, 224, 3)
    encoded = encode_characters(encoders, [black], grayscale=False, seed=0, masking=True)
    return encoded.clip[0], encoded.magi[0]


NODES = [DiffSenseiLoadMLLM, DiffSenseiMLLMAdaptCharacters]
