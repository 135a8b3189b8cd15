"""Workflow files → API prompts, as the browser makes them when it queues a workflow.

A workflow is in UI format (saved from the browser: ``nodes`` and ``links``) or API format
(``{id: {"class_type", "inputs"}}``, or the body of ``POST /prompt``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

# nodes that only exist in the browser
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
UPLOAD_VALUES = {"image", "video", "audio"}
MODE_MUTED, MODE_BYPASSED = 2, 4


class WorkflowError(ValueError):
    """The workflow file cannot be turned into an API prompt; the message says why."""


def is_ui_workflow(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def _widget_inputs(node_class: type, ui_widget_names: set[str]) -> list[tuple[str, object, dict]]:
    """(name, type, options) of the inputs that are widgets in the browser, in INPUT_TYPES order."""
    widgets = []
    spec = node_class.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, entry in (spec.get(section) or {}).items():
            kind = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
            options = entry[1] if isinstance(entry, (list, tuple)) and len(entry) > 1 and isinstance(entry[1], dict) \
                else {}
            if options.get("forceInput"):
                continue
            if isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES or name in ui_widget_names:
                widgets.append((name, kind, options))
    return widgets


def _literal(value: object) -> object:
    # A plain list in an API prompt means a link; literal lists are wrapped.
    return {"__value__": value} if isinstance(value, list) else value


def _widget_values(node: dict, node_class: type) -> dict[str, object]:
    ui_widget_names = {i.get("name") for i in node.get("inputs") or [] if isinstance(i.get("widget"), dict)}
    widgets = _widget_inputs(node_class, ui_widget_names)
    values = node.get("widgets_values")
    if values is None:
        return {}
    if isinstance(values, dict):  # some packs store widgets by name
        names = {name for name, _, _ in widgets}
        return {k: _literal(v) for k, v in values.items() if k in names}
    out, index = {}, 0
    for name, kind, options in widgets:
        if index >= len(values):
            break
        out[name] = _literal(values[index])
        index += 1
        # The browser stores extra widget values after some inputs: the "control after generate" choice of seed-like
        # inputs and the upload button of file pickers. They are no node inputs; skip them when present.
        has_control = options.get("control_after_generate") or (kind == "INT" and name in ("seed", "noise_seed"))
        if has_control and index < len(values) and values[index] in CONTROL_VALUES:
            index += 1
        if any(options.get(flag) for flag in UPLOAD_FLAGS) and index < len(values) and values[index] in UPLOAD_VALUES:
            index += 1
    return out


def _links(workflow: dict) -> dict[int, tuple[str, int]]:
    """link id → (origin node id, origin slot), for both the list and the dict link formats."""
    links = {}
    for link in workflow.get("links") or []:
        if isinstance(link, dict):
            links[link["id"]] = (str(link["origin_id"]), int(link["origin_slot"]))
        else:
            links[link[0]] = (str(link[1]), int(link[2]))
    return links


def ui_to_api(workflow: dict, node_classes: Mapping[str, type]) -> dict[str, dict]:
    """Convert a UI-format workflow to an API-format prompt, as the browser does when it queues it.

    Widget values are assigned by position to the node class's widget inputs; links are followed through
    reroutes, primitive nodes and bypassed nodes (which pass their first input of the output's type through);
    muted and bypassed nodes, notes and reroutes are left out.
    """
    if workflow.get("definitions", {}).get("subgraphs"):
        raise WorkflowError("this workflow contains subgraphs, which the runner does not support; "
                            "unpack them in ComfyUI (right-click → Unpack Subgraph) and save again")
    nodes = {str(n["id"]): n for n in workflow["nodes"]}
    links = _links(workflow)

    def source(link_id: int | None, seen: frozenset = frozenset()) -> tuple[str, object] | None:
        """('link', [id, slot]) or ('value', literal) feeding a link, or None when nothing reaches it."""
        if link_id is None or link_id not in links:
            return None
        origin_id, slot = links[link_id]
        if origin_id in seen:
            raise WorkflowError(f"node {origin_id}: reroute/bypass cycle")
        seen = seen | {origin_id}
        origin = nodes.get(origin_id)
        if origin is None:
            raise WorkflowError(f"link {link_id} starts at node {origin_id}, which is not in the workflow")
        mode = origin.get("mode", 0)
        if origin.get("type") == "Reroute":
            inputs = origin.get("inputs") or []
            return source(inputs[0].get("link"), seen) if inputs else None
        if origin.get("type") == "PrimitiveNode":
            values = origin.get("widgets_values") or []
            return ("value", _literal(values[0])) if values else None
        if mode == MODE_MUTED:
            return None
        if mode == MODE_BYPASSED:
            outputs = origin.get("outputs") or []
            wanted = outputs[slot].get("type") if slot < len(outputs) else None
            for candidate in origin.get("inputs") or []:
                if candidate.get("link") is not None and candidate.get("type") in (wanted, "*"):
                    return source(candidate["link"], seen)
            return None
        return ("link", [origin_id, slot])

    prompt: dict[str, dict] = {}
    for node_id, node in nodes.items():
        kind = node.get("type")
        if kind in FRONTEND_ONLY or node.get("mode", 0) in (MODE_MUTED, MODE_BYPASSED):
            continue
        node_class = node_classes.get(kind)
        if node_class is None:
            raise WorkflowError(f"node {node_id}: unknown node type {kind!r} (is the custom node pack that provides "
                                "it installed?)")
        inputs = _widget_values(node, node_class)
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            fed = source(slot["link"])
            if fed is None:
                inputs.pop(slot["name"], None)
            else:
                inputs[slot["name"]] = fed[1]
        title = node.get("title") or getattr(node_class, "DISPLAY_NAME", None) or kind
        prompt[node_id] = {"class_type": kind, "inputs": inputs, "_meta": {"title": title}}
    return prompt


def load_workflow(path: Path, node_classes: Mapping[str, type]) -> tuple[dict[str, dict], dict | None]:
    """Read a workflow file in UI or API format: the API prompt, and the UI graph itself (what the browser sends as
    ``extra_pnginfo.workflow``) or None for an API prompt."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise WorkflowError(f"cannot read workflow {path}: {e}") from e
    if is_ui_workflow(data):
        return ui_to_api(data, node_classes), data
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):  # the body of POST /prompt
        data = data["prompt"]
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        return data, None
    raise WorkflowError(f"{path} is neither a UI workflow (nodes + links) nor an API prompt "
                        "({id: {class_type, inputs}})")
