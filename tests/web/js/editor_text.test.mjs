// Unit tests of the editors' texts (web/js/editor_text.js) and of their Chinese and Japanese tables
// (locales/{zh,ja}/main.json, key "diffsensei"): node --test tests/web/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as text from "../../../web/js/editor_text.js";
import * as layout from "../../../web/js/layout_model.js";
import * as cast from "../../../web/js/page_cast.js";

const LANGUAGES = ["zh", "ja"];
// vue-i18n gives these a meaning in messages (plural bar, linked message, literal, HTML); our texts avoid them.
const RESERVED = /[|@%$<>]/;

function tableOf(lang) {
  const main = JSON.parse(readFileSync(new URL(`../../../locales/${lang}/main.json`, import.meta.url), "utf8"));
  return main.diffsensei;
}

test("English texts fill in their values; 'one' and 'other' follow n", () => {
  assert.equal(text.say("layout.full", { max: 64 }), "a panel holds at most 64 boxes; delete one first.");
  assert.equal(text.say("layout.characters", { n: 1 }), "1 character");
  assert.equal(text.say("layout.characters", { n: 2 }), "2 characters");
  assert.equal(text.say("layout.snapTip", { n: 16 }), "Snap boxes to a 16×16 grid");
  assert.equal(text.say("layout.snapTip"), "Snap boxes to a {n}×{n} grid", "a missing value stays visible");
  assert.equal(text.say("no.such.key"), "no.such.key");
});

test("a translation is used key by key, with English for what it lacks, and reaches the models' messages", () => {
  const before = text.stringsStamp();
  text.useStrings({ layout: { tooSmall: "框太小：至少 {min} 像素。", characters: { other: "{n} 个角色" } } });
  try {
    assert.notEqual(text.stringsStamp(), before, "switching the table moves the stamp (editors relabel)");
    assert.equal(text.say("layout.characters", { n: 1 }), "1 个角色", "no 'one' form: 'other' for every n");
    assert.equal(text.say("layout.clear"), "Clear", "a missing key falls back to English");
    const end = layout.endDrag(layout.emptyLayout(), { type: "create", kind: "characters", start: { x: 0.1, y: 0.1 } },
      { x: 0.101, y: 0.2 }, { minSize: [0.05, 0.05] });
    assert.equal(end.message, "框太小：至少 32 像素。");
  } finally {
    text.useStrings(null);
  }
  assert.equal(text.say("layout.tooSmall", { min: 32 }), "box too small: drag at least 32 px of the panel each way.");
});

test("the table for a locale: the exact language, else its base language, else none (English)", () => {
  // /i18n merges each language's main.json keys (and nodeDefs.json as "nodeDefs") over every pack.
  const i18n = { zh: { diffsensei: { a: "zh" }, nodeDefs: {} }, ja: { nodeCategories: {}, nodeDefs: {} } };
  assert.deepEqual(text.stringsFor(i18n, "zh"), { a: "zh" });
  assert.deepEqual(text.stringsFor(i18n, "zh-CN"), { a: "zh" });
  assert.equal(text.stringsFor(i18n, "ja"), null, "another pack's main.json without our key");
  assert.equal(text.stringsFor(i18n, "en"), null);
  assert.equal(text.stringsFor(null, "zh"), null);
});

test("a typed cast of 'all' in the language in use means every character, and CJK commas separate numbers", () => {
  text.useStrings({ cast: { all: "全部" } });
  try {
    assert.deepEqual(cast.parseCastText("全部"), { cast: null, error: null });
    assert.deepEqual(cast.parseCastText("all"), { cast: null, error: null }, "the English word always works");
    assert.deepEqual(cast.parseCastText("1、3"), { cast: [1, 3], error: null });
    assert.deepEqual(cast.parseCastText("2，1"), { cast: [2, 1], error: null });
    assert.match(cast.parseCastText("x").error, /"全部" for every character/);
  } finally {
    text.useStrings(null);
  }
});

for (const lang of LANGUAGES) {
  test(`locales/${lang}/main.json translates every editor text, with the same values, and nothing else`, () => {
    const table = tableOf(lang);
    assert.ok(table && typeof table === "object", `locales/${lang}/main.json has no "diffsensei" key`);
    const english = text.stringKeys(text.ENGLISH);
    const translated = text.stringKeys(table);
    assert.deepEqual(translated.filter((k) => !english.includes(k)), [], "keys that no editor text has");
    assert.deepEqual(english.filter((k) => !translated.includes(k)), [], "editor texts without a translation");
    const lookup = (tree, key) => key.split(".").reduce((node, part) => node[part], tree);
    for (const key of english) {
      const own = lookup(table, key);
      assert.equal(typeof own, "string", key);
      assert.ok(own.trim(), `${key} is empty`);
      assert.deepEqual(text.placeholders(own), text.placeholders(lookup(text.ENGLISH, key)), `${key}: {values} differ`);
      assert.doesNotMatch(own, RESERVED, `${key} uses a character vue-i18n reads as syntax`);
    }
  });
}

test("the English texts avoid vue-i18n syntax too (a translation starts from them)", () => {
  const lookup = (key) => key.split(".").reduce((node, part) => node[part], text.ENGLISH);
  for (const key of text.stringKeys(text.ENGLISH)) assert.doesNotMatch(lookup(key), RESERVED, key);
});
