"""The Ray worker of a chapter: one headless ComfyUI session that renders the panels of one planned chapter.

The class is plain Python; :mod:`.ray_chapter` turns it into a Ray actor. A worker is built from a :class:`WorkerJob`
(plain data: where ComfyUI and the models are, the plan, the render settings) and afterwards only ever receives a
page and a panel number: it renders panels of the plan it was given and runs no code sent over the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("diffsensei")


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs to render any panel of one plan. All fields are plain data (picklable, loggable)."""

    comfy_root: str
    plan_json: str
    settings: dict
    """``chapter_render.RenderSettings`` as a dict."""
    demo: bool = False
    models: str | None = None
    """An extra models root (the driver's --models, or the folder it built the demo weights in)."""
    input: str | None = None
    """The folder of the reference images."""
    threads: int | None = None
    """torch's intra-op threads in the worker (None: torch's default)."""
    cpu: bool | None = None
    """Force CPU (None: CPU only when CUDA is unavailable, as ComfyUI picks)."""

    def as_dict(self) -> dict:
        return asdict(self)


class PanelWorker:
    """Holds a ComfyUI session with the pack and the chapter's models (loaded on the first panel, then kept)."""

    def __init__(self, job: dict):
        job = WorkerJob(**job)
        import torch

        from . import chapter_render, chapter_runner, comfy_session

        if job.threads:
            torch.set_num_threads(job.threads)
        comfy = comfy_session.import_comfyui(Path(job.comfy_root), cpu=job.cpu)
        scratch = Path(tempfile.mkdtemp(prefix="diffsensei-ray-worker-"))
        session = argparse.Namespace(output=None, input=Path(job.input) if job.input else None,
                                     models=Path(job.models) if job.models else None, demo=job.demo)
        pack = chapter_runner.setup(session, comfy, scratch)
        if pack is None:
            raise RuntimeError(f"the worker at pid {os.getpid()} could not load the DiffSensei pack into ComfyUI at "
                               f"{job.comfy_root}; see its log")
        core = chapter_runner.Core(pack)
        self.plan = core.planned.plan_from_dict(json.loads(job.plan_json))
        settings = chapter_render.RenderSettings(**job.settings)
        self.renderer = chapter_runner.headless_renderer(comfy, self.plan, settings, demo=job.demo)

    def render(self, page: int, number: int) -> bytes:
        """Panel ``number`` of page ``page`` (1-based) of this worker's plan, as PNG bytes."""
        return self.renderer.render(self.plan.pages[page - 1].panels[number - 1])

    def pid(self) -> int:
        return os.getpid()
