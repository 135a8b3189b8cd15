"""Patch overhead: one sampling step of the DiffSensei-patched MODEL vs the same MODEL unpatched.

Both run through ComfyUI's KSampler path (``comfy.sample.sample``, Euler, 1 step, CFG 5, batch 1, so the UNet
sees cond+uncond rows), interleaved in one process; the table gives the median seconds of each and the ratio.
The patched model is the real Apply node's output (2 characters in 4 slots, 2 dialog boxes, ip_scale 0.6).

CPU (default): the tiny SDXL-layout model (fp32). Target ≤ 1.20× at every size.
GPU (``--gpu``): the real SDXL UNet architecture, random fp16 weights. Target ≤ 1.10× at 1024².

    ~/comfy/venv/bin/python benchmarks/patch_overhead.py            # CPU, tiny model
    ~/comfy/venv/bin/python benchmarks/patch_overhead.py --gpu      # CUDA, SDXL architecture, fp16
    ~/comfy/venv/bin/python benchmarks/patch_overhead.py --quick    # smoke run
"""

from __future__ import annotations

from common import (
    SIZES,
    apply_diffsensei,
    build_adapter,
    build_unet,
    layout_for,
    median,
    paired_ratio,
    parser,
    print_table,
    sample,
    setup,
    time_interleaved,
    unet_kind,
    write_json,
)

TARGETS = {"cpu": 1.20, "gpu": 1.10}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="*", choices=list(SIZES), default=None)
    args = p.parse_args()
    comfy = setup(args)
    kind, dtype = unet_kind(args)
    sizes = args.sizes or (["512x512"] if args.quick else list(SIZES))
    repeats = args.repeats or (3 if args.quick else 7)

    plain = build_unet(comfy, kind, dtype)
    adapter = build_adapter(comfy, plain, dtype)
    rows, results = [], []
    for name in sizes:
        width, height = SIZES[name]
        patched = apply_diffsensei(comfy, plain, adapter, layout_for(comfy, width, height))
        times = time_interleaved({
            "plain": lambda w=width, h=height: sample(comfy, plain, w, h, steps=1),
            "diffsensei": lambda w=width, h=height, m=patched: sample(comfy, m, w, h, steps=1),
        }, repeats=repeats)
        t_plain, t_patched = median(times["plain"]), median(times["diffsensei"])
        ratio = t_patched / t_plain
        paired = paired_ratio(times["diffsensei"], times["plain"])
        target = TARGETS["gpu" if args.gpu else "cpu"]
        holds = max(ratio, paired) <= target if (not args.gpu or name == "1024x1024") else None
        rows.append([name, f"{t_plain * 1000:.0f}", f"{t_patched * 1000:.0f}", f"{ratio:.3f}×", f"{paired:.3f}×",
                     f"≤ {target:.2f}×" if holds is not None else "-",
                     {True: "yes", False: "NO", None: "-"}[holds]])
        results.append({"size": name, "width": width, "height": height, "plain_s": times["plain"],
                        "diffsensei_s": times["diffsensei"], "plain_median_s": t_plain,
                        "diffsensei_median_s": t_patched, "ratio": ratio, "paired_ratio": paired, "target": target,
                        "target_holds": holds})
    model = "SDXL UNet architecture, random fp16 weights" if args.gpu else "tiny SDXL-layout UNet, fp32"
    print_table(f"Patch overhead: 1 Euler step, batch 1, CFG (cond+uncond rows); {model}; median of {repeats}",
                ["panel (W×H)", "plain ms", "DiffSensei ms", "ratio of medians", "median paired ratio", "target",
                 "holds"], rows)
    write_json("patch_overhead", args, {"model": model, "repeats": repeats, "results": results}, comfy)


if __name__ == "__main__":
    main()
