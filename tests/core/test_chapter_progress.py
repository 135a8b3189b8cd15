"""The chapter runner's progress bar: done/total, up-to-date panels, time per panel and ETA from rendered panels."""

from __future__ import annotations

import io
import logging
import types

from headless.chapter_progress import PanelProgress


def panel(page: int, number: int):
    return types.SimpleNamespace(page=page, number=number)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_counts_cached_and_rendered_panels_and_estimates_from_rendered_ones(caplog):
    progress = PanelProgress(10, stream=io.StringIO())
    with caplog.at_level(logging.INFO, logger="diffsensei"):
        progress.cached(panel(1, 1))
        assert progress.eta() is None, "no estimate before a panel was rendered"
        progress.rendered(panel(1, 2), 4.0)
        progress.rendered(panel(1, 3), 2.0)
    assert progress.done == 3 and progress.eta() == 3.0 * 7
    line = progress.line(panel(1, 3))
    assert line.startswith("[#######-----------------] 3/10 panels (1 up to date), 3.0 s/panel, ETA 0:00:21")
    assert line.endswith("page 1, panel 3")
    assert "1/10 panels (1 up to date) — page 1, panel 1: up to date" in caplog.text


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    terminal = Terminal()
    progress = PanelProgress(2, stream=terminal)
    progress.rendered(panel(1, 1), 65.0)
    progress.rendered(panel(1, 2), 65.0)
    progress.finish()
    text = terminal.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "ETA 0:01:05" in text.split("\r")[1] and "2/2 panels" in text
