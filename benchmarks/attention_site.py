"""One cross-attention site: the DiffSensei patch call vs ComfyUI's plain text attention, in the same process.

Where the patch overhead of ``patch_overhead.py`` comes from, without the rest of the UNet around it: for each token
grid of a 1024² (or wide) panel, the patch is called exactly as ComfyUI's attn2 calls it (q, k, v already projected,
CFG batch [uncond, cond], ``extra_options`` with the grid), and compared with the text attention alone (what the
unpatched site computes in the same place). Sites use the real SDXL head layout when ``--gpu``, the tiny model's
otherwise.

    ~/comfy/venv/bin/python benchmarks/attention_site.py [--quick] [--gpu]
"""

from __future__ import annotations

import torch
from common import (
    SIZES,
    apply_diffsensei,
    build_adapter,
    build_unet,
    layout_for,
    median,
    pack_module,
    paired_ratio,
    parser,
    print_table,
    setup,
    time_interleaved,
    unet_kind,
    write_json,
)

UNCOND, COND = 1, 0


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="*", choices=list(SIZES), default=None)
    args = p.parse_args()
    comfy = setup(args)
    import comfy.ldm.modules.attention as comfy_attention

    comfy_unet = pack_module(comfy, "nodes.host.comfy_unet")
    kind, dtype = unet_kind(args)
    device = comfy.device
    sizes = args.sizes or (["512x512"] if args.quick else ["1024x1024", "1536x768"])
    repeats = args.repeats or (5 if args.quick else 21)
    plain = build_unet(comfy, kind, dtype)
    adapter = build_adapter(comfy, plain, dtype)
    adapter.patcher.model.to(device)
    sites = dict(comfy_unet.attn2_sites(plain.model.diffusion_model))
    g = torch.Generator(device=device).manual_seed(0)
    rows, results = [], []
    with torch.inference_mode():
        for size in sizes:
            width, height = SIZES[size]
            patched = apply_diffsensei(comfy, plain, adapter, layout_for(comfy, width, height))
            patches = patched.model_options["transformer_options"]["patches_replace"]["attn2"]
            # one representative site per resolution level: the first on the 2× and on the 4× down-sampled grid
            for key, level in ((("input", 4, 0), 2), (("input", 7, 0), 4)):
                attn2 = sites[key]
                inner = attn2.to_q.weight.shape[0]
                grid_h, grid_w = -(-height // (8 * level)), -(-width // (8 * level))
                q = torch.randn(2, grid_h * grid_w, inner, generator=g, device=device, dtype=dtype)
                k, v = (torch.randn(2, 77, inner, generator=g, device=device, dtype=dtype) for _ in range(2))
                options = {"n_heads": attn2.heads, "cond_or_uncond": [UNCOND, COND], "block": key[:2],
                           "block_index": key[2], "activations_shape": (2, inner, grid_h, grid_w),
                           "attn_precision": None}
                patch = patches[key]
                times = time_interleaved({
                    "text": lambda q=q, k=k, v=v, h=attn2.heads: comfy_attention.optimized_attention(q, k, v, h),
                    "patch": lambda q=q, k=k, v=v, o=options, f=patch: f(q, k, v, o),
                }, repeats=repeats, warmup=2)
                t_text, t_patch = median(times["text"]), median(times["patch"])
                paired = paired_ratio(times["patch"], times["text"])
                rows.append([size, f"{grid_h}×{grid_w}", attn2.heads, t_text * 1000, t_patch * 1000,
                             (t_patch - t_text) * 1000, f"{paired:.2f}×"])
                results.append({"size": size, "site": list(key), "grid": [grid_h, grid_w], "heads": attn2.heads,
                                "text_s": times["text"], "patch_s": times["patch"], "text_median_s": t_text,
                                "patch_median_s": t_patch, "paired_ratio": paired})
    model = "SDXL head layout, fp16" if args.gpu else "tiny model head layout, fp32"
    print_table(f"One attn2 site, CFG batch (2 rows): text attention vs the DiffSensei patch; {model}; median of "
                f"{repeats}", ["panel", "grid", "heads", "text ms", "patch ms", "extra ms", "ratio"], rows)
    write_json("attention_site", args, {"model": model, "repeats": repeats, "results": results}, comfy)


if __name__ == "__main__":
    main()
