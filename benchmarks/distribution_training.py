"""Prompt-distribution training speed: steps per second of the real Train node (DreamDistribution on SDXL).

Each step encodes K soft prompts through both text encoders with gradients, fits μ/σ, runs the UNet forward and
backward on M sampled conditionings and takes an AdamW step on the prompts. Measured as the time difference between
a run of ``warm + n`` steps and a run of ``warm`` steps (so loading, VAE encoding and saving cancel out), repeated.

CPU (default): the tiny SDXL-layout UNet (context 2048) with a 3-layer random SDXL text encoder of the real widths
(768 + 1280, pooled 1280), K 8 (a CPU budget; --prompts 32 for the paper's K), M 3, 64 px.
GPU (``--gpu``): the real SDXL UNet architecture and both real-size text encoders (CLIP-L 12 layers, OpenCLIP-G 32
layers), random fp16 weights, K 32, M 3, 1024 px. The VAE is the demo stand-in in both (not what is measured).

    ~/comfy/venv/bin/python benchmarks/distribution_training.py            # CPU, tiny
    ~/comfy/venv/bin/python benchmarks/distribution_training.py --gpu      # CUDA, SDXL sizes
"""

from __future__ import annotations

import tempfile
import time

import torch
from common import build_unet, median, pack_module, parser, print_table, setup, synchronize, write_json

from headless import demo_nodes
from headless.tiny_text_encoders import randomise_weights, tiny_sdxl_clip


def real_size_clip(dtype: torch.dtype):
    """ComfyUI's SDXL text encoders at their real sizes with seeded random weights."""
    import comfy.sd
    import comfy.sdxl_clip
    import comfy.supported_models_base

    target = comfy.supported_models_base.ClipTarget(comfy.sdxl_clip.SDXLTokenizer, comfy.sdxl_clip.SDXLClipModel)
    clip = comfy.sd.CLIP(target=target, model_options={"dtype": dtype})
    randomise_weights(clip.cond_stage_model, 0)
    return clip


def train_seconds(node, unet, clip, vae, images, steps: int, args) -> float:
    synchronize()
    started = time.perf_counter()
    with torch.inference_mode():
        node.execute(model=unet, clip=clip, vae=vae, images=images, name="benchmark", prompts=args.prompts,
                     tokens_per_prompt=4, steps=steps, learning_rate=1e-3, samples_per_step=3, images_per_step=1,
                     resolution=args.resolution, seed=0, prefix="a manga panel of", suffix="")
    synchronize()
    return time.perf_counter() - started


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="timed steps per repeat")
    p.add_argument("--prompts", type=int, default=None, help="K soft prompts (default 32 on GPU, 8 on CPU)")
    args = p.parse_args()
    comfy = setup(args)
    args.resolution = 1024 if args.gpu else 64
    args.prompts = args.prompts or (32 if args.gpu else 8)
    steps = args.steps or (3 if args.quick else (10 if args.gpu else 5))
    repeats = args.repeats or (1 if args.quick else 3)
    dtype = torch.float16 if args.gpu else torch.float32
    with torch.inference_mode():
        unet = build_unet(comfy, "sdxl" if args.gpu else "tiny", dtype)
        clip = real_size_clip(dtype) if args.gpu else tiny_sdxl_clip(0, width_l=768, width_g=1280)
    vae = demo_nodes.DemoVAE()
    images = torch.rand(4, args.resolution, args.resolution, 3, generator=torch.Generator().manual_seed(0))
    node = pack_module(comfy, "nodes.distribution_train").DiffSenseiTrainPromptDistribution
    pack_module(comfy, "nodes.distribution").register_distribution_folder()
    comfy.folder_paths.add_model_folder_path("prompt_distributions", tempfile.mkdtemp(prefix="diffsensei-bench-"),
                                             is_default=True)  # the artifacts never land in the user's models
    warm = 2
    train_seconds(node, unet, clip, vae, images, warm, args)  # first load, kernels
    per_step = []
    for _ in range(repeats):
        base = train_seconds(node, unet, clip, vae, images, warm, args)
        full = train_seconds(node, unet, clip, vae, images, warm + steps, args)
        per_step.append((full - base) / steps)
    seconds = median(per_step)
    device = "cuda" if args.gpu else "cpu"
    rows = [[device, "SDXL" if args.gpu else "tiny", args.resolution, args.prompts, 3, seconds * 1000, 1 / seconds]]
    print_table("prompt-distribution training (Train node)", ["device", "model", "px", "K", "M", "ms/step", "steps/s"],
                rows)
    write_json("distribution_training", args, {
        "settings": {"prompts": args.prompts, "tokens_per_prompt": 4, "samples_per_step": 3, "images_per_step": 1,
                     "resolution": args.resolution, "timed_steps": steps, "repeats": repeats},
        "seconds_per_step": per_step, "median_seconds_per_step": seconds, "steps_per_second": 1 / seconds,
    }, comfy)


if __name__ == "__main__":
    main()
