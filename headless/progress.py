"""Progress of a headless run in the log: which node runs, and its k/n steps."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("diffsensei")


class Progress:
    """Logs which node runs and its k/n steps (at most about once a second per node, always the last step)."""

    def __init__(self, prompt: dict, interval: float = 1.0):
        self.prompt = prompt
        self.interval = interval
        self.last: dict[str, float] = {}
        self.started: dict[str, float] = {}

    def _name(self, node_id) -> str:
        entry = self.prompt.get(str(node_id), {})
        return f"node {node_id} ({entry.get('class_type', '?')})"

    def on_message(self, event: str, data) -> None:
        if event == "executing" and isinstance(data, dict) and data.get("node") is not None:
            self.started[str(data["node"])] = time.monotonic()
            log.info("running %s", self._name(data["node"]))
        elif event == "execution_cached" and isinstance(data, dict) and data.get("nodes"):
            log.info("cached: %s", ", ".join(map(str, data["nodes"])))

    def hook(self, value, total, preview_image=None, prompt_id=None, node_id=None) -> None:
        if node_id is None:
            from comfy_execution.utils import get_executing_context

            context = get_executing_context()
            node_id = context.node_id if context is not None else "?"
        now = time.monotonic()
        key = str(node_id)
        if value >= total or value <= 1 or now - self.last.get(key, 0.0) >= self.interval:
            self.last[key] = now
            elapsed = now - self.started.get(key, now)
            log.info("%s: step %d/%d (%.1f s)", self._name(node_id), value, total, elapsed)
