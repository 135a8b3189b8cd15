"""Load model / Load adapter: the released image_generator/ folder or the converted files → MODEL + adapter."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import comfy.model_management as mm
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.errors import WeightsError
from ..diffsensei_core.model.checkpoint import load_diffsensei
from .host import folders
from .host.adapter import DiffSenseiAdapter
from .host.comfy_unet import WEIGHT_DTYPE_OPTIONS, build_sdxl_model, weight_dtype_option
from .host.sockets import Adapter

log = logging.getLogger("diffsensei")

MODEL_TOOLTIP = (
    "The DiffSensei weights under models/diffsensei: the released image_generator/ folder as downloaded, or the "
    "diffsensei_adapter_*.safetensors written by `python -m diffsensei_core convert`."
)


def _model_input() -> io.Combo.Input:
    return io.Combo.Input("model_name", options=folders.model_choices(), tooltip=MODEL_TOOLTIP)


@contextlib.contextmanager
def _naming_input(node: str) -> Iterator[None]:
    """Prefix a WeightsError with the node and its input, so the message says where to fix it."""
    try:
        yield
    except WeightsError as err:
        raise WeightsError(f"{node}, input 'model_name': {err}") from None


def _adapter_dtype(unet_dtype: torch.dtype | None) -> torch.dtype:
    """The adapter runs in the UNet's compute dtype; fp8 storage is for the UNet's big matrices only."""
    if unet_dtype in (torch.float16, torch.bfloat16, torch.float32):
        return unet_dtype
    return mm.unet_dtype() if unet_dtype is None else torch.float16


class DiffSenseiLoadModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiLoadModel",
            display_name="DiffSensei: Load model",
            category="DiffSensei/loaders",
            description=(
                "Loads DiffSensei's fine-tuned SDXL UNet as a native ComfyUI MODEL, and its adapter (character "
                "attention weights, dialog embedding, resampler). Pickled .bin files are read with "
                "weights_only=True; nothing is downloaded."
            ),
            inputs=[
                _model_input(),
                io.Combo.Input(
                    "weight_dtype", options=list(WEIGHT_DTYPE_OPTIONS), default="default",
                    tooltip="Storage dtype of the UNet weights, like the stock UNet loader: default lets ComfyUI "
                            "choose for your device; fp8 halves the memory of fp16.",
                ),
            ],
            outputs=[
                io.Model.Output(tooltip="DiffSensei's UNet as an SDXL MODEL; connect it to Apply DiffSensei."),
                Adapter.Output(tooltip="DiffSensei's adapter; connect it to Apply DiffSensei."),
            ],
        )

    @classmethod
    def execute(cls, model_name: str, weight_dtype: str) -> io.NodeOutput:
        dtype, fp8_fast = weight_dtype_option(weight_dtype)
        with _naming_input("Load model"):
            path = folders.resolve(model_name)
            checkpoint = load_diffsensei(path)
        if checkpoint.unet_state_dict is None:
            raise WeightsError(
                f"DiffSensei: Load model, input 'model_name': {path} holds only the adapter, no UNet "
                "(diffsensei_unet_*.safetensors). Put the converted UNet next to it, or use DiffSensei: Load adapter "
                "with your own SDXL MODEL."
            )
        with _naming_input("Load model"):
            model = build_sdxl_model(checkpoint.unet_state_dict, checkpoint.unet_config, weight_dtype=dtype,
                                     fp8_optimizations=fp8_fast)
        adapter = DiffSenseiAdapter(checkpoint.adapter, dtype=_adapter_dtype(dtype), source=str(path),
                                    unet=model.model)
        return io.NodeOutput(model, adapter)


class DiffSenseiLoadAdapter(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiLoadAdapter",
            display_name="DiffSensei: Load adapter",
            category="DiffSensei/loaders",
            description=(
                "Loads only DiffSensei's adapter, to apply to an SDXL MODEL you already have. The adapter was "
                "trained with DiffSensei's own UNet; on other SDXL models the characters may not hold."
            ),
            inputs=[
                _model_input(),
                io.Combo.Input("dtype", options=["default", "fp16", "bf16", "fp32"], default="default",
                               tooltip="Dtype of the adapter's weights; default follows ComfyUI's UNet dtype."),
            ],
            outputs=[Adapter.Output(tooltip="DiffSensei's adapter; connect it to Apply DiffSensei.")],
        )

    @classmethod
    def execute(cls, model_name: str, dtype: str) -> io.NodeOutput:
        with _naming_input("Load adapter"):
            path = folders.resolve(model_name)
            checkpoint = load_diffsensei(path, load_unet=False)
        return io.NodeOutput(
            DiffSenseiAdapter(checkpoint.adapter, dtype=_adapter_dtype(weight_dtype_option(dtype)[0]), source=str(path))
        )


NODES = [DiffSenseiLoadModel, DiffSenseiLoadAdapter]
