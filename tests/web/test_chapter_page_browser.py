"""A page planned from the example chapter script opens on the page canvas (``chapter_page_browser.mjs``): the canvas
reads its panels in the planned order with their casts, the API prompt sends it unchanged, and the backend runs it.
The screenshot (``chapter_page.png``, copied out with ``$DIFFSENSEI_WEB_ARTIFACTS``) is the one in the README's
Chapters section (``docs/images/chapter_page.png``).

Needs what the other browser tests need (probed in ``browser_harness.py``); skipped with one line otherwise.
"""

from __future__ import annotations

import json

import pytest
from browser_harness import REPO, SKIP_REASON, page_panel_latents, run_check, serve

if SKIP_REASON:
    pytest.skip(f"browser tests skipped: {SKIP_REASON}", allow_module_level=True)


def planned_page(number: int) -> dict:
    """Page ``number`` of the example chapter, planned at 300 dpi with Pillow's bundled font (pure core)."""
    import sys

    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    from diffsensei_core.chapter.grammar import parse_script
    from diffsensei_core.chapter.planner import plan_chapter
    from diffsensei_core.lettering.fonts import FontChain, pillow_face

    text = (REPO / "workflows" / "chapters" / "the_late_bell.txt").read_text(encoding="utf-8")
    plan = plan_chapter(parse_script(text), dpi=300, typesetter=FontChain([pillow_face()]))
    return plan.pages[number - 1].page_dict()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("web_chapter_server")
    (base / "input").mkdir()
    with serve(base) as running:
        yield running


def test_a_planned_page_on_the_page_canvas(server, tmp_path):
    page = planned_page(2)
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    out = tmp_path / "browser"
    passed, result, report = run_check("chapter_page_browser.mjs", server, out, "--page", str(path), timeout=300)
    assert passed, report
    assert (out / "chapter_page.png").stat().st_size > 10_000
    assert json.loads(result["page"]) == page

    assert page_panel_latents(server, result["page"], preset=page["preset"], page_size="B5 manga (182×257 mm)",
                              dpi=300, scale=128, folder="chapter_web") == len(page["panels"])
