"""Panels per minute with 1 and 2 Ray workers, and the per-panel overhead of Ray against rendering in-process.

    python benchmarks/ray_chapter.py [--repeats 3] [--out FILE]        (ComfyUI's Python; needs ray>=2.59)

On the demo weights and the bundled example chapter (11 panels), torch on one thread per renderer:

* **overhead**: the same panels rendered alternately by a renderer in this process and by one warm Ray worker
  (``ray.get(worker.render.remote(...))``: the task, the PNG bytes back through Ray's object store); the ratio of the
  median per-panel times and the median of the paired ratios;
* **throughput**: ``ray_chapter.render_panels`` from an empty cache with 1 and 2 workers (what ``run_chapter.py --ray``
  does): panels per minute over the whole panel phase (starting the workers included), the time until the first
  panel is stored (the workers' start and first panel), and the steady state (from the first stored panel to the
  last).

Both sides use ComfyUI's default attention kernel for the device (the workers start ComfyUI as the chapter runner
does; ``--attention`` is ignored here). On a 2-core machine two workers share the cores with the driver, so their
speed-up is bounded by the cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
import torch

from headless import chapter_runner, demo_mode, demo_nodes, ray_chapter
from headless.runner import register_models

EXAMPLE = common.REPO / "workflows" / "chapters" / "the_late_bell.txt"


def prepare(comfy) -> tuple:
    """The plan, its context, an in-process renderer and the workers' job, on demo weights."""
    models = Path(tempfile.mkdtemp(prefix="diffsensei-bench-models-"))
    demo_mode.build_demo_models(models)
    register_models(comfy, models)
    comfy.nodes.NODE_CLASS_MAPPINGS.update(demo_nodes.NODE_CLASS_MAPPINGS)
    input_dir = Path(comfy.folder_paths.get_input_directory())
    demo_mode.prepare_inputs(input_dir, None)
    core = chapter_runner.Core(comfy.pack)
    ns = argparse.Namespace(demo=True, checkpoint="x", model="x", steps=3, cfg=7.5, sampler="euler",
                            scheduler="normal", ip_scale=0.6, scale=128, font="default")
    settings = chapter_runner._settings(ns)
    plan = chapter_runner.read_plan(core, EXAMPLE, dpi=demo_mode.DEMO_PAGE_DPI, font="default")
    context = chapter_runner.run_context(core, comfy, plan, settings, True)
    renderer = chapter_runner.headless_renderer(comfy, plan, settings, demo=True)
    job = ray_chapter.WorkerJob(comfy_root=str(comfy.root), plan_json=plan.to_json(), settings=settings.key_data(),
                                demo=True, models=str(models), input=str(input_dir), threads=1, cpu=True)
    return core, plan, context, renderer, job


def overhead(plan, renderer, job, repeats: int) -> dict:
    pool = ray_chapter.WorkerPool(job, 1)
    try:
        worker = pool.workers[0]
        renderer.render(plan.panels[0])  # both sides warm: models loaded, characters encoded
        pool.ray.get(worker.render.remote(1, 1))
        local, remote = [], []
        for repeat in range(repeats):
            for i, panel in enumerate(plan.panels):
                sides = [("local", lambda p=panel: renderer.render(p)),
                         ("ray", lambda p=panel: pool.ray.get(worker.render.remote(p.page, p.number)))]
                for name, call in sides[:: 1 if (i + repeat) % 2 == 0 else -1]:
                    started = time.perf_counter()
                    call()
                    (local if name == "local" else remote).append(time.perf_counter() - started)
    finally:
        pool.shutdown()
    return {"local_s": local, "ray_s": remote, "ratio_of_medians": common.median(remote) / common.median(local),
            "median_paired_ratio": common.paired_ratio(remote, local)}


def throughput(core, plan, context, job, workers: int) -> dict:
    stored = []
    with tempfile.TemporaryDirectory(prefix="diffsensei-bench-ray-") as out:
        started = time.monotonic()
        ray_chapter.render_panels(core, plan, context, Path(out), job, workers=workers,
                                  on_stored=lambda panel, pool: stored.append(time.monotonic()))
        total = time.monotonic() - started
    steady = (len(stored) - 1) / (stored[-1] - stored[0]) * 60 if len(stored) > 1 else float("nan")
    return {"workers": workers, "panels": len(stored), "panel_phase_s": total, "first_panel_s": stored[0] - started,
            "panels_per_minute": len(stored) / total * 60, "steady_panels_per_minute": steady}


def main() -> None:
    args = common.parser(__doc__.splitlines()[0]).parse_args()
    args.attention = None  # both sides with ComfyUI's default kernel: the workers start ComfyUI as the runner does
    comfy = common.setup(args)
    torch.set_num_threads(1)
    repeats = args.repeats or 3
    core, plan, context, renderer, job = prepare(comfy)
    ray_chapter.start(None, num_cpus=2)
    cost = overhead(plan, renderer, job, repeats)
    speeds = [throughput(core, plan, context, job, n) for n in (1, 2)]
    common.print_table(f"Per panel: in-process vs one warm Ray worker ({len(cost['local_s'])} panels each)",
                       ["in-process ms", "Ray ms", "ratio of medians", "median paired ratio"],
                       [[common.median(cost["local_s"]) * 1000, common.median(cost["ray_s"]) * 1000,
                         cost["ratio_of_medians"], cost["median_paired_ratio"]]])
    common.print_table("The example chapter (11 panels) from an empty cache",
                       ["workers", "panel phase s", "first panel stored s", "panels/min", "steady panels/min"],
                       [[s["workers"], s["panel_phase_s"], s["first_panel_s"], s["panels_per_minute"],
                         s["steady_panels_per_minute"]]
                        for s in speeds])
    common.write_json("ray_chapter", args, {"repeats": repeats, "overhead": cost, "throughput": speeds,
                                            "ray_version": ray_chapter.ray_module().__version__}, comfy)


if __name__ == "__main__":
    main()
