"""Encoding character reference images with the loaded encoders (Load Encoders' DIFFSENSEI_ENCODERS): CLIP
penultimate hidden states and the Magi CLS vector per image. Shared by Encode Characters and MLLM Adapt Characters
(which encodes black images for empty slots)."""

from __future__ import annotations

import logging

import comfy.model_management as mm
import comfy.utils
import torch

from ...diffsensei_core.errors import InputShapeError
from ...diffsensei_core.model.character_images import to_grayscale_rgb
from .encoder_loading import DiffSenseiEncoders
from .sockets import EncodedCharacters

log = logging.getLogger("diffsensei")


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
