"""Manga pages: Page layout → DIFFSENSEI_PAGE, Page → panel layouts (one layout + latent per panel, as lists),
Compose page (panel images → page IMAGE)."""

from __future__ import annotations

import json
import logging

import comfy.model_management as mm
import comfy.utils
import torch
from comfy_api.v0_0_2 import io
from comfy_execution.graph_utils import ExecutionBlocker

from ..diffsensei_core.errors import DiffSenseiError, LayoutError
from ..diffsensei_core.model.panel_layout import MAX_PANEL_SIZE, MIN_PANEL_SIZE, PANEL_SIZE_STEP
from ..diffsensei_core.page.cast import cast_indices
from ..diffsensei_core.page.compose import FITS, compose_page, parse_colour
from ..diffsensei_core.page.page_layout import (
    DIRECTIONS,
    GENERATION_SCALE,
    MAX_PANELS,
    PageLayout,
    PagePanel,
    parse_page,
)
from ..diffsensei_core.page.presets import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_PRESET,
    PAGE_SIZES,
    PRESET_NAMES,
    mm_to_px,
    page_size_px,
)
from .host.sockets import Characters, EncodedCharacters, Layout, Page

log = logging.getLogger("diffsensei")
CATEGORY = "DiffSensei/page"

EXAMPLE = json.dumps({"panels": [
    {"characters": [[0.1, 0.25, 0.6, 1.0]], "dialogs": [[0.65, 0.02, 0.98, 0.3]], "prompt": "a boy looks up"},
    {"characters": [[0.35, 0.2, 0.9, 1.0]], "dialogs": [[0.02, 0.02, 0.35, 0.28]], "prompt": "a girl smiles"},
    {"characters": [[0.05, 0.3, 0.45, 1.0], [0.55, 0.3, 0.95, 1.0]], "dialogs": [[0.6, 0.02, 0.95, 0.25]]},
    {"characters": [[0.05, 0.2, 0.5, 1.0], [0.5, 0.2, 0.95, 1.0]], "dialogs": [[0.05, 0.02, 0.4, 0.2]]},
]})


class DiffSenseiPageLayout(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiPageLayout",
            display_name="DiffSensei: Page layout",
            category=CATEGORY,
            description=(
                "A manga page: its size, margins and gutters, and its panels (from a preset or drawn on the page "
                "canvas), each with its own character and dialog boxes. Panels are numbered in reading order: rows "
                "top to bottom, right to left for manga (rtl) or left to right (ltr)."
            ),
            inputs=[
                io.Combo.Input("preset", options=PRESET_NAMES, default=DEFAULT_PRESET,
                               tooltip="Where the panels go. 'custom' uses the panels drawn on the canvas (their "
                                       "'box' in the page JSON); a named preset places them and the JSON's panel "
                                       "entries give only their boxes and prompts, in reading order."),
                io.Combo.Input("page_size", options=PAGE_SIZES, default=DEFAULT_PAGE_SIZE,
                               tooltip="Paper size; the pixel size is this at the dpi (the webtoon strip is in "
                                       "pixels)."),
                io.Int.Input("dpi", default=300, min=10, max=1200, step=1,
                             tooltip="Dots per inch: page pixels = millimetres × dpi / 25.4. 300 prints well; "
                                     "150 gives a quicker screen page."),
                io.Combo.Input("direction", options=list(DIRECTIONS), default="rtl",
                               tooltip="Reading order within a row: rtl = right to left (manga), ltr = left to "
                                       "right (western comics, 4-koma read top to bottom either way)."),
                io.Float.Input("margin_mm", default=8.0, min=0.0, max=60.0, step=0.5,
                               tooltip="Blank border around the panels, in millimetres (presets only)."),
                io.Float.Input("gutter_mm", default=3.0, min=0.0, max=30.0, step=0.5,
                               tooltip="Space between panels, in millimetres (presets only)."),
                io.Float.Input("border_mm", default=0.5, min=0.0, max=5.0, step=0.1,
                               tooltip="Panel border line width in millimetres (at least 1 pixel when not 0); "
                                       "a panel's own \"border\" in the JSON (pixels) wins."),
                io.String.Input(
                    "page", multiline=True, default=EXAMPLE,
                    tooltip='JSON: {"panels": [{"box": [x1,y1,x2,y2] (relative to the page, custom preset only), '
                            '"characters": [[x1,y1,x2,y2], …], "dialogs": [[…]], "cast": [2], "prompt": "…"}, …]}; '
                            "character and dialog boxes are relative to their panel, as on the Panel layout node. "
                            '"cast" (optional) names the characters the panel\'s boxes show, in box order (1 = the '
                            "first reference image); without it a panel shows every character.",
                ),
            ],
            outputs=[Page.Output(tooltip="The page: panels in reading order, for Page → panel layouts, Compose page "
                                         "and Letter bubbles.")],
        )

    @classmethod
    def execute(cls, preset: str, page_size: str, dpi: int, direction: str, margin_mm: float, gutter_mm: float,
                border_mm: float, page: str) -> io.NodeOutput:
        width, height = page_size_px(page_size, dpi)
        border = 0 if border_mm <= 0 else max(1, mm_to_px(border_mm, dpi))
        try:
            layout = parse_page(page, width=width, height=height, dpi=dpi, direction=direction,
                                margin=mm_to_px(margin_mm, dpi), gutter=mm_to_px(gutter_mm, dpi), border=border,
                                preset=preset)
        except LayoutError as err:
            raise LayoutError(f"DiffSensei: Page layout, input 'page' (or preset/page size): {err}") from None
        log.info("page %d×%d px, %d panels, %s", layout.width, layout.height, len(layout.panels), layout.direction)
        return io.NodeOutput(layout)


class DiffSenseiPagePanels(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiPagePanels",
            display_name="DiffSensei: Page → panel layouts",
            category=CATEGORY,
            description=(
                "One DiffSensei panel layout and one empty LATENT per panel, in reading order, as lists: the "
                "nodes downstream (Apply, KSampler, VAE Decode) run once per panel. Each panel is generated at its "
                "final shape: its aspect ratio at about scale² pixels, in multiples of 8. With characters connected, "
                "it also gives each panel its own characters: those its \"cast\" names, in box order."
            ),
            inputs=[
                Page.Input("page", tooltip="The page from DiffSensei: Page layout."),
                io.Int.Input("scale", default=GENERATION_SCALE, min=MIN_PANEL_SIZE, max=MAX_PANEL_SIZE,
                             step=PANEL_SIZE_STEP,
                             tooltip="Generation size: each panel gets about scale × scale pixels at its own "
                                     "aspect ratio. DiffSensei (SDXL) was trained near 1024."),
                io.Int.Input("panel_index", default=-1, min=-1, max=MAX_PANELS - 1,
                             tooltip="-1: every panel (lists); k: only panel k (0 = first in reading order), e.g. "
                                     "to redo one panel."),
                io.Int.Input("batch_size", default=1, min=1, max=64, tooltip="Latents per panel."),
                Characters.Input("characters", optional=True,
                                 tooltip="Optional: every character of the page, from Encode Characters (1 = the "
                                         "first reference image). The 'characters' output then gives each panel the "
                                         "ones its \"cast\" names (default: all); connect that to Apply. Put MLLM "
                                         "Adapt Characters after this node, not before."),
            ],
            outputs=[
                Layout.Output("layout", tooltip="Per panel: its layout at the generation size (a list).",
                              is_output_list=True),
                io.Latent.Output("latent", tooltip="Per panel: an empty latent of its generation size (a list).",
                                 is_output_list=True),
                io.String.Output("prompt", tooltip="Per panel: its \"prompt\" from the page JSON, or empty (a list).",
                                 is_output_list=True),
                io.Int.Output("count", tooltip="How many panels are in the lists."),
                Characters.Output("panel_characters", display_name="characters", is_output_list=True,
                                  tooltip="Per panel: the characters its boxes show, in box order (a list); needs "
                                          "the 'characters' input."),
            ],
        )

    @classmethod
    def execute(cls, page: PageLayout, scale: int, panel_index: int, batch_size: int,
                characters: EncodedCharacters | None = None) -> io.NodeOutput:
        panels = list(page.panels)
        if panel_index >= len(panels):
            raise LayoutError(
                f"DiffSensei: Page → panel layouts, input 'panel_index': expected -1 or 0..{len(panels) - 1} "
                f"(the page has {len(panels)} panels), got {panel_index}; use -1 for every panel."
            )
        if panel_index >= 0:
            panels = [panels[panel_index]]
        casts = panel_characters(panels, characters)
        layouts, latents = [], []
        for panel in panels:
            layout = panel.panel_layout(scale)
            h, w = layout.latent_size
            layouts.append(layout)
            latents.append({"samples": torch.zeros(batch_size, 4, h, w, device=mm.intermediate_device())})
            log.info("panel %d: %d×%d px on the page → generated at %d×%d", panel.index + 1, panel.width,
                     panel.height, layout.width, layout.height)
        return io.NodeOutput(layouts, latents, [p.prompt for p in panels], len(panels), casts)


def panel_characters(panels: list[PagePanel], characters: EncodedCharacters | None) -> list | ExecutionBlocker:
    """Each panel's subset of the page's characters (features sliced to its cast, in box order)."""
    name = "DiffSensei: Page → panel layouts"
    if characters is None:
        return ExecutionBlocker(
            f"{name}, output 'characters': the input 'characters' is not connected, so there are no per-panel "
            "characters; connect Encode Characters (all characters of the page) to its 'characters' input."
        )
    if characters.adapted_tokens is not None:
        raise DiffSenseiError(
            f"{name}, input 'characters': these characters carry MLLM-adapted tokens, made from one prompt for the "
            "whole cast, which cannot be split per panel; expected characters from Encode Characters. Connect "
            "Encode Characters here, and put MLLM Adapt Characters after this node, fed with its per-panel "
            "'characters' and 'prompt' outputs, so the MLLM reads each panel's own prompt and cast."
        )
    subsets = []
    for panel in panels:
        try:
            indices = cast_indices(panel.cast, len(panel.characters), characters.count, f"panel {panel.index + 1}")
        except LayoutError as err:
            raise LayoutError(f"{name}, inputs 'page' and 'characters': {err}") from None
        index = torch.tensor(indices, dtype=torch.long, device=characters.clip.device)
        subsets.append(EncodedCharacters(clip=characters.clip.index_select(0, index),
                                         magi=characters.magi.index_select(0, index.to(characters.magi.device))))
        log.info("panel %d shows character(s) %s", panel.index + 1, [i + 1 for i in indices] or "none")
    return subsets


class DiffSenseiComposePage(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiComposePage",
            display_name="DiffSensei: Compose page",
            category=CATEGORY,
            description=(
                "Places the panel images into the page's panels, in reading order, on paper with gutters, margins "
                "and panel borders. Takes the per-panel list from VAE Decode (or one batch with one image per "
                "panel); each image is scaled to its panel (crop or fit)."
            ),
            is_input_list=True,
            inputs=[
                Page.Input("page", tooltip="The page from DiffSensei: Page layout."),
                io.Image.Input("images", tooltip="The panel images in reading order: a list (one per panel) or "
                                                 "batches; all frames together must number the page's panels."),
                io.Combo.Input("fit", options=list(FITS), default="crop",
                               tooltip="crop: fill the panel and cut what sticks out (centred); fit: show the "
                                       "whole image, letterboxed on paper colour."),
                io.String.Input("paper", default="#ffffff", tooltip="Paper colour, '#rrggbb' or 'r,g,b'."),
                io.String.Input("ink", default="#000000", tooltip="Border colour, '#rrggbb' or 'r,g,b'."),
            ],
            outputs=[io.Image.Output(tooltip="The page, (1, height, width, 3).")],
        )

    @classmethod
    def execute(cls, page: list, images: list, fit: list, paper: list, ink: list) -> io.NodeOutput:
        name = "DiffSensei: Compose page"
        layout: PageLayout = page[0]
        frames = [frame for batch in images for frame in batch]
        if len(frames) != len(layout.panels):
            raise DiffSenseiError(
                f"{name}, input 'images': the page has {len(layout.panels)} panels but {len(frames)} images arrived "
                f"({len(images)} input(s)); connect one image per panel in reading order (Page → panel layouts → "
                f"… → VAE Decode gives exactly that), or pick another page preset."
            )
        try:
            paper_rgb, ink_rgb = parse_colour(paper[0]), parse_colour(ink[0])
        except DiffSenseiError as err:
            raise type(err)(f"{name}, input 'paper'/'ink': {err}") from None
        progress = comfy.utils.ProgressBar(len(frames))

        def step(_index: int) -> None:
            progress.update(1)
            mm.throw_exception_if_processing_interrupted()

        image = compose_page(layout, frames, fit=fit[0], paper=paper_rgb, ink=ink_rgb, on_panel=step)
        return io.NodeOutput(image.unsqueeze(0))


NODES = [DiffSenseiPageLayout, DiffSenseiPagePanels, DiffSenseiComposePage]
