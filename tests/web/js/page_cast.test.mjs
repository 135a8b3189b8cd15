// Unit tests of the page canvas' casts (web/js/page_cast.js): node --test tests/web/js/
import assert from "node:assert/strict";
import { test } from "node:test";

import * as c from "../../../web/js/page_cast.js";
import * as m from "../../../web/js/page_model.js";

test("importing the cast module registers nothing and only exports functions", async () => {
  // ComfyUI loads every .js under web/ as an extension: a fresh copy, loaded with a frontend present, must stay inert.
  const registered = [];
  globalThis.window = { comfyAPI: { app: { app: { registerExtension: (ext) => registered.push(ext) } } } };
  try {
    const fresh = await import(`../../../web/js/page_cast.js?fresh=${Date.now()}`);
    assert.deepEqual(registered, []);
    assert.ok(Object.values(fresh).every((v) => typeof v === "function"), Object.keys(fresh).join(", "));
    assert.deepEqual(Object.keys(fresh).sort(), Object.keys(c).sort());
  } finally {
    delete globalThis.window;
  }
});

test("cast text parses like the backend wants it, with clear errors", () => {
  assert.deepEqual(c.parseCastText("2"), { cast: [2], error: null });
  assert.deepEqual(c.parseCastText(" 1, 3 "), { cast: [1, 3], error: null });
  assert.deepEqual(c.parseCastText("3 1"), { cast: [3, 1], error: null });
  assert.deepEqual(c.parseCastText(""), { cast: null, error: null });
  assert.deepEqual(c.parseCastText("All"), { cast: null, error: null });
  assert.match(c.parseCastText("0").error, /from 1.*got "0"/);
  assert.match(c.parseCastText("1.5").error, /character numbers/);
  assert.match(c.parseCastText("hero").error, /got "hero"/);
  assert.match(c.parseCastText("2, 2").error, /character 2 is named twice/);
  assert.equal(c.formatCast([1, 3]), "1, 3");
  assert.equal(c.formatCast(null), "all");
});

test("setting a cast keeps each character's box, drops or adds boxes, and round-trips through the JSON", () => {
  const hero = [0.02, 0.3, 0.52, 1];
  const rival = { box: [0.5, 0.35, 0.98, 1], name: "rival" };
  const text = JSON.stringify({ panels: [{ characters: [hero, rival], dialogs: [], prompt: "both" }] });
  const { page } = m.parsePage(text);
  assert.deepEqual(c.boxCharacters(page.panels[0]), [1, 2], "no cast: box k shows character k + 1");

  const only2 = c.castPanel(page, 0, [2]);
  assert.deepEqual([only2.added, only2.removed], [0, 1]);
  assert.deepEqual(only2.page.panels[0].rest.characters, [rival], "character 2 keeps its box (and its name)");
  assert.deepEqual(only2.page.panels[0].rest.cast, [2]);
  assert.deepEqual(c.boxCharacters(only2.page.panels[0]), [2]);
  assert.equal(page.panels[0].rest.characters.length, 2, "the input page is not changed");
  const saved = JSON.parse(m.serializePage(only2.page));
  assert.deepEqual(saved.panels[0], { characters: [rival], dialogs: [], prompt: "both", cast: [2] });

  const swapped = c.castPanel(page, 0, [2, 1]);
  assert.deepEqual(swapped.page.panels[0].rest.characters, [rival, hero], "box order follows the cast");
  const grown = c.castPanel(only2.page, 0, [2, 1]);
  assert.equal(grown.added, 1);
  assert.deepEqual(grown.page.panels[0].rest.characters[0], rival);
  const fresh = grown.page.panels[0].rest.characters[1];
  assert.ok(fresh[0] > 0.45 && fresh[2] <= 0.95 && fresh[3] === 1, `a new box in the second column: ${fresh}`);
  assert.deepEqual(Object.keys(c.castPanel(only2.page, 0, [1]).page.panels[0].rest), ["characters", "dialogs", "prompt", "cast"],
    "an existing cast key keeps its place");

  const back = c.castPanel(swapped.page, 0, null);
  assert.equal("cast" in back.page.panels[0].rest, false, "all: the key is removed");
  assert.deepEqual(back.page.panels[0].rest.characters, [hero, rival], "all: box k shows character k + 1 again");
});

test("a cast on a preset panel without an entry yet pads the entries; cast problems name the reading number", () => {
  const settings = { preset: "4 panels (2×2)", width: 874, height: 1240, margin: 47, gutter: 18, direction: "rtl" };
  const { page, added } = c.castPanel(m.emptyPage(), 2, [1]);
  assert.equal(added, 1);
  assert.deepEqual(JSON.parse(m.serializePage(page)).panels, [{}, {}, { cast: [1], characters: [[0.06, 0.25, 0.94, 1]] }]);
  assert.deepEqual(c.castProblems(page, settings), []);

  const bad = m.parsePage(JSON.stringify({ panels: [
    { characters: [[0, 0, 1, 1]] },
    { characters: [[0, 0, 0.5, 1], [0.5, 0, 1, 1]], cast: [2] },
    { characters: [[0, 0, 1, 1]], cast: "2" },
    { characters: [[0, 0, 0.5, 1], [0.5, 0, 1, 1]], cast: [1, 1] },
  ] })).page;
  const problems = c.castProblems(bad, settings);
  assert.equal(problems.length, 3);
  assert.match(problems[0], /^panel 2: the cast 2 names 1 character\(s\) but the panel has 2 character box\(es\).*Delete 1/);
  assert.match(problems[1], /^panel 3: "cast" must list character numbers.*got "2"/);
  assert.match(problems[2], /^panel 4: the cast names character 1 twice/);
  assert.deepEqual(c.boxCharacters(bad.panels[2]), [null]);
  assert.match(c.castProblem({ rest: { characters: [], cast: [1, 2] } }, "panel 9"), /Add 2 character box/);
  assert.equal(c.castProblem({ rest: { characters: [[0, 0, 1, 1]], cast: null } }, "panel 1"), null);
});
