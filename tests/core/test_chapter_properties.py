"""Properties of the chapter planner on random scripts (hypothesis): boxes inside their panels, bubbles apart and off
the faces, bubbles in reading order, every line lettered at or above the minimum font size (or an error naming the
line), and the same script always giving the same bytes."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from diffsensei_core.chapter.formatting import format_script
from diffsensei_core.chapter.grammar import parse_script
from diffsensei_core.chapter.placement import HEAD_COVER, Fitter, area, follows, overlap
from diffsensei_core.chapter.planner import plan_chapter
from diffsensei_core.chapter.script_json import chapter_from_json, chapter_to_json
from diffsensei_core.chapter.staging import head_region
from diffsensei_core.errors import ScriptError
from diffsensei_core.lettering.plan import parse_texts

from .chapter_strategies import chapters, sentence
from .fuzz import fuzz_settings
from .lettering_fakes import MonoTypesetter

MONO = MonoTypesetter()
TOLERANCE = 1e-6


def _inside(box, rect) -> bool:
    return all(rect[k] - TOLERANCE <= box[k] for k in (0, 1)) and all(box[k] <= rect[k] + TOLERANCE for k in (2, 3))


def _check_panel(layout_panel, planned, plan, fitter, direction) -> list:
    for box in (*layout_panel.characters, *layout_panel.dialogs):
        assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1, box
    bubbles = [layout_panel.to_page(d) for d in layout_panel.dialogs]
    for bubble in bubbles:
        assert _inside(bubble, layout_panel.rect), (bubble, layout_panel.rect)
    for previous, bubble in itertools.pairwise(bubbles):
        assert follows(previous, bubble, direction), (previous, bubble)
    for character in layout_panel.characters:
        head = head_region(layout_panel.to_page(character), planned.shot)
        covered = sum(overlap(bubble, head) for bubble in bubbles)
        assert covered <= HEAD_COVER * area(head) * (1 + TOLERANCE), (covered, area(head))
    lines = parse_texts("\n".join(planned.texts))
    assert len(lines) == len(bubbles)
    for line, bubble in zip(lines, bubbles, strict=True):
        assert any(fitter.fits(line.text, line.shape, bubble, size)
                   for size in range(plan.font_size, plan.min_font_size - 1, -1)), (line.text, bubble)
    return bubbles


@fuzz_settings(60)
@given(chapter=chapters(max_pages=2, max_panels=5, max_lines=3, text=sentence(14)), dpi=st.sampled_from((72, 150)))
def test_planned_pages_keep_their_promises(chapter, dpi):
    script = format_script(chapter)
    parsed = parse_script(script)
    try:
        plan = plan_chapter(parsed, dpi=dpi, typesetter=MONO, source=script.splitlines())
    except ScriptError as error:  # the error names the line that found no room, and its text
        assert "finds no room in its panel" in str(error), str(error)
        named = script.splitlines()[error.line - 1]
        assert ":" in named and named.split(":", 1)[1].strip()[:20] in str(error)
        return
    fitter = Fitter(MONO, outline=plan.outline, writing=parsed.writing)
    for page in plan.pages:
        layout = page.layout()
        everything = []
        for layout_panel, planned in zip(layout.panels, page.panels, strict=True):
            bubbles = _check_panel(layout_panel, planned, plan, fitter, parsed.direction)
            insets = [p.rect for p in layout.panels if p.parent == layout_panel.index]
            assert all(overlap(b, inset) == 0 for b in bubbles for inset in insets), "bubbles stay off insets"
            everything += bubbles
        for a, b in itertools.combinations(everything, 2):
            assert overlap(a, b) == 0, (a, b)


@fuzz_settings(25)
@given(chapter=chapters(max_pages=2, max_panels=4, max_lines=2))
def test_the_same_script_gives_the_same_bytes(chapter):
    script = format_script(chapter)
    try:
        first = plan_chapter(parse_script(script), dpi=100, typesetter=MONO).to_json()
    except ScriptError:
        return
    assert plan_chapter(parse_script(script), dpi=100, typesetter=MONO).to_json() == first
    assert plan_chapter(chapter_from_json(chapter_to_json(chapter)), dpi=100, typesetter=MONO).to_json() == first
