"""The house settings for hypothesis fuzz tests."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def fuzz_settings(max_examples: int) -> settings:
    """No deadline, slow examples allowed; under CI a fixed example sequence is replayed (a landing never depends on
    a fresh random draw), while local runs keep exploring new inputs."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=bool(os.environ.get("CI")))
