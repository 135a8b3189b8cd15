"""Apply DiffSensei: characters + layout + adapter → a patched clone of an SDXL MODEL."""

from __future__ import annotations

import logging

import comfy.model_management as mm
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.errors import DiffSenseiError, InputShapeError
from ..diffsensei_core.model.encoders import pad_character_features
from ..diffsensei_core.model.panel_conditioning import PanelConditioning
from ..diffsensei_core.model.panel_layout import PanelLayout, check_character_count
from .host.adapter import DiffSenseiAdapter
from .host.comfy_unet import attn2_sites
from .host.messages import located, where
from .host.patches import CharacterAttentionPatch, DialogPatch
from .host.sockets import Adapter, Characters, EncodedCharacters, Layout

log = logging.getLogger("diffsensei")
NAME = "DiffSensei: Apply"
TOKEN_GRIDS = {"true grid": "true", "reference grid (exact reproduction)": "reference"}
_warned_foreign_unet = False


class DiffSenseiApply(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiApply",
            display_name=NAME,
            category="DiffSensei",
            description=(
                "Patches a copy of an SDXL MODEL so each character appears inside its box and dialog bubbles are "
                "left where the dialog boxes say: masked character cross-attention at every cross-attention site "
                "and the dialog-layout embedding after the UNet's input convolution. The input MODEL is unchanged; "
                "LoRA, ControlNet and every sampler keep working on the result."
            ),
            inputs=[
                io.Model.Input("model", tooltip="An SDXL MODEL: best DiffSensei's own UNet from Load model."),
                Adapter.Input("adapter", tooltip="The DiffSensei adapter from Load model or Load adapter."),
                Characters.Input("characters", tooltip="Encoded reference images, in character-box order."),
                Layout.Input("layout", tooltip="The panel layout: size, one box per character, dialog boxes."),
                io.Float.Input(
                    "ip_scale", default=0.6, min=0.0, max=2.0, step=0.05,
                    tooltip="Strength of the characters' attention. 0.6 is the official default; 0 turns the "
                            "characters off (the dialog embedding stays).",
                ),
                io.Combo.Input(
                    "token_grid", options=list(TOKEN_GRIDS), default="true grid", optional=True,
                    tooltip="Where the character masks are laid at each attention site. 'true grid': the site's real "
                            "token grid (default). 'reference grid': the official code's guess from the token count "
                            "and aspect ratio, which differs for some odd latent sizes (e.g. 17×60) — only to "
                            "reproduce the official outputs exactly.",
                ),
            ],
            outputs=[io.Model.Output(tooltip="A patched clone of the input MODEL.")],
        )

    @classmethod
    def execute(cls, model, adapter: DiffSenseiAdapter, characters: EncodedCharacters, layout: PanelLayout,
                ip_scale: float, token_grid: str = "true grid") -> io.NodeOutput:
        sites = _matching_sites(model, adapter)
        try:
            check_character_count(layout, characters.count)
        except DiffSenseiError as err:
            raise located(err, NAME, "layout", "characters") from None
        _warn_if_foreign_unet(model, adapter)
        panel = _panel_conditioning(adapter, characters, layout)
        patched = patch_model(model, adapter, panel, ip_scale=ip_scale, token_grid=TOKEN_GRIDS[token_grid])
        log.info("DiffSensei applied: %d sites, %d characters, %d dialog boxes, ip_scale %.2f, %s",
                 len(sites), characters.count, len(layout.dialogs), ip_scale, token_grid)
        return io.NodeOutput(patched)


def patch_model(model, adapter: DiffSenseiAdapter, panel: PanelConditioning, *, ip_scale: float, token_grid: str):
    """A clone of ``model`` with a character attention patch at every adapter site (chained to the patch another pack
    put there) and, when the panel has dialog boxes, the dialog patch."""
    patched = model.clone()
    replace = patched.model_options["transformer_options"].get("patches_replace", {}).get("attn2", {})
    for index, key in enumerate(adapter.site_keys):
        previous = replace.get(key) or replace.get(key[:2])
        patch = CharacterAttentionPatch(adapter=adapter, panel=panel, site=index, ip_scale=ip_scale,
                                        token_grid=token_grid, previous=previous)
        patched.set_model_attn2_replace(patch, *key)
    if panel.has_dialogs:
        patched.set_model_input_block_patch(DialogPatch(adapter=adapter, panel=panel))
    return patched


def _matching_sites(model, adapter: DiffSenseiAdapter) -> list:
    diffusion_model = getattr(model.model, "diffusion_model", None)
    if diffusion_model is None or not hasattr(diffusion_model, "input_blocks"):
        raise InputShapeError(
            f"{where(NAME, 'model')}: expected an SDXL UNet MODEL; got {type(model.model).__name__} "
            "(e.g. a Flux or other transformer model). Connect DiffSensei's UNet from Load model or an SDXL checkpoint."
        )
    sites = attn2_sites(diffusion_model)
    keys = [key for key, _ in sites]
    if len(keys) != adapter.num_sites or set(keys) != set(adapter.site_keys):
        raise InputShapeError(
            f"{where(NAME, 'model')}: the model has {len(keys)} cross-attention sites but the adapter "
            f"has {adapter.num_sites} ({adapter.source}); expected the same SDXL layout (70 sites). "
            "Connect an SDXL MODEL (SD1.5, SD2 and others do not fit this adapter)."
        )
    by_key = dict(sites)
    for key, shape in zip(adapter.site_keys, adapter.site_shapes, strict=True):
        to_k = by_key[key].to_k.weight
        if tuple(to_k.shape) != shape:
            raise InputShapeError(
                f"{where(NAME, 'model')}: cross-attention {key} projects {tuple(to_k.shape)} but the "
                f"adapter's weights there are {shape}; the model's widths differ from the adapter's UNet. "
                "Connect DiffSensei's UNet or an SDXL model of the same width."
            )
    return sites


def _warn_if_foreign_unet(model, adapter: DiffSenseiAdapter) -> None:
    global _warned_foreign_unet
    if adapter.trained_unet is model.model or _warned_foreign_unet:
        return
    _warned_foreign_unet = True
    log.warning(
        "DiffSensei's adapter was trained with DiffSensei's own fine-tuned UNet; on another SDXL model the "
        "characters may not hold. For the published quality, use the MODEL output of DiffSensei: Load model."
    )


def _panel_conditioning(adapter: DiffSenseiAdapter, characters: EncodedCharacters,
                        layout: PanelLayout) -> PanelConditioning:
    resampler = adapter.module.resampler
    if characters.clip.shape[-1] != resampler.clip_dim or characters.magi.shape[-1] != resampler.magi_dim:
        raise InputShapeError(
            f"{where(NAME, 'characters')}: features are {characters.clip.shape[-1]} (CLIP) and "
            f"{characters.magi.shape[-1]} (Magi) wide but the adapter's resampler expects {resampler.clip_dim} and "
            f"{resampler.magi_dim}. Encode the characters with the encoders that ship with this DiffSensei model."
        )
    clip, magi = pad_character_features(characters.clip, characters.magi)
    uncond = adapter.unconditional_tokens(clip.shape[1], clip.shape[2])
    mm.load_models_gpu([adapter.patcher])
    device, dtype = adapter.patcher.load_device, adapter.dtype
    with torch.no_grad():
        cond = resampler(clip.to(device, dtype), magi.to(device, dtype))
    if characters.adapted_tokens is not None:
        cond = _with_adapted_tokens(cond, characters.adapted_tokens, resampler.num_dummy_tokens)
    out = mm.intermediate_device()
    return PanelConditioning(
        cond_tokens=cond.to(out), uncond_tokens=uncond.to(out), layout=layout, num_slots=clip.shape[1],
        num_dummy_tokens=resampler.num_dummy_tokens, tokens_per_character=resampler.num_queries,
    )


def _with_adapted_tokens(cond: torch.Tensor, adapted: torch.Tensor, num_dummy: int) -> torch.Tensor:
    """Replace the character tokens after the dummy tokens by the MLLM-adapted ones (conditional branch only)."""
    expected = (1, cond.shape[1] - num_dummy, cond.shape[2])
    if tuple(adapted.shape) != expected:
        raise InputShapeError(
            f"{where(NAME, 'characters')}: the adapted character tokens are {tuple(adapted.shape)}; "
            f"expected {expected} (all slots of this adapter's resampler). Adapt the characters with the same "
            "adapter that Apply uses."
        )
    return torch.cat((cond[:, :num_dummy], adapted.to(cond)), dim=1)


NODES = [DiffSenseiApply]
