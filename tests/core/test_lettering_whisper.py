"""The whisper bubble: an oval whose outline is dashed (the chapter script's '(whisper)' lines)."""

from __future__ import annotations

import numpy as np

from diffsensei_core.lettering.bubbles import DASHES, bubble_masks, text_area
from diffsensei_core.lettering.plan import parse_texts

BOX = (20.0, 20.0, 220.0, 140.0)
CLIP = (0, 0, 300, 200)


def test_whisper_is_an_oval_with_gaps_in_its_outline():
    oval = bubble_masks("oval", BOX, None, 3, CLIP)
    whisper = bubble_masks("whisper", BOX, None, 3, CLIP)
    assert oval.origin == whisper.origin and np.array_equal(oval.fill, whisper.fill), "the same body"
    assert (whisper.inner >= oval.inner - 1e-6).all(), "only outline pixels turn white"
    ring = (oval.fill > 0.99) & (oval.inner < 0.01)
    white = ring & (whisper.inner > 0.99)
    assert 0.3 < white.sum() / ring.sum() < 0.7, "about half the outline is gaps"
    # walking around the outline: DASHES dashes and DASHES gaps, so 2 × DASHES changes between ink and gap
    cx, cy = (BOX[0] + BOX[2]) / 2 - oval.origin[0], (BOX[1] + BOX[3]) / 2 - oval.origin[1]
    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    ink = []
    for a in angles:
        x, y = cx + 98.5 * np.cos(a), cy + 58.5 * np.sin(a)
        ink.append(whisper.inner[round(y), round(x)] < 0.5)
    changes = sum(a != b for a, b in zip(ink, ink[1:] + ink[:1], strict=True))
    assert abs(changes - 2 * DASHES) <= 2, changes
    assert text_area("whisper", BOX, 3) == text_area("oval", BOX, 3)


def test_the_whisper_prefix():
    (line,) = parse_texts("2 (whisper): psst")
    assert (line.target, line.shape, line.text) == (2, "whisper", "psst")
    assert parse_texts("(dashed): hm")[0].shape == "whisper"
