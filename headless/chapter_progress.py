"""A progress bar over a chapter's panels: done/total, how many were up to date, time per panel and the ETA.

On a terminal the bar is redrawn in place on stderr; otherwise (a log file, a CI job) one log line per panel.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("diffsensei")

WIDTH = 24


class PanelProgress:
    def __init__(self, total: int, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.rendered_count = self.cached_count = 0
        self.render_seconds = 0.0
        self.started = time.monotonic()
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()

    @property
    def done(self) -> int:
        return self.rendered_count + self.cached_count

    def eta(self) -> float | None:
        """Seconds left: the mean time of the panels rendered so far × the panels still to do (None before one)."""
        if not self.rendered_count:
            return None
        return self.render_seconds / self.rendered_count * (self.total - self.done)

    def line(self, panel) -> str:
        filled = round(WIDTH * self.done / self.total) if self.total else WIDTH
        eta = self.eta()
        timing = (f", {self.render_seconds / self.rendered_count:.1f} s/panel, ETA {_clock(eta)}"
                  if eta is not None else "")
        return (f"[{'#' * filled}{'-' * (WIDTH - filled)}] {self.done}/{self.total} panels "
                f"({self.cached_count} up to date){timing} — page {panel.page}, panel {panel.number}")

    def cached(self, panel) -> None:
        self.cached_count += 1
        self._show(panel, "up to date")

    def rendered(self, panel, seconds: float) -> None:
        self.rendered_count += 1
        self.render_seconds += seconds
        self._show(panel, f"rendered in {seconds:.1f} s")

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
        log.info("panels: %d rendered, %d up to date, %.1f s", self.rendered_count, self.cached_count,
                 time.monotonic() - self.started)

    def _show(self, panel, what: str) -> None:
        if self.live:
            self.stream.write("\r" + self.line(panel))
            self.stream.flush()
        else:
            log.info("%s: %s", self.line(panel), what)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
