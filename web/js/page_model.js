// Pure model of the page canvas on "DiffSensei: Page layout" (no DOM): page sizes, presets, reading order and
// panel edits. Mirrors diffsensei_core/page/{presets,geometry}.py so the canvas shows what the backend will use;
// tests/web/js/page_model.test.mjs checks the numbers against values computed by the Python side.
//
// A page value is {panels: [{box: [x1, y1, x2, y2] relative to the page, polygon?: [[x, y], ...], rest: {...}}],
// rest: {...}}: `rest` keeps every other key (characters, dialogs, cast, prompt, border; page keys) untouched.
// A panel is addressed by its entry index in `page.panels`; with a preset, entry k fills the panel read k-th.
// Messages are worded by ./editor_text.js.

import { say } from "./editor_text.js";
import { boxFromCorners, movedBox, resizedBox } from "./layout_model.js";

export const CUSTOM = "custom (drawn panels)";
export const MAX_PANELS = 32;
export const MIN_PANEL_PIXELS = 24; // page pixels a new panel must span each way
export const PAGE_SIZES_MM = Object.freeze({
  "B5 manga (182×257 mm)": [182, 257],
  "A5 (148×210 mm)": [148, 210],
  "A4 (210×297 mm)": [210, 297],
});
export const PAGE_SIZES_PX = Object.freeze({ "webtoon strip (800×3200 px)": [800, 3200] });
const GRID_ROWS = Object.freeze({
  "2 panels (2 rows)": [1, 1],
  "3 panels (1 + 2)": [1, 2],
  "4 panels (2×2)": [2, 2],
  "5 panels (2 + 1 + 2)": [2, 1, 2],
  "6 panels (3×2)": [2, 2, 2],
  "7 panels (2 + 3 + 2)": [2, 3, 2],
});
const SAME_BAND_OVERLAP = 0.5;

/** Round half up, as the backend does. */
export const px = (value) => Math.floor(value + 0.5);

export function mmToPx(mm, dpi) {
  return px((mm * dpi) / 25.4);
}

/** {width, height} in pixels of a named page size at `dpi`, or null for an unknown name. */
export function pageSizePx(name, dpi) {
  if (PAGE_SIZES_PX[name]) return { width: PAGE_SIZES_PX[name][0], height: PAGE_SIZES_PX[name][1] };
  const mm = PAGE_SIZES_MM[name];
  return mm ? { width: mmToPx(mm[0], dpi), height: mmToPx(mm[1], dpi) } : null;
}

// ------------------------------------------------------------------------------------------------ presets

function split(start, end, parts, gutter) {
  const free = end - start - gutter * (parts - 1);
  const out = [];
  let pos = start;
  for (let k = 0; k < parts; k++) {
    const stop = k === parts - 1 ? end : pos + free / parts;
    out.push([px(pos), px(stop)]);
    pos = stop + gutter;
  }
  return out;
}

function grid(rows, width, height, margin, gutter) {
  const panels = [];
  const tops = split(margin, height - margin, rows.length, gutter);
  rows.forEach((count, r) => {
    for (const [left, right] of split(margin, width - margin, count, gutter)) panels.push([left, tops[r][0], right, tops[r][1]]);
  });
  return panels;
}

function splash(width, height, margin, gutter) {
  const [x1, y1, x2, y2] = [margin, margin, width - margin, height - margin];
  const w = x2 - x1;
  const h = y2 - y1;
  const pad = Math.max(gutter, px(0.04 * Math.min(w, h)));
  const iw = px(0.36 * w);
  const ih = px(0.24 * h);
  return [[x1, y1, x2, y2], [x2 - pad - iw, y1 + pad, x2 - pad, y1 + pad + ih], [x1 + pad, y2 - pad - ih, x1 + pad + iw, y2 - pad]];
}

function slanted(width, height, margin, gutter) {
  const [x1, y1, x2, y2] = [margin, margin, width - margin, height - margin];
  const w = x2 - x1;
  const h = y2 - y1;
  const tilt = 0.05 * h;
  const lean = 0.08 * w;
  const g = gutter / 2;
  const b1 = y1 + 0.33 * h;
  const b2 = y1 + 0.7 * h;
  const line = (y, sign, offset) => [[x1, y - (sign * tilt) / 2 + offset], [x2, y + (sign * tilt) / 2 + offset]];
  const [tl, tr] = line(b1, 1, -g);
  const [ml, mr] = line(b1, 1, g);
  const [nl, nr] = line(b2, -1, -g);
  const [bl, br] = line(b2, -1, g);
  const cx = x1 + w / 2;
  const xAt = (y) => cx - lean / 2 + (lean * (y - b1)) / (b2 - b1);
  const yOn = (a, b, x) => a[1] + ((b[1] - a[1]) * (x - a[0])) / (b[0] - a[0]);
  const xt = xAt(yOn(ml, mr, cx));
  const xb = xAt(yOn(nl, nr, cx));
  return [
    [[x1, y1], [x2, y1], tr, tl],
    [ml, [xt - g, yOn(ml, mr, xt - g)], [xb - g, yOn(nl, nr, xb - g)], nl],
    [[xt + g, yOn(ml, mr, xt + g)], mr, nr, [xb + g, yOn(nl, nr, xb + g)]],
    [bl, br, [x2, y2], [x1, y2]],
  ];
}

const PRESETS = {
  "4-koma strip": (w, h, m, g) => grid([1, 1, 1, 1], w, h, m, g),
  ...Object.fromEntries(Object.entries(GRID_ROWS).map(([name, rows]) => [name, (w, h, m, g) => grid(rows, w, h, m, g)])),
  "splash + 2 insets": splash,
  "slanted gutters (4 panels)": slanted,
};
export const PRESET_NAMES = Object.freeze([CUSTOM, ...Object.keys(PRESETS)]);

/**
 * Outlines of a preset in page pixels: a rect [x1, y1, x2, y2] or a polygon [[x, y], ...] per panel (in the
 * preset's own order), or null for custom / an unknown name.
 */
export function presetOutlines(name, width, height, margin, gutter) {
  const make = PRESETS[name];
  if (!make) return null;
  return make(width, height, margin, gutter).map((o) => (Array.isArray(o[0]) ? o.map(([x, y]) => [px(x), px(y)]) : o.map(px)));
}

export function outlineRect(outline) {
  if (!Array.isArray(outline[0])) return outline.slice();
  const xs = outline.map((p) => p[0]);
  const ys = outline.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

// ------------------------------------------------------------------------------------------------ reading order

function contains(outer, inner, tol) {
  return outer[0] - tol <= inner[0] && outer[1] - tol <= inner[1] && inner[2] <= outer[2] + tol && inner[3] <= outer[3] + tol;
}

function bands(items, rects, axis) {
  const parent = new Map(items.map((i) => [i, i]));
  const find = (i) => {
    while (parent.get(i) !== i) i = parent.get(i);
    return i;
  };
  items.forEach((i, n) => {
    const [a1, a2] = [rects[i][axis], rects[i][axis + 2]];
    for (const j of items.slice(n + 1)) {
      const [b1, b2] = [rects[j][axis], rects[j][axis + 2]];
      const shared = Math.min(a2, b2) - Math.max(a1, b1);
      if (shared > SAME_BAND_OVERLAP * Math.min(a2 - a1, b2 - b1)) parent.set(find(i), find(j));
    }
  });
  const groups = new Map();
  for (const i of items) {
    const root = find(i);
    if (!groups.has(root)) groups.set(root, []);
    groups.get(root).push(i);
  }
  const middle = (band) => band.reduce((s, i) => s + rects[i][axis] + rects[i][axis + 2], 0) / (2 * band.length);
  return [...groups.values()].sort((a, b) => middle(a) - middle(b));
}

function cut(items, rects, direction) {
  if (items.length <= 1) return items.slice();
  const rows = bands(items, rects, 1);
  if (rows.length > 1) return rows.flatMap((row) => cut(row, rects, direction));
  const columns = bands(items, rects, 0);
  if (columns.length > 1) {
    if (direction === "rtl") columns.reverse();
    return columns.flatMap((column) => cut(column, rects, direction));
  }
  const sign = direction === "rtl" ? -1 : 1;
  const key = (i) => [(rects[i][1] + rects[i][3]) / 2, (sign * (rects[i][0] + rects[i][2])) / 2];
  return items.slice().sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}

/**
 * Indices of `rects` ([x1, y1, x2, y2], any units) in reading order: rows top to bottom, within a row right to
 * left ("rtl") or left to right ("ltr"); a rect lying inside a bigger one (an inset) comes right after it.
 * Insets are told by their bounding boxes here (the backend tests outlines); for presets and drawn rectangles
 * both agree.
 */
export function readingOrder(rects, direction) {
  const area = (r) => (r[2] - r[0]) * (r[3] - r[1]);
  const tol = 5e-4 * Math.max(1e-9, ...rects.flat().map(Math.abs)); // half a pixel of a ~1000 px page, any units
  const parents = rects.map((r, i) => {
    let best = null;
    rects.forEach((o, j) => {
      if (j !== i && area(o) > area(r) && contains(o, r, tol) && (best === null || area(o) < area(rects[best]))) best = j;
    });
    return best;
  });
  const children = new Map();
  parents.forEach((p, i) => {
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(i);
  });
  const expand = (items) => cut(items, rects, direction).flatMap((i) => [i, ...expand(children.get(i) ?? [])]);
  return expand(children.get(null) ?? []);
}

// ------------------------------------------------------------------------------------------------ page value

export function emptyPage() {
  return { panels: [], rest: {} };
}

function finite01(values) {
  return values.every((v) => typeof v === "number" && Number.isFinite(v) && v >= -0.005 && v <= 1.005);
}

/** Parse the page JSON: {page, error}. Panels keep all their other keys in `rest`. */
export function parsePage(text) {
  let value;
  try {
    value = JSON.parse(String(text ?? "").trim() || "{}");
  } catch (err) {
    return { page: null, error: say("page.parse.notJson", { detail: err.message }) };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return { page: null, error: say("page.parse.notObject") };
  const { panels = [], ...rest } = value;
  if (!Array.isArray(panels)) return { page: null, error: say("page.parse.panelsNotList") };
  const out = [];
  for (const [n, entry] of panels.entries()) {
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) {
      return { page: null, error: say("page.parse.panelNotObject", { n: n + 1 }) };
    }
    const { box, polygon, ...other } = entry;
    const panel = { box: null, polygon: null, rest: other };
    if (polygon !== undefined) {
      if (!Array.isArray(polygon) || polygon.length < 3 || !polygon.every((p) => Array.isArray(p) && p.length === 2 && finite01(p))) {
        return { page: null, error: say("page.parse.badPolygon", { n: n + 1 }) };
      }
      panel.polygon = polygon.map((p) => p.slice());
      panel.box = outlineRect(panel.polygon);
    } else if (box !== undefined) {
      if (!Array.isArray(box) || box.length !== 4 || !finite01(box)) {
        return { page: null, error: say("page.parse.badBox", { n: n + 1 }) };
      }
      panel.box = [Math.min(box[0], box[2]), Math.min(box[1], box[3]), Math.max(box[0], box[2]), Math.max(box[1], box[3])];
    }
    out.push(panel);
  }
  return { page: { panels: out, rest }, error: null };
}

export function serializePage(page) {
  const panels = page.panels.map((p) => {
    const entry = {};
    if (p.polygon) entry.polygon = p.polygon.map((q) => q.map(round6));
    else if (p.box) entry.box = p.box.map(round6);
    return { ...entry, ...p.rest };
  });
  return JSON.stringify({ ...page.rest, panels });
}

/** Round to 6 decimals, as page values are written. */
export function round6(v) {
  return Math.round(v * 1e6) / 1e6;
}

/**
 * Panels as drawn on the canvas for the current settings: [{box (relative), polygon (relative) | null, index in
 * `page.panels` | null, order (reading number, 0-based)}]. With a preset the outlines come from the preset and the
 * JSON entries only fill them in reading order.
 */
export function resolvedPanels(page, settings) {
  const { preset, width, height, margin, gutter, direction } = settings;
  let shapes;
  if (preset === CUSTOM) {
    shapes = page.panels.map((p, index) => ({ box: p.box, polygon: p.polygon, index })).filter((s) => s.box);
  } else {
    const outlines = presetOutlines(preset, width, height, margin, gutter) ?? [];
    shapes = outlines.map((o) => ({
      box: outlineRect(o).map((v, k) => v / (k % 2 ? height : width)),
      polygon: Array.isArray(o[0]) ? o.map(([x, y]) => [x / width, y / height]) : null,
      index: null,
    }));
  }
  const order = readingOrder(shapes.map((s) => s.box), direction);
  const resolved = shapes.map((s) => ({ ...s, order: order.indexOf(shapes.indexOf(s)) }));
  if (preset !== CUSTOM) resolved.forEach((s) => (s.index = s.order < page.panels.length ? s.order : null));
  return resolved;
}

/** The preset's panels as drawn custom panels (JSON boxes), keeping each entry's contents in reading order. */
export function presetToCustom(page, settings) {
  const shapes = resolvedPanels(page, settings).sort((a, b) => a.order - b.order);
  const panels = shapes.map((s, k) => ({ box: s.box.slice(), polygon: s.polygon, rest: { ...(page.panels[k]?.rest ?? {}) } }));
  return { panels, rest: { ...page.rest } };
}

// ------------------------------------------------------------------------------------------------ edits

/** Whether a relative point lies in a panel shape ({box, polygon | null}): inside its polygon, else its box. */
export function insideShape(shape, point) {
  const b = shape.box;
  if (!b || point.x < b[0] || point.x > b[2] || point.y < b[1] || point.y > b[3]) return false;
  if (!shape.polygon) return true;
  let inside = false; // even-odd rule: count the edges a ray to the right crosses
  shape.polygon.forEach(([x1, y1], k) => {
    const [x2, y2] = shape.polygon[(k + 1) % shape.polygon.length];
    if (y1 > point.y !== y2 > point.y && point.x < x1 + ((point.y - y1) * (x2 - x1)) / (y2 - y1)) inside = !inside;
  });
  return inside;
}

/** Index (in page.panels) of the topmost drawn panel under a relative point, or null (insets are on top). */
export function hitPanel(page, point) {
  for (let i = page.panels.length - 1; i >= 0; i--) {
    if (insideShape(page.panels[i], point)) return i;
  }
  return null;
}

/**
 * Entry index (in page.panels) of the panel under a relative point for the current settings, or null. With a preset
 * it is the panel's reading number (0-based), which may lie past the JSON's entries; an inset wins over its parent.
 */
export function entryAt(page, settings, point) {
  if (settings.preset === CUSTOM) return hitPanel(page, point);
  const area = (s) => (s.box[2] - s.box[0]) * (s.box[3] - s.box[1]);
  const under = resolvedPanels(page, settings).filter((s) => insideShape(s, point)).sort((a, b) => area(a) - area(b));
  return under.length ? under[0].order : null;
}

/** The shape (from resolvedPanels) showing entry `index`: the panel drawn from it, or a preset's panel read index-th. */
export function shapeOfEntry(shapes, preset, index) {
  if (index === null || index === undefined) return null;
  return shapes.find((s) => (preset === CUSTOM ? s.index === index : s.order === index)) ?? null;
}

/** Add a panel drawn from corner a to corner b: {page, index, error}. */
export function addPanel(page, a, b, size) {
  if (page.panels.length >= MAX_PANELS) return { page, index: null, error: say("page.full", { max: MAX_PANELS }) };
  const minSize = [Math.min(1, MIN_PANEL_PIXELS / size.width), Math.min(1, MIN_PANEL_PIXELS / size.height)];
  const { box, valid } = boxFromCorners(a, b, { minSize });
  if (!valid) return { page, index: null, error: say("page.tooSmall", { min: MIN_PANEL_PIXELS }) };
  const panels = [...page.panels, { box, polygon: null, rest: { characters: [], dialogs: [] } }];
  return { page: { ...page, panels }, index: panels.length - 1, error: null };
}

function mapPolygon(polygon, from, to) {
  if (!polygon) return null;
  const sx = (to[2] - to[0]) / (from[2] - from[0] || 1);
  const sy = (to[3] - to[1]) / (from[3] - from[1] || 1);
  return polygon.map(([x, y]) => [to[0] + (x - from[0]) * sx, to[1] + (y - from[1]) * sy]);
}

/** Move (handle "move") or resize (a handle name) panel `index` from its `original` box by the pointer. */
export function editPanel(page, index, original, handle, start, point, size) {
  const panel = page.panels[index];
  const minSize = [Math.min(1, MIN_PANEL_PIXELS / size.width), Math.min(1, MIN_PANEL_PIXELS / size.height)];
  const box = handle === "move"
    ? movedBox(original.box, point.x - start.x, point.y - start.y)
    : resizedBox(original.box, handle, point, { minSize });
  const panels = page.panels.slice();
  panels[index] = { ...panel, box, polygon: mapPolygon(original.polygon, original.box, box) };
  return { ...page, panels };
}

export function deletePanel(page, index) {
  if (index === null || index === undefined || !page.panels[index]) return page;
  return { ...page, panels: page.panels.filter((_, i) => i !== index) };
}
