"""Character encoders: load DiffSensei's two image encoders and turn reference images into character features.

* ``DiffSenseiLoadEncoders`` → DIFFSENSEI_ENCODERS: the CLIP ViT-H/14 image encoder (a ComfyUI CLIP_VISION model,
  either the one shipped in ``image_generator/clip_image_encoder`` or one loaded with ComfyUI's Load CLIP Vision)
  and the Magi ViT-MAE crop encoder (``magi_image_encoder``), wrapped in a ModelPatcher.
* ``DiffSenseiEncodeCharacters`` → DIFFSENSEI_CHARACTERS: per reference image, CLIP penultimate hidden states
  (s, c_clip) and the Magi CLS vector (c_magi), in box order (model spec §2.3).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import comfy.model_management as mm
import comfy.utils
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.errors import InputShapeError, WeightsError
from ..diffsensei_core.model.encoders import check_image_batch, to_grayscale_rgb
from .host import folders
from .host.encoder_loading import (
    MAGI_DTYPES,
    DiffSenseiEncoders,
    check_against_shipped_clip,
    clip_output_size,
    encoder_folders,
    load_clip_vision_folder,
    load_magi,
)
from .host.sockets import Characters, EncodedCharacters, Encoders

log = logging.getLogger("diffsensei")

CATEGORY = "DiffSensei/characters"
CHARACTER_INPUTS = ("character_1", "character_2", "character_3", "character_4")
LOAD_ENCODERS = "DiffSensei: Load Encoders"




class DiffSenseiLoadEncoders(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiLoadEncoders",
            display_name="DiffSensei: Load Encoders",
            category=CATEGORY,
            description=(
                "Loads DiffSensei's two character-image encoders from the released image_generator folder: the CLIP "
                "ViT-H/14 image encoder (clip_image_encoder/) and the Magi ViT-MAE crop encoder (magi_image_encoder/). "
                "Connect clip_vision to reuse a CLIP ViT-H model you already loaded instead of the shipped one."
            ),
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=folders.model_choices(),
                    tooltip=(
                        "The DiffSensei release in models/diffsensei (its image_generator folder) or a converted "
                        "diffsensei_adapter_*.safetensors file; the encoders are read from the clip_image_encoder/ "
                        "and magi_image_encoder/ folders beside it."
                    ),
                ),
                io.Combo.Input(
                    "magi_dtype",
                    options=["default", *MAGI_DTYPES],
                    default="default",
                    tooltip=(
                        "Precision of the Magi encoder. default: fp16 on GPUs that run it well (as the reference "
                        "does), fp32 otherwise (CPU)."
                    ),
                ),
                io.ClipVision.Input(
                    "clip_vision",
                    optional=True,
                    tooltip=(
                        "Optional CLIP vision model from Load CLIP Vision. DiffSensei's CLIP encoder is CLIP ViT-H/14 "
                        "(the same file IP-Adapter uses); when connected it replaces the shipped clip_image_encoder, "
                        "which then need not be downloaded."
                    ),
                ),
            ],
            outputs=[
                Encoders.Output(
                    display_name="encoders",
                    tooltip="The CLIP and Magi character encoders, for DiffSensei: Encode Characters.",
                ),
            ],
        )

    @classmethod
    def execute(cls, model_name: str, magi_dtype: str = "default", clip_vision=None) -> io.NodeOutput:
        clip_folder, magi_folder = encoder_folders(model_name)
        if clip_vision is None:
            with _naming_model_name():
                clip_vision = load_clip_vision_folder(clip_folder)
            clip_tokens, clip_width = clip_output_size(clip_vision, input_name="model_name")
        else:
            clip_tokens, clip_width = clip_output_size(clip_vision)
            check_against_shipped_clip(clip_folder, clip_width)
        with _naming_model_name():
            magi_patcher = load_magi(magi_folder, magi_dtype)
        encoders = DiffSenseiEncoders(
            clip_vision=clip_vision,
            magi_patcher=magi_patcher,
            clip_tokens=clip_tokens,
            clip_width=clip_width,
            magi_width=magi_patcher.model.encoder.hidden_size,
            source=model_name,
        )
        return io.NodeOutput(encoders)


@contextlib.contextmanager
def _naming_model_name() -> Iterator[None]:
    """Prefix a WeightsError from the file readers with the node and its input, as the node's own errors are."""
    try:
        yield
    except WeightsError as err:
        if str(err).startswith(LOAD_ENCODERS):
            raise
        raise WeightsError(f"{LOAD_ENCODERS}, input 'model_name': {err}") from None


class DiffSenseiEncodeCharacters(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        character_inputs = [
            io.Image.Input(
                name,
                optional=True,
                tooltip=(
                    f"Reference image(s) of character {index}: one character per image, a batch gives several. "
                    "Images are taken in input order, then batch order, and that is the order of the character "
                    "boxes. Sizes may differ between inputs."
                ),
            )
            for index, name in enumerate(CHARACTER_INPUTS, start=1)
        ]
        return io.Schema(
            node_id="DiffSenseiEncodeCharacters",
            display_name="DiffSensei: Encode Characters",
            category=CATEGORY,
            description=(
                "Encodes character reference images with DiffSensei's CLIP and Magi encoders, one character per "
                "image, in the order of the character boxes. With no image connected it outputs zero characters "
                "(a panel without characters)."
            ),
            inputs=[
                Encoders.Input("encoders", tooltip="The encoders from DiffSensei: Load Encoders."),
                *character_inputs,
                io.Boolean.Input(
                    "grayscale",
                    default=True,
                    tooltip=(
                        "Convert references to grayscale (replicated to RGB) before encoding, as the reference "
                        "demo does for manga. Turn off to encode the colours as they are."
                    ),
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    control_after_generate=True,
                    tooltip=(
                        "Seed of the Magi encoder's random patch masking (drawn on the CPU, so the same seed gives "
                        "the same features on every device). Unused when magi_masking is off."
                    ),
                ),
                io.Boolean.Input(
                    "magi_masking",
                    default=True,
                    tooltip=(
                        "Keep the Magi encoder's MAE random masking (75% of the patches dropped, seeded by seed), "
                        "as DiffSensei was trained. Off: every patch is used, deterministic without a seed, but the "
                        "features deviate from what the model saw in training."
                    ),
                ),
            ],
            outputs=[
                Characters.Output(
                    display_name="characters",
                    tooltip=(
                        "Features of every reference image in box order: CLIP penultimate hidden states and the "
                        "Magi CLS vector, for DiffSensei: Apply."
                    ),
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        encoders: DiffSenseiEncoders,
        grayscale: bool = True,
        seed: int = 0,
        magi_masking: bool = True,
        character_1: torch.Tensor | None = None,
        character_2: torch.Tensor | None = None,
        character_3: torch.Tensor | None = None,
        character_4: torch.Tensor | None = None,
    ) -> io.NodeOutput:
        inputs = dict(zip(CHARACTER_INPUTS, (character_1, character_2, character_3, character_4), strict=True))
        images = _collect_images(inputs)
        return io.NodeOutput(encode_characters(encoders, images, grayscale=grayscale, seed=seed, masking=magi_masking))


def _collect_images(inputs: dict[str, torch.Tensor | None]) -> list[torch.Tensor]:
    """Every connected image as (1, h, w, 3), in input order then batch order."""
    images = []
    for name, batch in inputs.items():
        if batch is None:
            continue
        check_image_batch(batch, f"DiffSensei: Encode Characters, input '{name}'", allow_alpha=True)
        images.extend(image[None, ..., :3] for image in batch)
    return images


def encode_characters(
    encoders: DiffSenseiEncoders, images: list[torch.Tensor], *, grayscale: bool, seed: int, masking: bool
) -> EncodedCharacters:
    """CLIP (n, s, c_clip) and Magi (n, c_magi) features of n images (1, h, w, 3), on the intermediate device."""
    out_device = mm.intermediate_device()
    if not images:
        return EncodedCharacters(
            clip=torch.zeros(0, encoders.clip_tokens, encoders.clip_width, device=out_device),
            magi=torch.zeros(0, encoders.magi_width, device=out_device),
        )
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    progress = comfy.utils.ProgressBar(len(images))
    clip_features, magi_features = [], []
    with torch.no_grad():
        for image in images:
            mm.throw_exception_if_processing_interrupted()
            image = image.float()
            if grayscale:
                image = to_grayscale_rgb(image)
            clip = encoders.clip_vision.encode_image(image, crop=True).penultimate_hidden_states
            # after CLIP (which loads itself): ComfyUI may have evicted Magi to make room; a no-op when resident.
            # Full load: transformers' layers cannot run partially offloaded like ComfyUI's manual_cast ops.
            mm.load_models_gpu([encoders.magi_patcher], force_full_load=True)
            magi = encoders.magi.encode(image, generator=generator, masking=masking, grayscale=False)
            clip_features.append(clip.to(out_device, torch.float32))
            magi_features.append(magi.to(out_device, torch.float32))
            progress.update(1)
    clip = torch.cat(clip_features)
    magi = torch.cat(magi_features)
    expected_clip = (len(images), encoders.clip_tokens, encoders.clip_width)
    if tuple(clip.shape) != expected_clip or tuple(magi.shape) != (len(images), encoders.magi_width):
        raise InputShapeError(
            f"DiffSensei: Encode Characters, input 'encoders': the encoders produced CLIP features "
            f"{tuple(clip.shape)} and "
            f"Magi features {tuple(magi.shape)}; expected {expected_clip} and ({len(images)}, {encoders.magi_width}). "
            "The CLIP vision model was changed after loading; reload it with DiffSensei: Load Encoders."
        )
    log.debug("encoded %d characters: clip %s, magi %s", len(images), tuple(clip.shape), tuple(magi.shape))
    return EncodedCharacters(clip=clip, magi=magi)


NODES = [DiffSenseiLoadEncoders, DiffSenseiEncodeCharacters]
