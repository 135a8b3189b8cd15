"""One style for the errors a user sees on a node: ``DiffSensei: <display name>, input 'x': <what>; <fix>``.

The core's errors say what, expected, got and the fix; the node that catches one adds where it happened.
"""

from __future__ import annotations

from ...diffsensei_core.errors import DiffSenseiError


def where(node: str, *inputs: str) -> str:
    """``where("DiffSensei: Apply", "model")`` → ``DiffSensei: Apply, input 'model'``; no inputs → the node alone."""
    if not inputs:
        return node
    if len(inputs) == 1:
        return f"{node}, input '{inputs[0]}'"
    names = ", ".join(f"'{name}'" for name in inputs[:-1])
    return f"{node}, inputs {names} and '{inputs[-1]}'"


def located(error: DiffSenseiError, node: str, *inputs: str) -> DiffSenseiError:
    """The same error type with the node and inputs in front: ``raise located(err, NAME, "layout") from None``."""
    return type(error)(f"{where(node, *inputs)}: {error}")
