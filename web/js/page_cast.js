// Casts of the panels on "DiffSensei: Page layout" (no DOM): which characters a panel shows, the typed cast text, the
// character boxes that follow a cast, and the problems the backend would refuse. Mirrors diffsensei_core/page/cast.py;
// unit tests: tests/web/js/page_cast.test.mjs.
//
// A panel's "cast" lists the character numbers (1 = the first reference image) its character boxes show, in box
// order; without one a panel shows every character, box k showing character k + 1.
//
// ComfyUI imports every .js file under web/ as an extension, this one too: it only exports and registers nothing on
// import. Page and panel entries are those of ./page_model.js ({box, polygon, rest}); every edit returns a new page.
// Messages are worded by ./editor_text.js; "all" (or its translation) means every character.

import { say } from "./editor_text.js";
import { resolvedPanels, round6 } from "./page_model.js";

/** A panel entry's cast as stored: a list, or null when the panel shows every character (no key, or null). */
export function panelCast(entry) {
  const cast = entry?.rest?.cast;
  return cast === undefined || cast === null ? null : cast;
}

export function formatCast(cast) {
  return Array.isArray(cast) ? cast.join(", ") : say("cast.all");
}

/**
 * Typed cast text → {cast, error}: "", "all" or its translation → null (every character); "2", "1, 3", "1 3" or
 * "1、3" → a list.
 */
export function parseCastText(text) {
  const typed = String(text ?? "").trim();
  const all = typed.toLowerCase();
  if (typed === "" || all === "all" || all === say("cast.all").toLowerCase()) return { cast: null, error: null };
  const parts = typed.split(/[\s,;、，；]+/).filter(Boolean);
  if (!parts.every((p) => /^[0-9]+$/.test(p)) || parts.some((p) => Number(p) < 1)) {
    return { cast: null, error: say("cast.badText", { all: say("cast.all"), typed }) };
  }
  const cast = parts.map(Number);
  const repeated = cast.find((c, k) => cast.indexOf(c) !== k);
  if (repeated !== undefined) return { cast: null, error: say("cast.twiceTyped", { c: repeated, typed }) };
  return { cast, error: null };
}

/** A new character box for slot `slot` of `slots`: equal columns over the lower part of the panel. */
function defaultCharacterBox(slot, slots) {
  const width = 0.9 / slots;
  return [0.05 + slot * width + 0.01, 0.25, 0.05 + (slot + 1) * width - 0.01, 1].map(round6);
}

/**
 * Set entry `index`'s cast: {page, added, removed}. `cast` is a list of character numbers, or null for every
 * character (the key is removed; box k then shows character k + 1). The character boxes follow the cast, so the
 * page stays one box per cast member: a character keeps the box that showed it, spare boxes are reused in order, then
 * dropped (`removed`), and missing ones are added as columns (`added`). Entries missing up to `index` are added empty
 * (a preset panel without an entry yet); an existing "cast" key keeps its place.
 */
export function castPanel(page, index, cast) {
  const panels = page.panels.slice();
  while (panels.length <= index) panels.push({ box: null, polygon: null, rest: {} });
  const entry = panels[index];
  const boxes = Array.isArray(entry.rest.characters) ? entry.rest.characters : [];
  const shown = boxCharacters(entry);
  const target = cast ?? boxes.map((_, k) => k + 1);
  const taken = new Set();
  const picks = target.map((c) => {
    const k = shown.findIndex((s, i) => s === c && !taken.has(i));
    if (k >= 0) taken.add(k);
    return k >= 0 ? k : null;
  });
  const spare = boxes.map((_, i) => i).filter((i) => !taken.has(i));
  const filled = picks.map((k) => k ?? spare.shift() ?? null);
  const characters = filled.map((k, slot) => (k === null ? defaultCharacterBox(slot, target.length) : boxes[k]));
  const { cast: _dropped, ...others } = entry.rest;
  const rest = cast ? { ...entry.rest, cast: cast.slice() } : others;
  if (characters.length || "characters" in rest) rest.characters = characters;
  panels[index] = { ...entry, rest };
  return { page: { ...page, panels }, added: filled.filter((k) => k === null).length, removed: spare.length };
}

/** The character number (1-based) each character box of a panel entry shows, in box order (null: malformed cast). */
export function boxCharacters(entry) {
  const boxes = Array.isArray(entry?.rest?.characters) ? entry.rest.characters.length : 0;
  const cast = panelCast(entry);
  return Array.from({ length: boxes }, (_, k) => {
    if (cast === null) return k + 1;
    const c = Array.isArray(cast) ? cast[k] : undefined;
    return Number.isInteger(c) && c >= 1 ? c : null;
  });
}

/** Why the backend would refuse a panel entry's cast, or null; `label` names the panel, e.g. "panel 2". */
export function castProblem(entry, label) {
  const cast = panelCast(entry);
  if (cast === null) return null;
  if (!Array.isArray(cast) || !cast.every((c) => Number.isInteger(c) && c >= 1)) {
    return say("cast.badStored", { panel: label, got: JSON.stringify(cast) });
  }
  const repeated = cast.find((c, k) => cast.indexOf(c) !== k);
  if (repeated !== undefined) return say("cast.twiceStored", { panel: label, c: repeated });
  const boxes = Array.isArray(entry.rest.characters) ? entry.rest.characters.length : 0;
  if (boxes === cast.length) return null;
  const values = { panel: label, cast: formatCast(cast), n: cast.length, boxes, k: Math.abs(boxes - cast.length) };
  return say(boxes > cast.length ? "cast.tooManyBoxes" : "cast.tooFewBoxes", values);
}

/** The cast problems of the panels drawn for `settings`, in reading order ("panel N" = reading number). */
export function castProblems(page, settings) {
  return resolvedPanels(page, settings)
    .filter((s) => s.index !== null)
    .sort((a, b) => a.order - b.order)
    .map((s) => castProblem(page.panels[s.index], say("page.panel", { n: s.order + 1 })))
    .filter(Boolean);
}
