""""Photo to manga": img2img of a photo with ComfyUI's own sampling into a manga character reference image.

Two paths (design: photo-to-manga.md, "generate at low resolution, then restore resolution"):

* quality: encode the photo at the target size, sample with ``denoise``, decode.
* fast: encode at half the side (a quarter of the pixels), sample with ``denoise``; then 2× either through an
  UPSCALE_MODEL (ComfyUI's upscale-model machinery, decoded first, no second pass) or by a latent upscale (bislerp)
  and a short refine at full size (⌈steps/3⌉ steps at ``refine_denoise``), then decode.

The output is grayscale (replicated RGB) by default: a manga reference for "DiffSensei: Encode characters".
"""

from __future__ import annotations

import logging
import math

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import comfy.utils
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.errors import DiffSenseiError
from ..diffsensei_core.model.encoders import to_grayscale_rgb
from ..diffsensei_core.photo.regions import prepare_photo, resize_image, target_size
from .photo import concat_conditioning

log = logging.getLogger("diffsensei")

NAME = "DiffSensei: Photo to manga"
PATHS = ("fast", "quality")
FAST_SCALE = 2  # the fast path samples at 1/FAST_SCALE of the side
REFINE_FRACTION = 1 / 3  # refine steps of the fast latent path, as a fraction of steps
MIN_PHOTO_SIDE = 16  # a subject crop may be small; it is resized to the target size anyway
LATENT_UPSCALE = "bislerp"


def encode_text(clip, text: str, height: int, width: int) -> list:
    """CONDITIONING of ``text`` with SDXL's size info (ignored by models without it)."""
    size = {"width": width, "height": height, "crop_w": 0, "crop_h": 0, "target_width": width,
            "target_height": height}
    return clip.encode_from_tokens_scheduled(clip.tokenize(text), add_dict=size)


def sample(model, latent: torch.Tensor, positive, negative, *, seed: int, steps: int, cfg: float, sampler_name: str,
           scheduler: str, denoise: float) -> torch.Tensor:
    """One KSampler pass (ComfyUI's comfy.sample, its preview/progress callback): latent (b, c, h, w) → same shape."""
    import latent_preview  # ComfyUI's top-level module (previews + the progress bar)

    mm.throw_exception_if_processing_interrupted()
    latent = comfy.sample.fix_empty_latent_channels(model, latent)
    noise = comfy.sample.prepare_noise(latent, seed)
    callback = latent_preview.prepare_callback(model, steps)
    return comfy.sample.sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent,
                               denoise=denoise, callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED,
                               seed=seed)


def upscale_with_model(upscale_model, image: torch.Tensor) -> torch.Tensor:
    """ComfyUI's "Upscale Image (using Model)" (tiled, OOM-retrying) on (b, h, w, 3)."""
    from comfy_extras.nodes_upscale_model import ImageUpscaleWithModel

    return ImageUpscaleWithModel.execute(upscale_model, image).args[0]


def refine_steps(steps: int) -> int:
    return max(1, math.ceil(steps * REFINE_FRACTION))


def photo_to_manga(model, vae, photo: torch.Tensor, positive, negative, *, path: str, size: tuple[int, int],
                   denoise: float, refine_denoise: float, upscale_model=None, grayscale: bool = True,
                   **settings) -> torch.Tensor:
    """The two paths on a checked photo ``(1, h, w, 3)`` → ``(1, height, width, 3)``; ``size`` = (height, width),
    multiples of 16; ``settings``: seed, steps, cfg, sampler_name, scheduler (see :func:`sample`)."""
    height, width = size
    if path == "quality":
        latent = vae.encode(resize_image(photo, height, width))
        result = vae.decode(sample(model, latent, positive, negative, denoise=denoise, **settings))
    else:
        small = resize_image(photo, height // FAST_SCALE, width // FAST_SCALE)
        latent = sample(model, vae.encode(small), positive, negative, denoise=denoise, **settings)
        mm.throw_exception_if_processing_interrupted()
        if upscale_model is not None:
            result = resize_image(upscale_with_model(upscale_model, vae.decode(latent)[..., :3]), height, width)
        else:
            up = comfy.utils.common_upscale(latent, latent.shape[-1] * FAST_SCALE, latent.shape[-2] * FAST_SCALE,
                                            LATENT_UPSCALE, "disabled")
            refined = sample(model, up, positive, negative, denoise=refine_denoise,
                             **{**settings, "steps": refine_steps(settings["steps"])})
            result = vae.decode(refined)
    if result.ndim == 5:  # video VAEs decode (b, t, h, w, c)
        result = result.reshape(-1, *result.shape[-3:])
    result = result[..., :3].float().clamp(0.0, 1.0)
    return to_grayscale_rgb(result) if grayscale else result


class DiffSenseiPhotoToManga(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiPhotoToManga",
            display_name=NAME,
            category="DiffSensei/photo",
            description=(
                "Turns a photo into a manga character reference with ComfyUI's own sampler (img2img: the photo's "
                "structure stays, the details follow the prompt). fast: half-size sampling, then 2× by an upscale "
                "model or a latent upscale plus a short refine; quality: full size. Feed the result to DiffSensei: "
                "Encode characters."
            ),
            inputs=[
                io.Model.Input("model", tooltip="An SDXL MODEL (DiffSensei's UNet from Load model, or any SDXL)."),
                io.Clip.Input("clip", tooltip="The text encoder of that model (e.g. the SDXL checkpoint's CLIP)."),
                io.Vae.Input("vae", tooltip="The VAE of that model."),
                io.Image.Input("image", tooltip="The photo, usually the subject output of Describe photo."),
                io.String.Input("prompt", multiline=True, default="", tooltip=(
                    "Content prompt, usually Describe photo's prompt output.")),
                io.String.Input("style", multiline=True, default="", tooltip=(
                    "Style text, usually Manga style preset's style output; appended to the prompt. Unused when "
                    "style_conditioning is connected.")),
                io.String.Input("negative", multiline=True, default="", tooltip=(
                    "Negative prompt, usually Manga style preset's negative output.")),
                io.Combo.Input("path", options=list(PATHS), default="fast", tooltip=(
                    "fast: sample at half size, then 2× (upscale model, or latent upscale + short refine). "
                    "quality: sample at full size (about 2-4× slower).")),
                io.Int.Input("size", default=1024, min=128, max=4096, step=16, tooltip=(
                    "Long side of the output in pixels (the aspect ratio of the photo is kept; sides are rounded "
                    "to multiples of 16).")),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Seed of the sampling noise."),
                io.Int.Input("steps", default=20, min=1, max=200, tooltip=(
                    "Sampling steps of the main pass (the fast latent path adds ⌈steps/3⌉ refine steps).")),
                io.Float.Input("cfg", default=7.0, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale."),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler_ancestral",
                               tooltip="ComfyUI sampler."),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default="normal",
                               tooltip="ComfyUI scheduler."),
                io.Float.Input("denoise", default=0.65, min=0.05, max=1.0, step=0.01, tooltip=(
                    "How much of the photo is repainted: lower keeps more of the photo, higher gives more manga. "
                    "0.55-0.7 keeps the pose and face layout.")),
                io.Float.Input("refine_denoise", default=0.35, min=0.05, max=1.0, step=0.01, tooltip=(
                    "Fast path with a latent upscale: denoise of the short full-size refine pass.")),
                io.Boolean.Input("grayscale", default=True, tooltip=(
                    "Output a grayscale image (replicated RGB), as a manga reference; off keeps colours.")),
                io.UpscaleModel.Input("upscale_model", optional=True, tooltip=(
                    "Optional, fast path: a 2× (or 4×, resized down) upscale model from Load Upscale Model used "
                    "instead of the latent upscale + refine.")),
                io.Conditioning.Input("style_conditioning", optional=True, tooltip=(
                    "Optional style CONDITIONING (Manga style preset's style_conditioning, e.g. a sampled prompt "
                    "distribution): its tokens are appended to the prompt's; the style text is then unused.")),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip=(
                "The manga character image at the target size, for DiffSensei: Encode characters."))],
        )

    @classmethod
    def execute(cls, model, clip, vae, image, prompt, style, negative, path, size, seed, steps, cfg, sampler_name,
                scheduler, denoise, refine_denoise, grayscale=True, upscale_model=None,
                style_conditioning=None) -> io.NodeOutput:
        if path not in PATHS:
            raise DiffSenseiError(f"{NAME}, input 'path': expected one of {list(PATHS)}, got {path!r}.")
        photo = prepare_photo(image, where=f"{NAME}, input 'image'", min_side=MIN_PHOTO_SIDE, max_side=8192).image
        height, width = target_size(photo.shape[1], photo.shape[2], size)
        if style_conditioning:
            positive = concat_conditioning(encode_text(clip, prompt, height, width), style_conditioning,
                                           f"{NAME}, input 'style_conditioning'")
        else:
            text = ", ".join(part.strip() for part in (prompt, style) if part.strip())
            positive = encode_text(clip, text, height, width)
        negative_cond = encode_text(clip, negative, height, width)
        settings = {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler_name, "scheduler": scheduler}
        result = photo_to_manga(model, vae, photo, positive, negative_cond, path=path, size=(height, width),
                                denoise=denoise, refine_denoise=refine_denoise, upscale_model=upscale_model,
                                grayscale=grayscale, **settings)
        log.info("%s: %s path, %d×%d", NAME, path, result.shape[2], result.shape[1])
        return io.NodeOutput(result.to(mm.intermediate_device()))


NODES = [DiffSenseiPhotoToManga]
