"""Skips that cannot hide a broken setup.

A test whose data or host is missing skips with one line — unless the run said that data or host is there:
``DIFFSENSEI_REQUIRE`` (comma-separated kinds: ``golden``, ``host``, ``browser``), which ``scripts/test.sh`` sets
for what it found. Then the same condition fails the test, naming what was expected.
"""

from __future__ import annotations

import os

import pytest

KINDS = ("golden", "host", "browser")


def required() -> set[str]:
    return {kind.strip() for kind in os.environ.get("DIFFSENSEI_REQUIRE", "").split(",") if kind.strip()}


def skip_or_fail(kind: str, reason: str, *, module: bool = False) -> None:
    """Skip with ``reason``, or fail when this run requires ``kind`` (a golden file, host or browser that is there)."""
    if kind not in KINDS:
        raise ValueError(f"unknown skip kind {kind!r}; expected one of {KINDS}")
    if kind in required():
        pytest.fail(f"{reason} — but this run requires {kind} tests to run (DIFFSENSEI_REQUIRE="
                    f"{os.environ.get('DIFFSENSEI_REQUIRE')}): fix the setup, or unset it", pytrace=False)
    pytest.skip(reason, allow_module_level=module)
