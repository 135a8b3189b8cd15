"""Render a chapter script headless: plan it, render the panels that are not up to date, compose, letter, export.

``scripts/run_chapter.py`` (and ``scripts/run_workflow.py --chapter``) is the command around :func:`run`. Usage, with
ComfyUI's own Python (the commands re-run themselves with ComfyUI's venv when they find one)::

    python scripts/run_chapter.py story.txt --output out/ [--models DIR] [--input DIR] [--checkpoint NAME] ...
    python scripts/run_workflow.py --chapter story.txt --output out/          (the same command)
    python scripts/run_chapter.py --demo --output out/      (the bundled example chapter on tiny random weights)

The output folder gets ``plan.json`` (the whole plan), ``pages/page_001.json`` … (each page's JSON, to open in a
Page layout node), ``panels/`` (one PNG per panel and ``manifest.json``: the resume cache, see
``diffsensei_core/chapter/resume.py``), the lettered pages ``pages/<title>_001.png`` …, ``<title>.cbz`` (ComicInfo
with the title and page count) and ``<title>.pdf``. Run it again and only the panels whose inputs changed (script
lines, boxes, seed, sampler settings, model files, reference images, pack version) are rendered; the others come
from ``panels/``. Each model is loaded once per run, each reference image encoded once (``chapter_render.py``).
With ``--ray`` the panels are rendered by Ray workers instead, one per GPU (``ray_chapter.py``, docs/ray.md).

Exit status: 0 success, 1 the chapter failed (script error, a panel failed), 2 ComfyUI or a file could not be used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
import types
from pathlib import Path

import tomllib

from . import chapter_render, comfy_session, demo_mode
from .chapter_progress import PanelProgress
from .runner import prepare

log = logging.getLogger("diffsensei")

REPO = Path(__file__).resolve().parents[1]
DEMO_CHAPTER = REPO / "workflows" / "chapters" / "the_late_bell.txt"


def parser() -> argparse.ArgumentParser:
    d = chapter_render.RenderSettings()
    parser = argparse.ArgumentParser(description="Render a chapter script (plan, panels, pages, CBZ, PDF); resumes.")
    parser.add_argument("chapter", nargs="?", type=Path, help=f"the script (.txt) or chapter JSON; with --demo the "
                        f"default is {DEMO_CHAPTER.relative_to(REPO)}")
    parser.add_argument("--output", type=Path, required=True, help="output folder (also the resume cache)")
    parser.add_argument("--input", type=Path, help="folder of the reference images (default: ComfyUI's input folder)")
    parser.add_argument("--models", type=Path, help="extra models root (diffsensei/, checkpoints/, …), searched first")
    parser.add_argument("--demo", action="store_true", help="tiny random weights (the pictures are noise)")
    parser.add_argument("--checkpoint", default=d.checkpoint, help="SDXL checkpoint for the text encoders and VAE")
    parser.add_argument("--model", default=d.model, help="DiffSensei release folder or converted adapter")
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--cfg", type=float, default=d.cfg)
    parser.add_argument("--sampler", default=d.sampler)
    parser.add_argument("--scheduler", default=d.scheduler)
    parser.add_argument("--ip-scale", type=float, default=d.ip_scale)
    parser.add_argument("--scale", type=int, default=d.scale, help="generation size per panel (about scale²)")
    parser.add_argument("--dpi", type=int, default=300, help="page resolution")
    parser.add_argument("--font", default=d.font, help="lettering font (a name from models/fonts or system fonts)")
    parser.add_argument("--threads", type=int, help="torch threads per renderer (default: torch's own choice; with "
                        "--ray on CPUs: 1 per worker)")
    parser.add_argument("--ray", nargs="?", const="local", metavar="auto|ADDRESS",
                        help="render the panels on Ray: alone, a local Ray on 127.0.0.1 (dashboard off); 'auto' or "
                             "host:port, an existing cluster (run it on a private network: see docs/ray.md)")
    parser.add_argument("--workers", type=int, help="Ray workers (default: one per GPU of the cluster, else per core)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


class Core:
    """The pack's pure modules, as ComfyUI loaded the pack (so plans and panels are the nodes' own classes)."""

    def __init__(self, pack: types.ModuleType):
        self.pack = pack

    def __getattr__(self, name: str):
        modules = {"grammar": "chapter.grammar", "script_json": "chapter.script_json", "planner": "chapter.planner",
                   "resume": "chapter.resume", "compose": "page.compose", "export": "page.export",
                   "render": "lettering.render", "fonts": "lettering.fonts", "errors": "errors",
                   "planned": "chapter.planned"}
        return importlib.import_module(f"{self.pack.__name__}.diffsensei_core.{modules[name]}")

    def font_chain(self, font: str):
        faces = importlib.import_module(f"{self.pack.__name__}.nodes.host.fonts").font_faces()
        return self.fonts.FontChain.choose(font, faces)


def read_plan(core: Core, path: Path, *, dpi: int, font: str):
    """Parse and plan the chapter (ScriptError names the script line)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        chapter = core.script_json.chapter_from_json(text)
    else:
        chapter = core.grammar.parse_script(text)
    return core.planner.plan_chapter(chapter, dpi=dpi, typesetter=core.font_chain(font), source=text.splitlines())


def write_plan(plan, output: Path) -> None:
    """plan.json and one page JSON per page (what a Page layout node's ``page`` input takes)."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "plan.json").write_text(plan.to_json(), encoding="utf-8")
    pages = output / "pages"
    pages.mkdir(exist_ok=True)
    for page in plan.pages:
        (pages / f"page_{page.number:03d}.json").write_text(json.dumps(page.page_dict(), indent=1), encoding="utf-8")


def run_context(core: Core, comfy, plan, settings, demo: bool) -> tuple[dict, dict]:
    """What every panel's picture depends on besides its plan: (shared context, reference identity by name)."""
    fp, resume = comfy.folder_paths, core.resume
    model = next((Path(root) / settings.model for root in fp.get_folder_paths("diffsensei")
                  if (Path(root) / settings.model).exists()), None)
    if model is None:
        raise FileNotFoundError(f"the DiffSensei model '{settings.model}' is not in "
                                f"{fp.get_folder_paths('diffsensei')}")
    models = {"diffsensei": resume.folder_identity(model) if model.is_dir() else resume.file_identity(model)}
    if not demo:
        checkpoint = fp.get_full_path("checkpoints", settings.checkpoint)
        if checkpoint is None:
            raise FileNotFoundError(f"the checkpoint '{settings.checkpoint}' is not in the checkpoints folders")
        models["checkpoint"] = resume.file_identity(checkpoint)
    references = {}
    for character in plan.characters:
        for name in character["references"]:
            path = Path(fp.get_input_directory()) / name
            if not path.is_file():
                raise FileNotFoundError(f"{character['name']}'s reference image '{name}' is not in {path.parent}")
            references[name] = resume.file_identity(path)
    pack = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    shared = {"settings": settings.key_data(), "negative": plan.negative, "models": models, "pack": pack,
              "demo": demo}
    return shared, references


def panel_context(plan, panel, shared: dict, references: dict) -> dict:
    """The shared context plus the identity of the reference images of this panel's cast."""
    cast = {name: references[name] for number in panel.cast for name in plan.characters[number - 1]["references"]}
    return {**shared, "references": cast}


def render_panels(core: Core, plan, context: tuple[dict, dict], output: Path, make_renderer) -> dict:
    """Render every panel whose cache entry is missing or stale; return counts."""
    cache = core.resume.ResumeCache(output)
    progress = PanelProgress(len(plan.panels))
    renderer = None
    for panel in plan.panels:
        key = core.resume.panel_key(panel, panel_context(plan, panel, *context))
        if cache.is_current(panel, key):
            progress.cached(panel)
            continue
        started = time.monotonic()
        renderer = renderer or make_renderer()  # the models load only when something is rendered
        cache.store(panel, key, renderer.render(panel))
        progress.rendered(panel, time.monotonic() - started)
    progress.finish()
    return {"rendered": progress.rendered_count, "cached": progress.cached_count}


def finish_pages(core: Core, plan, output: Path, font: str) -> list[Path]:
    """Compose every page from the cached panels, letter it, write PNGs, one CBZ and one PDF."""
    from PIL import Image

    cache = core.resume.ResumeCache(output)
    chain = core.font_chain(font)
    style = core.render.LetterStyle(writing=plan.writing, max_font_size=plan.font_size,
                                    min_font_size=plan.min_font_size, outline=plan.outline)
    pages = []
    for page in plan.pages:
        layout = page.layout()
        images = []
        for panel in page.panels:
            with Image.open(cache.image_path(panel)) as image:
                images.append(core.compose.from_pil(image))
        composed = core.compose.to_pil(core.compose.compose_page(layout, images))
        pages.append(core.render.letter(composed, layout.dialog_slots(), page.texts, chain, style))
    export = core.export
    stem = export.safe_name(plan.title or "chapter", "chapter")
    written = export.write_pngs(pages, output / "pages", stem, plan.dpi)
    written.append(export.write_cbz(pages, output / f"{stem}.cbz", direction=plan.direction, title=plan.title,
                                    dpi=plan.dpi))
    written.append(export.write_pdf(pages, output / f"{stem}.pdf", dpi=plan.dpi, title=plan.title))
    return written


def _settings(ns: argparse.Namespace) -> chapter_render.RenderSettings:
    return chapter_render.RenderSettings(
        checkpoint=ns.checkpoint, model=demo_mode.DEMO_MODEL if ns.demo else ns.model,
        steps=min(ns.steps, demo_mode.DEMO_MAX_STEPS) if ns.demo else ns.steps, cfg=ns.cfg, sampler=ns.sampler,
        scheduler=ns.scheduler, ip_scale=ns.ip_scale,
        scale=min(ns.scale, demo_mode.DEMO_MAX_SIDE) if ns.demo else ns.scale, font=ns.font)


def setup(ns: argparse.Namespace, comfy, scratch: Path) -> types.ModuleType | None:
    """Folders, the pack, and for --demo the demo weights, nodes and input images, as the workflow runner sets them
    up; ComfyUI's own outputs (each panel's Save Image) go to scratch, since the runner writes the output folder."""
    session = argparse.Namespace(**{**vars(ns), "output": scratch / "render", "workflow": None})
    if not prepare(session, comfy, scratch):
        return None
    return comfy_session.load_pack(comfy, scratch / "custom_nodes")[0]


def headless_renderer(comfy, plan, settings: chapter_render.RenderSettings, *, demo: bool):
    """The panel renderer of a headless session (its own executor, no web server; demo prompts capped on --demo)."""
    return chapter_render.PanelRenderer(comfy, plan, settings, new_executor=comfy_session.new_executor,
                                        server=comfy_session.FakeServer(),
                                        prepare=demo_mode.demo_prompt if demo else None)


def _render(ns: argparse.Namespace, comfy, scratch: Path, core: Core, plan, settings, context) -> dict:
    """The stale panels rendered in this process, or on Ray with ``--ray``; the counts."""
    if ns.ray is not None:
        from . import ray_chapter

        ray_chapter.start(None if ns.ray == "local" else ns.ray, num_cpus=ns.workers if ns.ray == "local" else None)
        models = ns.models or (scratch / "models" if ns.demo else None)
        job = ray_chapter.WorkerJob(
            comfy_root=str(comfy.root), plan_json=plan.to_json(), settings=settings.key_data(), demo=ns.demo,
            models=str(models) if models else None, input=comfy.folder_paths.get_input_directory(),
            threads=ns.threads or (None if comfy.mm.get_torch_device().type != "cpu" else 1))
        workers = ns.workers or ray_chapter.default_workers()
        return ray_chapter.render_panels(core, plan, context, ns.output, job, workers=workers)
    if ns.threads:
        import torch

        torch.set_num_threads(ns.threads)

    return render_panels(core, plan, context, ns.output,
                         lambda: headless_renderer(comfy, plan, settings, demo=ns.demo))


def run(ns: argparse.Namespace, comfy, scratch: Path) -> int:
    """Exit status: 0 success, 1 the chapter failed (script error, a panel failed), 2 a file could not be used."""
    pack = setup(ns, comfy, scratch)
    if pack is None:
        return 1
    core, settings = Core(pack), _settings(ns)
    script = ns.chapter or DEMO_CHAPTER
    try:
        plan = read_plan(core, script, dpi=min(ns.dpi, demo_mode.DEMO_PAGE_DPI) if ns.demo else ns.dpi,
                         font=ns.font)
        context = run_context(core, comfy, plan, settings, ns.demo)
    except core.errors.DiffSenseiError as err:
        log.error("%s: %s", script, err)
        return 1
    except FileNotFoundError as err:
        log.error("%s", err)
        return 2
    write_plan(plan, ns.output)
    log.info("%s: %d page(s), %d panel(s); output %s", script, len(plan.pages), len(plan.panels), ns.output)

    try:
        counts = _render(ns, comfy, scratch, core, plan, settings, context)
    except chapter_render.RenderError as err:
        log.error("%s (the panels finished before it are kept in %s)", err, ns.output / "panels")
        return 1
    written = finish_pages(core, plan, ns.output, ns.font)
    log.info("done: %d panel(s) rendered, %d up to date; wrote %s", counts["rendered"], counts["cached"],
             ", ".join(p.name for p in written[-2:]))
    sys.stdout.write("".join(f"{path}\n" for path in written))
    return 0


