"""Masks: the pack's cached character-attention bias vs rebuilding it in every attention call, as the reference does.

The reference (model spec §4.3) rebuilds the (rows, h·w, 80) additive bias inside every cross-attention call: it
guesses the token grid from the token count, then loops in Python over batch rows and character boxes. The pack
builds each (branch, grid) mask once per panel and serves it from ``PanelConditioning``'s cache.

Part 1 replays the attention calls of a full run: 30 steps × 70 cross-attention sites at 1024² (latent 128²: 10
sites on the 64² grid, 60 on the 32² grid), CFG batch [uncond, cond], 2 characters in 4 slots; each call asks for
the bias exactly as the patch does. Both builders must give identical masks (checked).
Part 2 proves the cache in a real sampling run of the patched tiny model: the masks actually built (cache entries)
stays at (grids × branches) however many steps run, while the patch asks for a mask in every attention call.

    ~/comfy/venv/bin/python benchmarks/masks.py [--quick] [--gpu]   (--gpu: masks in fp16 on CUDA)
"""

from __future__ import annotations

import math
import time

import torch
from common import (
    apply_diffsensei,
    build_adapter,
    build_unet,
    layout_for,
    median,
    pack_module,
    parser,
    print_table,
    sample,
    setup,
    synchronize,
    write_json,
)

UNCOND, COND = 1, 0


def reference_style_bias(boxes: torch.Tensor, num_tokens: int, aspect_ratio: float, *, num_dummy: int,
                         per_character: int, masked: float, dtype, device) -> torch.Tensor:
    """(rows, n, num_dummy + k·per_character), rebuilt from scratch the way the reference does in each call.

    boxes: (rows, k, 4) relative [x1, y1, x2, y2]. The grid comes from the token count and the panel's H/W ratio.
    """
    w = int(math.sqrt(num_tokens / aspect_ratio))
    h = num_tokens // w
    while w * h != num_tokens:
        w += 1 if w * h < num_tokens else -1
        h = num_tokens // w
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h, device=device), torch.linspace(0, 1, w, device=device),
                            indexing="ij")
    xs, ys = xs.flatten(), ys.flatten()
    rows, slots = boxes.shape[:2]
    bias = torch.zeros(rows, num_tokens, num_dummy + slots * per_character, dtype=dtype, device=device)
    for row in range(rows):
        in_any = torch.zeros(num_tokens, dtype=torch.bool, device=device)
        for slot in range(slots):
            x1, y1, x2, y2 = boxes[row, slot].tolist()
            inside = (x1 <= xs) & (xs <= x2) & (y1 <= ys) & (ys <= y2)
            in_any |= inside
            start = num_dummy + slot * per_character
            bias[row, :, start:start + per_character][~inside] = masked
        bias[row, :, :num_dummy][in_any] = masked
    return bias


def attention_calls(width: int, height: int, steps: int) -> list[tuple[int, int]]:
    """The (grid_h, grid_w) of every cross-attention call of a ``steps``-step SDXL run, in order."""
    h1, w1 = math.ceil(height / 16), math.ceil(width / 16)
    h2, w2 = math.ceil(h1 / 2), math.ceil(w1 / 2)
    one_step = [(h1, w1)] * 4 + [(h2, w2)] * 20 + [(h2, w2)] * 10 + [(h2, w2)] * 30 + [(h1, w1)] * 6
    return one_step * steps


def built_masks(panel, kind: str) -> int:
    """How many masks of ``kind`` ("bias" per branch and grid, "dialog") the panel built: its cache holds each once."""
    return sum(1 for key in panel._cache if key[0] == kind)


def replay(comfy, args) -> dict:
    panel_module = pack_module(comfy, "diffsensei_core.model.panel_conditioning")
    masks_module = pack_module(comfy, "diffsensei_core.model.masks")
    width, height = (512, 512) if args.quick else (1024, 1024)
    steps = 3 if args.quick else 30
    layout = layout_for(comfy, width, height)
    slots = 4
    dtype, device = (torch.float16, comfy.device) if args.gpu else (torch.float32, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)

    def new_panel():
        return panel_module.PanelConditioning(cond_tokens=torch.randn(1, 80, 64, generator=g),
                                              uncond_tokens=torch.randn(1, 80, 64, generator=g),
                                              layout=layout, num_slots=slots)

    calls = attention_calls(width, height, steps)
    order = [UNCOND, COND]
    boxes = torch.stack([torch.zeros(slots, 4), layout.character_boxes(slots)]).to(device)  # rows in `order`
    panels = []

    def cached():
        panel = new_panel()  # a fresh panel per run: its one-off builds are part of the run
        for grid_h, grid_w in calls:
            panel.character_bias(order, 2, grid_h, grid_w, dtype=dtype, device=device)
        panels.append(panel)

    def per_call():
        for grid_h, grid_w in calls:
            reference_style_bias(boxes, grid_h * grid_w, height / width, num_dummy=16, per_character=16,
                                 masked=masks_module.MASKED, dtype=dtype, device=device)

    for grid_h, grid_w in set(calls):  # both builders give the same masks
        ours = new_panel().character_bias(order, 2, grid_h, grid_w, dtype=dtype, device=device)
        theirs = reference_style_bias(boxes, grid_h * grid_w, height / width, num_dummy=16, per_character=16,
                                      masked=masks_module.MASKED, dtype=dtype, device=device)
        if not torch.equal(ours, theirs):
            raise SystemExit(f"the masks differ on the {grid_h}×{grid_w} grid")

    repeats = args.repeats or (3 if args.quick else 5)
    times: dict[str, list] = {"per_call": [], "cached": []}
    for i in range(repeats):  # alternate, so drifting machine load hits both alike
        for name, fn in ((("per_call", per_call), ("cached", cached))[:: 1 if i % 2 == 0 else -1]):
            synchronize()
            start = time.perf_counter()
            fn()
            synchronize()
            times[name].append(time.perf_counter() - start)
    t_ref, t_ours = median(times["per_call"]), median(times["cached"])
    builds = built_masks(panels[-1], "bias")
    grids = len(set(calls))
    print_table(f"Masks over a full run: {steps} steps × 70 sites = {len(calls)} attention calls at {width}×{height}, "
                f"CFG batch, median of {repeats}",
                ["builder", "total ms", "per call µs", "masks built", "speed-up"],
                [["reference-style: rebuilt per call, per-box loops", t_ref * 1000, t_ref / len(calls) * 1e6,
                  len(calls), "1.0×"],
                 ["pack: PanelConditioning cache", t_ours * 1000, t_ours / len(calls) * 1e6, builds,
                  f"{t_ref / t_ours:.1f}×"]])
    return {"width": width, "height": height, "steps": steps, "attention_calls": len(calls), "distinct_grids": grids,
            "repeats": repeats, "per_call_s": times["per_call"], "cached_s": times["cached"],
            "per_call_median_s": t_ref, "cached_median_s": t_ours, "speedup": t_ref / t_ours,
            "mask_builds": builds, "expected_mask_builds": grids * 2}


def real_run(comfy, args) -> dict:
    """Sample the patched tiny model; count the masks the patch asked for and the ones actually built."""
    width, height = (256, 256) if args.quick else (512, 512)
    plain = build_unet(comfy, "tiny", torch.float32)
    adapter = build_adapter(comfy, plain, torch.float32)
    rows = []
    out = []
    for steps in (1, 2) if args.quick else (1, 4):
        patched = apply_diffsensei(comfy, plain, adapter, layout_for(comfy, width, height))
        patches = patched.model_options["transformer_options"]["patches_replace"]["attn2"]
        panel = next(iter(patches.values())).panel
        requests = []
        ask = panel.character_bias

        def counting(*a, ask=ask, requests=requests, **kw):
            requests.append(a[2:4])
            return ask(*a, **kw)

        panel.character_bias = counting  # instance attribute: the shared patch objects all see it
        sample(comfy, patched, width, height, steps=steps)
        dialog_builds, character_builds = built_masks(panel, "dialog"), built_masks(panel, "bias")
        out.append({"steps": steps, "bias_requests": len(requests), "distinct_grids": len(set(requests)),
                    "mask_builds": character_builds + dialog_builds, "character_mask_builds": character_builds,
                    "dialog_mask_builds": dialog_builds})
        rows.append([steps, len(requests), len(set(requests)), character_builds, dialog_builds])
    print_table(f"Mask builds in a real sampling run (tiny model, {width}×{height}, CFG batch [uncond, cond])",
                ["steps", "bias requests (attention calls)", "distinct grids", "character masks built",
                 "dialog masks built"], rows)
    return {"width": width, "height": height, "runs": out}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    comfy = setup(args)
    payload = {"replay": replay(comfy, args), "sampling": real_run(comfy, args)}
    write_json("masks", args, payload, comfy)


if __name__ == "__main__":
    main()
