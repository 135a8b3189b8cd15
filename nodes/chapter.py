"""Chapters: Chapter script (a writer's script → a planned chapter, its reference images and lettering settings) and
Chapter → panel layouts (per panel, as lists: layout, latent, prompt, characters, seed; per page: page and texts),
so that one queue renders, composes, letters and exports a whole chapter."""

from __future__ import annotations

import hashlib
import logging

import comfy.model_management as mm
import torch
from comfy_api.v0_0_2 import io, ui
from comfy_execution.graph_utils import ExecutionBlocker

from ..diffsensei_core.chapter.planned import ChapterPlan, PlannedPanel
from ..diffsensei_core.chapter.planner import plan_chapter
from ..diffsensei_core.errors import DiffSenseiError, LayoutError
from ..diffsensei_core.lettering.fonts import DEFAULT, FontChain
from ..diffsensei_core.model.panel_layout import MAX_PANEL_SIZE, MIN_PANEL_SIZE, PANEL_SIZE_STEP
from ..diffsensei_core.page.cast import cast_indices
from ..diffsensei_core.page.page_layout import GENERATION_SCALE
from .host.chapter_inputs import NO_FILE, load_reference, read_chapter, reference_fingerprint, script_files, script_text
from .host.fonts import font_choices, font_faces
from .host.sockets import Chapter, Characters, EncodedCharacters, Layout, Page

log = logging.getLogger("diffsensei")
CATEGORY = "DiffSensei/chapter"
SCRIPT = "DiffSensei: Chapter script"
PANELS = "DiffSensei: Chapter → panel layouts"
EXAMPLE = """Title: A short example
Style: monochrome manga, screentone shading, clean line art

Character Ren: diffsensei_example_hero.png
  Looks: a boy with spiky black hair and a school jacket
Character Mio: diffsensei_example_rival.png
  Looks: a girl with long hair and round glasses

Page
Panel (establishing, wide)
  A school gate at dawn, cherry blossoms falling.
  Narration: The first day of spring term.
Panel (medium)
  Ren runs through the gate while Mio waits.
  Ren (shout): I'm not late!
  Mio: You are. Again.
"""


class DiffSenseiChapterScript(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiChapterScript",
            display_name=SCRIPT,
            category=CATEGORY,
            description=(
                "Reads a chapter script (characters with reference images, pages, panels with captions, dialogue and "
                "narration; grammar in docs/chapter.md) and plans it: per page the panel arrangement, per panel its "
                "cast, character boxes, dialog boxes sized so each line fits, prompt and seed. Connect 'references' "
                "to Encode Characters and the chapter to Chapter → panel layouts."
            ),
            inputs=[
                io.String.Input("script", multiline=True, default=EXAMPLE,
                                tooltip="The chapter script, its JSON form, or a plan from the 'plan' output (used "
                                        "as it is, e.g. after editing a page). Used when script_file is (none)."),
                io.Combo.Input("script_file", options=[NO_FILE, *script_files()], default=NO_FILE,
                               tooltip="A .txt (script) or .json (chapter JSON) file in ComfyUI's input folder; it "
                                       "replaces the text above. (none): use the text."),
                io.Int.Input("dpi", default=300, min=10, max=1200,
                             tooltip="Page resolution: page pixels = millimetres × dpi / 25.4; font sizes in points "
                                     "scale with it."),
                io.Combo.Input("font", options=font_choices(), default=DEFAULT,
                               tooltip="The font the bubbles are sized for; choose the same font on Letter bubbles."),
            ],
            outputs=[
                Chapter.Output("chapter", display_name="chapter",
                               tooltip="The planned chapter, for Chapter → panel layouts."),
                io.Image.Output("references", display_name="references", is_output_list=True,
                                tooltip="Every character's reference images, in the script's order (a list): "
                                        "connect to Encode Characters' character_1, which encodes each once."),
                io.String.Output("title", display_name="title", tooltip="The chapter's title (for Export pages)."),
                io.String.Output("negative", display_name="negative", tooltip="The chapter's negative prompt."),
                io.Int.Output("font_size", display_name="font_size",
                              tooltip="The bubbles' font size in pixels at the dpi (for Letter bubbles' font_size)."),
                io.Int.Output("min_font_size", display_name="min_font_size",
                              tooltip="The smallest font size in pixels every line fits at (for Letter bubbles' "
                                      "min_font_size)."),
                io.String.Output("plan", display_name="plan",
                                 tooltip="The whole plan as JSON: per page the page JSON (paste one into a Page layout "
                                         "node to edit it on the page canvas) and the texts."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, script: str, script_file: str, dpi: int, font: str):
        """Re-run when the script file or a reference image changes on disk, not only when the inputs do."""
        text = script_text(script, script_file, missing_ok=True)
        return hashlib.sha256(f"{dpi}|{font}|{text}|{reference_fingerprint(text)}".encode()).hexdigest()

    @classmethod
    def execute(cls, script: str, script_file: str, dpi: int, font: str) -> io.NodeOutput:
        text = script_text(script, script_file)
        plan = read_chapter(text, script_file)
        if not isinstance(plan, ChapterPlan):
            try:
                chain = FontChain.choose(font, font_faces())
                plan = plan_chapter(plan, dpi=dpi, typesetter=chain, source=text.splitlines())
            except DiffSenseiError as err:
                raise type(err)(f"{SCRIPT}, input 'script': {err}") from None
        references = [load_reference(name, character["name"]) for character in plan.characters
                      for name in character["references"]]
        summary = (f"{len(plan.pages)} page(s), {len(plan.panels)} panel(s); characters: "
                   + (", ".join(f"{c['name']} ({len(c['references'])} image(s))" for c in plan.characters) or "none")
                   + f"; bubbles at {plan.font_size} px (at least {plan.min_font_size} px)")
        log.info("%s: %s", SCRIPT, summary)
        return io.NodeOutput(plan, references, plan.title, plan.negative, plan.font_size, plan.min_font_size,
                             plan.to_json(), ui=ui.PreviewText(summary))


class DiffSenseiChapterPanels(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiChapterPanels",
            display_name=PANELS,
            category=CATEGORY,
            description=(
                "Per panel of the chapter (or of one page, or one panel), as lists: its layout and an empty latent "
                "at its own shape, its prompt, its characters (the script's characters from Encode Characters, "
                "averaged over each one's reference images, cut to the panel's cast) and its seed; per page: the "
                "page (for Compose page and Letter bubbles) and its bubble texts. Apply, KSampler and VAE Decode "
                "then run once per panel."
            ),
            is_input_list=True,
            inputs=[
                Chapter.Input("chapter", tooltip="The planned chapter from DiffSensei: Chapter script."),
                io.Int.Input("scale", default=GENERATION_SCALE, min=MIN_PANEL_SIZE, max=MAX_PANEL_SIZE,
                             step=PANEL_SIZE_STEP, tooltip="Generation size: each panel gets about scale × scale "
                                                           "pixels at its own aspect ratio."),
                io.Int.Input("page", default=0, min=0, max=10_000,
                             tooltip="0: every page; k: only page k (e.g. to redo one page)."),
                io.Int.Input("panel", default=0, min=0, max=64,
                             tooltip="0: every panel of the chosen pages; k: only panel k of page 'page' (reading "
                                     "order). Compose page needs every panel of its pages."),
                io.Int.Input("batch_size", default=1, min=1, max=64, tooltip="Latents per panel."),
                Characters.Input("characters", optional=True,
                                 tooltip="Encode Characters fed with Chapter script's references (one encoding per "
                                         "reference image, in order)."),
            ],
            outputs=[
                Layout.Output("layout", display_name="layout", is_output_list=True,
                              tooltip="Per panel: its layout (a list)."),
                io.Latent.Output("latent", display_name="latent", is_output_list=True,
                                 tooltip="Per panel: an empty latent (a list)."),
                io.String.Output("prompt", display_name="prompt", is_output_list=True,
                                 tooltip="Per panel: caption, looks and style."),
                Characters.Output("panel_characters", display_name="characters", is_output_list=True,
                                  tooltip="Per panel: its cast's characters in box order (a list), for Apply or "
                                          "MLLM Adapt Characters."),
                io.Int.Output("seed", display_name="seed", is_output_list=True,
                              tooltip="Per panel: its seed (for KSampler's seed)."),
                Page.Output("pages", display_name="pages", is_output_list=True,
                            tooltip="Per page: the page (for Compose page, Letter bubbles, Export pages)."),
                io.String.Output("texts", display_name="texts", is_output_list=True,
                                 tooltip="Per page: the bubble texts (for Letter bubbles' texts)."),
                io.Int.Output("count", display_name="count", tooltip="How many panels are in the lists."),
            ],
        )

    @classmethod
    def execute(cls, chapter: list, scale: list, page: list, panel: list, batch_size: list,
                characters: list | None = None) -> io.NodeOutput:
        plan: ChapterPlan = chapter[0]
        pages, panels = select(plan, page[0], panel[0])
        layouts = {p.number: p.layout() for p in pages}
        panel_layouts = [layouts[p.page].panels[p.number - 1].panel_layout(scale[0]) for p in panels]
        latents = [{"samples": torch.zeros(batch_size[0], 4, *layout.latent_size, device=mm.intermediate_device())}
                   for layout in panel_layouts]
        casts = panel_casts(plan, panels, characters)
        for p, layout in zip(panels, panel_layouts, strict=True):
            log.info("page %d panel %d: %s, cast %s, seed %d, generated at %d×%d", p.page, p.number, p.shot,
                     list(p.cast) or "none", p.seed, layout.width, layout.height)
        return io.NodeOutput(panel_layouts, latents, [p.prompt for p in panels], casts, [p.seed for p in panels],
                             [layouts[p.number] for p in pages], [p.texts for p in pages], len(panels))


def select(plan: ChapterPlan, page: int, panel: int) -> tuple[list, list[PlannedPanel]]:
    """The chosen pages and panels (0 = all)."""
    if page > len(plan.pages) or (panel and not page):
        raise LayoutError(
            f"{PANELS}, inputs 'page'/'panel': expected page 0 (all) or 1..{len(plan.pages)}, and a panel only with a "
            f"page; got page {page}, panel {panel}. Set page to the panel's page, or panel to 0."
        )
    pages = list(plan.pages) if page == 0 else [plan.pages[page - 1]]
    panels = [p for chosen in pages for p in chosen.panels]
    if panel:
        if panel > len(panels):
            raise LayoutError(f"{PANELS}, input 'panel': page {page} has {len(panels)} panels; got panel {panel}. "
                              "Pick one of them, or 0 for all.")
        panels = [panels[panel - 1]]
    return pages, panels


def panel_casts(plan: ChapterPlan, panels: list[PlannedPanel], characters: list | None) -> list | ExecutionBlocker:
    """Each panel's characters: the script's characters (mean over their reference images) cut to its cast."""
    if not characters:
        return ExecutionBlocker(f"{PANELS}, output 'characters': connect Encode Characters (fed with Chapter "
                                "script's references) to the 'characters' input.")
    whole = chapter_characters(plan, characters)
    out = []
    for p in panels:
        try:
            indices = cast_indices(p.cast, len(p.characters), whole.count, f"page {p.page}, panel {p.number}")
        except LayoutError as err:
            raise LayoutError(f"{PANELS}, input 'characters': {err}") from None
        out.append(whole.select(indices))
    return out


def chapter_characters(plan: ChapterPlan, encoded: list[EncodedCharacters]) -> EncodedCharacters:
    """One character per script character: CLIP (n, s, c) and Magi (n, c) averaged over its reference images."""
    counts = [len(c["references"]) for c in plan.characters]
    if any(e.adapted_tokens is not None for e in encoded):
        raise DiffSenseiError(f"{PANELS}, input 'characters': these characters carry MLLM-adapted tokens; expected "
                             "Encode Characters' output. Put MLLM Adapt Characters after this node, per panel.")
    clip = torch.cat([e.clip for e in encoded])
    magi = torch.cat([e.magi.to(clip.device) for e in encoded])
    if clip.shape[0] != sum(counts):
        names = ", ".join(f"{c['name']} ×{len(c['references'])}" for c in plan.characters)
        raise DiffSenseiError(
            f"{PANELS}, input 'characters': expected {sum(counts)} encoded reference images (the script's, in "
            f"order: {names or 'none'}); got {clip.shape[0]}. Connect Chapter script's 'references' to Encode "
            "Characters' character_1 (nothing else) and its output here."
        )
    if not counts:
        return EncodedCharacters(clip=clip[:0], magi=magi[:0])
    return EncodedCharacters(clip=torch.stack([group.mean(0) for group in clip.split(counts)]),
                             magi=torch.stack([group.mean(0) for group in magi.split(counts)]))


NODES = [DiffSenseiChapterScript, DiffSenseiChapterPanels]
