// Unit tests of the page canvas' pure model (web/js/page_model.js): node --test tests/web/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as m from "../../../web/js/page_model.js";

// What the backend computes (diffsensei_core.page.presets + reading order) for A5 at 150 dpi, margin 47 px, gutter
// 18 px: tests/fixtures/page_presets.json, which tests/core/test_page_layout.py checks the backend against too.
const FIXTURE = JSON.parse(readFileSync(new URL("../../fixtures/page_presets.json", import.meta.url), "utf8"));
const PYTHON_OUTLINES = FIXTURE.outlines;
const PYTHON_ORDERS = FIXTURE.reading_orders;

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
    const { width, height, margin, gutter } = FIXTURE.page;
    const outlines = m.presetOutlines(name, width, height, margin, gutter);
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
