"""Demo mode of the headless runner: tiny random weights and stand-ins instead of what a test machine lacks.

Every change to a workflow is returned as a line the runner logs loudly; the pictures a demo run writes are noise.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

log = logging.getLogger("diffsensei")

REPO = Path(__file__).resolve().parents[1]
DEMO_WORKFLOW = Path(__file__).resolve().parent / "demo_workflow.json"
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
# node type → the demo stand-in from demo_nodes.py (same widget names plus the stand-in's own defaults)
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
DEMO_WARNING = (
    "DEMO MODE: the DiffSensei weights, LoRA and ControlNet are tiny and RANDOM (built on the fly), and the text "
    "encoder and VAE are stand-ins without a network. The workflow runs end to end, but the images it writes are "
    "NOISE, not manga panels. Download the released weights into models/diffsensei for real results."
)

def write_demo_images(folder: Path) -> None:
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


def copy_assets(folders: list[Path], target: Path) -> None:
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


def prepare_inputs(input_dir: Path, workflow: Path | None) -> None:
    """The demo characters and the example workflows' input images (and those beside ``workflow``) in ``input_dir``."""
    write_demo_images(input_dir)
    assets = [DEMO_ASSETS] + ([workflow.resolve().parent / "assets"] if workflow else [])
    copy_assets(list(dict.fromkeys(assets)), input_dir)


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
                                ("DiffSenseiPagePanels", "scale", DEMO_MAX_SIDE)):
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


def build_demo_models(models: Path) -> None:
    """The tiny DiffSensei release, LoRA and ControlNet under ``models`` (diffsensei/, loras/, controlnet/)."""
    from . import demo_weights

    started = time.monotonic()
    demo_weights.build_demo_release(models / "diffsensei" / DEMO_MODEL_DIR)
    demo_weights.build_demo_lora(models / "loras" / DEMO_LORA)
    demo_weights.build_demo_controlnet(models / "controlnet" / DEMO_CONTROLNET)
    (models / "prompt_distributions").mkdir(parents=True, exist_ok=True)  # trained distributions stay in scratch
    log.info("built the demo weights in %.1f s (ComfyUI's ControlNet loader will log 'no match' for the tiny "
             "ControlNet and load it with its generic config)", time.monotonic() - started)
