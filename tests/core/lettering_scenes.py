"""The three lettering scenes the golden images show, and the command that redraws the goldens.

    .venv/bin/python -m tests.core.lettering_scenes        (then look at tests/core/golden_lettering/*.png)

``test_lettering_render.py`` compares against the PNGs and never writes them.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from diffsensei_core.lettering.fonts import FontChain, pillow_face
from diffsensei_core.lettering.plan import parse_texts, plan_bubbles
from diffsensei_core.lettering.render import LetterStyle, apply_tiles, letter, render_tiles
from diffsensei_core.page.slots import DialogSlot

GOLDEN = Path(__file__).with_name("golden_lettering")
CHAIN = FontChain([pillow_face()])
CHARS = ((30, 150, 130, 240), (200, 150, 300, 240))


def background(width=320, height=240) -> np.ndarray:
    """A deterministic gradient, (H, W, 3) float32."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack((x / width, y / height, 0.5 + 0 * x), axis=2) * 0.6 + 0.2


SHAPE_SLOTS = [DialogSlot((8, 6, 150, 90), CHARS), DialogSlot((170, 6, 312, 80), CHARS),
               DialogSlot((10, 100, 140, 150), CHARS), DialogSlot((180, 88, 312, 160), CHARS)]
SHAPE_TEXTS = "Where were you all night?\n2 (rounded): Out, looking for you.\n(thought): Is he lying?\n1 (shout): LIAR!"
SHAPE_STYLE = LetterStyle(max_font_size=22, min_font_size=8, outline=2)


def scene_shapes() -> np.ndarray:
    return letter(background(), SHAPE_SLOTS, SHAPE_TEXTS, CHAIN, SHAPE_STYLE)


def scene_bubbles() -> np.ndarray:
    """The same bubbles without text: pure geometry, compared strictly."""
    specs = [replace(s, text="") for s in plan_bubbles(parse_texts(SHAPE_TEXTS), SHAPE_SLOTS, "oval")]
    return apply_tiles(background(), render_tiles(320, 240, specs, CHAIN, SHAPE_STYLE))


def scene_vertical() -> np.ndarray:
    slots = [DialogSlot((40, 10, 180, 200), ((200, 120, 300, 240),))]
    return letter(background(240, 240)[:, :, :3], slots, "HELLO THERE (ok) [sic]", CHAIN,
                  LetterStyle(writing="vertical", max_font_size=30, min_font_size=8))


SCENES = {"shapes": scene_shapes, "bubbles": scene_bubbles, "vertical": scene_vertical}


def as_png_pixels(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def redraw(folder: Path = GOLDEN) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for name, scene in SCENES.items():
        paths.append(folder / f"{name}.png")
        Image.fromarray(as_png_pixels(scene())).save(paths[-1], optimize=True)
    return paths


if __name__ == "__main__":
    sys.stdout.write("".join(f"wrote {path}\n" for path in redraw()))
