"""Shared plumbing of the benchmark scripts: ComfyUI bootstrap, models, timing, tables, JSON.

Benchmarks are scripts, not tests. Each one compares two things in the same process (or, for memory, in
fresh child processes of the same script), repeats the measurement, and reports medians and their ratio:
these machines are shared and noisy, so single absolute times mean little.

Two model kinds:

* ``tiny``: the real SDXL block layout (70 cross-attention sites, context 2048, adm 2816) with narrow widths
  (model_channels 32, 8-channel heads), seeded random weights, fp32, CPU. Same as the host tests' ``tiny_sdxl``.
* ``sdxl``: the real SDXL UNet architecture (model_channels 320, 64-channel heads) with random weights, for GPU
  runs in fp16 (``--gpu``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after ComfyUI's root, which comfy_session puts first

import torch  # noqa: E402

from headless import comfy_session  # noqa: E402
from tests.support import random_models  # noqa: E402

# The real SDXL diffusers config (what the released unet/config.json says), for the loading benchmark.
SDXL_DIFFUSERS_CONFIG = {
    "_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280], "center_input_sample": False, "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], "downsample_padding": 1,
    "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05,
    "norm_num_groups": 32, "out_channels": 4, "projection_class_embeddings_input_dim": 2816, "sample_size": 128,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "use_linear_projection": True,
}

ATTENTION_FLAGS = {"pytorch": "use_pytorch_cross_attention", "sub_quad": "use_quad_cross_attention",
                   "split": "use_split_cross_attention"}

# (width, height) in pixels: square 512², square 1024², and a wide manga strip.
SIZES = {"512x512": (512, 512), "1024x1024": (1024, 1024), "1536x768": (1536, 768)}


# ------------------------------------------------------------------------------------------------ arguments


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--gpu", action="store_true",
                   help="CUDA, real SDXL architecture with random fp16 weights (instead of the tiny CPU model)")
    p.add_argument("--quick", action="store_true", help="a fast smoke run: small sizes, few repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per variant (median reported)")
    p.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/<name>.json)")
    p.add_argument("--attention", choices=list(ATTENTION_FLAGS), default="pytorch",
                   help="ComfyUI's attention kernel: pytorch (SDPA; ComfyUI's default on NVIDIA GPUs, and the default "
                        "here), sub_quad (ComfyUI's default on CPU), split")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default 1 on CPU: on a shared machine one thread gives steadier ratios)")
    return p


def setup(args: argparse.Namespace) -> types.SimpleNamespace:
    """Import ComfyUI (CUDA for --gpu, else CPU) with the chosen attention kernel; load this pack like the server."""
    if args.gpu and not torch.cuda.is_available():
        raise SystemExit("--gpu needs CUDA; run without --gpu for the CPU benchmark")
    threads = args.threads or (None if args.gpu else 1)
    if threads:
        torch.set_num_threads(threads)
    root = comfy_session.find_comfyui()
    if root is None:
        raise SystemExit(comfy_session.not_found_message())
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from comfy.cli_args import args as comfy_args  # must be set before comfy.model_management is imported

    if args.attention:  # None: ComfyUI's own choice for the device, as a plain `python main.py` makes it
        setattr(comfy_args, ATTENTION_FLAGS[args.attention], True)
    comfy = comfy_session.import_comfyui(root, cpu=not args.gpu)
    tmp = Path(tempfile.mkdtemp(prefix="diffsensei-bench-"))
    comfy_session.set_directories(comfy, output=tmp / "output", temp=tmp / "temp", input=tmp / "input")
    pack, errors = comfy_session.load_pack(comfy, tmp / "custom_nodes")
    if pack is None:
        raise SystemExit("ComfyUI did not load the pack:\n" + "\n".join(errors))
    comfy.pack = pack
    comfy.device = comfy.mm.get_torch_device()
    return comfy


def pack_module(comfy: types.SimpleNamespace, dotted: str) -> types.ModuleType:
    return importlib.import_module(f"{comfy.pack.__name__}.{dotted}")


# ---------------------------------------------------------------------------------------------------- models


def unet_kind(args: argparse.Namespace) -> tuple[str, torch.dtype]:
    """The model kind and dtype of a run: ("sdxl", fp16) with ``--gpu``, else ("tiny", fp32)."""
    return ("sdxl", torch.float16) if args.gpu else ("tiny", torch.float32)


def build_unet(comfy: types.SimpleNamespace, kind: str, dtype: torch.dtype, seed: int = 0):
    """A ComfyUI SDXL MODEL (ModelPatcher) of the given kind with seeded random weights on the torch device."""
    size = random_models.TINY if kind == "tiny" else random_models.SDXL
    return random_models.random_sdxl_model(**size, dtype=dtype, device=comfy.mm.get_torch_device(), seed=seed)


def random_sdxl_vae(seed: int = 0):
    """comfy.sd.VAE with SDXL's VAE architecture and seeded random weights (ComfyUI detects it from the keys)."""
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL

    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
    shapes = AutoencoderKL(ddconfig=ddconfig, embed_dim=4).state_dict()
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, value in shapes.items():
        if value.ndim > 1:
            sd[key] = torch.randn(value.shape, generator=g) / value[0].numel() ** 0.5
        else:
            sd[key] = torch.ones(value.shape) if "norm" in key and key.endswith("weight") else torch.zeros(value.shape)
    return comfy.sd.VAE(sd=sd)


def build_adapter(comfy: types.SimpleNamespace, model, dtype: torch.dtype, seed: int = 0):
    """A random DiffSensei adapter that fits ``model`` (one to_k_ip/to_v_ip per site, released token counts)."""
    return random_models.random_adapter(comfy.pack, model, dtype=dtype, seed=seed, source="benchmark")


def layout_for(comfy: types.SimpleNamespace, width: int, height: int, characters: int = 2, dialogs: int = 2):
    """A typical panel: characters side by side in the lower part, dialog bubbles along the top."""
    layout = pack_module(comfy, "diffsensei_core.model.panel_layout")
    chars = [[i / characters + 0.02, 0.25, (i + 1) / characters - 0.02, 0.98] for i in range(characters)]
    talks = [[i / dialogs + 0.05, 0.02, (i + 1) / dialogs - 0.05, 0.22] for i in range(dialogs)]
    return layout.make_layout(width, height, chars, talks)


def apply_diffsensei(comfy: types.SimpleNamespace, model, adapter, layout, ip_scale: float = 0.6, seed: int = 0):
    """Run the real Apply node on random character features; returns the patched clone."""
    sockets = pack_module(comfy, "nodes.host.sockets")
    apply = pack_module(comfy, "nodes.apply").DiffSenseiApply
    g = torch.Generator().manual_seed(seed)
    n = len(layout.characters)
    characters = sockets.EncodedCharacters(clip=torch.randn(n, 257, 48, generator=g),
                                           magi=torch.randn(n, 24, generator=g))
    return apply.execute(model, adapter, characters, layout, ip_scale)[0]


def conditioning(width: int, height: int, seed: int = 0):
    """(positive, negative) SDXL conditioning with random 77-token text of width 2048 and pooled 1280."""
    g = torch.Generator().manual_seed(seed)

    def one():
        extra = {"pooled_output": torch.randn(1, 1280, generator=g), "width": width, "height": height,
                 "target_width": width, "target_height": height}
        return [[torch.randn(1, 77, 2048, generator=g), extra]]

    return one(), one()


def sample(comfy, model, width: int, height: int, steps: int, *, cfg: float = 5.0, seed: int = 0):
    """``steps`` Euler steps with CFG through ComfyUI's KSampler path (comfy.sample.sample)."""
    import comfy.sample

    positive, negative = conditioning(width, height, seed)
    latent = torch.zeros(1, 4, height // 8, width // 8)
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(seed))
    return comfy.sample.sample(model, noise, steps, cfg, "euler", "normal", positive, negative, latent,
                               disable_pbar=True, seed=seed)


# ------------------------------------------------------------------------------------------------ measuring


def synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list]:
    """Seconds per call of each variant; the variants alternate so that drifting load hits them alike."""
    for _ in range(warmup):
        for fn in variants.values():
            fn()
            synchronize()
    times: dict[str, list] = {name: [] for name in variants}
    for i in range(repeats):
        order = list(variants.items())
        if i % 2:
            order.reverse()
        for name, fn in order:
            synchronize()
            start = time.perf_counter()
            fn()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return times


def median(values) -> float:
    return statistics.median(values)


def paired_ratio(numerator: list, denominator: list) -> float:
    """Median of the per-repeat ratios (each pair ran back to back, so it saw about the same machine load)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def rss_bytes() -> int:
    return status_kb("VmRSS") * 1024


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS, VmHWM, RssAnon, …), 0 when absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------------------------------- output


def machine(comfy: types.SimpleNamespace | None = None) -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    if comfy is not None:
        attention = importlib.import_module("comfy.ldm.modules.attention").optimized_attention
        info["attention"] = getattr(attention, "__name__", str(attention))
    try:
        import comfyui_version

        info["comfyui"] = comfyui_version.__version__
    except ImportError:
        pass
    return info


def print_table(title: str, headers: list[str], rows: list[list]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def write_json(name: str, args: argparse.Namespace, payload: dict, comfy=None) -> Path:
    path = args.out or RESULTS / f"{name}{'-gpu' if args.gpu else ''}{'-quick' if args.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "machine": machine(comfy), "date": time.strftime("%Y-%m-%d %H:%M:%S"), **payload}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path
