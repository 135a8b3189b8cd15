"""Run a ComfyUI workflow headless (no web server): validate, execute, log progress, write the images.

Usage, with ComfyUI's own Python (the script re-runs itself with ComfyUI's venv when it finds one)::

    ~/comfy/venv/bin/python scripts/run_workflow.py WORKFLOW.json [--output DIR] [--models DIR] [--input DIR]
    ~/comfy/venv/bin/python scripts/run_workflow.py --demo [WORKFLOW.json]

The workflow may be in UI format (saved from the browser: "nodes" and "links") or API format
(``{id: {"class_type", "inputs"}}``). ComfyUI is found from ``$COMFYUI_PATH``, the ComfyUI tree this pack is
installed in, or ``~/comfy/ComfyUI``. Only this pack is loaded as a custom node pack (plus ComfyUI's own nodes).

``--demo`` writes tiny random DiffSensei weights in the released layout (plus a tiny LoRA and ControlNet for that
UNet), registers the demo-only nodes of ``scripts/demo_nodes.py`` and runs ``workflows/diffsensei_demo.json`` or the
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
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

if __package__:
    from . import comfy_session
    from .find_comfyui import find_comfyui, venv_python
else:  # run as a script: the sibling modules live next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import comfy_session
    from find_comfyui import find_comfyui, venv_python

log = logging.getLogger("diffsensei")

REPO = Path(__file__).resolve().parents[1]
DEMO_WORKFLOW = REPO / "workflows" / "diffsensei_demo.json"
DEMO_MODEL_DIR = "diffsensei_demo"  # under models/diffsensei; the demo workflow picks diffsensei_demo/image_generator
DEMO_MODEL = f"{DEMO_MODEL_DIR}/image_generator"
DEMO_IMAGES = ("diffsensei_demo_character_1.png", "diffsensei_demo_character_2.png")
DEMO_ASSETS = REPO / "workflows" / "assets"
DEMO_LORA = "diffsensei_demo_lora.safetensors"  # under models/loras
DEMO_CONTROLNET = "diffsensei_demo_controlnet.safetensors"  # under models/controlnet
DEMO_MAX_STEPS = 3
DEMO_MAX_SIDE = 128  # pixels; the long side of panels and empty latents in demo runs
DEMO_MAX_PROMPTS = 4  # prompt-distribution training: soft prompts (K) in demo runs
DEMO_TRAIN_SIDE = 64  # prompt-distribution training size in demo runs (pixels)
DEMO_SIZE_STEP = 16  # demo sizes stay multiples of this
DEMO_PAGE_DPI = 40  # composed pages are cheap (no UNet); at 40 dpi bubbles can still be lettered (B5: 287×405 px)
DEMO_MAX_PAGE_SIDE = 512  # pixels; the long side of a paper page at DEMO_PAGE_DPI (A4: 331×468 px)
# node type → the demo stand-in from scripts/demo_nodes.py (same widget names plus the stand-in's own defaults)
DEMO_NODE_SWAPS = {
    "CheckpointLoaderSimple": ("DiffSenseiDemoCheckpointLoader", "the tiny DiffSensei UNet, a demo CLIP, a demo VAE"),
    "VAELoader": ("DiffSenseiDemoVAELoader", "a demo VAE"),
    "CLIPVisionLoader": ("DiffSenseiDemoCLIPVisionLoader", "a tiny random CLIP vision model (projection 1280)"),
}
# node type → (file input, the demo file it reads instead)
DEMO_FILE_INPUTS = {
    "LoraLoaderModelOnly": ("lora_name", DEMO_LORA),
    "LoraLoader": ("lora_name", DEMO_LORA),
    "ControlNetLoader": ("control_net_name", DEMO_CONTROLNET),
    "DiffControlNetLoader": ("control_net_name", DEMO_CONTROLNET),
    "DiffSenseiLoadModel": ("model_name", DEMO_MODEL),
    "DiffSenseiLoadAdapter": ("model_name", DEMO_MODEL),
    "DiffSenseiLoadEncoders": ("model_name", DEMO_MODEL),
}
DEMO_STEP_NODES = {"KSampler", "KSamplerAdvanced", "BasicScheduler", "DiffSenseiSigmas", "DiffSenseiPhotoToManga"}
DEMO_SIZE_NODES = {"DiffSenseiPanelLayout", "EmptyLatentImage"}
DEMO_LONG_SIDE_NODES = {"DiffSenseiPhotoToManga": "size"}  # node type → its "long side in pixels" input
REEXEC_ENV = "DIFFSENSEI_RUNNER_REEXEC"
DEMO_WARNING = (
    "DEMO MODE: the DiffSensei weights, LoRA and ControlNet are tiny and RANDOM (built on the fly), and the text "
    "encoder and VAE are stand-ins without a network. The workflow runs end to end, but the images it writes are "
    "NOISE, not manga panels. Download the released weights into models/diffsensei for real results."
)

# nodes that only exist in the browser
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
UPLOAD_VALUES = {"image", "video", "audio"}
MODE_MUTED, MODE_BYPASSED = 2, 4


class WorkflowError(ValueError):
    """The workflow file cannot be turned into an API prompt; the message says why."""


# ------------------------------------------------------------------------------------------- UI → API format


def is_ui_workflow(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def _widget_inputs(node_class: type, ui_widget_names: set[str]) -> list[tuple[str, object, dict]]:
    """(name, type, options) of the inputs that are widgets in the browser, in INPUT_TYPES order."""
    widgets = []
    spec = node_class.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, entry in (spec.get(section) or {}).items():
            kind = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
            options = entry[1] if isinstance(entry, (list, tuple)) and len(entry) > 1 and isinstance(entry[1], dict) \
                else {}
            if options.get("forceInput"):
                continue
            if isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES or name in ui_widget_names:
                widgets.append((name, kind, options))
    return widgets


def _literal(value: object) -> object:
    # A plain list in an API prompt means a link; literal lists are wrapped.
    return {"__value__": value} if isinstance(value, list) else value


def _widget_values(node: dict, node_class: type) -> dict[str, object]:
    ui_widget_names = {i.get("name") for i in node.get("inputs") or [] if isinstance(i.get("widget"), dict)}
    widgets = _widget_inputs(node_class, ui_widget_names)
    values = node.get("widgets_values")
    if values is None:
        return {}
    if isinstance(values, dict):  # some packs store widgets by name
        names = {name for name, _, _ in widgets}
        return {k: _literal(v) for k, v in values.items() if k in names}
    out, index = {}, 0
    for name, kind, options in widgets:
        if index >= len(values):
            break
        out[name] = _literal(values[index])
        index += 1
        # The browser stores extra widget values after some inputs: the "control after generate" choice of seed-like
        # inputs and the upload button of file pickers. They are no node inputs; skip them when present.
        has_control = options.get("control_after_generate") or (kind == "INT" and name in ("seed", "noise_seed"))
        if has_control and index < len(values) and values[index] in CONTROL_VALUES:
            index += 1
        if any(options.get(flag) for flag in UPLOAD_FLAGS) and index < len(values) and values[index] in UPLOAD_VALUES:
            index += 1
    return out


def _links(workflow: dict) -> dict[int, tuple[str, int]]:
    """link id → (origin node id, origin slot), for both the list and the dict link formats."""
    links = {}
    for link in workflow.get("links") or []:
        if isinstance(link, dict):
            links[link["id"]] = (str(link["origin_id"]), int(link["origin_slot"]))
        else:
            links[link[0]] = (str(link[1]), int(link[2]))
    return links


def ui_to_api(workflow: dict, node_classes: Mapping[str, type]) -> dict[str, dict]:
    """Convert a UI-format workflow to an API-format prompt, as the browser does when it queues it.

    Widget values are assigned by position to the node class's widget inputs; links are followed through
    reroutes, primitive nodes and bypassed nodes (which pass their first input of the output's type through);
    muted and bypassed nodes, notes and reroutes are left out.
    """
    if workflow.get("definitions", {}).get("subgraphs"):
        raise WorkflowError("this workflow contains subgraphs, which the runner does not support; "
                            "unpack them in ComfyUI (right-click → Unpack Subgraph) and save again")
    nodes = {str(n["id"]): n for n in workflow["nodes"]}
    links = _links(workflow)

    def source(link_id: int | None, seen: frozenset = frozenset()) -> tuple[str, object] | None:
        """('link', [id, slot]) or ('value', literal) feeding a link, or None when nothing reaches it."""
        if link_id is None or link_id not in links:
            return None
        origin_id, slot = links[link_id]
        if origin_id in seen:
            raise WorkflowError(f"node {origin_id}: reroute/bypass cycle")
        seen = seen | {origin_id}
        origin = nodes.get(origin_id)
        if origin is None:
            raise WorkflowError(f"link {link_id} starts at node {origin_id}, which is not in the workflow")
        mode = origin.get("mode", 0)
        if origin.get("type") == "Reroute":
            inputs = origin.get("inputs") or []
            return source(inputs[0].get("link"), seen) if inputs else None
        if origin.get("type") == "PrimitiveNode":
            values = origin.get("widgets_values") or []
            return ("value", _literal(values[0])) if values else None
        if mode == MODE_MUTED:
            return None
        if mode == MODE_BYPASSED:
            outputs = origin.get("outputs") or []
            wanted = outputs[slot].get("type") if slot < len(outputs) else None
            for candidate in origin.get("inputs") or []:
                if candidate.get("link") is not None and candidate.get("type") in (wanted, "*"):
                    return source(candidate["link"], seen)
            return None
        return ("link", [origin_id, slot])

    prompt: dict[str, dict] = {}
    for node_id, node in nodes.items():
        kind = node.get("type")
        if kind in FRONTEND_ONLY or node.get("mode", 0) in (MODE_MUTED, MODE_BYPASSED):
            continue
        node_class = node_classes.get(kind)
        if node_class is None:
            raise WorkflowError(f"node {node_id}: unknown node type {kind!r} (is the custom node pack that provides "
                                "it installed?)")
        inputs = _widget_values(node, node_class)
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            fed = source(slot["link"])
            if fed is None:
                inputs.pop(slot["name"], None)
            else:
                inputs[slot["name"]] = fed[1]
        title = node.get("title") or getattr(node_class, "DISPLAY_NAME", None) or kind
        prompt[node_id] = {"class_type": kind, "inputs": inputs, "_meta": {"title": title}}
    return prompt


def load_workflow(path: Path, node_classes: Mapping[str, type]) -> tuple[dict[str, dict], dict | None]:
    """Read a workflow file in UI or API format: the API prompt, and the UI graph itself (what the browser sends as
    ``extra_pnginfo.workflow``) or None for an API prompt."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise WorkflowError(f"cannot read workflow {path}: {e}") from e
    if is_ui_workflow(data):
        return ui_to_api(data, node_classes), data
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):  # the body of POST /prompt
        data = data["prompt"]
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        return data, None
    raise WorkflowError(f"{path} is neither a UI workflow (nodes + links) nor an API prompt "
                        "({id: {class_type, inputs}})")


# ----------------------------------------------------------------------------------------------- environment


def _reexec(root: Path, argv: list[str], script: Path | None = None) -> None:
    """Replace this process by the same command (``script``, default this file) under ComfyUI's Python, once; return
    if that is not possible."""
    python = venv_python(root)
    if python is None or os.environ.get(REEXEC_ENV) == "1":
        return
    if Path(sys.executable).absolute() == python.absolute():
        return
    log.info("ComfyUI is not importable by %s; re-running with %s", sys.executable, python)
    env = {**os.environ, REEXEC_ENV: "1", "COMFYUI_PATH": str(root)}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(str(python), [str(python), str(script or Path(__file__).resolve()), *argv], env)


def _write_demo_images(folder: Path) -> None:
    """Two small synthetic character sheets (flat shapes, our own drawing) for the demo's LoadImage nodes."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(DEMO_IMAGES):
        image = Image.new("RGB", (96, 128), "white")
        draw = ImageDraw.Draw(image)
        draw.ellipse((28, 8, 68, 48), outline="black", width=3, fill=(230, 200, 170) if index == 0 else "white")
        draw.rectangle((24, 52, 72, 108), outline="black", width=3, fill=(60, 90, 200) if index == 0 else (200, 60, 60))
        draw.line((36, 108, 30, 126), fill="black", width=3)
        draw.line((60, 108, 66, 126), fill="black", width=3)
        if index == 1:
            draw.polygon(((28, 14), (48, 0), (68, 14)), fill="black")
        image.save(folder / name)


def _copy_assets(folders: list[Path], target: Path) -> None:
    """Copy the example workflows' input images (PNGs under ``folders``) into the input folder ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for image in sorted(folder.glob("*.png")) if folder.is_dir() else ():
            if not (target / image.name).exists():
                shutil.copyfile(image, target / image.name)
                log.info("demo input image %s (from %s)", image.name, folder)


def _demo_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) scaled so the long side is at most DEMO_MAX_SIDE, in multiples of DEMO_SIZE_STEP."""
    scale = min(1.0, DEMO_MAX_SIDE / max(width, height))

    def fit(side: int) -> int:
        return max(2 * DEMO_SIZE_STEP, round(side * scale / DEMO_SIZE_STEP) * DEMO_SIZE_STEP)

    return fit(width), fit(height)


def demo_prompt(prompt: dict[str, dict], *, limit: bool = True) -> list[str]:
    """Adapt an API prompt for the demo weights in place; return one line per change (the runner logs them).

    Swaps checkpoint and VAE loaders for the demo stand-ins and points LoRA/ControlNet/DiffSensei file inputs at the
    demo files; with ``limit`` also caps sampler steps at DEMO_MAX_STEPS and panel/latent sizes at DEMO_MAX_SIDE
    pixels (the runner leaves its own demo workflow, which is demo-sized already, as it is).
    """
    changes = []
    for node_id, node in prompt.items():
        kind, inputs = node.get("class_type"), node.setdefault("inputs", {})
        name = f"node {node_id} ({kind})"
        if kind in DEMO_NODE_SWAPS:
            demo_kind, what = DEMO_NODE_SWAPS[kind]
            node["class_type"] = demo_kind
            shown = next((v for k, v in inputs.items() if k.endswith("_name")), "")
            changes.append(f"{name} {shown!r} replaced by {demo_kind}: {what}")
        if kind in DEMO_FILE_INPUTS:
            key, demo_file = DEMO_FILE_INPUTS[kind]
            if inputs.get(key) != demo_file and not isinstance(inputs.get(key), list):
                changes.append(f"{name}: {key} {inputs.get(key)!r} replaced by the demo file {demo_file!r}")
                inputs[key] = demo_file
        if not limit:
            continue
        steps = inputs.get("steps")
        if kind in DEMO_STEP_NODES and isinstance(steps, int) and steps > DEMO_MAX_STEPS:
            inputs["steps"] = DEMO_MAX_STEPS
            changes.append(f"{name}: steps {steps} capped at {DEMO_MAX_STEPS}")
        width, height = inputs.get("width"), inputs.get("height")
        if kind in DEMO_SIZE_NODES and isinstance(width, int) and isinstance(height, int):
            size = _demo_size(width, height)
            if size != (width, height):
                inputs["width"], inputs["height"] = size
                changes.append(f"{name}: size {width}×{height} reduced to {size[0]}×{size[1]}")
                _demo_layout_size(inputs, size)
        side_key = DEMO_LONG_SIDE_NODES.get(kind)
        if side_key and isinstance(inputs.get(side_key), int) and inputs[side_key] > DEMO_MAX_SIDE:
            changes.append(f"{name}: {side_key} {inputs[side_key]} reduced to {DEMO_MAX_SIDE}")
            inputs[side_key] = DEMO_MAX_SIDE
        changes.extend(_demo_page(name, kind, inputs))
        changes.extend(_demo_distribution(name, kind, inputs))
    return changes


def _demo_distribution(name: str, kind: str, inputs: dict) -> list[str]:
    """Prompt-distribution training: DEMO_MAX_STEPS steps, at most DEMO_MAX_PROMPTS prompts, DEMO_TRAIN_SIDE px."""
    changes = []
    if kind == "DiffSenseiTrainPromptDistribution":
        for key, cap in (("steps", DEMO_MAX_STEPS), ("prompts", DEMO_MAX_PROMPTS), ("resolution", DEMO_TRAIN_SIDE)):
            value = inputs.get(key)
            if isinstance(value, int) and value > cap:
                inputs[key] = cap
                changes.append(f"{name}: {key} {value} capped at {cap}")
    return changes


def _demo_page(name: str, kind: str, inputs: dict) -> list[str]:
    """Pages: paper sizes at DEMO_PAGE_DPI, panels generated at about DEMO_MAX_SIDE² pixels."""
    for page_kind, key, cap in (("DiffSenseiPageLayout", "dpi", DEMO_PAGE_DPI),
                                ("DiffSenseiPagePanels", "scale", DEMO_MAX_SIDE),
                                ("DiffSenseiChapterScript", "dpi", DEMO_PAGE_DPI),
                                ("DiffSenseiChapterPanels", "scale", DEMO_MAX_SIDE)):
        value = inputs.get(key)
        if kind == page_kind and isinstance(value, int) and value > cap:
            inputs[key] = cap
            return [f"{name}: {key} {value} reduced to {cap}"]
    return []


def _demo_layout_size(inputs: dict, size: tuple[int, int]) -> None:
    """A layout JSON that states its own width/height must agree with the reduced panel size."""
    try:
        layout = json.loads(inputs.get("layout", ""))
    except (TypeError, ValueError):
        return
    if isinstance(layout, dict) and ("width" in layout or "height" in layout):
        layout["width"], layout["height"] = size
        inputs["layout"] = json.dumps(layout)


def _build_demo_models(demo_weights, models: Path) -> None:
    started = time.monotonic()
    demo_weights.build_demo_release(models / "diffsensei" / DEMO_MODEL_DIR)
    demo_weights.build_demo_lora(models / "loras" / DEMO_LORA)
    demo_weights.build_demo_controlnet(models / "controlnet" / DEMO_CONTROLNET)
    (models / "prompt_distributions").mkdir(parents=True, exist_ok=True)  # trained distributions stay in scratch
    log.info("built the demo weights in %.1f s (ComfyUI's ControlNet loader will log 'no match' for the tiny "
             "ControlNet and load it with its generic config)", time.monotonic() - started)


def _register_models(comfy, models: Path) -> None:
    """Add every known model folder under ``models`` (diffsensei/, checkpoints/, vae/, …) in front of the defaults."""
    fp = comfy.folder_paths
    for sub in sorted(p for p in models.iterdir() if p.is_dir()):
        if sub.name in fp.folder_names_and_paths or sub.name == "diffsensei":
            fp.add_model_folder_path(sub.name, str(sub.resolve()), is_default=True)
            log.info("model folder %s: %s", sub.name, sub)


# --------------------------------------------------------------------------------------------------- progress


class Progress:
    """Logs which node runs and its k/n steps (at most about once a second per node, always the last step)."""

    def __init__(self, prompt: dict, interval: float = 1.0):
        self.prompt = prompt
        self.interval = interval
        self.last: dict[str, float] = {}
        self.started: dict[str, float] = {}

    def _name(self, node_id) -> str:
        entry = self.prompt.get(str(node_id), {})
        return f"node {node_id} ({entry.get('class_type', '?')})"

    def on_message(self, event: str, data) -> None:
        if event == "executing" and isinstance(data, dict) and data.get("node") is not None:
            self.started[str(data["node"])] = time.monotonic()
            log.info("running %s", self._name(data["node"]))
        elif event == "execution_cached" and isinstance(data, dict) and data.get("nodes"):
            log.info("cached: %s", ", ".join(map(str, data["nodes"])))

    def hook(self, value, total, preview_image=None, prompt_id=None, node_id=None) -> None:
        if node_id is None:
            from comfy_execution.utils import get_executing_context

            context = get_executing_context()
            node_id = context.node_id if context is not None else "?"
        now = time.monotonic()
        key = str(node_id)
        if value >= total or value <= 1 or now - self.last.get(key, 0.0) >= self.interval:
            self.last[key] = now
            elapsed = now - self.started.get(key, now)
            log.info("%s: step %d/%d (%.1f s)", self._name(node_id), value, total, elapsed)


# ------------------------------------------------------------------------------------------------------ main


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
    parser.add_argument("--chapter", type=Path, metavar="SCRIPT",
                        help="render a chapter script instead (resumes; with --demo and no SCRIPT the bundled "
                             "example): the options of scripts/run_chapter.py apply")
    return parser


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="[comfyui] %(message)s")


def _log_validation(error: dict | None, node_errors: dict) -> None:
    error = error or {"message": "some outputs failed validation (the runner does not run a partial workflow)"}
    log.error("the workflow failed validation: %s%s", error.get("message", error),
              f" ({error['details']})" if error.get("details") else "")
    for node_id, info in node_errors.items():
        for reason in info.get("errors", []):
            log.error("node %s (%s): %s: %s", node_id, info.get("class_type"), reason.get("message"),
                      reason.get("details"))


def _image_paths(comfy, outputs: dict) -> list[tuple[str, Path]]:
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
    comfy_session.set_directories(comfy, output=ns.output, temp=scratch / "temp",
                                  input=ns.input or (scratch / "input" if ns.demo else None))
    pack, errors = comfy_session.load_pack(comfy, scratch / "custom_nodes")
    if pack is None:
        log.error("ComfyUI did not load the DiffSensei pack from %s:\n%s", REPO, "\n".join(errors) or "(no log record)")
        return 1
    if ns.demo:
        if __package__:
            from . import demo_nodes, demo_weights
        else:
            sys.path.append(str(REPO))  # after ComfyUI's root, so ComfyUI's `nodes` keeps precedence
            import demo_nodes
            import demo_weights
        log.warning(DEMO_WARNING)
        models = ns.models or scratch / "models"
        _build_demo_models(demo_weights, Path(models))
        comfy.nodes.NODE_CLASS_MAPPINGS.update(demo_nodes.NODE_CLASS_MAPPINGS)
        if not ns.input:
            input_dir = Path(comfy.folder_paths.get_input_directory())
            _write_demo_images(input_dir)
            assets = [DEMO_ASSETS] + ([ns.workflow.resolve().parent / "assets"] if ns.workflow else [])
            _copy_assets(list(dict.fromkeys(assets)), input_dir)
    else:
        models = ns.models
    if models is not None:
        if not Path(models).is_dir():
            log.error("--models %s is not a folder", models)
            return 2
        _register_models(comfy, Path(models))

    workflow = ns.workflow or DEMO_WORKFLOW
    try:
        prompt, graph = load_workflow(workflow, comfy.nodes.NODE_CLASS_MAPPINGS)
    except WorkflowError as e:
        log.error("%s", e)
        return 2
    if ns.demo:
        for change in demo_prompt(prompt, limit=ns.workflow is not None):
            log.warning("DEMO: %s", change)
    log.info("running %s (%d nodes); output folder %s", workflow, len(prompt),
             comfy.folder_paths.get_output_directory())

    progress = Progress(prompt)
    comfy.utils.set_progress_bar_global_hook(progress.hook)
    server = comfy_session.FakeServer(on_message=progress.on_message)
    started = time.monotonic()
    try:
        # like the browser, hand the editor graph along so Save Image / Export pages embed the workflow in PNGs
        executor = comfy_session.run_prompt(comfy, prompt, server, client_id="diffsensei-runner",
                                            extra_pnginfo={"workflow": graph} if graph else None)
    except comfy_session.PromptInvalid as e:
        _log_validation(e.error, e.node_errors)
        return 1
    finally:
        comfy.utils.set_progress_bar_global_hook(None)

    if not executor.success:
        for event, data in executor.status_messages:
            if event == "execution_error":
                log.error("node %s (%s) failed: %s: %s", data.get("node_id"), data.get("node_type"),
                          data.get("exception_type"), data.get("exception_message"))
            elif event == "execution_interrupted":
                log.error("interrupted at node %s (%s)", data.get("node_id"), data.get("node_type"))
        return 1

    images = _image_paths(comfy, executor.history_result.get("outputs", {}))
    saved = [path for kind, path in images if kind == "output"]
    for kind, path in images:
        log.info("%s %s", "wrote" if kind == "output" else f"{kind} image (not kept):", path)
    log.info("done in %.1f s: %d image(s) written", time.monotonic() - started, len(saved))
    if ns.demo:
        log.warning("demo output is noise from random weights (see above)")
    sys.stdout.write("".join(f"{path}\n" for path in saved))
    return 0


def _run_chapter(argv: list[str]) -> int:
    """``--chapter [SCRIPT] …`` is ``run_chapter.py [SCRIPT] …``."""
    if __package__:
        from .run_chapter import main as chapter_main
    else:
        from run_chapter import main as chapter_main
    at = next(k for k, a in enumerate(argv) if a == "--chapter" or a.startswith("--chapter="))
    flag, value = argv[at].partition("=")[0], argv[at].partition("=")[2]
    rest = argv[:at] + argv[at + 1:]
    if not value and flag == argv[at] and at + 1 < len(argv) and not argv[at + 1].startswith("-"):
        value, rest = argv[at + 1], argv[:at] + argv[at + 2:]
    return chapter_main(([value] if value else []) + rest)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--chapter" or a.startswith("--chapter=") for a in argv):
        return _run_chapter(argv)
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
