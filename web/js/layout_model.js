// The Panel layout editor's model: parsing, serialising, geometry and edits of character and dialog boxes.
//
// Pure data in, pure data out: no DOM, no ComfyUI, no side effects at import (ComfyUI imports every .js file
// under the pack's web folder as an extension, so this module must only export). Unit tests: tests/web/js/.
//
// A layout is {characters: [entry, ...], dialogs: [entry, ...]}; an entry is {box: [x1, y1, x2, y2], extra}
// with coordinates relative to the panel (0..1, origin top-left) and `extra` the other keys of a box given as
// an object (kept when the layout is written back), or null. Points are {x, y} in the same relative units.
// Every edit returns a new layout; the input is never changed. Messages are worded by ./editor_text.js (English
// unless the editor switched the language).

import { say } from "./editor_text.js";

export const KINDS = Object.freeze(["characters", "dialogs"]);

/** Boxes per panel, characters and dialogs together (the backend refuses more with the same limit). */
export const MAX_BOXES = 64;

/**
 * Smallest box side the editor creates, in panel pixels: one token of SDXL's coarsest attention grid (1/32 of
 * the panel). Smaller character boxes would cover no token there.
 */
export const MIN_BOX_PIXELS = 32;

/** The snapping grid divides each panel side into this many steps. */
export const SNAP_DIVISIONS = 16;

/** Character colours, in character order (the n-th reference image gets the n-th colour, cycling). */
export const CHARACTER_COLOURS = Object.freeze([
  "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
]);

export const HANDLES = Object.freeze(["nw", "n", "ne", "e", "se", "s", "sw", "w"]);

const KNOWN_KEYS = new Set(["width", "height", "characters", "dialogs", "version"]);
// Coordinates outside this range are taken for pixels, not for a small overshoot (as in diffsensei_core.layout).
const PLAUSIBLE_MIN = -1;
const PLAUSIBLE_MAX = 2;
const DECIMALS = 4;

export function characterColour(index) {
  return CHARACTER_COLOURS[((index % CHARACTER_COLOURS.length) + CHARACTER_COLOURS.length) % CHARACTER_COLOURS.length];
}

export function emptyLayout() {
  return { characters: [], dialogs: [] };
}

export function boxCount(layout) {
  return layout.characters.length + layout.dialogs.length;
}

/** A box label for messages: "character box 2", "dialog box 1". */
export function boxName(kind, index) {
  return say(`layout.box.${kind}`, { n: index + 1 });
}

// ------------------------------------------------------------------------------------------------ parse / write

/**
 * Parse the layout text the way the backend does.
 * Returns {layout, error, warnings}: on error, layout is null and error says what to fix; warnings list the
 * corrections the backend also makes (sorted corners, clamped overshoots).
 * `panel` ({width, height}, optional) is checked against width/height keys in the JSON.
 */
export function parseLayout(text, panel = null) {
  const warnings = [];
  const fail = (error) => ({ layout: null, error, warnings });
  const source = typeof text === "string" ? text.trim() : "";
  if (!source) return { layout: emptyLayout(), error: null, warnings };
  let value;
  try {
    value = JSON.parse(source);
  } catch (err) {
    return fail(say("layout.parse.notJson", { detail: err.message }));
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fail(say("layout.parse.notObject"));
  }
  const unknown = Object.keys(value).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length) {
    return fail(say("layout.parse.unknownKeys", { keys: unknown.join(", ") }));
  }
  if (panel) {
    for (const side of ["width", "height"]) {
      if (side in value && value[side] !== panel[side]) {
        return fail(say("layout.parse.sizeMismatch", { side, json: value[side], node: panel[side] }));
      }
    }
  }
  const layout = emptyLayout();
  for (const kind of KINDS) {
    const list = value[kind] ?? [];
    if (!Array.isArray(list)) return fail(say("layout.parse.notList", { kind }));
    for (let i = 0; i < list.length; i++) {
      const result = normaliseEntry(list[i], boxName(kind, i));
      if (result.error) return fail(result.error);
      warnings.push(...result.warnings);
      layout[kind].push(result.entry);
    }
  }
  if (boxCount(layout) > MAX_BOXES) {
    return fail(say("layout.parse.tooMany", { count: boxCount(layout), max: MAX_BOXES }));
  }
  return { layout, error: null, warnings };
}

function normaliseEntry(item, what) {
  let coords = item;
  let extra = null;
  if (item !== null && typeof item === "object" && !Array.isArray(item)) {
    coords = item.box ?? item.bbox;
    extra = Object.fromEntries(Object.entries(item).filter(([key]) => key !== "box" && key !== "bbox"));
  }
  if (!Array.isArray(coords) || coords.length !== 4) {
    return { error: say("layout.parse.notBox", { what, got: JSON.stringify(item) }) };
  }
  if (!coords.every((c) => typeof c === "number" && Number.isFinite(c))) {
    return { error: say("layout.parse.notFinite", { what, got: JSON.stringify(coords) }) };
  }
  if (coords.some((c) => c < PLAUSIBLE_MIN || c > PLAUSIBLE_MAX)) {
    return { error: say("layout.parse.farOutside", { what, got: JSON.stringify(coords) }) };
  }
  const warnings = [];
  let [x1, y1, x2, y2] = coords;
  if (x1 > x2 || y1 > y2) {
    warnings.push(say("layout.parse.swapped", { what }));
    [x1, x2] = [Math.min(x1, x2), Math.max(x1, x2)];
    [y1, y2] = [Math.min(y1, y2), Math.max(y1, y2)];
  }
  const clamped = [x1, y1, x2, y2].map(clamp01);
  if (clamped.some((c, i) => c !== [x1, y1, x2, y2][i])) warnings.push(say("layout.parse.clamped", { what }));
  [x1, y1, x2, y2] = clamped;
  if (x2 <= x1 || y2 <= y1) return { error: say("layout.parse.noArea", { what }) };
  return { entry: { box: [x1, y1, x2, y2], extra: extra && Object.keys(extra).length ? extra : null }, warnings };
}

/** The layout as the node's JSON text: {"characters": [...], "dialogs": [...]}, coordinates rounded to 4 places. */
export function serializeLayout(layout) {
  const write = (entry) => {
    const box = entry.box.map(round);
    return entry.extra ? { ...entry.extra, box } : box;
  };
  return JSON.stringify({ characters: layout.characters.map(write), dialogs: layout.dialogs.map(write) });
}

// ------------------------------------------------------------------------------------------------ geometry

export function clamp01(value) {
  return Math.min(Math.max(value, 0), 1);
}

function round(value) {
  const f = 10 ** DECIMALS;
  return Math.round(value * f) / f;
}

export function snapValue(value, divisions = SNAP_DIVISIONS) {
  return Math.round(value * divisions) / divisions;
}

/** Smallest relative box size for a panel of {width, height} pixels: [min width, min height]. */
export function minBoxSize(panel) {
  return [Math.min(1, MIN_BOX_PIXELS / panel.width), Math.min(1, MIN_BOX_PIXELS / panel.height)];
}

/** Largest rectangle of the panel's aspect ratio inside an area: {x, y, w, h}, centred. */
export function fitRect(areaWidth, areaHeight, panel) {
  if (areaWidth <= 0 || areaHeight <= 0) return { x: 0, y: 0, w: 0, h: 0 };
  const aspect = panel.width / panel.height;
  let w = areaWidth;
  let h = w / aspect;
  if (h > areaHeight) {
    h = areaHeight;
    w = h * aspect;
  }
  return { x: (areaWidth - w) / 2, y: (areaHeight - h) / 2, w, h };
}

/** The 8 resize handles of a box: [{name, x, y}], relative coordinates. */
export function handlePoints(box) {
  const [x1, y1, x2, y2] = box;
  const xm = (x1 + x2) / 2;
  const ym = (y1 + y2) / 2;
  return [
    { name: "nw", x: x1, y: y1 }, { name: "n", x: xm, y: y1 }, { name: "ne", x: x2, y: y1 },
    { name: "e", x: x2, y: ym }, { name: "se", x: x2, y: y2 }, { name: "s", x: xm, y: y2 },
    { name: "sw", x: x1, y: y2 }, { name: "w", x: x1, y: ym },
  ];
}

function inside(box, point) {
  return point.x >= box[0] && point.x <= box[2] && point.y >= box[1] && point.y <= box[3];
}

/** Boxes in drawing order (characters, then dialogs on top): [{kind, index, box}]. */
export function drawOrder(layout) {
  return KINDS.flatMap((kind) => layout[kind].map((entry, index) => ({ kind, index, box: entry.box })));
}

export function sameSelection(a, b) {
  return !!a && !!b && a.kind === b.kind && a.index === b.index;
}

export function selectedBox(layout, selection) {
  return selection ? layout[selection.kind]?.[selection.index]?.box ?? null : null;
}

/**
 * What is under a point: {kind, index, handle} with handle one of HANDLES or "move", or null.
 * The selected box's handles come first (within `tolerance` = {x, y}), then the selected box itself, then the
 * topmost box containing the point.
 */
export function hitTest(layout, point, tolerance, selection = null) {
  const current = selectedBox(layout, selection);
  if (current) {
    const handle = handlePoints(current).find(
      (h) => Math.abs(h.x - point.x) <= tolerance.x && Math.abs(h.y - point.y) <= tolerance.y,
    );
    if (handle) return { kind: selection.kind, index: selection.index, handle: handle.name };
    if (inside(current, point)) return { kind: selection.kind, index: selection.index, handle: "move" };
  }
  const order = drawOrder(layout);
  for (let i = order.length - 1; i >= 0; i--) {
    if (inside(order[i].box, point)) return { kind: order[i].kind, index: order[i].index, handle: "move" };
  }
  return null;
}

// ------------------------------------------------------------------------------------------------ edits

function withBox(layout, kind, index, box) {
  const next = { characters: layout.characters.slice(), dialogs: layout.dialogs.slice() };
  next[kind][index] = { ...next[kind][index], box };
  return next;
}

/** Add a box; returns {layout, selection, error}. The box must already be valid (see boxFromCorners). */
export function addBox(layout, kind, box) {
  if (!KINDS.includes(kind)) return { layout, selection: null, error: say("layout.unknownKind", { kind }) };
  if (boxCount(layout) >= MAX_BOXES) return { layout, selection: null, error: say("layout.full", { max: MAX_BOXES }) };
  const next = { characters: layout.characters.slice(), dialogs: layout.dialogs.slice() };
  next[kind].push({ box: box.slice(), extra: null });
  return { layout: next, selection: { kind, index: next[kind].length - 1 }, error: null };
}

export function deleteBox(layout, selection) {
  if (!selectedBox(layout, selection)) return layout;
  const next = { characters: layout.characters.slice(), dialogs: layout.dialogs.slice() };
  next[selection.kind].splice(selection.index, 1);
  return next;
}

/** Move character `index` by `delta` places in the reference-image order; returns {layout, selection}. */
export function reorderCharacter(layout, index, delta) {
  const target = index + delta;
  if (index < 0 || index >= layout.characters.length || target < 0 || target >= layout.characters.length) {
    return { layout, selection: { kind: "characters", index } };
  }
  const characters = layout.characters.slice();
  const [moved] = characters.splice(index, 1);
  characters.splice(target, 0, moved);
  return { layout: { characters, dialogs: layout.dialogs.slice() }, selection: { kind: "characters", index: target } };
}

/** A box from two corner points, snapped and clamped; {box, valid} where valid means at least the minimum size. */
export function boxFromCorners(a, b, { minSize = [0, 0], snap = false } = {}) {
  const fix = (v) => clamp01(snap ? snapValue(v) : v);
  const x1 = fix(Math.min(a.x, b.x));
  const x2 = fix(Math.max(a.x, b.x));
  const y1 = fix(Math.min(a.y, b.y));
  const y2 = fix(Math.max(a.y, b.y));
  const eps = 1e-9;
  return { box: [x1, y1, x2, y2], valid: x2 - x1 >= minSize[0] - eps && y2 - y1 >= minSize[1] - eps };
}

/** The box moved by (dx, dy), kept whole inside the panel; with snap its top-left corner lands on the grid. */
export function movedBox(box, dx, dy, { snap = false } = {}) {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  let x = box[0] + dx;
  let y = box[1] + dy;
  if (snap) {
    x = snapValue(x);
    y = snapValue(y);
  }
  x = Math.min(Math.max(x, 0), 1 - w);
  y = Math.min(Math.max(y, 0), 1 - h);
  return [x, y, x + w, y + h];
}

/**
 * The box with the edges of `handle` dragged to `point`: inside the panel, never smaller than minSize, never
 * flipped (an edge stops at the opposite edge plus the minimum size).
 */
export function resizedBox(box, handle, point, { minSize = [0, 0], snap = false } = {}) {
  let [x1, y1, x2, y2] = box;
  const fix = (v) => clamp01(snap ? snapValue(v) : v);
  if (handle.includes("w")) x1 = Math.min(fix(point.x), x2 - minSize[0]);
  if (handle.includes("e")) x2 = Math.max(fix(point.x), x1 + minSize[0]);
  if (handle.includes("n")) y1 = Math.min(fix(point.y), y2 - minSize[1]);
  if (handle.includes("s")) y2 = Math.max(fix(point.y), y1 + minSize[1]);
  // The minimum size may push an edge past the panel border: shift the box back inside.
  if (x1 < 0) [x1, x2] = [0, x2 - x1];
  if (x2 > 1) [x1, x2] = [x1 - (x2 - 1), 1];
  if (y1 < 0) [y1, y2] = [0, y2 - y1];
  if (y2 > 1) [y1, y2] = [y1 - (y2 - 1), 1];
  return [clamp01(x1), clamp01(y1), clamp01(x2), clamp01(y2)];
}

/** Nudge the selected box by (dx, dy); returns the new layout. */
export function nudgeBox(layout, selection, dx, dy) {
  const box = selectedBox(layout, selection);
  return box ? withBox(layout, selection.kind, selection.index, movedBox(box, dx, dy)) : layout;
}

// ------------------------------------------------------------------------------------------------ drags

/**
 * Start a pointer drag at `point`. options: {kind (of a new box), tolerance ({x, y}), selection}.
 * Returns {drag, selection}: drag.type is "move", "resize" or "create".
 */
export function beginDrag(layout, point, { kind = "characters", tolerance = { x: 0, y: 0 }, selection = null } = {}) {
  const hit = hitTest(layout, point, tolerance, selection);
  if (hit) {
    const box = layout[hit.kind][hit.index].box.slice();
    const type = hit.handle === "move" ? "move" : "resize";
    return {
      drag: { type, kind: hit.kind, index: hit.index, handle: hit.handle, start: point, original: box },
      selection: { kind: hit.kind, index: hit.index },
    };
  }
  return { drag: { type: "create", kind, start: point }, selection: null };
}

/**
 * The drag's effect at `point`. options: {minSize, snap}.
 * Returns {layout, preview}: for move/resize the edited layout; for create the unchanged layout and
 * preview = {kind, box, valid}.
 */
export function updateDrag(layout, drag, point, { minSize = [0, 0], snap = false } = {}) {
  if (drag.type === "create") {
    const { box, valid } = boxFromCorners(drag.start, point, { minSize, snap });
    return { layout, preview: { kind: drag.kind, box, valid } };
  }
  const box = drag.type === "move"
    ? movedBox(drag.original, point.x - drag.start.x, point.y - drag.start.y, { snap })
    : resizedBox(drag.original, drag.handle, point, { minSize, snap });
  return { layout: withBox(layout, drag.kind, drag.index, box), preview: null };
}

/**
 * Finish a drag at `point` (layout = the layout before the drag started).
 * Returns {layout, selection, message}: a new box too small to be useful is refused with a message; a click
 * without movement creates nothing.
 */
export function endDrag(layout, drag, point, options = {}) {
  if (drag.type !== "create") {
    const { layout: next } = updateDrag(layout, drag, point, options);
    return { layout: next, selection: { kind: drag.kind, index: drag.index }, message: null };
  }
  const { preview } = updateDrag(layout, drag, point, options);
  const [x1, y1, x2, y2] = preview.box;
  if (x2 - x1 <= 0 && y2 - y1 <= 0) return { layout, selection: null, message: null };
  if (!preview.valid) return { layout, selection: null, message: say("layout.tooSmall", { min: MIN_BOX_PIXELS }) };
  const added = addBox(layout, drag.kind, preview.box);
  return { layout: added.layout, selection: added.selection, message: added.error };
}

// ------------------------------------------------------------------------------------------------ references

/**
 * A one-line summary of boxes against reference images; `references` is the number of connected reference
 * images, or null when the node cannot tell.
 */
export function describeCounts(layout, references = null) {
  const c = layout.characters.length;
  const counts = say("layout.counts", {
    characters: say("layout.characters", { n: c }), dialogs: say("layout.dialogs", { n: layout.dialogs.length }),
  });
  if (references === null || references === c) return counts;
  const connected = say("layout.references", { n: references });
  return references > c ? say("layout.drawMore", { counts, references: connected, n: references - c })
    : say("layout.deleteSome", { counts, references: connected, n: c - references });
}
