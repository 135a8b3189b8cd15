"""Per-panel overhead of the chapter runner over a single-panel workflow run, on the demo weights (CPU).

    python benchmarks/chapter_overhead.py [--steps 3] [--scale 128] [--repeats 3] [--quick] [--out FILE]

Both sides render the same panels of the bundled example chapter with the same models, already loaded:

* **chapter**: what ``scripts/run_chapter.py`` (``headless/chapter_runner.py``) does per panel: the resume key,
  ``PanelRenderer.render`` (the per-panel graph: Chapter script fed the plan, Encode Characters, Chapter → panel
  layouts, Apply, the text encoders, KSampler, VAE Decode, Save Image) and storing the PNG in the resume cache;
* **single panel**: the page workflow's nodes for a page holding only that panel (Page layout → Page → panel
  layouts with the panel's cast → Apply → the text encoders → KSampler → VAE Decode → Save Image), each run as one
  prompt through its own executor, as ``run_workflow.py`` runs a workflow.

Per panel the two alternate (order swapped every panel); reported: the ratio of the median per-panel times and the
median of the per-panel ratios. Target ≤ 1.05×. On a busy machine those swing with the load, so the script also
times what differs between the two sides on its own (``--parts`` repeats): the runner's bookkeeping (resume key,
storing the PNG, building the prompt, Chapter script's fingerprint) and Chapter → panel layouts, against Page layout
and Page → panel layouts; their difference per panel over the single-panel time is the overhead estimate.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path

import common

from headless import chapter_render, comfy_session, demo_mode, demo_nodes
from headless import chapter_runner as run_chapter
from headless.runner import register_models

EXAMPLE = common.REPO / "workflows" / "chapters" / "the_late_bell.txt"
DEMO_DPI = demo_mode.DEMO_PAGE_DPI


def setup_demo(comfy) -> None:
    """Demo weights, demo nodes and the example's reference images, as ``--demo`` sets them up."""
    models = Path(comfy.folder_paths.get_output_directory()).parent / "models"
    demo_mode.build_demo_models(models)
    register_models(comfy, models)
    comfy.nodes.NODE_CLASS_MAPPINGS.update(demo_nodes.NODE_CLASS_MAPPINGS)
    inputs = Path(comfy.folder_paths.get_input_directory())
    for image in (common.REPO / "workflows" / "assets").glob("*.png"):
        shutil.copyfile(image, inputs / image.name)


def paper_name(comfy, width: int, height: int, dpi: int) -> str:
    presets = common.pack_module(comfy, "diffsensei_core.page.presets")
    return next(name for name in presets.PAGE_SIZES if presets.page_size_px(name, dpi) == (width, height))


def single_panel_prompt(comfy, plan, panel, settings) -> dict:
    """The page workflow's graph for a page holding only ``panel`` (same rect, boxes, cast, prompt, seed)."""
    page = plan.pages[panel.page - 1]
    entry = page.page_dict()["panels"][panel.number - 1]
    refs = [name for c in plan.characters for name in c["references"]]
    prompt = chapter_render.panel_prompt(plan.to_json(), panel.page, panel.number, settings, False)
    del prompt["script"], prompt["panels"]
    prompt.update({f"ref{k}": {"class_type": "LoadImage", "inputs": {"image": name}} for k, name in enumerate(refs)})
    prompt["encode"]["inputs"].update({f"character_{k + 1}": [f"ref{k}", 0] for k in range(len(refs))})
    prompt["page"] = {"class_type": "DiffSenseiPageLayout", "inputs": {
        "preset": "custom (drawn panels)", "page_size": paper_name(comfy, page.width, page.height, page.dpi),
        "dpi": page.dpi, "direction": page.direction, "margin_mm": 8.0, "gutter_mm": 3.0, "border_mm": 0.5,
        "page": json.dumps({"panels": [entry]})}}
    prompt["pagepanels"] = {"class_type": "DiffSenseiPagePanels", "inputs": {
        "page": ["page", 0], "scale": settings.scale, "panel_index": -1, "batch_size": 1,
        "characters": ["encode", 0]}}
    prompt["apply"]["inputs"].update(characters=["pagepanels", 4], layout=["pagepanels", 0])
    prompt["positive"]["inputs"].update(text_g=["pagepanels", 2], text_l=["pagepanels", 2])
    prompt["negative"]["inputs"].update(text_g=plan.negative, text_l=plan.negative)
    prompt["sample"]["inputs"].update(latent_image=["pagepanels", 1], seed=panel.seed)
    prompt["save"]["inputs"]["filename_prefix"] = "single_panel/p"
    demo_mode.demo_prompt(prompt)
    return prompt


def run_single(comfy, executor, prompt: dict) -> None:
    prompt_id = uuid.uuid4().hex
    ok, error, outputs, node_errors = asyncio.run(comfy.execution.validate_prompt(prompt_id, prompt, None))
    if not ok or node_errors:
        raise SystemExit(f"the single-panel prompt failed validation: {error} {node_errors}")
    executor.execute(prompt, prompt_id, {}, outputs)
    if not executor.success:
        raise SystemExit(f"the single-panel prompt failed: {executor.status_messages[-1]}")


def main() -> None:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=demo_mode.DEMO_MAX_STEPS)
    parser.add_argument("--scale", type=int, default=demo_mode.DEMO_MAX_SIDE)
    parser.add_argument("--parts", type=int, default=20, help="repeats of the part timings")
    args = parser.parse_args()
    comfy = common.setup(args)
    setup_demo(comfy)
    core = run_chapter.Core(comfy.pack)
    plan = run_chapter.read_plan(core, EXAMPLE, dpi=DEMO_DPI, font="default")
    settings = chapter_render.RenderSettings(model=demo_mode.DEMO_MODEL, steps=args.steps, scale=args.scale)
    context = run_chapter.run_context(core, comfy, plan, settings, True)
    renderer = run_chapter.headless_renderer(comfy, plan, settings, demo=True)
    cache = core.resume.ResumeCache(Path(comfy.folder_paths.get_output_directory()).parent / "chapter_out")
    single_executor = comfy_session.new_executor(comfy, comfy_session.FakeServer())
    panels, warmup = (plan.panels[:4] if args.quick else plan.panels[:-1]), plan.panels[-1]
    repeats = args.repeats or (1 if args.quick else 3)

    def chapter(panel) -> None:
        key = core.resume.panel_key(panel, run_chapter.panel_context(plan, panel, *context))
        cache.store(panel, key, renderer.render(panel))

    def single(panel) -> None:
        run_single(comfy, single_executor, single_panel_prompt(comfy, plan, panel, settings))

    times = measure(panels, warmup, repeats, chapter, single)
    parts = time_parts(comfy, core, plan, settings, context, cache, panels, args.parts)
    report(args, comfy, panels, repeats, times, settings, parts)


def measure(panels, warmup, repeats: int, chapter, single) -> dict[str, list[list[float]]]:
    """Per panel, per repeat: seconds of each side (after a warm-up on another panel, which loads the models; the
    order alternates per panel)."""
    for side in (chapter, single):
        side(warmup)
    times = {"chapter": [[] for _ in panels], "single": [[] for _ in panels]}
    for r in range(repeats):
        for k, panel in enumerate(panels):
            sides = [("chapter", chapter), ("single", single)]
            if (r + k) % 2:
                sides.reverse()
            for name, side in sides:
                started = time.perf_counter()
                side(panel)
                times[name][k].append(time.perf_counter() - started)
    return times


def time_parts(comfy, core, plan, settings, context, cache, panels, repeats: int) -> dict[str, float]:
    """Median seconds per panel of the work that differs between the two sides (no sampling involved)."""
    import torch

    nodes = comfy.nodes.NODE_CLASS_MAPPINGS
    sockets = common.pack_module(comfy, "nodes.sockets")
    refs = sum(len(c["references"]) for c in plan.characters)
    encoded = [sockets.EncodedCharacters(clip=torch.randn(1, 257, 48), magi=torch.randn(1, 24)) for _ in range(refs)]
    whole = sockets.EncodedCharacters(clip=torch.cat([e.clip for e in encoded]),
                                      magi=torch.cat([e.magi for e in encoded]))
    plan_json = plan.to_json()

    def runner(panel) -> None:
        key = core.resume.panel_key(panel, run_chapter.panel_context(plan, panel, *context))
        cache.store(panel, key, cache.image_path(panel).read_bytes())
        chapter_render.panel_prompt(plan_json, panel.page, panel.number, settings, True)
        nodes["DiffSenseiChapterScript"].fingerprint_inputs(script=plan_json, script_file="(none)", dpi=300,
                                                            font="default")
        nodes["DiffSenseiChapterPanels"].execute(chapter=[plan], scale=[settings.scale], page=[panel.page],
                                                 panel=[panel.number], batch_size=[1], characters=encoded)

    def single(panel) -> None:
        prompt = single_panel_prompt(comfy, plan, panel, settings)
        page = nodes["DiffSenseiPageLayout"].execute(**prompt["page"]["inputs"]).args[0]
        nodes["DiffSenseiPagePanels"].execute(page=page, scale=settings.scale, panel_index=-1, batch_size=1,
                                              characters=whole)

    out = {}
    for name, fn in (("runner", runner), ("single", single)):
        per_panel = []
        for panel in panels:
            started = time.perf_counter()
            for _ in range(repeats):
                fn(panel)
            per_panel.append((time.perf_counter() - started) / repeats)
        out[name] = common.median(per_panel)
    return out


def report(args, comfy, panels, repeats: int, times: dict, settings, parts: dict) -> None:
    chapter = [common.median(t) for t in times["chapter"]]
    single = [common.median(t) for t in times["single"]]
    pairs = [c / s for cs, ss in zip(times["chapter"], times["single"], strict=True)
             for c, s in zip(cs, ss, strict=True)]
    ratio, paired = sum(chapter) / sum(single), common.median(pairs)
    rows = [[f"{p.page}.{p.number}", s, c, c / s] for p, c, s in zip(panels, chapter, single, strict=True)]
    common.print_table(f"Per panel: chapter runner vs a single-panel run ({settings.steps} steps, ~{settings.scale}² "
                       f"px, demo weights, median of {repeats})", ["panel", "single s", "chapter s", "ratio"], rows)
    common.print_table("Overall (end to end)", ["ratio of summed medians", "median paired ratio", "target"],
                       [[ratio, paired, "≤ 1.05×"]])
    extra = parts["runner"] - parts["single"]
    estimate = 1 + extra / common.median(single)
    common.print_table("What differs, timed on its own (median per panel)",
                       ["runner ms", "single-panel ms", "extra ms", "single panel s", "overhead estimate", "holds"],
                       [[1000 * parts["runner"], 1000 * parts["single"], 1000 * extra, common.median(single),
                         estimate, "yes" if estimate <= 1.05 else "no"]])
    common.write_json("chapter_overhead", args, {
        "steps": settings.steps, "scale": settings.scale, "repeats": repeats, "panels": [f"{p.page}.{p.number}"
        for p in panels], "chapter_s": times["chapter"], "single_s": times["single"], "ratio_of_medians": ratio,
        "median_paired_ratio": paired, "target": 1.05, "parts_s": parts, "parts_repeats": args.parts,
        "overhead_estimate": estimate}, comfy)


if __name__ == "__main__":
    main()
