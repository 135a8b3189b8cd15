"""Photo to manga: time of the fast path vs the quality path, and how close each output stays to the photo.

Both paths run the node's own pipeline (``nodes/photo_to_manga.photo_to_manga``: ComfyUI's comfy.sample, Euler,
CFG 7, denoise 0.65) on the stand-in photo of ``tests/support/make_workflow_assets.draw_photo`` with random 77-token
conditioning, interleaved in one process; the table gives median seconds, the time ratio quality / fast, and the
similarity of each output to the photo.

Variants: ``quality`` (full size), ``fast`` (half side, latent 2× with bislerp, ⌈steps/3⌉ refine steps at 0.35),
``fast+model`` (half side, then a 2× upscale model: spandrel's Compact (Real-ESRGAN compact) architecture with
random weights, run through ComfyUI's ImageUpscaleWithModel, no refine).

Similarity: Pearson correlation of the grayscale output and the grayscale photo, both area-downsampled to 32 px
on the long side (structure kept, texture ignored). With random weights the outputs are noise-like, so this shows
how much of the photo's layout each path keeps at the same denoise, not image quality.

CPU (default): the tiny SDXL-layout UNet (fp32) and the demo VAE (no network: VAE time is ~0), 512 px long side.
GPU (``--gpu``): the real SDXL UNet architecture and a real-architecture SDXL VAE, random fp16/fp32 weights,
1024 px long side. Goal (issue 9): quality / fast ≥ 4× on the GPU for fast+model.

    ~/comfy/venv/bin/python benchmarks/photo_to_manga.py            # CPU, tiny model
    ~/comfy/venv/bin/python benchmarks/photo_to_manga.py --gpu      # CUDA, SDXL architecture
    ~/comfy/venv/bin/python benchmarks/photo_to_manga.py --quick    # smoke run
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from common import (
    build_unet,
    conditioning,
    median,
    pack_module,
    paired_ratio,
    parser,
    print_table,
    random_sdxl_vae,
    setup,
    time_interleaved,
    unet_kind,
    write_json,
)

from headless import demo_nodes
from tests.support import make_workflow_assets, random_models

GOAL_GPU = 4.0
SIMILARITY_SIDE = 32
SETTINGS = {"seed": 7, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal"}
DENOISE, REFINE_DENOISE = 0.65, 0.35


def photo_tensor() -> torch.Tensor:
    image = make_workflow_assets.draw_photo().convert("RGB")
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None]


def similarity(output: torch.Tensor, photo: torch.Tensor) -> float:
    """Pearson correlation of grayscale (1, h, w, 3) images after area-downsampling to SIMILARITY_SIDE px."""

    def small(image: torch.Tensor) -> torch.Tensor:
        gray = image[0].float().cpu().mul(torch.tensor([0.299, 0.587, 0.114])).sum(-1)
        h, w = gray.shape
        scale = SIMILARITY_SIDE / max(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return torch.nn.functional.interpolate(gray[None, None], size=size, mode="area").flatten()

    a, b = small(output), small(torch.nn.functional.interpolate(
        photo.movedim(-1, 1), size=output.shape[1:3], mode="area").movedim(1, -1))
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=None, help="long side in pixels (default 512 CPU, 1024 GPU)")
    p.add_argument("--steps", type=int, default=None, help="main-pass steps (default 10 CPU, 20 GPU)")
    args = p.parse_args()
    comfy = setup(args)
    import comfy.utils as comfy_utils

    comfy_utils.PROGRESS_BAR_ENABLED = False  # the console bars would interleave with the table
    p2m = pack_module(comfy, "nodes.photo_to_manga")
    regions = pack_module(comfy, "diffsensei_core.photo.regions")
    kind, dtype = unet_kind(args)
    size = args.size or (256 if args.quick else 1024 if args.gpu else 512)
    steps = args.steps or (4 if args.quick else 20 if args.gpu else 10)
    repeats = args.repeats or (2 if args.quick else 5)

    model = build_unet(comfy, kind, dtype)
    vae = random_sdxl_vae() if args.gpu else demo_nodes.DemoVAE()
    upscaler = random_models.random_upscale_model(Path(comfy.folder_paths.get_temp_directory()) / "upscale_models")
    photo = photo_tensor()
    height, width = regions.target_size(photo.shape[1], photo.shape[2], size)
    positive, negative = conditioning(width, height)
    outputs: dict[str, torch.Tensor] = {}

    def run(name: str, path: str, upscale_model=None):
        def call():
            outputs[name] = p2m.photo_to_manga(model, vae, photo, positive, negative, path=path, size=(height, width),
                                               denoise=DENOISE, refine_denoise=REFINE_DENOISE,
                                               upscale_model=upscale_model, steps=steps, **SETTINGS)
        return call

    variants = {"quality": run("quality", "quality"), "fast": run("fast", "fast"),
                "fast+model": run("fast+model", "fast", upscaler)}
    times = time_interleaved(variants, repeats)
    rows, results = [], []
    for name in variants:
        ratio = paired_ratio(times["quality"], times[name])
        sim = similarity(outputs[name], photo)
        rows.append([name, median(times[name]), ratio, sim])
        results.append({"variant": name, "median_s": median(times[name]), "times_s": times[name],
                        "quality_over_this": ratio, "similarity_to_photo": sim,
                        "output_shape": list(outputs[name].shape)})
    title = (f"Photo to manga, {kind} UNet, {width}×{height}, {steps} steps (+{p2m.refine_steps(steps)} refine on "
             f"the fast latent path), denoise {DENOISE}")
    print_table(title, ["variant", "median s", "quality / this", "similarity"], rows)
    if args.gpu:
        best = max(r["quality_over_this"] for r in results if r["variant"] != "quality")
        print(f"goal quality / fast ≥ {GOAL_GPU}: {'met' if best >= GOAL_GPU else 'NOT met'} ({best:.2f}×)")
    write_json("photo_to_manga", args, {
        "model": kind, "size": [width, height], "steps": steps, "refine_steps": p2m.refine_steps(steps),
        "denoise": DENOISE, "refine_denoise": REFINE_DENOISE, "repeats": repeats,
        "vae": "random SDXL VAE" if args.gpu else "demo VAE (no network)",
        "upscale_model": "spandrel Compact 2x, random weights",
        "similarity": f"Pearson correlation of grayscale images area-downsampled to {SIMILARITY_SIDE} px",
        "results": results}, comfy)


if __name__ == "__main__":
    main()
