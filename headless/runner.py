"""Run one workflow in a headless ComfyUI session: folders, the pack, the models, then the prompt and its images.

``scripts/run_workflow.py`` is the command around it; tests call :func:`run` with parsed arguments too.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import comfy_session, demo_mode
from .progress import Progress
from .workflow_format import WorkflowError, load_workflow

log = logging.getLogger("diffsensei")

REPO = Path(__file__).resolve().parents[1]


def register_models(comfy, models: Path) -> None:
    """Add every known model folder under ``models`` (diffsensei/, checkpoints/, vae/, …) in front of the defaults."""
    fp = comfy.folder_paths
    for sub in sorted(p for p in models.iterdir() if p.is_dir()):
        if sub.name in fp.folder_names_and_paths or sub.name == "diffsensei":
            fp.add_model_folder_path(sub.name, str(sub.resolve()), is_default=True)
            log.info("model folder %s: %s", sub.name, sub)


def prepare(ns: argparse.Namespace, comfy, scratch: Path) -> bool:
    """Folders, the pack, and (``--demo``) the demo weights, nodes and input images; False when the run cannot go on
    (the reason is logged)."""
    comfy_session.set_directories(comfy, output=ns.output, temp=scratch / "temp",
                                  input=ns.input or (scratch / "input" if ns.demo else None))
    pack, errors = comfy_session.load_pack(comfy, scratch / "custom_nodes")
    if pack is None:
        log.error("ComfyUI did not load the DiffSensei pack from %s:\n%s", REPO, "\n".join(errors) or "(no log record)")
        return False
    models = ns.models
    if ns.demo:
        from . import demo_nodes

        log.warning(demo_mode.DEMO_WARNING)
        models = ns.models or scratch / "models"
        demo_mode.build_demo_models(Path(models))
        comfy.nodes.NODE_CLASS_MAPPINGS.update(demo_nodes.NODE_CLASS_MAPPINGS)
        if not ns.input:
            demo_mode.prepare_inputs(Path(comfy.folder_paths.get_input_directory()), ns.workflow)
    if models is not None:
        if not Path(models).is_dir():
            log.error("--models %s is not a folder", models)
            return False
        register_models(comfy, Path(models))
    return True


def execute(comfy, prompt: dict, graph: dict | None):
    """Run the prompt with progress in the log; the executor, or None when the prompt failed validation."""
    progress = Progress(prompt)
    comfy.utils.set_progress_bar_global_hook(progress.hook)
    server = comfy_session.FakeServer(on_message=progress.on_message)
    try:
        # like the browser, hand the editor graph along so Save Image / Export pages embed the workflow in PNGs
        return comfy_session.run_prompt(comfy, prompt, server, client_id="diffsensei-runner",
                                        extra_pnginfo={"workflow": graph} if graph else None)
    except comfy_session.PromptInvalid as e:
        log_validation(e.error, e.node_errors)
        return None
    finally:
        comfy.utils.set_progress_bar_global_hook(None)


def log_validation(error: dict | None, node_errors: dict) -> None:
    error = error or {"message": "some outputs failed validation (the runner does not run a partial workflow)"}
    log.error("the workflow failed validation: %s%s", error.get("message", error),
              f" ({error['details']})" if error.get("details") else "")
    for node_id, info in node_errors.items():
        for reason in info.get("errors", []):
            log.error("node %s (%s): %s: %s", node_id, info.get("class_type"), reason.get("message"),
                      reason.get("details"))


def log_failure(executor) -> None:
    for event, data in executor.status_messages:
        if event == "execution_error":
            log.error("node %s (%s) failed: %s: %s", data.get("node_id"), data.get("node_type"),
                      data.get("exception_type"), data.get("exception_message"))
        elif event == "execution_interrupted":
            log.error("interrupted at node %s (%s)", data.get("node_id"), data.get("node_type"))


def image_paths(comfy, outputs: dict) -> list[tuple[str, Path]]:
    """(type, path) of every image the prompt's output nodes reported ("output", "temp" or "input")."""
    fp = comfy.folder_paths
    folders = {"output": fp.get_output_directory(), "temp": fp.get_temp_directory(), "input": fp.get_input_directory()}
    found = []
    for result in outputs.values():
        for item in result.get("images") or []:
            if isinstance(item, dict) and "filename" in item:
                base = Path(folders.get(item.get("type", "output"), folders["output"]))
                found.append((item.get("type", "output"), base / item.get("subfolder", "") / item["filename"]))
    return found


def run(ns: argparse.Namespace, comfy, scratch: Path) -> int:
    """Exit status: 0 success, 1 the workflow failed (validation or a node error), 2 the files could not be used."""
    if not prepare(ns, comfy, scratch):
        return 2 if ns.models is not None and not Path(ns.models).is_dir() else 1
    workflow = ns.workflow or demo_mode.DEMO_WORKFLOW
    try:
        prompt, graph = load_workflow(workflow, comfy.nodes.NODE_CLASS_MAPPINGS)
    except WorkflowError as e:
        log.error("%s", e)
        return 2
    if ns.demo:
        for change in demo_mode.demo_prompt(prompt, limit=ns.workflow is not None):
            log.warning("DEMO: %s", change)
    log.info("running %s (%d nodes); output folder %s", workflow, len(prompt),
             comfy.folder_paths.get_output_directory())
    started = time.monotonic()
    executor = execute(comfy, prompt, graph)
    if executor is None:
        return 1
    if not executor.success:
        log_failure(executor)
        return 1
    images = image_paths(comfy, executor.history_result.get("outputs", {}))
    saved = [path for kind, path in images if kind == "output"]
    for kind, path in images:
        log.info("%s %s", "wrote" if kind == "output" else f"{kind} image (not kept):", path)
    log.info("done in %.1f s: %d image(s) written", time.monotonic() - started, len(saved))
    if ns.demo:
        log.warning("demo output is noise from random weights (see above)")
    sys.stdout.write("".join(f"{path}\n" for path in saved))
    return 0
