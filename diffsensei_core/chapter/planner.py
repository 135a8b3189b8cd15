"""The planner: a chapter script → pages of panels with casts, character boxes, dialog boxes, texts, prompts, seeds.

Deterministic and model-free. Per page: the arrangement (``arrangement.py``) on the paper at the dpi; per panel:
its cast (``casting.py``), the character boxes for its shot (``staging.py``), a dialog box per line sized and placed
with the lettering fitter (``placement.py``), its prompt, bubble texts and seed (``prompts.py``). A panel's plan
depends only on its own lines, its place on the page and the chapter's settings, so editing one line re-plans one
panel.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..lettering.text import Typesetter
from ..page.presets import mm_to_px, page_size_px
from .arrangement import Slot, arrange_page
from .casting import panel_cast
from .checks import locate
from .diagnostics import script_error
from .placement import Fitter, Request, Space, place_bubbles
from .planned import DIGITS, ChapterPlan, PlannedPage, PlannedPanel
from .prompts import bubble_shape, bubble_text, panel_prompt, panel_seed
from .script import Chapter, Narration, Page, Panel
from .script_json import panel_to_dict
from .staging import character_boxes, default_shot, head_region

POINTS_PER_INCH = 72
DEFAULT_MARGIN_MM = 8.0
DEFAULT_GUTTER_MM = 3.0
DEFAULT_BORDER_MM = 0.5
DEFAULT_OUTLINE = 3.0
"""Letter bubbles' default outline width (px): bubbles are fitted for it."""


def points_to_px(points: float, dpi: int) -> int:
    return max(1, round(points * dpi / POINTS_PER_INCH))


def plan_chapter(chapter: Chapter, *, dpi: int, typesetter: Typesetter, outline: float = DEFAULT_OUTLINE,
                 margin_mm: float = DEFAULT_MARGIN_MM, gutter_mm: float = DEFAULT_GUTTER_MM,
                 border_mm: float = DEFAULT_BORDER_MM, source: Sequence[str] | None = None) -> ChapterPlan:
    """Plan every page. ``typesetter``: the fonts Letter bubbles will use (``lettering.fonts.FontChain``);
    ``source``: the script's lines, for excerpts in error messages. Raises ScriptError naming a line that finds no
    room in its panel."""
    width, height = page_size_px(chapter.paper, dpi)
    border = 0 if border_mm <= 0 else max(1, mm_to_px(border_mm, dpi))
    geometry = {"width": width, "height": height, "margin": mm_to_px(margin_mm, dpi),
                "gutter": mm_to_px(gutter_mm, dpi), "direction": chapter.direction}
    fitter = Fitter(typesetter, outline=outline, writing=chapter.writing)
    sizes = (points_to_px(chapter.font_size, dpi), points_to_px(chapter.min_font_size, dpi))
    pages = []
    for number, page in enumerate(chapter.pages, start=1):
        slots = arrange_page([p.size for p in page.panels], **geometry)
        panels = [_plan_panel(chapter, page, number, k, slots, border, fitter, sizes, source)
                  for k in range(len(page.panels))]
        pages.append(PlannedPage(number, width, height, dpi, chapter.direction, geometry["margin"],
                                 geometry["gutter"], border, tuple(panels)))
    characters = tuple({"name": c.name, "references": list(c.references), "looks": c.looks}
                       for c in chapter.characters)
    return ChapterPlan(chapter.title, chapter.negative, dpi, chapter.direction, chapter.writing, sizes[0], sizes[1],
                       outline, characters, tuple(pages))


def _plan_panel(chapter: Chapter, page: Page, page_number: int, k: int, slots: list[Slot], border: int,
                fitter: Fitter, sizes: tuple[int, int], source) -> PlannedPanel:
    panel, slot = page.panels[k], slots[k]
    x1, y1, x2, y2 = slot.rect
    pw, ph = x2 - x1, y2 - y1
    cast = panel_cast(chapter, panel)
    shot = panel.shot or default_shot(len(cast))
    insets = tuple((s.rect[0] - x1, s.rect[1] - y1, s.rect[2] - x1, s.rect[3] - y1)
                   for s in slots if s.parent == k)
    span = _free_span(insets, pw, chapter.direction)
    boxes = [_rounded(b) for b in character_boxes(len(cast), shot, pw / ph, chapter.direction, span)]
    heads = tuple(_to_px(head_region(b, shot), pw, ph) for b in boxes)
    space = Space(pw, ph, chapter.direction, border, heads, insets)
    path = f"pages[{page_number - 1}].panels[{k}]"
    requests = [_request(chapter, panel, line, cast, boxes, heads, locate(line, f"{path}.lines[{n}]", source))
                for n, line in enumerate(panel.lines)]
    for request in requests:
        _check_glyphs(fitter.typesetter, request)
    placed = place_bubbles(space, requests, fitter, font_size=sizes[0], min_font_size=sizes[1])
    dialogs = []
    for request, spot in zip(requests, placed, strict=True):
        dialog = _rounded((spot.box[0] / pw, spot.box[1] / ph, spot.box[2] / pw, spot.box[3] / ph))
        exact = (x1 + dialog[0] * pw, y1 + dialog[1] * ph, x1 + dialog[2] * pw, y1 + dialog[3] * ph)
        if not any(fitter.fits(request.text, request.shape, exact, s) for s in range(spot.size, sizes[1] - 1, -1)):
            raise script_error(request.where, "the line's bubble lost its fit when rounded to the page",
                               expected="a fit at the minimum font size", fix="Please report this with the script.")
        dialogs.append(dialog)
    return PlannedPanel(
        page=page_number, number=k + 1, rect=slot.rect, characters=tuple(boxes), dialogs=tuple(dialogs),
        cast=cast, prompt=panel_prompt(chapter, panel, cast),
        seed=panel.seed if panel.seed is not None else panel_seed(chapter.seed, page_number, k + 1),
        caption=panel.caption, shot=shot, texts=tuple(bubble_text(chapter, line, cast) for line in panel.lines),
        source=panel_to_dict(panel), parent=slot.parent)


def _request(chapter: Chapter, panel: Panel, line, cast, boxes, heads, where) -> Request:
    if isinstance(line, Narration):
        return Request(line.text, bubble_shape(line), "narration", None, where)
    number = chapter.character_number(line.speaker)
    if line.off or number not in cast:
        return Request(line.text, bubble_shape(line), "off", None, where)
    return Request(line.text, bubble_shape(line), "speech", heads[cast.index(number)], where)


def _check_glyphs(typesetter: Typesetter, request: Request) -> None:
    """A line with characters no font can draw is an error before anything is placed (needs a FontChain)."""
    missing = typesetter.missing(request.text) if hasattr(typesetter, "missing") else ""
    if missing:
        raise script_error(request.where, f"no installed font has glyphs for {', '.join(repr(c) for c in missing)}",
                           expected="a font that can draw every character of the text",
                           fix="Install one (for Japanese: `apt install fonts-noto-cjk`, or a .ttf/.otf in "
                               "ComfyUI/models/fonts) and choose it.")


def _free_span(insets, pw: float, direction: str) -> tuple[float, float]:
    """The horizontal part of a panel (relative) that its insets (at the side where reading ends) leave free."""
    if not insets:
        return (0.0, 1.0)
    if direction == "rtl":
        return (max(r[2] for r in insets) / pw, 1.0)
    return (0.0, min(r[0] for r in insets) / pw)


def _rounded(box) -> tuple[float, float, float, float]:
    return tuple(round(c, DIGITS) for c in box)


def _to_px(box, pw: float, ph: float) -> tuple[float, float, float, float]:
    return (box[0] * pw, box[1] * ph, box[2] * pw, box[3] * ph)
