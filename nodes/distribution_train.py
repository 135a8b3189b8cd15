"""``DiffSenseiTrainPromptDistribution``: learn a prompt distribution from reference images inside ComfyUI.

ComfyUI runs nodes under ``torch.inference_mode``; training switches it off locally. Weights made under inference
mode cannot be saved for backward, so the UNet and the CLIP run as clones carrying a weight wrapper that hands each
layer a private copy of its weight, made outside inference mode: an ordinary tensor autograd can keep for the backward
pass. (With dynamic VRAM, ComfyUI casts weights into per-stream buffers that the next layer overwrites; a copy of
the cast is what makes the saved tensor this layer's own.) The denoising loss is the noise-prediction MSE of the frozen
UNet (its model_sampling and apply_model, SDXL ADM from the sampled pooled vector), M samples per reference image and
step.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.distribution import (
    DistributionInfo,
    PromptDistribution,
    SoftPrompts,
    StepResult,
    TrainConfig,
    Trainer,
    TrainingSettings,
    noise_mse,
    save,
)
from ..diffsensei_core.errors import DistributionError
from .distribution import CATEGORY, output_folder
from .host.sockets import PromptDistribution as PromptDistributionSocket
from .host.text_embeds import ComfyPromptEncoder

log = logging.getLogger("diffsensei")

NODE = "DiffSensei: Train prompt distribution"
NAME_PATTERN = re.compile(r"^[\w\- .]+$")


class _CopyOnUse:
    """Weight wrapper that gives the layer a private copy of the weight it was handed (see the module doc)."""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.clone()


def trainable(patcher):
    """A clone of a ModelPatcher whose cast-on-use layers use a private copy of each weight (see the module doc)."""
    clone = patcher.clone()
    for name, module in clone.model.named_modules():
        if hasattr(module, "comfy_cast_weights"):
            for key in ("weight", "bias"):
                if getattr(module, key, None) is not None:
                    clone.add_weight_wrapper(f"{name}.{key}", _CopyOnUse())
    return clone


def _remove_wrappers(patcher) -> None:
    """Drop our wrappers from the shared modules after training (the original patchers do not have them)."""
    for module in patcher.model.modules():
        for attribute in ("weight_function", "bias_function"):
            functions = getattr(module, attribute, None)
            if isinstance(functions, list) and any(isinstance(f, _CopyOnUse) for f in functions):
                setattr(module, attribute, [f for f in functions if not isinstance(f, _CopyOnUse)])


class UNetDenoiseLoss:
    """``loss(hidden (B·M, L, D), pooled (B·M, P), generator)``: B reference latents (B = images_per_step), one noise
    and one σ per image, each repeated for its own M sampled conditionings (rows b·M … b·M + M − 1 belong to image b,
    independent draws per image as in the paper's code); MSE of the predicted vs the true noise."""

    def __init__(self, unet, latents: torch.Tensor, *, images_per_step: int, width: int, height: int):
        self.base = unet.model
        self.latents = latents
        self.images = images_per_step
        self.size = {"width": width, "height": height, "crop_w": 0, "crop_h": 0, "target_width": width,
                     "target_height": height}
        self.transformer_options = dict(unet.model_options.get("transformer_options", {}))

    def __call__(self, hidden: torch.Tensor, pooled: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        mm.throw_exception_if_processing_interrupted()  # before the forward: a cancel during loading saves nothing
        rows, device = hidden.shape[0], self.latents.device
        if rows % self.images:
            raise DistributionError(f"{NODE}: the loss got {rows} sampled conditionings for {self.images} images "
                                    "per step, expected a multiple of the image count; this is a bug in the pack, "
                                    "please report it")
        samples = rows // self.images
        index = torch.randint(self.latents.shape[0], (self.images,), generator=generator)
        noise = torch.randn((self.images, *self.latents.shape[1:]), generator=generator).to(device)
        percent = torch.rand(self.images, generator=generator) * 0.998 + 0.001
        sampling = self.base.model_sampling
        sigma = torch.tensor([float(sampling.percent_to_sigma(float(p))) for p in percent], device=device)
        x0 = self.latents[index.to(device)].repeat_interleave(samples, 0)
        noise = noise.repeat_interleave(samples, 0)
        sigma = sigma.repeat_interleave(samples, 0)
        x = sampling.noise_scaling(sigma, noise, x0)
        y = self.base.encode_adm(pooled_output=pooled, **self.size)
        denoised = self.base.apply_model(x, sigma, c_crossattn=hidden, y=y,
                                         transformer_options=dict(self.transformer_options))
        predicted = (x - denoised.float()) / sigma.view(-1, *([1] * (x.ndim - 1)))
        return noise_mse(predicted, noise)


def prepare_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """IMAGE (N, H, W, C) → (N, r, r, 3): aspect-preserving resize and centre crop to the training size."""
    if images.shape[0] < 2:
        raise DistributionError(f"{NODE}, input 'images': expected a batch of 2 or more reference images, got "
                                f"{images.shape[0]}; batch more images (e.g. with Batch Images) — 5 to 20 work best")
    if images.shape[1:3] != (resolution, resolution):
        log.warning("%s: the %d reference images (%dx%d) are resized and centre-cropped to the training size "
                    "%dx%d", NODE, images.shape[0], images.shape[2], images.shape[1], resolution, resolution)
        images = comfy.utils.common_upscale(images[..., :3].movedim(-1, 1), resolution, resolution, "bilinear",
                                            "center").movedim(1, -1)
    return images[..., :3]


def _check_name(name: str) -> str:
    name = name.strip().removesuffix(".safetensors")
    if not name or not NAME_PATTERN.match(name):
        raise DistributionError(f"{NODE}, input 'name': expected a file name of letters, digits, spaces, '-', '_' "
                                f"or '.', "
                                f"got {name!r}; e.g. 'my_style'")
    return name


class DiffSenseiTrainPromptDistribution(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiTrainPromptDistribution",
            display_name=NODE,
            category=CATEGORY,
            description="Learns a prompt distribution (DreamDistribution) from 2+ reference images: K soft prompts "
                        "for the text encoders, trained through the frozen UNet, whose encoded mean and spread "
                        "become a Gaussian you can sample endless variations from. Shows the loss on the progress "
                        "bar; interrupting keeps and saves the last good state. Writes "
                        "models/prompt_distributions/<name>.safetensors.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model (SDXL or SD1.x) to learn the prompts through."),
                io.Clip.Input("clip", tooltip="Its text encoder; the distribution belongs to this CLIP."),
                io.Vae.Input("vae", tooltip="Encodes the reference images to latents."),
                io.Image.Input("images", tooltip="2 or more reference images (5–20 recommended); resized and "
                                                 "centre-cropped to the training size."),
                io.String.Input("name", default="my_style", tooltip="File name in models/prompt_distributions."),
                io.Int.Input("prompts", default=32, min=2, max=256,
                             tooltip="K, the number of soft prompts the spread is fitted over (paper: 32)."),
                io.Int.Input("tokens_per_prompt", default=4, min=1, max=32,
                             tooltip="Learnable tokens per soft prompt (paper: 4)."),
                io.Int.Input("steps", default=1000, min=1, max=100000,
                             tooltip="Training steps (paper: 1000–2000)."),
                io.Float.Input("learning_rate", default=1e-3, min=1e-6, max=1.0, step=1e-4,
                               tooltip="AdamW learning rate, constant (paper: 0.001)."),
                io.Int.Input("samples_per_step", default=3, min=1, max=16,
                             tooltip="M, prompts sampled from the current distribution per image and step."),
                io.Int.Input("images_per_step", default=1, min=1, max=16,
                             tooltip="Reference images per step (memory grows with images × samples)."),
                io.Int.Input("resolution", default=1024, min=64, max=4096, step=8,
                             tooltip="Training size in pixels (square); 1024 for SDXL, 512 for SD1.x."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Seed of the initial prompts, the image order, noise and timesteps."),
                io.String.Input("prefix", default="", optional=True,
                                tooltip="Optional fixed words before the soft prompt, e.g. 'a manga panel of'."),
                io.String.Input("suffix", default="", optional=True,
                                tooltip="Optional fixed words after the soft prompt."),
            ],
            outputs=[PromptDistributionSocket.Output(display_name="distribution",
                                                     tooltip="The trained distribution (also saved to disk).")],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, model, clip, vae, images, name: str, prompts: int, tokens_per_prompt: int, steps: int,
                learning_rate: float, samples_per_step: int, images_per_step: int, resolution: int, seed: int,
                prefix: str = "", suffix: str = "") -> io.NodeOutput:
        name = _check_name(name)
        pixels = prepare_images(images, resolution)
        latents = model.model.process_latent_in(vae.encode(pixels))
        path = Path(output_folder()) / f"{name}.safetensors"
        with torch.inference_mode(False), torch.enable_grad():
            unet, text = trainable(model), clip.clone()
            text.patcher = trainable(text.patcher)
            encoder = ComfyPromptEncoder(text, prefix=prefix, suffix=suffix, tokens=tokens_per_prompt,
                                         where=f"{NODE}, input 'clip'")
            rows = images_per_step * samples_per_step
            mm.load_models_gpu([unet, text.patcher],
                               memory_required=3 * unet.memory_required([rows, *latents.shape[1:]]))
            device = unet.load_device
            latents = latents.to(device, torch.float32).clone()  # made under inference mode: copy outside it
            soft = SoftPrompts(prompts=prompts, tokens=tokens_per_prompt, widths=encoder.identity.widths, seed=seed,
                               device=encoder.device)
            loss = UNetDenoiseLoss(unet, latents, images_per_step=images_per_step, width=resolution,
                                   height=resolution)
            config = TrainConfig(steps=steps, learning_rate=learning_rate, samples=rows, seed=seed)
            node_id = _node_id(cls)
            settings = TrainingSettings(learning_rate, samples_per_step, images_per_step, resolution, seed, steps)
            trainer = Trainer(soft, encoder, loss, config, on_step=_progress(steps, node_id))
            try:
                trainer.run()
            except mm.InterruptProcessingException:
                _report(_save_interrupted(trainer, encoder, path, settings), node_id, logging.WARNING)
                raise
            finally:
                _remove_wrappers(unet)
                _remove_wrappers(text.patcher)
            if trainer.steps_done == 0:
                kept = f" (the existing {path.name} is unchanged)" if path.exists() else ""
                message = (f"{NODE}: training stopped at {trainer.stopped} before any step finished, so nothing was "
                           f"saved{kept}. Check the reference images for NaN/inf pixels, lower 'learning_rate', or "
                           "load the model in float32")
                _send_text(message, node_id)
                raise DistributionError(message)
            distribution = _finish(trainer, encoder, path, settings,
                                   note=f"stopped early at {trainer.stopped}" if trainer.stopped else "")
        if trainer.stopped:
            _report(f"training stopped at {trainer.stopped}; the state after step {trainer.steps_done} is saved to "
                    f"{path} (try a lower learning rate)", node_id, logging.WARNING)
        else:
            _report(f"done: {steps} steps, last loss {trainer.last_loss:.4f}; saved to {path}", node_id, logging.INFO)
        return io.NodeOutput(distribution)


def _save_interrupted(trainer: Trainer, encoder: ComfyPromptEncoder, path: Path, settings: TrainingSettings) -> str:
    """Save the last good state of an interrupted run (if any step finished); return what happened, for the user."""
    steps = settings.steps_requested
    if trainer.steps_done == 0:
        kept = f"; the existing {path.name} is unchanged" if path.exists() else ""
        return f"interrupted before the first step finished, so nothing was saved to {path}{kept}"
    _finish(trainer, encoder, path, settings, note=f"interrupted after {trainer.steps_done} of {steps} steps")
    return f"interrupted after {trainer.steps_done} of {steps} steps; that state is saved to {path}"


def _report(text: str, node_id: str | None, level: int) -> None:
    """The run's outcome in the log and as the node's progress text in the UI."""
    log.log(level, "%s: %s", NODE, text)
    _send_text(text, node_id)


def _finish(trainer: Trainer, encoder: ComfyPromptEncoder, path: Path, settings: TrainingSettings, *,
            note: str) -> PromptDistribution:
    gaussian = trainer.fitted()
    info = DistributionInfo(encoder.identity, trainer.prompts.prompts, trainer.prompts.tokens, encoder.prefix,
                            encoder.suffix, steps=trainer.steps_done, last_loss=trainer.last_loss, note=note,
                            training=settings)
    cpu = torch.device("cpu")
    distribution = PromptDistribution(gaussian.to(cpu), info, tuple(c.to(cpu) for c in trainer.prompts.snapshot()))
    save(distribution, path)
    return distribution


def _progress(steps: int, node_id: str | None, *, text_every: float = 0.25):
    """Per step: the progress bar, the loss as the node's progress text (at most every ``text_every`` seconds, and on
    the last step), the log every tenth of the run, then the host's interrupt check."""
    bar = comfy.utils.ProgressBar(steps, node_id=node_id)
    every = max(1, steps // 10)
    last_sent = [float("-inf")]

    def on_step(result: StepResult) -> None:
        text = f"step {result.step}/{steps}  loss {result.loss:.4f} (denoise {result.denoise:.4f}, " \
               f"orthogonality {result.orthogonality:.4f})"
        bar.update_absolute(result.step, steps)
        if result.step % every == 0 or result.step == steps:
            log.info("%s: %s", NODE, text)
        now = time.monotonic()
        if now - last_sent[0] >= text_every or result.step == steps:
            last_sent[0] = now
            _send_text(text, node_id)
        mm.throw_exception_if_processing_interrupted()

    return on_step


def _node_id(cls) -> str | None:
    return getattr(getattr(cls, "hidden", None), "unique_id", None)


def _send_text(text: str, node_id: str | None) -> None:
    try:
        from server import PromptServer
    except ImportError:
        return
    server = getattr(PromptServer, "instance", None)
    if node_id is not None and server is not None and hasattr(server, "send_progress_text"):
        server.send_progress_text(text, node_id)


NODES = [DiffSenseiTrainPromptDistribution]
