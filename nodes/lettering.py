"""Letter bubbles: speech bubbles with fitted text in a panel's or a page's dialog boxes."""

from __future__ import annotations

import logging

import comfy.model_management as mm
import comfy.utils
import folder_paths
import numpy as np
import torch
from comfy_api.v0_0_2 import io

from ..diffsensei_core.errors import LetteringError
from ..diffsensei_core.lettering.bubbles import SHAPES
from ..diffsensei_core.lettering.fonts import DEFAULT, FONT_EXTENSIONS, FontChain, MissingGlyphsError, discover_faces
from ..diffsensei_core.lettering.plan import parse_texts, plan_bubbles, scale_slots, slots_from_layout
from ..diffsensei_core.lettering.render import LetterStyle, apply_tiles, render_tiles
from ..diffsensei_core.lettering.text import WRITING, TextFitError
from .host.folders import register_folder
from .host.sockets import Layout, Page

log = logging.getLogger("diffsensei")

FONTS_FOLDER = "fonts"
NODE = "DiffSensei: Letter bubbles"
EXAMPLE = "Where were you?\n2: Out. Looking for you.\n(thought): Is he lying?"


def register_fonts_folder() -> None:
    """Add models/fonts (see folders.register_folder)."""
    register_folder(FONTS_FOLDER, set(FONT_EXTENSIONS))


def font_faces():
    """User fonts (the fonts folders), Pillow's bundled font, system fonts."""
    register_fonts_folder()
    return discover_faces(user_dirs=folder_paths.get_folder_paths(FONTS_FOLDER))


def font_choices() -> list[str]:
    return [DEFAULT, *(f.name for f in font_faces() if f.name != DEFAULT)]


class DiffSenseiLetterBubbles(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiLetterBubbles",
            display_name=NODE,
            category="DiffSensei/page",
            description=(
                "Draws a speech bubble in each dialog box of a panel layout or a page, with a tail toward a "
                "character, and fits the text inside: wrapped, shrunk if needed, horizontal or vertical (tategaki). "
                "One line of 'texts' per dialog box, in order."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The panel (with a layout) or the composed page (with a page). Every "
                                                "image of a batch gets the same bubbles and texts."),
                Page.Input("page", optional=True,
                           tooltip="A page from DiffSensei: Page layout: bubbles go in its dialog boxes, in reading "
                                   "order, clipped to their panels. Connect this or 'layout'."),
                Layout.Input("layout", optional=True,
                             tooltip="A panel layout from DiffSensei: Panel layout: bubbles go in its dialog boxes, "
                                     "in the layout's order, scaled to the image. Connect this or 'page'."),
                io.String.Input(
                    "texts", multiline=True, default=EXAMPLE,
                    tooltip="One bubble per non-empty line, in dialog-box order. Optional prefix before a colon: a "
                            "character number for the tail ('2: text', 0 = no tail; none = nearest character) and/or "
                            "a shape ('(thought): text', '1 (shout): text'). '-' leaves a box empty; '\\n' breaks a "
                            "line.",
                ),
                io.Combo.Input("shape", options=list(SHAPES), default="oval",
                               tooltip="Bubble shape for lines without a (shape) prefix."),
                io.Combo.Input("writing", options=list(WRITING), default="auto",
                               tooltip="horizontal lines, vertical columns right to left (tategaki), or auto: vertical "
                                       "when most of a text is Japanese/Chinese."),
                io.Combo.Input("font", options=font_choices(), default=DEFAULT,
                               tooltip="The font; characters it lacks come from the other fonts found (your "
                                       "models/fonts folder first, then system fonts). 'default' is Pillow's bundled "
                                       "Latin font."),
                io.Int.Input("font_size", default=32, min=4, max=512,
                             tooltip="Largest font size (px); each bubble takes the largest size ≤ this that fits "
                                     "(or, with same_font_size, all bubbles take the largest size at which all fit)."),
                io.Int.Input("min_font_size", default=10, min=1, max=512,
                             tooltip="Smallest font size in pixels before 'overflow' decides."),
                io.Combo.Input("overflow", options=["error", "shrink"], default="error",
                               tooltip="When a text does not fit at min_font_size: error (stop and say which line), or "
                                       "shrink below the minimum (down to 6 px) with a warning."),
                io.Int.Input("outline_width", default=3, min=0, max=64,
                             tooltip="Bubble outline width in pixels (0 = no outline)."),
                io.Boolean.Input("same_font_size", default=False, optional=True,
                                 tooltip="Off: each bubble gets the largest size that fits it. On: every bubble of "
                                         "the image (the whole page with a page) gets one size, the largest at which "
                                         "all of them fit, as lettering in a printed manga looks."),
            ],
            outputs=[io.Image.Output(tooltip="The images with lettered bubbles.")],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, texts: str, shape: str, writing: str, font: str, font_size: int,
                min_font_size: int, overflow: str, outline_width: int, same_font_size: bool = False, page=None,
                layout=None) -> io.NodeOutput:
        if (page is None) == (layout is None):
            got = "both are connected" if page is not None else "neither is connected"
            raise LetteringError(
                f"{NODE}, inputs 'page' and 'layout': expected exactly one (where the dialog boxes are); {got}. "
                "Connect the page from DiffSensei: Page layout for a page, or the layout from DiffSensei: Panel "
                "layout for one panel."
            )
        if min_font_size > font_size:
            raise LetteringError(
                f"{NODE}, input 'min_font_size': expected at most font_size ({font_size}); got {min_font_size}. "
                "Lower min_font_size or raise font_size."
            )
        if image.ndim != 4 or image.shape[-1] not in (3, 4):
            raise LetteringError(f"{NODE}, input 'image': expected an IMAGE (batch, height, width, 3); "
                                 f"got shape {tuple(image.shape)}.")
        height, width = int(image.shape[1]), int(image.shape[2])
        if page is not None:
            slots = scale_slots(page.dialog_slots(), width / page.width, height / page.height)
        else:
            slots = slots_from_layout(layout, width, height)
        try:
            specs = plan_bubbles(parse_texts(texts), slots, shape)
        except LetteringError as err:
            raise type(err)(f"{NODE}, input 'texts': {err}") from None
        try:
            chain = FontChain.choose(font, font_faces())
        except LetteringError as err:
            raise type(err)(f"{NODE}, input 'font': {err}") from None

        progress = comfy.utils.ProgressBar(len(specs) + image.shape[0])

        def step() -> None:
            mm.throw_exception_if_processing_interrupted()
            progress.update(1)

        style = LetterStyle(writing=writing, max_font_size=font_size, min_font_size=min_font_size, overflow=overflow,
                            outline=float(outline_width), same_size=same_font_size)
        try:
            tiles = render_tiles(width, height, specs, chain, style, on_bubble=step)
        except MissingGlyphsError as err:
            raise MissingGlyphsError(f"{NODE}, input 'font': {err}") from None
        except TextFitError as err:
            raise TextFitError(f"{NODE}, input 'texts': {err}") from None
        frames = []
        for frame in image.detach().cpu().float().numpy():
            frames.append(apply_tiles(frame, tiles))
            step()
        out = torch.from_numpy(np.stack(frames)).to(device=image.device, dtype=image.dtype)
        return io.NodeOutput(out)


NODES = [DiffSenseiLetterBubbles]
