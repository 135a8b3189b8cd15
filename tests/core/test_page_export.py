"""Export: PNG pages, a CBZ (zero-padded PNGs in order + ComicInfo.xml) and a PDF with one page per image."""

from __future__ import annotations

import re
import zipfile
from xml.etree import ElementTree

import pytest
from PIL import Image

from diffsensei_core.errors import DiffSenseiError
from diffsensei_core.page.export import comic_info, page_names, safe_name, write_cbz, write_pdf, write_pngs


def pages(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (60 + 10 * k, 90), (20 * k, 0, 0)) for k in range(n)]


def test_safe_names():
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("..") == "page" and safe_name("  ") == "page"
    assert safe_name('a<b>c:d"e|f?g*h') == "a_b_c_d_e_f_g_h"
    assert safe_name("第1話 %year%") == "第1話 %year%"
    assert page_names(3, "ch") == ["ch_001.png", "ch_002.png", "ch_003.png"]
    assert page_names(1200)[0] == "page_0001.png"


def test_pngs_keep_order_size_and_dpi(tmp_path):
    paths = write_pngs(pages(3), tmp_path / "out", "chapter", 300)
    assert [p.name for p in paths] == ["chapter_001.png", "chapter_002.png", "chapter_003.png"]
    for k, path in enumerate(paths):
        with Image.open(path) as image:
            assert image.size == (60 + 10 * k, 90) and image.getpixel((0, 0)) == (20 * k, 0, 0)
            assert round(image.info["dpi"][0]) == 300


def test_pngs_carry_text_chunks_when_given(tmp_path):
    text = {"prompt": '{"1": {"class_type": "X"}}', "workflow": '{"nodes": ["日本"]}'}
    for path in write_pngs(pages(2), tmp_path, "meta", 72, text):
        with Image.open(path) as image:
            assert image.text == text
    (plain,) = write_pngs(pages(1), tmp_path, "plain", 72)
    with Image.open(plain) as image:
        assert image.text == {}


@pytest.mark.parametrize(("direction", "manga"), [("rtl", "YesAndRightToLeft"), ("ltr", "No")])
def test_cbz_is_a_zip_of_padded_pngs_with_comicinfo(tmp_path, direction, manga):
    path = write_cbz(pages(3), tmp_path / "book.cbz", direction=direction, title="Ch <1>")
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == ["001.png", "002.png", "003.png", "ComicInfo.xml"]
        info = ElementTree.fromstring(archive.read("ComicInfo.xml"))
        for k, name in enumerate(names[:3]):
            with Image.open(archive.open(name)) as image:
                assert image.getpixel((0, 0)) == (20 * k, 0, 0)
    assert info.findtext("Manga") == manga and info.findtext("PageCount") == "3"
    assert info.findtext("Title") == "Ch <1>"
    assert [p.get("ImageWidth") for p in info.find("Pages")] == ["60", "70", "80"]
    again = write_cbz(pages(3), tmp_path / "again.cbz", direction=direction, title="Ch <1>")
    assert again.read_bytes() == path.read_bytes(), "the same pages give the same archive"


def test_pdf_has_one_page_per_image_at_the_dpi(tmp_path):
    path = write_pdf(pages(4), tmp_path / "book.pdf", dpi=150)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 4
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)", data)
    assert (float(boxes[0][0]), float(boxes[0][1])) == pytest.approx((60 * 72 / 150, 90 * 72 / 150), abs=0.01)


def test_comic_info_escapes_and_nothing_to_export(tmp_path):
    assert "&lt;b&gt;" in comic_info(pages(1), "rtl", "<b>")
    for write in (lambda: write_pngs([], tmp_path, "x", 72), lambda: write_cbz([], tmp_path / "x.cbz", direction="rtl"),
                  lambda: write_pdf([], tmp_path / "x.pdf", dpi=72)):
        with pytest.raises(DiffSenseiError, match="no pages"):
            write()
