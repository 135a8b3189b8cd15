"""Prompt distributions (DreamDistribution): load, sample into CONDITIONING, mix. Training: distribution_train.py.

* ``DiffSenseiLoadPromptDistribution``: a ``.safetensors`` from ``models/prompt_distributions``.
* ``DiffSenseiSamplePromptDistribution`` → CONDITIONING: batch B of μ + γ·ε·σ (seeded ε), hidden (B, 77, D) with the
  pooled vector (B, P) and SDXL size conditioning; with a CLIP connected the distribution's encoders are checked and,
  given a prefix/suffix, the K contexts are re-encoded with the new text and μ/σ refit (the paper's text edit).
* ``DiffSenseiMixPromptDistributions``: μ = Σ wᵢμᵢ, σ = √Σ (wᵢγᵢσᵢ)², weights normalised.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import comfy.model_management as mm
import folder_paths
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.distribution import (
    PromptDistribution,
    check_encoders,
    check_gamma,
    describe_training,
    draw,
    fit,
    load,
    mix,
)
from ..diffsensei_core.errors import DistributionError
from .host.folders import register_folder
from .host.sockets import PromptDistribution as PromptDistributionSocket
from .host.text_embeds import ComfyPromptEncoder

log = logging.getLogger("diffsensei")

FOLDER = "prompt_distributions"
CATEGORY = "DiffSensei/prompt distribution"
SAMPLE = "DiffSensei: Sample prompt distribution"


def register_distribution_folder() -> None:
    """Add models/prompt_distributions (see folders.register_folder)."""
    register_folder(FOLDER, {".safetensors"})


def distribution_choices() -> list[str]:
    register_distribution_folder()
    return folder_paths.get_filename_list(FOLDER)


def output_folder() -> str:
    register_distribution_folder()
    return folder_paths.get_folder_paths(FOLDER)[0]


def conditioning(hidden: torch.Tensor, pooled: torch.Tensor, width: int, height: int) -> list:
    """CONDITIONING of one entry: hidden (B, L, D), pooled (B, P) and SDXL's size conditioning."""
    device = mm.intermediate_device()
    extra = {"pooled_output": pooled.to(device), "width": width, "height": height, "crop_w": 0, "crop_h": 0,
             "target_width": width, "target_height": height}
    return [[hidden.to(device), extra]]


def reencode(distribution: PromptDistribution, clip, prefix: str, suffix: str, where: str) -> PromptDistribution:
    """Check the CLIP against the distribution; with a new prefix/suffix re-encode the contexts and refit μ/σ."""
    prefix = prefix.strip() or distribution.info.prefix
    suffix = suffix.strip() or distribution.info.suffix
    encoder = ComfyPromptEncoder(clip, prefix=prefix, suffix=suffix, tokens=max(distribution.info.tokens, 0),
                                 where=where)
    check_encoders(distribution.info.identity, encoder.identity, where=where)
    if encoder.identity.fingerprints != distribution.info.identity.fingerprints:
        log.warning("%s: the connected CLIP has the same encoder shapes as the one this distribution was trained "
                    "with but other token-embedding weights; results may differ from training", where)
    if (prefix, suffix) == (distribution.info.prefix, distribution.info.suffix):
        return distribution
    if not distribution.editable:
        raise DistributionError(
            f"{where}, inputs 'prefix' and 'suffix': this distribution is a mix and keeps no soft prompts, so it "
            f"cannot be "
            "re-encoded with new text; clear prefix and suffix, or mix distributions trained with the wanted "
            "prefix/suffix")
    mm.load_models_gpu([clip.patcher])
    with torch.no_grad():
        gaussian = fit(encoder([c.to(encoder.device) for c in distribution.contexts]))
    log.info("prompt distribution re-encoded with prefix %r and suffix %r", prefix, suffix)
    return distribution.with_gaussian(gaussian, prefix=prefix, suffix=suffix)


class DiffSenseiLoadPromptDistribution(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiLoadPromptDistribution",
            display_name="DiffSensei: Load prompt distribution",
            category=CATEGORY,
            description="Loads a prompt distribution trained by 'DiffSensei: Train prompt distribution' from "
                        "models/prompt_distributions.",
            inputs=[io.Combo.Input("distribution_name", options=distribution_choices(),
                                   tooltip="A .safetensors file in models/prompt_distributions.")],
            outputs=[PromptDistributionSocket.Output(display_name="distribution",
                                                     tooltip="The learned prompt distribution (μ, σ, soft prompts)."),
                     io.String.Output(display_name="training", tooltip=(
                         "How it was trained, one setting a line: encoders, K and tokens, steps done of asked, last "
                         "loss, learning rate, M, images per step, resolution, seed, prefix, suffix, note."))],
        )

    @classmethod
    def execute(cls, distribution_name: str) -> io.NodeOutput:
        register_distribution_folder()
        path = folder_paths.get_full_path(FOLDER, distribution_name)
        if path is None:
            raise DistributionError(
                f"DiffSensei: Load prompt distribution, input 'distribution_name': '{distribution_name}' was not "
                f"found in "
                f"{folder_paths.get_folder_paths(FOLDER)}; train one or copy the file there and refresh")
        distribution = load(path)
        text = describe_training(distribution.info)
        log.info("loaded prompt distribution %s:\n  %s", distribution_name, text.replace("\n", "\n  "))
        return io.NodeOutput(distribution, text)


class DiffSenseiSamplePromptDistribution(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiSamplePromptDistribution",
            display_name=SAMPLE,
            category=CATEGORY,
            description="Draws prompt embeddings from a learned prompt distribution as CONDITIONING for KSampler or "
                        "the DiffSensei graph: γ = 0 gives the mean prompt, 1 the learned variety, 2 more. The same "
                        "seed always gives the same conditioning. Connect the CLIP and type a prefix/suffix to apply "
                        "a text edit to the whole distribution (e.g. suffix 'at night').",
            inputs=[
                PromptDistributionSocket.Input("distribution", tooltip="From Train, Load or Mix prompt distribution."),
                io.Float.Input("gamma", default=1.0, min=0.0, max=10.0, step=0.05,
                               tooltip="Spread scale γ: 0 = the mean prompt (same for every seed), 1 = as learned, "
                                       "2 = more diverse, less faithful."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Seed of the noise ε; the same seed reproduces the same sample."),
                io.Int.Input("batch_size", default=1, min=1, max=64,
                             tooltip="Samples in the batch, one per latent: use the latent batch size."),
                io.Int.Input("width", default=1024, min=64, max=16384, step=8,
                             tooltip="Image width for SDXL's size conditioning."),
                io.Int.Input("height", default=1024, min=64, max=16384, step=8,
                             tooltip="Image height for SDXL's size conditioning."),
                io.Clip.Input("clip", optional=True,
                              tooltip="Optional: the CLIP the distribution was trained with. Checks that it matches "
                                      "and enables the prefix/suffix edit."),
                io.String.Input("prefix", default="", optional=True,
                                tooltip="Text edit (needs clip): words before the soft prompt, replacing the "
                                        "training prefix. Empty keeps the training prefix."),
                io.String.Input("suffix", default="", optional=True,
                                tooltip="Text edit (needs clip): words after the soft prompt, e.g. 'at night', "
                                        "replacing the training suffix. Empty keeps the training suffix."),
            ],
            outputs=[io.Conditioning.Output(tooltip="batch_size sampled prompt embeddings with pooled vectors.")],
        )

    @classmethod
    def execute(cls, distribution, gamma: float, seed: int, batch_size: int, width: int, height: int, clip=None,
                prefix: str = "", suffix: str = "") -> io.NodeOutput:
        try:
            check_gamma(gamma)
        except DistributionError as e:
            raise DistributionError(f"{SAMPLE}, {e}") from None
        if clip is not None:
            distribution = reencode(distribution, clip, prefix, suffix, f"{SAMPLE}, input 'clip'")
        elif prefix.strip() or suffix.strip():
            raise DistributionError(f"{SAMPLE}, inputs 'prefix' and 'suffix': a text edit needs the CLIP the "
                                    f"distribution was "
                                    "trained with; connect it to 'clip' or clear prefix and suffix")
        hidden, pooled = draw(distribution.gaussian, batch=batch_size, seed=seed, gamma=gamma)
        return io.NodeOutput(conditioning(hidden, pooled, width, height))


MIX_INPUTS = 4


class DiffSenseiMixPromptDistributions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        inputs = []
        for index in range(1, MIX_INPUTS + 1):
            optional = index > 2
            inputs += [
                PromptDistributionSocket.Input(f"distribution_{index}", optional=optional,
                                               tooltip=f"Prompt distribution {index}" + (" (optional)." if optional
                                                                                         else ".")),
                io.Float.Input(f"weight_{index}", default=1.0, min=0.0, max=100.0, step=0.05, optional=optional,
                               tooltip="Relative weight; weights are normalised to sum 1."),
                io.Float.Input(f"gamma_{index}", default=1.0, min=0.0, max=10.0, step=0.05, optional=optional,
                               tooltip="Spread scale of this input before mixing (0 = its mean only)."),
            ]
        return io.Schema(
            node_id="DiffSenseiMixPromptDistributions",
            display_name="DiffSensei: Mix prompt distributions",
            category=CATEGORY,
            description="Combines 2–4 prompt distributions trained with the same text encoders: μ = Σ wᵢμᵢ, "
                        "σ = √Σ (wᵢγᵢσᵢ)² (weights normalised). Sample the result with γ = 1 to keep the per-input "
                        "spreads. A mix cannot be re-encoded with new text.",
            inputs=inputs,
            outputs=[PromptDistributionSocket.Output(display_name="distribution", tooltip="The mixed distribution.")],
        )

    @classmethod
    def execute(cls, **kwargs) -> io.NodeOutput:
        where = "DiffSensei: Mix prompt distributions"
        chosen = [(kwargs[f"distribution_{i}"], kwargs.get(f"weight_{i}", 1.0), kwargs.get(f"gamma_{i}", 1.0))
                  for i in range(1, MIX_INPUTS + 1) if kwargs.get(f"distribution_{i}") is not None]
        slots = [i for i in range(1, MIX_INPUTS + 1) if kwargs.get(f"distribution_{i}") is not None]
        first = chosen[0][0]
        for index, (other, _w, _g) in zip(slots[1:], chosen[1:], strict=True):  # input numbers, gaps allowed
            try:
                check_encoders(first.info.identity, other.info.identity, where=f"{where}, input 'distribution_{index}'")
            except DistributionError as e:
                raise DistributionError(f"{e} — distribution_1 uses {first.info.identity.describe()}") from None
            if other.info.identity.fingerprints != first.info.identity.fingerprints:
                log.warning("%s: distribution_1 and distribution_%d have the same encoder shapes (%s) but were "
                            "trained on different CLIP weights (other token-embedding fingerprints); their prompt "
                            "spaces may not line up, so the mix can look like neither. Mix distributions trained "
                            "with the same CLIP", where, index, first.info.identity.describe())
        try:
            gaussian = mix([d.gaussian for d, _w, _g in chosen], [w for _d, w, _g in chosen],
                           [g for _d, _w, g in chosen])
        except DistributionError as e:
            raise DistributionError(f"{where}, {e}") from None
        note = "mix of " + ", ".join(f"w={w:g} γ={g:g}" for _d, w, g in chosen)
        info = replace(first.info, prompts=0, tokens=0, steps=0, last_loss=None, note=note, training=None)
        return io.NodeOutput(PromptDistribution(gaussian, info, None))


NODES = [DiffSenseiLoadPromptDistribution, DiffSenseiSamplePromptDistribution, DiffSenseiMixPromptDistributions]
