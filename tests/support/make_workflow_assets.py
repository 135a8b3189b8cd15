"""Draw the example workflows' input images (``workflows/assets/*.png``) from scratch with PIL.

Everything is drawn here from primitive shapes, black ink on white, so the images are ours and released under CC0
(see ``workflows/README.md``). The output is deterministic: running the script again rewrites identical files.

    python -m tests.support.make_workflow_assets [OUT_DIR]     (from the repository root; default: workflows/assets)

Images:

* ``diffsensei_example_hero.png``: character reference 1, a boy with spiky hair and a school jacket.
* ``diffsensei_example_rival.png``: character reference 2, a girl with long hair, glasses and a scarf.
* ``diffsensei_example_lineart.png``: a street corner in perspective, the ControlNet (lineart) guide.
* ``diffsensei_example_photo.png``: a stand-in "photo" for the photo-to-manga workflow: one person in colour
  (flat shapes with shading bands, drawn here; not a photograph of anyone).
* ``diffsensei_example_style_tone_{1,2,3}.png`` / ``diffsensei_example_style_hatch_{1,2}.png``: two small style
  sets (shapes filled with screentone dots / diagonal hatching) for the prompt-distribution workflow.
* ``diffsensei_example_group_photo.png``: the same kind of stand-in with three people of different sizes and skin
  tones, for the group-photo workflow.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

from PIL import Image, ImageDraw

log = logging.getLogger("diffsensei")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "workflows" / "assets"
HERO, RIVAL, LINEART = "diffsensei_example_hero.png", "diffsensei_example_rival.png", "diffsensei_example_lineart.png"
PHOTO, GROUP_PHOTO = "diffsensei_example_photo.png", "diffsensei_example_group_photo.png"
PHOTO_SIZE = (240, 320)  # width, height of the stand-in photos
INK, PAPER = 0, 255
SIZE = (256, 384)  # character sheets: width, height


def _eye(draw: ImageDraw.ImageDraw, cx: int, cy: int, big: bool) -> None:
    w, h = (11, 14) if big else (9, 7)
    draw.ellipse((cx - w, cy - h, cx + w, cy + h), outline=INK, width=3, fill=PAPER)
    draw.ellipse((cx - 5, cy - 6, cx + 5, cy + 6), fill=INK)
    draw.ellipse((cx - 3, cy - 5, cx, cy - 2), fill=PAPER)  # highlight


def draw_hero() -> Image.Image:
    """Spiky black hair, determined eyebrows, high-collared school jacket with buttons, fists at his sides."""
    image = Image.new("L", SIZE, PAPER)
    d = ImageDraw.Draw(image)
    # face
    d.ellipse((78, 58, 178, 168), outline=INK, width=4, fill=PAPER)
    # spiky hair: a crown of triangles, filled black
    spikes = [(70, 110), (62, 60), (92, 78), (96, 28), (122, 64), (138, 18), (150, 62), (176, 34), (172, 80),
              (196, 70), (184, 112), (170, 90), (128, 78), (86, 92)]
    d.polygon(spikes, fill=INK)
    # eyebrows, eyes, mouth
    d.line((98, 100, 120, 106), fill=INK, width=4)
    d.line((136, 106, 158, 100), fill=INK, width=4)
    _eye(d, 110, 120, big=False)
    _eye(d, 146, 120, big=False)
    d.line((120, 150, 138, 148), fill=INK, width=3)
    # neck and jacket with a standing collar
    d.rectangle((118, 166, 138, 182), outline=INK, width=3, fill=PAPER)
    d.polygon([(70, 190), (186, 190), (200, 330), (56, 330)], outline=INK, width=4, fill=PAPER)
    d.polygon([(108, 180), (148, 180), (146, 196), (110, 196)], fill=INK)
    d.line((128, 196, 128, 330), fill=INK, width=3)
    for y in range(214, 320, 26):
        d.ellipse((132, y, 140, y + 8), fill=INK)
    # arms and fists
    d.line((70, 194, 44, 300), fill=INK, width=5)
    d.line((186, 194, 212, 300), fill=INK, width=5)
    d.ellipse((32, 296, 56, 320), outline=INK, width=4, fill=PAPER)
    d.ellipse((200, 296, 224, 320), outline=INK, width=4, fill=PAPER)
    # legs
    d.line((96, 330, 90, 378), fill=INK, width=6)
    d.line((160, 330, 166, 378), fill=INK, width=6)
    return image


def draw_rival() -> Image.Image:
    """Long straight hair, round glasses, a striped scarf and a long coat; one hand raised."""
    image = Image.new("L", SIZE, PAPER)
    d = ImageDraw.Draw(image)
    # long hair behind the face (hatched), then the face
    d.polygon([(68, 90), (94, 38), (162, 38), (188, 90), (196, 230), (60, 230)], fill=INK)
    for x in range(70, 190, 10):
        d.line((x, 150, x + 4, 228), fill=PAPER, width=1)
    d.ellipse((84, 62, 172, 168), outline=INK, width=4, fill=PAPER)
    # fringe
    d.polygon([(84, 104), (92, 56), (164, 56), (172, 104), (150, 80), (128, 96), (106, 80)], fill=INK)
    # glasses
    for cx in (110, 146):
        d.ellipse((cx - 15, 108, cx + 15, 136), outline=INK, width=3)
    d.line((125, 120, 131, 120), fill=INK, width=3)
    _eye(d, 110, 122, big=True)
    _eye(d, 146, 122, big=True)
    d.arc((116, 140, 140, 156), 20, 160, fill=INK, width=3)  # smile
    # scarf with stripes
    d.rectangle((92, 168, 164, 192), outline=INK, width=3, fill=PAPER)
    for x in range(100, 164, 14):
        d.line((x, 168, x, 192), fill=INK, width=4)
    d.polygon([(146, 190), (166, 190), (172, 250), (152, 250)], outline=INK, width=3, fill=PAPER)
    # long coat
    d.polygon([(80, 192), (176, 192), (204, 372), (52, 372)], outline=INK, width=4, fill=PAPER)
    d.line((128, 200, 128, 372), fill=INK, width=2)
    d.line((80, 262, 176, 262), fill=INK, width=3)  # belt
    # arms: one down, one raised in a wave
    d.line((80, 198, 58, 300), fill=INK, width=5)
    d.line((176, 198, 222, 130), fill=INK, width=5)
    d.ellipse((212, 110, 236, 134), outline=INK, width=4, fill=PAPER)
    return image


def draw_lineart(size: tuple[int, int] = (512, 384)) -> Image.Image:
    """A street corner: two buildings in one-point perspective, windows, a lamp post and the road's edges."""
    width, height = size
    image = Image.new("L", size, PAPER)
    d = ImageDraw.Draw(image)
    vx, vy = width // 2, int(height * 0.42)  # vanishing point
    horizon = vy
    d.line((0, horizon, width, horizon), fill=INK, width=2)
    # road edges and centre line towards the vanishing point
    d.line((40, height, vx - 8, vy), fill=INK, width=3)
    d.line((width - 40, height, vx + 8, vy), fill=INK, width=3)
    for t in (0.15, 0.35, 0.55, 0.75):
        y0 = vy + (height - vy) * t
        y1 = vy + (height - vy) * (t + 0.1)
        d.line((vx, y0, vx, y1), fill=INK, width=2)

    def building(x_near: int, x_far: int, top_near: int, top_far: int) -> None:
        bottom_near, bottom_far = height - 60, vy + 18
        d.polygon([(x_near, top_near), (x_far, top_far), (x_far, bottom_far), (x_near, bottom_near)],
                  outline=INK, width=3)
        for k in range(1, 5):  # floors: lines towards the vanishing point
            t = k / 5
            y_near = top_near + (bottom_near - top_near) * t
            y_far = top_far + (bottom_far - top_far) * t
            d.line((x_near, y_near, x_far, y_far), fill=INK, width=1)
        for k in range(4):  # windows along the facade
            t0, t1 = 0.08 + 0.22 * k, 0.08 + 0.22 * k + 0.1
            xa, xb = x_near + (x_far - x_near) * t0, x_near + (x_far - x_near) * t1
            ya_top = top_near + (top_far - top_near) * t0 + 30 * (1 - t0)
            yb_top = top_near + (top_far - top_near) * t1 + 30 * (1 - t1)
            ya_bot = ya_top + 60 * (1 - t0)
            yb_bot = yb_top + 60 * (1 - t1)
            d.polygon([(xa, ya_top), (xb, yb_top), (xb, yb_bot), (xa, ya_bot)], outline=INK, width=2)

    building(0, vx - 70, 10, vy - 90)
    building(width, vx + 70, 30, vy - 80)
    # lamp post on the right pavement
    d.line((width - 110, height - 40, width - 110, 150), fill=INK, width=4)
    d.arc((width - 140, 130, width - 80, 170), 180, 360, fill=INK, width=4)
    d.polygon([(width - 150, 160), (width - 130, 150), (width - 126, 170)], outline=INK, width=2)
    # clouds
    d.arc((150, 20, 230, 60), 180, 360, fill=INK, width=2)
    d.arc((200, 14, 290, 62), 180, 360, fill=INK, width=2)
    return image


def _backdrop(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    """A sky-to-floor backdrop in 8 flat bands (bands keep the PNG small) and a horizon line."""
    width, height = size
    image = Image.new("RGB", size, top)
    d = ImageDraw.Draw(image)
    bands = 8
    for k in range(bands):
        t = k / (bands - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        d.rectangle((0, k * height // bands, width, (k + 1) * height // bands), fill=colour)
    d.line((0, int(height * 0.72), width, int(height * 0.72)), fill=(120, 110, 100), width=2)
    return image


def _person(d: ImageDraw.ImageDraw, cx: int, top: int, scale: float, skin: tuple[int, int, int],
            hair: tuple[int, int, int], shirt: tuple[int, int, int], *, long_hair: bool, glasses: bool) -> None:
    """A simple figure: head with shaded face, hair, eyes, mouth, neck, shirt with a darker side, arms."""

    def s(v: float) -> int:
        return round(v * scale)

    shade = tuple(max(0, c - 40) for c in skin)
    dark_shirt = tuple(max(0, c - 50) for c in shirt)
    head = (cx - s(30), top, cx + s(30), top + s(76))
    if long_hair:
        d.rounded_rectangle((cx - s(38), top - s(6), cx + s(38), top + s(120)), radius=s(30), fill=hair)
    d.rectangle((cx - s(9), top + s(70), cx + s(9), top + s(88)), fill=shade)  # neck
    d.polygon([(cx - s(52), top + s(88)), (cx + s(52), top + s(88)), (cx + s(62), top + s(220)),
               (cx - s(62), top + s(220))], fill=shirt)
    d.polygon([(cx + s(8), top + s(88)), (cx + s(52), top + s(88)), (cx + s(62), top + s(220)),
               (cx + s(14), top + s(220))], fill=dark_shirt)
    d.line((cx - s(50), top + s(96), cx - s(66), top + s(200)), fill=shirt, width=max(2, s(16)))
    d.line((cx + s(50), top + s(96), cx + s(66), top + s(200)), fill=dark_shirt, width=max(2, s(16)))
    d.ellipse(head, fill=skin)
    d.chord((cx, top, cx + s(30), top + s(76)), 270, 90, fill=shade)  # the shaded half of the face
    d.pieslice((cx - s(32), top - s(8), cx + s(32), top + s(44)), 180, 360, fill=hair)  # hair on top
    for ex in (cx - s(12), cx + s(12)):
        d.ellipse((ex - s(4), top + s(34), ex + s(4), top + s(40)), fill=(30, 25, 20))
        if glasses:
            d.ellipse((ex - s(9), top + s(29), ex + s(9), top + s(45)), outline=(20, 20, 20), width=max(1, s(2)))
    d.arc((cx - s(10), top + s(48), cx + s(10), top + s(62)), 20, 160, fill=(120, 40, 40), width=max(1, s(3)))


def draw_photo() -> Image.Image:
    """One person from the waist up in front of a wall and a window: a colour stand-in for a selfie."""
    image = _backdrop(PHOTO_SIZE, (170, 196, 222), (214, 204, 186))
    d = ImageDraw.Draw(image)
    d.rectangle((150, 30, 226, 120), fill=(225, 236, 245), outline=(140, 130, 120), width=3)  # window
    d.line((188, 30, 188, 120), fill=(140, 130, 120), width=3)
    _person(d, 112, 70, 1.15, (224, 172, 132), (60, 40, 30), (70, 120, 170), long_hair=True, glasses=True)
    return image


def draw_group_photo() -> Image.Image:
    """Three people side by side at different distances (sizes) and with different skin tones."""
    image = _backdrop((320, 240), (180, 210, 200), (200, 190, 170))
    d = ImageDraw.Draw(image)
    _person(d, 58, 92, 0.62, (141, 85, 54), (20, 15, 10), (200, 90, 70), long_hair=False, glasses=False)
    _person(d, 262, 84, 0.7, (255, 219, 172), (150, 110, 60), (90, 150, 90), long_hair=True, glasses=False)
    _person(d, 160, 38, 0.95, (198, 134, 66), (35, 30, 30), (60, 70, 140), long_hair=False, glasses=True)
    return image


STYLE_TONE = tuple(f"diffsensei_example_style_tone_{i}.png" for i in (1, 2, 3))
STYLE_HATCH = tuple(f"diffsensei_example_style_hatch_{i}.png" for i in (1, 2))
STYLE_SIZE = 160


def draw_style(kind: str, index: int) -> Image.Image:
    """A small reference for the prompt-distribution workflow: a few shapes filled with screentone dots ("tone") or
    diagonal hatching ("hatch"), arranged differently per index, so a set shares a look but not a composition."""
    image = Image.new("L", (STYLE_SIZE, STYLE_SIZE), PAPER)
    d = ImageDraw.Draw(image)
    shapes = [(20 + 30 * index, 30, 90 + 30 * index, 100), (10, 95 - 10 * index, 70, 150), (95, 110, 150, 150)]
    for n, (x0, y0, x1, y1) in enumerate(shapes):
        x0, x1 = sorted((x0 % STYLE_SIZE, min(x1, STYLE_SIZE - 4)))
        mask = Image.new("L", image.size, 0)
        (ImageDraw.Draw(mask).ellipse if n % 2 == 0 else ImageDraw.Draw(mask).rectangle)((x0, y0, x1, y1), fill=255)
        fill = Image.new("L", image.size, PAPER)
        fd = ImageDraw.Draw(fill)
        if kind == "tone":
            for y in range(0, STYLE_SIZE, 6):
                for x in range(3 * ((y // 6) % 2), STYLE_SIZE, 6):
                    fd.ellipse((x, y, x + 2, y + 2), fill=INK)
        else:
            for c in range(-STYLE_SIZE, STYLE_SIZE, 5 + n):
                fd.line((c, 0, c + STYLE_SIZE, STYLE_SIZE), fill=INK, width=1)
        image.paste(fill, (0, 0), mask)
        (d.ellipse if n % 2 == 0 else d.rectangle)((x0, y0, x1, y1), outline=INK, width=2)
    d.line((0, 18 + 8 * index, STYLE_SIZE, 10 + 4 * index), fill=INK, width=2)  # a horizon-like stroke
    return image


def write_assets(out: Path = DEFAULT_OUT) -> list[Path]:
    """Draw every asset into ``out`` (created) and return the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in ((HERO, draw_hero), (RIVAL, draw_rival), (LINEART, draw_lineart), (PHOTO, draw_photo),
                       (GROUP_PHOTO, draw_group_photo),
                       *((name, functools.partial(draw_style, "tone", i)) for i, name in enumerate(STYLE_TONE)),
                       *((name, functools.partial(draw_style, "hatch", i)) for i, name in enumerate(STYLE_HATCH))):
        path = out / name
        draw().save(path, optimize=True)
        log.info("wrote %s (%d bytes)", path, path.stat().st_size)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the example workflows' input images (CC0, made here).")
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help=f"folder (default {DEFAULT_OUT})")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = write_assets(ns.out)
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
