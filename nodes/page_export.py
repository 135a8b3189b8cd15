"""Export pages: a batch (or list) of page IMAGEs → PNG files, a CBZ and/or a PDF in ComfyUI's output folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import folder_paths
from comfy.cli_args import args
from comfy_api.v0_0_2 import io, ui

from ..diffsensei_core.errors import DiffSenseiError
from ..diffsensei_core.page.compose import to_pil
from ..diffsensei_core.page.export import safe_name, write_cbz, write_pdf, write_pngs
from ..diffsensei_core.page.page_layout import DIRECTIONS, PageLayout
from .host.sockets import Page

log = logging.getLogger("diffsensei")
NAME = "DiffSensei: Export pages"


def split_prefix(prefix: str) -> str:
    """The filename prefix with every folder part made safe ('..' and reserved characters removed)."""
    parts = [p for p in prefix.replace("\\", "/").split("/") if p.strip(" .")]
    return "/".join(safe_name(p) for p in parts) or "DiffSensei/page"


class DiffSenseiExportPages(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DiffSenseiExportPages",
            display_name=NAME,
            category="DiffSensei/page",
            description=(
                "Saves pages in ComfyUI's output folder: one PNG per page, and/or a CBZ comic archive (pages in "
                "reading order + ComicInfo.xml, marked right-to-left for manga) and/or a PDF with one page per image "
                "at the page's dpi. Connect a list or batch of composed pages to export a chapter. The PNGs carry the "
                "workflow, as Save Image's do (unless ComfyUI runs with --disable-metadata)."
            ),
            is_input_list=True,
            is_output_node=True,
            inputs=[
                io.Image.Input("pages", tooltip="The pages in order: a batch, or a list of pages of any sizes."),
                io.String.Input("filename_prefix", default="DiffSensei/chapter",
                                tooltip="Name (and subfolders) under the output folder; a counter is added."),
                io.Boolean.Input("png", default=True, tooltip="Write one PNG per page."),
                io.Boolean.Input("cbz", default=True, tooltip="Write a .cbz comic archive of all pages."),
                io.Boolean.Input("pdf", default=True, tooltip="Write a .pdf with one page per image."),
                io.Int.Input("dpi", default=300, min=10, max=1200,
                             tooltip="Print resolution stored in the PNGs and used for the PDF page size; a "
                                     "connected page's own dpi wins."),
                io.Combo.Input("direction", options=list(DIRECTIONS), default="rtl",
                               tooltip="Reading direction written into the CBZ (rtl = manga); a connected page's "
                                       "own direction wins."),
                Page.Input("page", optional=True,
                           tooltip="Optional: the page layout, to take its dpi and reading direction."),
            ],
            outputs=[],
        )

    @classmethod
    def execute(cls, pages: list, filename_prefix: list, png: list, cbz: list, pdf: list, dpi: list,
                direction: list, page: list | None = None) -> io.NodeOutput:
        layout: PageLayout | None = page[0] if page else None
        dots = layout.dpi if layout is not None else dpi[0]
        reading = layout.direction if layout is not None else direction[0]
        if not (png[0] or cbz[0] or pdf[0]):
            raise DiffSenseiError(f"{NAME}, inputs 'png', 'cbz', 'pdf': all are off, so nothing would be saved; "
                                  "turn at least one on.")
        frames = [frame for batch in pages for frame in batch]
        if not frames:
            raise DiffSenseiError(f"{NAME}, input 'pages': no page images arrived; connect Compose page.")
        progress = comfy.utils.ProgressBar(len(frames))
        images = []
        for frame in frames:
            mm.throw_exception_if_processing_interrupted()
            images.append(to_pil(frame))
            progress.update(1)

        output_dir = folder_paths.get_output_directory()
        prefix = split_prefix(filename_prefix[0])
        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            prefix, output_dir, images[0].width, images[0].height)
        stem = f"{filename}_{counter:05}"
        folder = Path(folder)
        results, written = [], []
        if png[0]:
            for path in write_pngs(images, folder, stem, dots, png_metadata(cls.hidden)):
                results.append(ui.SavedResult(path.name, subfolder, io.FolderType.output))
                written.append(path)
        if cbz[0]:
            written.append(write_cbz(images, folder / f"{stem}_.cbz", direction=reading, title=filename, dpi=dots))
        if pdf[0]:
            written.append(write_pdf(images, folder / f"{stem}_.pdf", dpi=dots, title=filename))
        for path in written:
            log.info("%s: wrote %s", NAME, path)
        return io.NodeOutput(ui=ui.SavedImages(results) if results else None)


def png_metadata(hidden) -> dict[str, str]:
    """The PNG text chunks Save Image writes: "prompt" (the API prompt) and each extra_pnginfo entry ("workflow",
    the editor graph), as JSON; none with --disable-metadata."""
    if args.disable_metadata or hidden is None:
        return {}
    text = {}
    if hidden.prompt is not None:
        text["prompt"] = json.dumps(hidden.prompt)
    for key, value in (hidden.extra_pnginfo or {}).items():
        text[key] = json.dumps(value)
    return text


NODES = [DiffSenseiExportPages]
