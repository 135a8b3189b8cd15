// Unit tests of the page canvas' pure model (web/js/page_model.js): node --test tests/web/js/
import assert from "node:assert/strict";
import { test } from "node:test";

import * as m from "../../../web/js/page_model.js";

// Computed by the backend (diffsensei_core.page.presets / layout) for A5 at 150 dpi, margin 47 px, gutter 18 px:
// the canvas must draw the same panels in the same reading order.
const PYTHON_OUTLINES = {"4-koma strip": [[47, 47, 827, 320], [47, 338, 827, 611], [47, 629, 827, 902], [47, 920, 827, 1193]], "2 panels (2 rows)": [[47, 47, 827, 611], [47, 629, 827, 1193]], "3 panels (1 + 2)": [[47, 47, 827, 611], [47, 629, 428, 1193], [446, 629, 827, 1193]], "4 panels (2×2)": [[47, 47, 428, 611], [446, 47, 827, 611], [47, 629, 428, 1193], [446, 629, 827, 1193]], "5 panels (2 + 1 + 2)": [[47, 47, 428, 417], [446, 47, 827, 417], [47, 435, 827, 805], [47, 823, 428, 1193], [446, 823, 827, 1193]], "6 panels (3×2)": [[47, 47, 428, 417], [446, 47, 827, 417], [47, 435, 428, 805], [446, 435, 827, 805], [47, 823, 428, 1193], [446, 823, 827, 1193]], "7 panels (2 + 3 + 2)": [[47, 47, 428, 417], [446, 47, 827, 417], [47, 435, 295, 805], [313, 435, 561, 805], [579, 435, 827, 805], [47, 823, 428, 1193], [446, 823, 827, 1193]], "splash + 2 insets": [[47, 47, 827, 1193], [515, 78, 796, 353], [78, 887, 359, 1162]], "slanted gutters (4 panels)": [[[47, 47], [827, 47], [827, 445], [47, 388]], [[47, 406], [398, 431], [458, 839], [47, 869]], [[416, 433], [827, 463], [827, 812], [476, 837]], [[47, 887], [827, 830], [827, 1193], [47, 1193]]]};
const PYTHON_ORDERS = {"4-koma strip|rtl": [0, 1, 2, 3], "4-koma strip|ltr": [0, 1, 2, 3], "2 panels (2 rows)|rtl": [0, 1], "2 panels (2 rows)|ltr": [0, 1], "3 panels (1 + 2)|rtl": [0, 2, 1], "3 panels (1 + 2)|ltr": [0, 1, 2], "4 panels (2×2)|rtl": [1, 0, 3, 2], "4 panels (2×2)|ltr": [0, 1, 2, 3], "5 panels (2 + 1 + 2)|rtl": [1, 0, 2, 4, 3], "5 panels (2 + 1 + 2)|ltr": [0, 1, 2, 3, 4], "6 panels (3×2)|rtl": [1, 0, 3, 2, 5, 4], "6 panels (3×2)|ltr": [0, 1, 2, 3, 4, 5], "7 panels (2 + 3 + 2)|rtl": [1, 0, 4, 3, 2, 6, 5], "7 panels (2 + 3 + 2)|ltr": [0, 1, 2, 3, 4, 5, 6], "splash + 2 insets|rtl": [0, 1, 2], "splash + 2 insets|ltr": [0, 1, 2], "slanted gutters (4 panels)|rtl": [0, 2, 1, 3], "slanted gutters (4 panels)|ltr": [0, 1, 2, 3]};

test("page sizes in pixels match the backend", () => {
  assert.deepEqual(m.pageSizePx("A5 (148×210 mm)", 150), { width: 874, height: 1240 });
  assert.deepEqual(m.pageSizePx("B5 manga (182×257 mm)", 300), { width: 2150, height: 3035 });
  assert.deepEqual(m.pageSizePx("webtoon strip (800×3200 px)", 72), { width: 800, height: 3200 });
  assert.equal(m.pageSizePx("Letter", 300), null);
  assert.equal(m.mmToPx(8, 300), 94);
});

test("every preset's outlines and reading order match the backend", () => {
  assert.deepEqual(m.PRESET_NAMES.slice(1), Object.keys(PYTHON_OUTLINES));
  for (const [name, expected] of Object.entries(PYTHON_OUTLINES)) {
    const outlines = m.presetOutlines(name, 874, 1240, 47, 18);
    assert.deepEqual(outlines, expected, name);
    for (const direction of ["rtl", "ltr"]) {
      const order = m.readingOrder(outlines.map(m.outlineRect), direction);
      assert.deepEqual(order, PYTHON_ORDERS[`${name}|${direction}`], `${name} ${direction}`);
    }
  }
});

test("reading order: misaligned hand-drawn panels, a tall panel, both directions", () => {
  const wobbly = [[0.05, 0.05, 0.48, 0.45], [0.52, 0.07, 0.95, 0.46], [0.05, 0.5, 0.5, 0.95], [0.54, 0.48, 0.95, 0.93]];
  assert.deepEqual(m.readingOrder(wobbly, "rtl"), [1, 0, 3, 2]);
  assert.deepEqual(m.readingOrder(wobbly, "ltr"), [0, 1, 2, 3]);
  const tall = [[0.05, 0.05, 0.48, 0.45], [0.05, 0.5, 0.48, 0.95], [0.52, 0.05, 0.95, 0.95]];
  assert.deepEqual(m.readingOrder(tall, "rtl"), [2, 0, 1]);
  assert.deepEqual(m.readingOrder(tall, "ltr"), [0, 1, 2]);
});

test("page JSON parses, keeps unknown keys, and round-trips", () => {
  const text = JSON.stringify({ dpi: 300, panels: [
    { box: [0.05, 0.05, 0.95, 0.5], characters: [[0, 0, 0.5, 1]], prompt: "x" },
    { polygon: [[0.05, 0.55], [0.95, 0.52], [0.95, 0.95], [0.05, 0.95]], border: 4 },
    { characters: [] },
  ] });
  const { page, error } = m.parsePage(text);
  assert.equal(error, null);
  assert.deepEqual(page.panels[1].box, [0.05, 0.52, 0.95, 0.95]);
  assert.equal(page.panels[2].box, null);
  assert.deepEqual(JSON.parse(m.serializePage(page)), JSON.parse(text));
  for (const bad of ["{oops", "[1]", '{"panels": 3}', '{"panels": [{"box": [0, 0, 2, 1]}]}', '{"panels": [{"polygon": [[0, 0]]}]}']) {
    assert.equal(m.parsePage(bad).page, null, bad);
  }
});

test("preset panels take the JSON entries in reading order; Edit as custom keeps them", () => {
  const { page } = m.parsePage(JSON.stringify({ panels: [{ prompt: "first" }, { prompt: "second" }] }));
  const settings = { preset: "4 panels (2×2)", width: 874, height: 1240, margin: 47, gutter: 18, direction: "rtl" };
  const shapes = m.resolvedPanels(page, settings);
  const first = shapes.find((s) => s.order === 0);
  assert.ok(first.box[0] > 0.5, "rtl: panel 1 is on the right");
  assert.equal(first.index, 0);
  const custom = m.presetToCustom(page, settings);
  assert.equal(custom.panels.length, 4);
  assert.equal(custom.panels[0].rest.prompt, "first");
  assert.ok(custom.panels[0].box[0] > 0.5);
  const again = m.resolvedPanels(custom, { ...settings, preset: m.CUSTOM });
  assert.deepEqual(again.map((s) => s.order), [0, 1, 2, 3]);
});

test("draw, move, resize and delete panels", () => {
  const size = { width: 874, height: 1240 };
  let { page, index, error } = m.addPanel(m.emptyPage(), { x: 0.1, y: 0.1 }, { x: 0.5, y: 0.4 }, size);
  assert.equal(error, null);
  assert.deepEqual(page.panels[index].box, [0.1, 0.1, 0.5, 0.4]);
  assert.deepEqual(page.panels[index].rest, { characters: [], dialogs: [] });
  assert.match(m.addPanel(page, { x: 0.1, y: 0.1 }, { x: 0.11, y: 0.5 }, size).error, /too small/);
  assert.equal(m.hitPanel(page, { x: 0.2, y: 0.2 }), 0);
  assert.equal(m.hitPanel(page, { x: 0.8, y: 0.8 }), null);
  const original = page.panels[0];
  page = m.editPanel(page, 0, original, "move", { x: 0.2, y: 0.2 }, { x: 0.3, y: 0.25 }, size);
  page.panels[0].box.forEach((v, k) => assert.ok(Math.abs(v - [0.2, 0.15, 0.6, 0.45][k]) < 1e-9));
  page = m.editPanel(page, 0, page.panels[0], "se", null, { x: 0.9, y: 0.9 }, size);
  assert.deepEqual(page.panels[0].box.slice(2), [0.9, 0.9]);
  const slanted = { box: [0, 0, 1, 1], polygon: [[0, 0], [1, 0], [1, 0.8], [0, 1]], rest: {} };
  const moved = m.editPanel({ panels: [slanted], rest: {} }, 0, slanted, "se", null, { x: 0.5, y: 0.5 }, size);
  assert.deepEqual(moved.panels[0].polygon, [[0, 0], [0.5, 0], [0.5, 0.4], [0, 0.5]]);
  assert.equal(m.deletePanel(page, 0).panels.length, 0);
});

test("panels are hit inside their outline: slanted polygons, preset panels by reading number, insets on top", () => {
  const slanted = { box: [0, 0, 1, 1], polygon: [[0, 0], [1, 0], [1, 0.4], [0, 0.6]], rest: {} };
  const below = { box: [0, 0.4, 1, 1], polygon: [[0, 0.62], [1, 0.42], [1, 1], [0, 1]], rest: {} };
  const page = { panels: [slanted, below], rest: {} };
  assert.equal(m.hitPanel(page, { x: 0.1, y: 0.5 }), 0, "left side: under the slanted gutter's high end");
  assert.equal(m.hitPanel(page, { x: 0.9, y: 0.5 }), 1, "right side: inside the lower panel's bounding box and polygon");
  assert.equal(m.hitPanel(page, { x: 0.5, y: 0.505 }), null, "in the gutter");

  const settings = { preset: "4 panels (2×2)", width: 874, height: 1240, margin: 47, gutter: 18, direction: "rtl" };
  const empty = m.emptyPage();
  assert.equal(m.entryAt(empty, settings, { x: 0.8, y: 0.2 }), 0, "rtl: the top right panel is read first");
  assert.equal(m.entryAt(empty, settings, { x: 0.2, y: 0.8 }), 3);
  assert.equal(m.entryAt(empty, settings, { x: 0.01, y: 0.01 }), null, "the margin");
  const splash = { ...settings, preset: "splash + 2 insets" };
  assert.equal(m.entryAt(empty, splash, { x: 0.75, y: 0.15 }), 1, "an inset wins over the splash panel");
  assert.equal(m.entryAt(empty, splash, { x: 0.5, y: 0.5 }), 0);
  const shapes = m.resolvedPanels(empty, settings);
  assert.equal(m.shapeOfEntry(shapes, settings.preset, 3).order, 3);
  assert.equal(m.shapeOfEntry(shapes, settings.preset, 4), null);
  assert.equal(m.shapeOfEntry(shapes, settings.preset, null), null);
});
