"""One planned panel → its image, headless, through the pack's own nodes.

``PanelRenderer(comfy, plan, settings).render(panel)`` builds a small per-panel graph — the loaders, Chapter script
fed with the chapter's plan, Encode Characters over the plan's reference images, Chapter → panel layouts selecting
this panel, Apply, the text encoders, KSampler with the panel's seed, VAE Decode, Save Image — and runs it with one
ComfyUI executor that lives as long as the renderer. Only the panel selector differs between panels, so ComfyUI's
cache keeps the loaded models, the plan and the characters' encodings from the first panel on: each model is
loaded once per renderer, each reference image encoded once. A worker process (e.g. a Ray actor) holds one renderer
and calls ``render`` for every panel it is given; the PNG bytes come back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("diffsensei")

SAVE_PREFIX = "diffsensei_chapter_panel"


class RenderError(RuntimeError):
    """A panel could not be rendered; the message names the panel and ComfyUI's error."""


@dataclass(frozen=True)
class RenderSettings:
    """What the per-panel graph uses besides the plan (the official sampler settings by default)."""

    checkpoint: str = "sd_xl_base_1.0.safetensors"
    """The SDXL checkpoint whose text encoders and VAE are used (its UNet is not)."""
    model: str = "image_generator"
    """The DiffSensei release folder (or converted adapter) in models/diffsensei."""
    steps: int = 30
    cfg: float = 7.5
    sampler: str = "euler"
    scheduler: str = "normal"
    ip_scale: float = 0.6
    scale: int = 1024
    magi_seed: int = 0
    grayscale: bool = True
    magi_masking: bool = True
    font: str = "default"

    def key_data(self) -> dict:
        return asdict(self)


def panel_prompt(plan_json: str, page: int, number: int, settings: RenderSettings, references: bool) -> dict:
    """The API prompt that renders panel ``number`` of page ``page`` of the plan (both 1-based).
    ``references``: whether the plan names reference images (Encode Characters is fed only then)."""
    s = settings
    text = {"width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0, "target_width": 1024, "target_height": 1024}
    encode = {"encoders": ["encoders", 0], "grayscale": s.grayscale, "seed": s.magi_seed,
              "magi_masking": s.magi_masking}
    if references:
        encode["character_1"] = ["script", 1]
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": s.checkpoint}},
        "model": {"class_type": "DiffSenseiLoadModel", "inputs": {"model_name": s.model, "weight_dtype": "default"}},
        "encoders": {"class_type": "DiffSenseiLoadEncoders",
                     "inputs": {"model_name": s.model, "magi_dtype": "default"}},
        "script": {"class_type": "DiffSenseiChapterScript",
                   "inputs": {"script": plan_json, "script_file": "(none)", "dpi": 300, "font": s.font}},
        "encode": {"class_type": "DiffSenseiEncodeCharacters", "inputs": encode},
        "panels": {"class_type": "DiffSenseiChapterPanels",
                   "inputs": {"chapter": ["script", 0], "scale": s.scale, "page": page, "panel": number,
                              "batch_size": 1, "characters": ["encode", 0]}},
        "apply": {"class_type": "DiffSenseiApply", "inputs": {"model": ["model", 0], "adapter": ["model", 1],
                                                              "characters": ["panels", 3], "layout": ["panels", 0],
                                                              "ip_scale": s.ip_scale}},
        "positive": {"class_type": "CLIPTextEncodeSDXL",
                     "inputs": {"clip": ["ckpt", 1], **text, "text_g": ["panels", 2], "text_l": ["panels", 2]}},
        "negative": {"class_type": "CLIPTextEncodeSDXL",
                     "inputs": {"clip": ["ckpt", 1], **text, "text_g": ["script", 3], "text_l": ["script", 3]}},
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["apply", 0], "seed": ["panels", 4], "steps": s.steps, "cfg": s.cfg, "sampler_name": s.sampler,
            "scheduler": s.scheduler, "positive": ["positive", 0], "negative": ["negative", 0],
            "latent_image": ["panels", 1], "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["ckpt", 2]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["decode", 0],
                                                       "filename_prefix": f"{SAVE_PREFIX}/p{page:03d}_{number:02d}"}},
    }


class PanelRenderer:
    """Renders the panels of one plan with one executor (models, plan and encodings made once).

    ``comfy``: the session from ``comfy_session.import_comfyui`` with the pack loaded; ``prepare``: called on each
    prompt before it runs (the demo swaps loaders and caps sizes there); ``new_executor``/``server``: how the session
    builds a ComfyUI executor and its headless server (``comfy_session.new_executor`` and ``FakeServer``).
    """

    def __init__(self, comfy, plan, settings: RenderSettings, *, new_executor: Callable, server,
                 prepare: Callable[[dict], object] | None = None):
        self.comfy, self.plan, self.settings, self.prepare = comfy, plan, settings, prepare
        self.plan_json = plan.to_json()
        self.references = any(c["references"] for c in plan.characters)
        self.executor = new_executor(comfy, server)
        self.renders = 0

    def render(self, panel) -> bytes:
        """The panel's image as PNG bytes (as Save Image writes it). ``panel``: one of the plan's PlannedPanels."""
        planned = self.plan.pages[panel.page - 1].panels[panel.number - 1]
        if planned.key_data() != panel.key_data():
            raise RenderError(f"page {panel.page}, panel {panel.number} is not the panel this renderer's plan has "
                              "there; render it with a renderer made for its plan.")
        prompt = panel_prompt(self.plan_json, panel.page, panel.number, self.settings, self.references)
        self.renders += 1  # a new file name each time, so Save Image writes even when the rest comes from the cache
        prompt["save"]["inputs"]["filename_prefix"] += f"_{self.renders}"
        if self.prepare is not None:
            self.prepare(prompt)
        prompt_id = uuid.uuid4().hex
        ok, error, outputs, node_errors = asyncio.run(self.comfy.execution.validate_prompt(prompt_id, prompt, None))
        if not ok or node_errors:
            raise RenderError(f"page {panel.page}, panel {panel.number}: the panel's graph failed validation: "
                              f"{error} {node_errors}")
        self.executor.execute(prompt, prompt_id, {"client_id": "diffsensei-chapter"}, outputs)
        if not self.executor.success:
            raise RenderError(f"page {panel.page}, panel {panel.number}: {self._failure()}")
        return self._take_image(self.executor.history_result["outputs"]["save"]["images"][0])

    def _failure(self) -> str:
        for event, data in self.executor.status_messages:
            if event == "execution_error":
                return (f"node {data.get('node_type')} failed: {data.get('exception_type')}: "
                        f"{data.get('exception_message')}")
            if event == "execution_interrupted":
                return "interrupted"
        return "the graph did not finish"

    def _take_image(self, item: dict) -> bytes:
        path = Path(self.comfy.folder_paths.get_output_directory()) / item.get("subfolder", "") / item["filename"]
        data = path.read_bytes()
        path.unlink()
        return data
