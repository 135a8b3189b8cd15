"""Run a ComfyUI workflow headless (no web server): validate, execute, log progress, write the images.

Usage, with ComfyUI's own Python (the script re-runs itself with ComfyUI's venv when it finds one)::

    ~/comfy/venv/bin/python scripts/run_workflow.py WORKFLOW.json [--output DIR] [--models DIR] [--input DIR]
    ~/comfy/venv/bin/python scripts/run_workflow.py --demo [WORKFLOW.json]

The workflow may be in UI format (saved from the browser: "nodes" and "links") or API format
(``{id: {"class_type", "inputs"}}``). ComfyUI is found from ``$COMFYUI_PATH``, the ComfyUI tree this pack is
installed in, or ``~/comfy/ComfyUI``. Only this pack is loaded as a custom node pack (plus ComfyUI's own nodes).

``--demo`` writes tiny random DiffSensei weights in the released layout (plus a tiny LoRA and ControlNet for that
UNet), registers the demo-only nodes of ``headless/demo_nodes.py`` and runs ``headless/demo_workflow.json`` or the
given workflow, e.g. one of the examples in ``workflows/``. In a given workflow it replaces what cannot exist on a
test machine, with a loud log line for each: ``CheckpointLoaderSimple`` becomes a demo loader (the tiny UNet, a
demo CLIP the stock text-encode nodes can use, a demo VAE without a network), ``VAELoader`` a demo VAE; the model
names of the LoRA, ControlNet and DiffSensei loaders point at the demo files (the stock LoRA and ControlNet loaders
load them); sampler steps are capped at ``DEMO_MAX_STEPS`` and panel/latent sizes at ``DEMO_MAX_SIDE`` pixels
(pages: the dpi at ``DEMO_PAGE_DPI``, so a paper page stays under ``DEMO_MAX_PAGE_SIDE``, and the panels'
generation scale at ``DEMO_MAX_SIDE``). The example workflows' input images (``workflows/assets``) are copied into
the demo input folder. It checks that the whole graph runs; the pictures it writes are noise.

Exit status: 0 success, 1 the workflow failed (validation or a node error), 2 ComfyUI or the workflow file
could not be used.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ is None or __package__ == "":  # run as a script: the runner's modules live in the repository root,
    sys.path.append(str(REPO))  # after ComfyUI's root, so ComfyUI's `nodes` keeps precedence over the pack's

from headless import comfy_session  # noqa: E402
from headless.demo_mode import DEMO_WORKFLOW  # noqa: E402
from headless.find_comfyui import find_comfyui, venv_python  # noqa: E402
from headless.runner import run  # noqa: E402

log = logging.getLogger("diffsensei")
REEXEC_ENV = "DIFFSENSEI_RUNNER_REEXEC"


def _reexec(root: Path, argv: list[str]) -> None:
    """Replace this process by the same command under ComfyUI's Python, once; return if that is not possible."""
    python = venv_python(root)
    if python is None or os.environ.get(REEXEC_ENV) == "1":
        return
    if Path(sys.executable).absolute() == python.absolute():
        return
    log.info("ComfyUI is not importable by %s; re-running with %s", sys.executable, python)
    env = {**os.environ, REEXEC_ENV: "1", "COMFYUI_PATH": str(root)}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(str(python), [str(python), str(Path(__file__).resolve()), *argv], env)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run a ComfyUI workflow (UI or API JSON) without the web server and write its images.")
    parser.add_argument("workflow", nargs="?", type=Path,
                        help=f"workflow JSON; with --demo the default is {DEMO_WORKFLOW.relative_to(REPO)}")
    parser.add_argument("--output", type=Path, help="folder for SaveImage outputs (default: ComfyUI's output folder)")
    parser.add_argument("--input", type=Path, help="folder LoadImage reads from (default: ComfyUI's input folder)")
    parser.add_argument("--models", type=Path,
                        help="extra models root (subfolders diffsensei/, checkpoints/, vae/, ...), searched first; "
                             "with --demo the tiny weights are written to MODELS/diffsensei/ (default: a temp dir)")
    parser.add_argument("--demo", action="store_true",
                        help="build tiny random weights and run the demo workflow, or the given one with demo "
                             "stand-ins for the checkpoint, LoRA and ControlNet files (the output is noise)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="[comfyui] %(message)s")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ns = _parser().parse_args(argv)
    _configure_logging(ns.verbose)
    if ns.workflow is None and not ns.demo:
        log.error("give a workflow JSON file, or --demo")
        return 2
    if ns.workflow is not None and not ns.workflow.is_file():
        log.error("workflow file not found: %s", ns.workflow)
        return 2

    root = find_comfyui()
    if root is None:
        log.error("%s", comfy_session.not_found_message())
        return 2
    try:
        comfy = comfy_session.import_comfyui(root)
    except comfy_session.ComfyUIUnavailable as e:
        _reexec(root, argv)
        log.error("%s", e)
        return 2

    with tempfile.TemporaryDirectory(prefix="diffsensei-run-") as scratch:
        return run(ns, comfy, Path(scratch))


if __name__ == "__main__":
    sys.exit(main())
