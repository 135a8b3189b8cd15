"""Panel layout: panel size + character and dialog boxes → DIFFSENSEI_LAYOUT, and a matching empty LATENT."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.errors import LayoutError
from ..diffsensei_core.model.panel_layout import MAX_PANEL_SIZE, MIN_PANEL_SIZE, PANEL_SIZE_STEP, parse_layout
from .host.sockets import Layout

EXAMPLE = '{"characters": [[0.05, 0.1, 0.45, 0.95], [0.55, 0.1, 0.95, 0.95]], "dialogs": [[0.6, 0.0, 1.0, 0.3]]}'


class DiffSenseiPanelLayout(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        size = dict(min=MIN_PANEL_SIZE, max=MAX_PANEL_SIZE, step=PANEL_SIZE_STEP)
        return io.Schema(
            node_id="DiffSenseiPanelLayout",
            display_name="DiffSensei: Panel layout",
            category="DiffSensei",
            description=(
                "Where each character stands and where each speech bubble goes, as boxes relative to the panel "
                "(0..1, origin top-left): one character box per reference image, in the same order."
            ),
            inputs=[
                io.Int.Input("width", default=1024, tooltip="Panel width in pixels (multiple of 8).", **size),
                io.Int.Input("height", default=768, tooltip="Panel height in pixels (multiple of 8).", **size),
                io.Int.Input("batch_size", default=1, min=1, max=64, tooltip="Latents in the empty LATENT."),
                io.String.Input(
                    "layout", multiline=True, default=EXAMPLE,
                    tooltip='JSON: {"characters": [[x1,y1,x2,y2], …], "dialogs": [[x1,y1,x2,y2], …]}, coordinates '
                            "relative to the panel. Swapped corners and small overshoots are fixed with a warning.",
                ),
            ],
            outputs=[
                Layout.Output(tooltip="The validated layout, for Apply DiffSensei."),
                io.Latent.Output(tooltip="An empty latent of the panel's size, for the sampler."),
            ],
        )

    @classmethod
    def execute(cls, width: int, height: int, batch_size: int, layout: str) -> io.NodeOutput:
        try:
            panel = parse_layout(layout, width=width, height=height)
        except LayoutError as err:
            raise LayoutError(f"DiffSensei: Panel layout, input 'layout' (or width/height): {err}") from None
        if (panel.width, panel.height) != (width, height):
            raise LayoutError(
                f"DiffSensei: Panel layout, input 'layout': the JSON says {panel.width}×{panel.height} px but the "
                f"node's "
                f"width/height are {width}×{height}; remove width/height from the JSON or make them agree."
            )
        h, w = panel.latent_size
        latent = torch.zeros(batch_size, 4, h, w, device=mm.intermediate_device())
        return io.NodeOutput(panel, {"samples": latent})


NODES = [DiffSenseiPanelLayout]
