// Unit tests of the Panel layout editor's pure model (web/js/layout_model.js): node --test tests/web/js/
import assert from "node:assert/strict";
import { test } from "node:test";

import * as m from "../../../web/js/layout_model.js";

const PANEL = { width: 1024, height: 768 };
const close = (actual, expected, what = "") => {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-9, `${what} [${i}]: ${v} != ${expected[i]}`));
};

test("the backend's example layout parses and round-trips", () => {
  const text = '{"characters": [[0.05, 0.1, 0.45, 0.95], [0.55, 0.1, 0.95, 0.95]], "dialogs": [[0.6, 0.0, 1.0, 0.3]]}';
  const { layout, error, warnings } = m.parseLayout(text, PANEL);
  assert.equal(error, null);
  assert.deepEqual(warnings, []);
  assert.equal(layout.characters.length, 2);
  assert.deepEqual(layout.dialogs[0].box, [0.6, 0, 1, 0.3]);
  assert.deepEqual(JSON.parse(m.serializeLayout(layout)), JSON.parse(text));
});

test("empty text is an empty layout; object boxes keep their extra keys", () => {
  assert.deepEqual(m.parseLayout("  ").layout, m.emptyLayout());
  const { layout } = m.parseLayout('{"characters": [{"box": [0.1, 0.1, 0.5, 0.5], "name": "Aki"}]}');
  assert.deepEqual(layout.characters[0], { box: [0.1, 0.1, 0.5, 0.5], extra: { name: "Aki" } });
  assert.deepEqual(JSON.parse(m.serializeLayout(layout)).characters[0], { name: "Aki", box: [0.1, 0.1, 0.5, 0.5] });
});

test("bad layouts give an error naming the problem", () => {
  const cases = [
    ["{not json", /not valid JSON/],
    ["[1, 2]", /JSON object/],
    ['{"boxes": []}', /unknown keys boxes/],
    ['{"characters": 3}', /must be a list/],
    ['{"characters": [[0, 0, 1]]}', /character box 1 must be \[x1, y1, x2, y2\]/],
    ['{"dialogs": [[0, 0, "a", 1]]}', /dialog box 1 must hold 4 finite numbers/],
    ['{"characters": [[0, 0, 512, 384]]}', /far outside 0\.\.1/],
    ['{"characters": [[0.5, 0.2, 0.5, 0.8]]}', /no area/],
    ['{"width": 512, "characters": []}', /width 512 but the node's width is 1024/],
  ];
  for (const [text, pattern] of cases) {
    const { layout, error } = m.parseLayout(text, PANEL);
    assert.equal(layout, null, text);
    assert.match(error, pattern, text);
  }
});

test("more than 64 boxes is refused, 64 is fine", () => {
  const boxes = (n) => Array.from({ length: n }, () => [0.1, 0.1, 0.2, 0.2]);
  assert.equal(m.parseLayout(JSON.stringify({ characters: boxes(40), dialogs: boxes(24) })).error, null);
  assert.match(m.parseLayout(JSON.stringify({ characters: boxes(40), dialogs: boxes(25) })).error, /65 boxes; at most 64/);
});

test("swapped corners are sorted and overshoots clamped, with warnings (as the backend does)", () => {
  const { layout, warnings } = m.parseLayout('{"characters": [[0.9, 0.8, 0.1, -0.05]]}');
  assert.deepEqual(layout.characters[0].box, [0.1, 0, 0.9, 0.8]);
  assert.equal(warnings.length, 2);
});

test("minimum size, fitting and snapping", () => {
  close(m.minBoxSize(PANEL), [32 / 1024, 32 / 768]);
  close(m.minBoxSize({ width: 16, height: 64 }), [1, 0.5]);
  assert.deepEqual(m.fitRect(400, 400, PANEL), { x: 0, y: 50, w: 400, h: 300 });
  const r = m.fitRect(400, 100, PANEL);
  close([r.x, r.y, r.w, r.h], [200 - 200 / 3, 0, 400 / 3, 100], "fitRect");
  assert.equal(m.snapValue(0.26), 0.25);
  assert.equal(m.snapValue(0.04), 0.0625);
  assert.equal(m.snapValue(0.03), 0);
});

test("creating a box: too small is refused, a click creates nothing, a real drag adds and selects", () => {
  const empty = m.emptyLayout();
  const opts = { minSize: m.minBoxSize(PANEL) };
  const { drag } = m.beginDrag(empty, { x: 0.1, y: 0.1 }, { kind: "dialogs" });
  assert.equal(drag.type, "create");
  let result = m.endDrag(empty, drag, { x: 0.1, y: 0.1 }, opts);
  assert.equal(m.boxCount(result.layout), 0);
  assert.equal(result.message, null);
  result = m.endDrag(empty, drag, { x: 0.11, y: 0.5 }, opts);
  assert.equal(m.boxCount(result.layout), 0);
  assert.match(result.message, /too small/);
  result = m.endDrag(empty, drag, { x: 0.5, y: 0.4 }, opts);
  assert.deepEqual(result.layout.dialogs.map((e) => e.box), [[0.1, 0.1, 0.5, 0.4]]);
  assert.deepEqual(result.selection, { kind: "dialogs", index: 0 });
  assert.equal(empty.dialogs.length, 0, "the input layout is unchanged");
});

test("dragging backwards, past the border and with snapping gives a normalised box", () => {
  const { box, valid } = m.boxFromCorners({ x: 1.2, y: 0.52 }, { x: 0.3, y: -0.1 }, { snap: true });
  assert.deepEqual(box, [0.3125, 0, 1, 0.5]);
  assert.ok(valid);
});

test("moving keeps the box whole inside the panel", () => {
  const layout = m.parseLayout('{"characters": [[0.1, 0.1, 0.3, 0.4]]}').layout;
  const start = m.beginDrag(layout, { x: 0.2, y: 0.2 });
  assert.equal(start.drag.type, "move");
  assert.deepEqual(start.selection, { kind: "characters", index: 0 });
  const { layout: moved } = m.endDrag(layout, start.drag, { x: 1.5, y: 0.3 });
  close(moved.characters[0].box, [0.8, 0.2, 1, 0.5]);
  close(m.nudgeBox(layout, start.selection, -0.5, 0).characters[0].box, [0, 0.1, 0.2, 0.4]);
});

test("resizing by a handle never flips the box nor goes below the minimum size", () => {
  const layout = m.parseLayout('{"characters": [[0.2, 0.2, 0.6, 0.6]]}').layout;
  const selection = { kind: "characters", index: 0 };
  const tolerance = { x: 0.02, y: 0.02 };
  const { drag } = m.beginDrag(layout, { x: 0.601, y: 0.599 }, { tolerance, selection });
  assert.equal(drag.type, "resize");
  assert.equal(drag.handle, "se");
  const minSize = [0.05, 0.1];
  close(m.endDrag(layout, drag, { x: 0.8, y: 0.9 }, { minSize }).layout.characters[0].box, [0.2, 0.2, 0.8, 0.9]);
  close(m.endDrag(layout, drag, { x: 0.0, y: 0.0 }, { minSize }).layout.characters[0].box, [0.2, 0.2, 0.25, 0.3]);
  close(m.resizedBox([0.9, 0.2, 1, 0.6], "w", { x: 0.99, y: 0 }, { minSize: [0.2, 0] }), [0.8, 0.2, 1, 0.6]);
});

test("hit testing prefers the selected box's handles, then the topmost box", () => {
  const layout = m.parseLayout('{"characters": [[0.1, 0.1, 0.9, 0.9]], "dialogs": [[0.4, 0.4, 0.6, 0.6]]}').layout;
  const tol = { x: 0.01, y: 0.01 };
  assert.deepEqual(m.hitTest(layout, { x: 0.5, y: 0.5 }, tol), { kind: "dialogs", index: 0, handle: "move" });
  const sel = { kind: "characters", index: 0 };
  assert.deepEqual(m.hitTest(layout, { x: 0.5, y: 0.5 }, tol, sel), { kind: "characters", index: 0, handle: "move" });
  assert.deepEqual(m.hitTest(layout, { x: 0.5, y: 0.905 }, tol, sel), { kind: "characters", index: 0, handle: "s" });
  assert.equal(m.hitTest(layout, { x: 0.95, y: 0.5 }, tol), null);
});

test("delete, reorder and the 64-box limit", () => {
  let layout = m.parseLayout('{"characters": [[0, 0, 0.2, 0.2], [0.3, 0, 0.5, 0.2], [0.6, 0, 0.8, 0.2]]}').layout;
  const r = m.reorderCharacter(layout, 2, -2);
  assert.deepEqual(r.layout.characters.map((e) => e.box[0]), [0.6, 0, 0.3]);
  assert.deepEqual(r.selection, { kind: "characters", index: 0 });
  assert.equal(m.reorderCharacter(layout, 0, -1).layout, layout, "moving the first one earlier does nothing");
  layout = m.deleteBox(layout, { kind: "characters", index: 1 });
  assert.deepEqual(layout.characters.map((e) => e.box[0]), [0, 0.6]);
  for (let i = m.boxCount(layout); i < m.MAX_BOXES; i++) layout = m.addBox(layout, "dialogs", [0, 0, 0.5, 0.5]).layout;
  const full = m.addBox(layout, "characters", [0, 0, 0.5, 0.5]);
  assert.equal(full.layout, layout);
  assert.match(full.error, /at most 64/);
});

test("serialised coordinates are rounded and colours cycle", () => {
  const text = m.serializeLayout({ characters: [{ box: [1 / 3, 0, 2 / 3, 1], extra: null }], dialogs: [] });
  assert.equal(text, '{"characters":[[0.3333,0,0.6667,1]],"dialogs":[]}');
  assert.equal(m.characterColour(0), m.characterColour(m.CHARACTER_COLOURS.length));
  assert.notEqual(m.characterColour(0), m.characterColour(1));
});

test("counts against connected reference images", () => {
  const layout = m.parseLayout('{"characters": [[0, 0, 0.5, 0.5]]}').layout;
  assert.equal(m.describeCounts(layout), "1 character, 0 dialogs");
  assert.match(m.describeCounts(layout, 3), /3 reference images connected: draw 2 more/);
  assert.equal(m.describeCounts(layout, 1), "1 character, 0 dialogs");
});
