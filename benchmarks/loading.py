"""Loading: the released fp32 ``.bin`` UNet vs the converted fp16 safetensors, into a ComfyUI MODEL.

Both go through the pack's real load path (``diffsensei_core.model.checkpoint.load_diffsensei``, then
``nodes/comfy_unet.build_sdxl_model`` and the adapter, as the Load model node does), each load in a fresh child
process. The child reports the load time, its peak RSS (VmHWM) and its peak anonymous / file-backed RSS (sampled
every 10 ms), the RSS before loading, and the bytes of the loaded MODEL + adapter. Before every load the files are
dropped from the page cache (``posix_fadvise(DONTNEED)`` on our own files only), so both loads read from disk.

The files are random, in the released layout (full SDXL diffusers UNet keys + 140 ``to_k_ip/to_v_ip`` +
``dialog_bbox_embedding``; ``image_proj_model`` with the released resampler widths) and are written tensor by
tensor in torch's zip format, never holding the whole state dict. The converted files come from the pack's own
converter. Everything is cached under ``--workdir``, so reruns skip the generation.

Targets: the converted file loads ≥ 3× faster; peak RSS while loading ≤ 1.25× the loaded model's size.

    ~/comfy/venv/bin/python benchmarks/loading.py                  # full size: 11.6 GB .bin (about 18 GB on disk)
    ~/comfy/venv/bin/python benchmarks/loading.py --channels 160   # SDXL layout at half width (3.3 GB .bin)
    ~/comfy/venv/bin/python benchmarks/loading.py --quick          # tiny widths, smoke run
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from common import REPO, SDXL_DIFFUSERS_CONFIG, median, parser, print_table, status_kb, write_json

from diffsensei_core.model import convert
from diffsensei_core.model.resampler import Resampler
from headless.demo_weights import unet_shapes

GIB = 1024**3
RELEASED_RESAMPLER = {"dim": 1280, "depth": 4, "dim_head": 64, "heads": 20, "clip_dim": 1280, "magi_dim": 768,
                      "output_dim": 2048, "ff_mult": 4}
SMALL_RESAMPLER = {"dim": 64, "depth": 1, "dim_head": 16, "heads": 4, "clip_dim": 1280, "magi_dim": 768,
                   "output_dim": 2048, "ff_mult": 2}


# ---------------------------------------------------------------------------------------------- generation


def diffusers_config(channels: int) -> dict:
    """The SDXL diffusers config at ``channels`` base width (320 = the real SDXL UNet)."""
    heads = [5, 10, 20] if channels == 320 else [channels // 32, channels // 16, channels // 8]
    return {**SDXL_DIFFUSERS_CONFIG, "block_out_channels": [channels, 2 * channels, 4 * channels],
            "attention_head_dim": heads}


class _StorageRef:
    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _TensorRef:
    """Pickles as torch's own ``_rebuild_tensor_v2`` call on a storage record written separately."""

    def __init__(self, key: str, shape: tuple[int, ...]):
        self.key, self.shape = key, tuple(shape)

    def __reduce__(self):
        strides, numel = [], 1
        for size in reversed(self.shape):
            strides.append(numel)
            numel *= size
        return (torch._utils._rebuild_tensor_v2,
                (_StorageRef(self.key, numel), 0, self.shape, tuple(reversed(strides)), False,
                 collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def write_torch_zip_streaming(path: Path, shapes: dict[str, tuple[int, ...]], seed: int) -> None:
    """A ``torch.save``-compatible fp32 state dict of random tensors, one tensor in memory at a time."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(
        collections.OrderedDict((name, _TensorRef(str(i), shape)) for i, (name, shape) in enumerate(shapes.items())))
    tmp = path.with_name(path.name + ".part")
    writer = torch._C.PyTorchFileWriter(str(tmp))
    data = buffer.getvalue()
    writer.write_record("data.pkl", data, len(data))
    for name, value in ((".format_version", "1"), (".storage_alignment", "64"), ("byteorder", sys.byteorder)):
        writer.write_record(name, value, len(value))
    generator = torch.Generator().manual_seed(seed)
    for i, shape in enumerate(shapes.values()):
        tensor = torch.randn(shape, generator=generator) * 0.02
        writer.write_record(f"data/{i}", tensor.untyped_storage(), tensor.nbytes)
        del tensor
    writer.write_end_of_file()
    del writer
    _fsync(tmp)
    tmp.rename(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def release(workdir: Path, channels: int) -> Path:
    """``<workdir>/release-c<channels>/image_generator`` in the released layout (written once)."""
    root = workdir / f"release-c{channels}" / "image_generator"
    unet = root / "unet" / "pytorch_model.bin"
    if unet.is_file():
        return root
    config = diffusers_config(channels)
    shapes = unet_shapes(config)
    size = sum(torch.Size(s).numel() for s in shapes.values()) * 4
    print(f"writing a random {size / 1e9:.1f} GB fp32 UNet ({len(shapes)} tensors) to {unet} ...", flush=True)
    start = time.perf_counter()
    unet.parent.mkdir(parents=True, exist_ok=True)
    (root / "unet" / "config.json").write_text(json.dumps(config, indent=2))
    resampler_dims = RELEASED_RESAMPLER if channels == 320 else SMALL_RESAMPLER
    resampler = Resampler(**resampler_dims).state_dict()
    (root / "image_proj_model").mkdir(parents=True, exist_ok=True)
    if resampler_dims["dim_head"] != 64:
        (root / "image_proj_model" / "config.json").write_text(json.dumps({"dim_head": resampler_dims["dim_head"]}))
    torch.save(resampler, root / "image_proj_model" / "pytorch_model.bin")
    write_torch_zip_streaming(unet, shapes, seed=0)
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return root


def converted(workdir: Path, channels: int, source: Path) -> Path:
    """The pack's converter output (fp16 safetensors) for the release (written once)."""
    folder = workdir / f"converted-c{channels}"
    if not (folder / "diffsensei_unet_fp16.safetensors").is_file():
        print(f"converting {source} to fp16 safetensors in {folder} ...", flush=True)
        start = time.perf_counter()
        convert.convert_image_generator(source, folder, dtype=torch.float16)
        for path in folder.glob("*.safetensors"):
            _fsync(path)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return folder


def evict(folder: Path) -> None:
    """Drop our own files from the page cache, so the next load reads them from disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# ----------------------------------------------------------------------------------------------- measuring


def measure(path: Path, weight_dtype: str, cold: bool) -> dict:
    if cold:
        evict(path)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--weight-dtype", weight_dtype]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"loading {path} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def child(path: Path, weight_dtype: str) -> None:
    """Load ``path`` like the Load model node does; print one RESULT line of JSON."""
    import argparse

    from common import pack_module, setup

    comfy = setup(argparse.Namespace(gpu=False, threads=None, attention="pytorch"))
    load = pack_module(comfy, "diffsensei_core.model.checkpoint").load_diffsensei
    comfy_unet = pack_module(comfy, "nodes.host.comfy_unet")
    adapter_module = pack_module(comfy, "nodes.host.adapter")
    loaders = pack_module(comfy, "nodes.loaders")
    dtype, fp8 = comfy_unet.weight_dtype_option(weight_dtype)

    baseline = status_kb("VmRSS") * 1024
    baseline_anon = status_kb("RssAnon") * 1024
    peaks = {"RssAnon": 0, "RssFile": 0}
    stop = threading.Event()

    def sample_rss():
        while not stop.is_set():
            for field in peaks:
                peaks[field] = max(peaks[field], status_kb(field) * 1024)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    start = time.perf_counter()
    ckpt = load(path)
    model = comfy_unet.build_sdxl_model(ckpt.unet_state_dict, ckpt.unet_config, weight_dtype=dtype,
                                        fp8_optimizations=fp8)
    adapter = adapter_module.DiffSenseiAdapter(ckpt.adapter, dtype=loaders._adapter_dtype(dtype), source=str(path),
                                               unet=model.model)
    del ckpt
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    model_bytes = sum(t.nbytes for t in model.model.diffusion_model.state_dict().values())
    adapter_bytes = sum(t.nbytes for t in adapter.module.state_dict().values())
    result = {"seconds": seconds, "baseline_rss": baseline, "baseline_anon": baseline_anon,
              "vm_hwm": status_kb("VmHWM") * 1024,
              "peak_anon": peaks["RssAnon"], "peak_file": peaks["RssFile"], "final_rss": status_kb("VmRSS") * 1024,
              "model_bytes": model_bytes, "adapter_bytes": adapter_bytes,
              "model_dtype": str(next(model.model.diffusion_model.parameters()).dtype)}
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/diffsensei-bench"),
                   help="where the generated files are cached (default /tmp/diffsensei-bench)")
    p.add_argument("--channels", type=int, default=None,
                   help="UNet base width: 320 = the real SDXL UNet (default), 160 = half width; --quick uses 64")
    p.add_argument("--weight-dtype", default="fp16", help="the Load model node's weight_dtype (default fp16)")
    p.add_argument("--warm", action="store_true", help="also load with the files in the page cache")
    p.add_argument("--child", type=Path, default=None, help=argparse_suppress())
    args = p.parse_args()
    if args.child is not None:
        child(args.child, args.weight_dtype)
        return
    channels = args.channels or (64 if args.quick else 320)
    repeats = args.repeats or (1 if args.quick else 2)
    source = release(args.workdir, channels)
    target = converted(args.workdir, channels, source)
    files = {"released fp32 .bin": source, "converted fp16 safetensors": target}
    disk = {"released fp32 .bin": (source / "unet" / "pytorch_model.bin").stat().st_size,
            "converted fp16 safetensors": (target / "diffsensei_unet_fp16.safetensors").stat().st_size
            + (target / "diffsensei_adapter_fp16.safetensors").stat().st_size}

    modes = [True, False] if args.warm else [True]
    runs: dict[str, list] = {f"{name}|{'cold' if cold else 'warm'}": [] for cold in modes for name in files}
    for _ in range(repeats):
        for cold in modes:
            for name, path in files.items():
                runs[f"{name}|{'cold' if cold else 'warm'}"].append(measure(path, args.weight_dtype, cold))

    rows, results = [], {}
    for key, samples in runs.items():
        name, cache = key.split("|")
        first = samples[0]
        size = first["model_bytes"] + first["adapter_bytes"]
        seconds = median([s["seconds"] for s in samples])
        peak_delta = median([s["vm_hwm"] - s["baseline_rss"] for s in samples])
        anon_delta = median([s["peak_anon"] - s["baseline_anon"] for s in samples])
        results[key] = {"file": name, "cache": cache, "disk_bytes": disk[name], "loaded_bytes": size,
                        "median_s": seconds, "peak_rss_over_baseline": peak_delta,
                        "peak_anon_over_baseline": anon_delta, "runs": samples}
        rows.append([name, cache, f"{disk[name] / GIB:.2f}", f"{seconds:.1f}", f"{size / GIB:.2f}",
                     f"{peak_delta / GIB:.2f} ({peak_delta / size:.2f}×)",
                     f"{anon_delta / GIB:.2f} ({anon_delta / size:.2f}×)"])
    print_table(f"Loading into a ComfyUI MODEL (+ adapter), weight_dtype {args.weight_dtype}, UNet width {channels}, "
                f"fresh process per load, median of {repeats}",
                ["file", "page cache", "on disk GiB", "load s", "loaded GiB", "peak RSS − before, GiB (× loaded)",
                 "peak anon RSS − before, GiB (× loaded)"], rows)
    summary = []
    for cache in ("cold", "warm") if args.warm else ("cold",):
        bin_s = results[f"released fp32 .bin|{cache}"]["median_s"]
        st_s = results[f"converted fp16 safetensors|{cache}"]["median_s"]
        summary.append([cache, f"{bin_s / st_s:.2f}×", "≥ 3×", "yes" if bin_s / st_s >= 3 else "NO"])
    print_table("Converted vs released: load-time ratio (released ÷ converted)",
                ["page cache", "speed-up", "target", "holds"], summary)
    write_json("loading", args, {"channels": channels, "weight_dtype": args.weight_dtype, "repeats": repeats,
                                 "results": results})


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
