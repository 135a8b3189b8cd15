"""Memory: peak memory of a whole panel run with and without DiffSensei.

Each run is a fresh child process that builds the model (and, for DiffSensei, the adapter and the Apply node's
patched clone), then samples the panel through ComfyUI's KSampler path (Euler, CFG, batch 1). Reported: memory
before sampling (model, adapter and panel conditioning in place) and the peak during sampling. CPU: RSS, with
the peak taken from VmHWM after resetting it (``/proc/self/clear_refs``) right before sampling. GPU (``--gpu``):
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.

    ~/comfy/venv/bin/python benchmarks/memory.py            # CPU, tiny model, 1024²
    ~/comfy/venv/bin/python benchmarks/memory.py --gpu      # CUDA, SDXL architecture, fp16, 1024²
    ~/comfy/venv/bin/python benchmarks/memory.py --quick
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from common import REPO, SIZES, median, parser, print_table, status_kb, write_json

MIB = 1024**2


def child(args) -> None:
    from common import apply_diffsensei, build_adapter, build_unet, layout_for, rss_bytes, sample, setup, unet_kind

    comfy = setup(args)
    kind, dtype = unet_kind(args)
    width, height = SIZES[args.size]
    model = build_unet(comfy, kind, dtype)
    if args.child == "diffsensei":
        adapter = build_adapter(comfy, model, dtype)
        model = apply_diffsensei(comfy, model, adapter, layout_for(comfy, width, height))
    comfy.mm.load_models_gpu([model])
    if args.gpu:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        before = rss_bytes()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    sample(comfy, model, width, height, steps=args.steps)
    if args.gpu:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = status_kb("VmHWM") * 1024
    sys.stdout.write("RESULT " + json.dumps({"before": before, "peak": peak}) + "\n")


def run_child(variant: str, args) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--size", args.size,
               "--steps", str(args.steps), "--attention", args.attention]
    if args.gpu:
        command.append("--gpu")
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"the {variant} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", choices=list(SIZES), default=None, help="panel size (default 1024x1024)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default 2; the peak is per step)")
    p.add_argument("--child", choices=["plain", "diffsensei"], default=None, help=argparse_suppress())
    args = p.parse_args()
    args.size = args.size or ("512x512" if args.quick else "1024x1024")
    args.steps = args.steps or (1 if args.quick else 2)
    if args.child:
        child(args)
        return
    repeats = args.repeats or (1 if args.quick else 2)
    runs: dict[str, list] = {"plain": [], "diffsensei": []}
    for _ in range(repeats):
        for variant in runs:
            runs[variant].append(run_child(variant, args))
    what = "GPU memory allocated (torch)" if args.gpu else "RSS"
    stats = {}
    for variant, samples in runs.items():
        before = median([s["before"] for s in samples])
        peak = median([s["peak"] for s in samples])
        stats[variant] = {"before": before, "peak": peak, "runs": samples}
    plain, ours = stats["plain"], stats["diffsensei"]
    rows = [["SDXL alone", plain["before"] / MIB, plain["peak"] / MIB, (plain["peak"] - plain["before"]) / MIB],
            ["SDXL + DiffSensei", ours["before"] / MIB, ours["peak"] / MIB, (ours["peak"] - ours["before"]) / MIB],
            ["DiffSensei adds", (ours["before"] - plain["before"]) / MIB, (ours["peak"] - plain["peak"]) / MIB,
             (ours["peak"] - ours["before"] - plain["peak"] + plain["before"]) / MIB],
            ["ratio (with ÷ without)", f"{ours['before'] / plain['before']:.3f}×",
             f"{ours['peak'] / plain['peak']:.3f}×", "-"]]
    model = "SDXL UNet architecture, random fp16 weights" if args.gpu else "tiny SDXL-layout UNet, fp32"
    print_table(f"Memory of a whole panel run: {args.size}, {args.steps} Euler steps, CFG, batch 1; {model}; "
                f"{what} in MiB, fresh process per run, median of {repeats}",
                ["run", "before sampling", "peak while sampling", "peak − before"], rows)
    write_json("memory", args, {"model": model, "size": args.size, "steps": args.steps, "measure": what,
                                "repeats": repeats, **stats})


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
