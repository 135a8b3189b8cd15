"""Export pages: PNG files, a CBZ archive (zero-padded PNGs + ComicInfo.xml) and a PDF, one page per image."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ..errors import DiffSenseiError

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')  # path separators, reserved and control characters


def safe_name(name: str, fallback: str = "page") -> str:
    """A file-name stem without path separators, control or reserved characters, and no leading dots."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    return cleaned[:120] or fallback


def page_names(count: int, stem: str = "page") -> list[str]:
    """``stem_001.png`` … zero-padded to at least 3 digits, so any reader sorts them in order."""
    digits = max(3, len(str(count)))
    return [f"{safe_name(stem)}_{k:0{digits}d}.png" for k in range(1, count + 1)]


def comic_info(pages: Sequence[Image.Image], direction: str, title: str = "") -> str:
    """ComicInfo.xml (the CBZ metadata most readers use); ``rtl`` marks the book Manga=YesAndRightToLeft."""
    manga = "YesAndRightToLeft" if direction == "rtl" else "No"
    page_rows = "".join(
        f'    <Page Image="{k}" ImageWidth="{p.width}" ImageHeight="{p.height}"/>\n' for k, p in enumerate(pages)
    )
    title_row = f"  <Title>{escape(title)}</Title>\n" if title else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ComicInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{title_row}"
        f"  <PageCount>{len(pages)}</PageCount>\n"
        f"  <Manga>{manga}</Manga>\n"
        "  <BlackAndWhite>Unknown</BlackAndWhite>\n"
        f"  <Pages>\n{page_rows}  </Pages>\n"
        "</ComicInfo>\n"
    )


def _check(pages: Sequence[Image.Image]) -> None:
    if not pages:
        raise DiffSenseiError("there are no pages to export; connect at least one page image.")


def write_pngs(pages: Sequence[Image.Image], folder: Path, stem: str, dpi: int,
               text: Mapping[str, str] | None = None) -> list[Path]:
    """One PNG per page; ``text``: tEXt chunks written into every file (e.g. ComfyUI's "prompt" and "workflow"
    JSON, so dropping a page onto ComfyUI loads the workflow that made it)."""
    _check(pages)
    folder.mkdir(parents=True, exist_ok=True)
    info = None
    if text:
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    paths = []
    for page, name in zip(pages, page_names(len(pages), stem), strict=True):
        path = folder / name
        page.save(path, format="PNG", dpi=(dpi, dpi), compress_level=4, pnginfo=info)
        paths.append(path)
    return paths


def write_cbz(pages: Sequence[Image.Image], path: Path, *, direction: str, title: str = "", dpi: int = 300) -> Path:
    """A CBZ: the pages as ``001.png`` … in reading order and ComicInfo.xml. Entries are stored (PNG is
    compressed already) with a fixed date, so the same pages give the same bytes."""
    _check(pages)
    path.parent.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(len(pages))))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for k, page in enumerate(pages, start=1):
            buffer = io.BytesIO()
            page.save(buffer, format="PNG", dpi=(dpi, dpi), compress_level=4)
            archive.writestr(zipfile.ZipInfo(f"{k:0{digits}d}.png", date_time=(2024, 1, 1, 0, 0, 0)),
                             buffer.getvalue())
        archive.writestr(zipfile.ZipInfo("ComicInfo.xml", date_time=(2024, 1, 1, 0, 0, 0)),
                         comic_info(pages, direction, title))
    return path


def write_pdf(pages: Sequence[Image.Image], path: Path, *, dpi: int, title: str = "") -> Path:
    """A PDF with one page per image, sized from the image at ``dpi``."""
    _check(pages)
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = [p.convert("RGB") for p in pages]
    rgb[0].save(path, format="PDF", save_all=True, append_images=rgb[1:], resolution=float(dpi),
                title=title or path.stem)
    return path
