// Browser check of the page canvas on "DiffSensei: Page layout" against a running ComfyUI (started by
// test_page_layout_browser.py):
//
//   node tests/web/page_layout_browser.mjs --url http://127.0.0.1:PORT --out DIR [--chromium PATH]
//
// Loads a one-node graph, draws two panels with the mouse on a custom page, checks the widget value, the reading
// numbers (right to left), graphToPrompt(), then turns a preset into drawn panels with "Edit as custom". Writes
// DIR/result.json (with the final page JSON) and DIR/page_layout.png; exits 1 with the failed check on stderr.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const { values: args } = parseArgs({
  options: { url: { type: "string" }, out: { type: "string" }, chromium: { type: "string", default: "/usr/bin/chromium" } },
});
assert.ok(args.url && args.out, "--url and --out are required");
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"];
const CUSTOM = "custom (drawn panels)";
const PROMPT = {
  1: { class_type: "DiffSenseiPageLayout", inputs: {
    preset: CUSTOM, page_size: "A5 (148×210 mm)", dpi: 150, direction: "rtl", margin_mm: 8, gutter_mm: 3, border_mm: 0.5,
    page: '{"panels": []}' } },
};
const result = { steps: [], console: [] };
const step = (name, data = {}) => {
  result.steps.push({ name, ...data });
  process.stdout.write(`ok - ${name}\n`);
};

const profile = mkdtempSync(join(tmpdir(), "dss-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: args.chromium, headless: true, viewport: { width: 1200, height: 900 }, args: FLAGS,
});
const page = context.pages()[0] ?? await context.newPage();
page.on("console", (msg) => msg.type() === "error" && result.console.push(msg.text()));
page.on("pageerror", (err) => result.console.push(`pageerror: ${err.message}`));

try {
  await run();
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err?.stack ?? err);
  await page.screenshot({ path: join(args.out, "failure.png") }).catch(() => {});
  process.stderr.write(`FAILED: ${result.error}\n`);
  process.exitCode = 1;
} finally {
  writeFileSync(join(args.out, "result.json"), JSON.stringify(result, null, 2));
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

async function run() {
  await page.goto(args.url);
  await page.waitForFunction(() => window.comfyAPI?.app?.app?.graph && window.LiteGraph?.registered_node_types?.DiffSenseiPageLayout,
    null, { timeout: 60000 });
  await page.keyboard.press("Escape");
  const served = await page.evaluate(async () => {
    const extensions = await (await fetch("/extensions")).json();
    return extensions.filter((e) => e.includes("ComfyUI-DiffSensei"));
  });
  assert.ok(served.some((e) => e.endsWith("/js/page_layout.js")), JSON.stringify(served));
  assert.ok(served.some((e) => e.endsWith("/js/panel_layout.js")), "the panel editor is still served");
  step("app loaded, page canvas served", { served });

  await page.evaluate(async (prompt) => {
    const { app } = window.comfyAPI.app;
    await app.loadApiJson(prompt, "diffsensei_page_test");
    const node = app.graph.getNodeById(1);
    node.pos = [40, 40];
    node.setSize([420, 760]);
    app.canvas.ds.scale = 1;
    app.canvas.ds.offset = [0, 0];
    app.graph.setDirtyCanvas(true, true);
  }, PROMPT);
  const canvas = page.locator("canvas.diffsensei-page-canvas");
  await canvas.waitFor({ state: "visible", timeout: 20000 });
  const state = () => page.evaluate(() => {
    const node = window.comfyAPI.app.app.graph.getNodeById(1);
    const editor = node.diffsenseiPageEditor;
    const widget = (name) => node.widgets.find((w) => w.name === name);
    return { value: widget("page").value, preset: widget("preset").value, hidden: !!widget("page").hidden,
      status: editor.status.textContent, nodes: window.comfyAPI.app.app.graph.nodes.length };
  });
  const b0 = await canvas.boundingBox();
  const aspect = (b0.width - 16) / (b0.height - 16);
  assert.ok(Math.abs(aspect - 874 / 1240) < 0.03, `the canvas has the A5 shape: ${aspect}`);
  assert.equal((await state()).hidden, true, "the raw JSON box is hidden behind the canvas");
  step("node loaded with a page-shaped canvas", { aspect });

  const at = async (x, y) => {
    const b = await canvas.boundingBox();
    return [b.x + 8 + x * (b.width - 16), b.y + 8 + y * (b.height - 16)];
  };
  const drag = async (from, to) => {
    const [x1, y1] = await at(...from);
    const [x2, y2] = await at(...to);
    await page.mouse.move(x1, y1);
    await page.mouse.down();
    await page.mouse.move(x2, y2, { steps: 8 });
    await page.mouse.up();
  };
  await drag([0.06, 0.06], [0.47, 0.5]); // left panel drawn first
  await drag([0.53, 0.06], [0.94, 0.5]); // then the right one
  let s = await state();
  let value = JSON.parse(s.value);
  const near = (got, want) => got.every((v, i) => Math.abs(v - want[i]) < 0.012);
  assert.equal(value.panels.length, 2, s.value);
  assert.ok(near(value.panels[0].box, [0.06, 0.06, 0.47, 0.5]), `panel 1 ${value.panels[0].box}`);
  assert.ok(near(value.panels[1].box, [0.53, 0.06, 0.94, 0.5]), `panel 2 ${value.panels[1].box}`);
  assert.deepEqual(value.panels[0].characters, []);
  const order = await page.evaluate(async () => {
    const model = await import("/extensions/ComfyUI-DiffSensei/js/page_model.js");
    const editor = window.comfyAPI.app.app.graph.getNodeById(1).diffsenseiPageEditor;
    return model.resolvedPanels(editor.page, editor.settings).map((p) => p.order);
  });
  assert.deepEqual(order, [1, 0], "right to left: the right panel is read first");
  step("two panels drawn with the mouse", { value, order });

  // Move the right panel down a little by dragging its inside; a tiny drag adds nothing.
  await drag([0.7, 0.3], [0.7, 0.35]);
  value = JSON.parse((await state()).value);
  assert.ok(near(value.panels[1].box, [0.53, 0.11, 0.94, 0.55]), `moved panel 2 ${value.panels[1].box}`);
  await drag([0.2, 0.8], [0.205, 0.805]);
  s = await state();
  assert.equal(JSON.parse(s.value).panels.length, 2);
  assert.match(s.status, /too small/);
  step("move, tiny panel refused", { status: s.status });

  const prompt = await page.evaluate(async () => (await window.comfyAPI.app.app.graphToPrompt()).output);
  assert.equal(prompt["1"].inputs.page, (await state()).value, "the API prompt sends the drawn page");
  assert.ok(!("page_editor" in prompt["1"].inputs), "the canvas itself is not serialised");
  step("graphToPrompt sends the page JSON");

  // A preset, then "Edit as custom": the preset's panels become drawn panels in reading order.
  await page.evaluate(() => {
    const node = window.comfyAPI.app.app.graph.getNodeById(1);
    const preset = node.widgets.find((w) => w.name === "preset");
    preset.value = "4 panels (2×2)";
    preset.callback?.(preset.value);
    node.widgets.find((w) => w.name === "page").value = JSON.stringify({ panels: [{ prompt: "first" }] });
    node.diffsenseiPageEditor.sync(true);
  });
  await page.locator('.diffsensei-page-editor button[data-action="custom"]').click();
  s = await state();
  value = JSON.parse(s.value);
  assert.equal(s.preset, CUSTOM);
  assert.equal(value.panels.length, 4);
  assert.equal(value.panels[0].prompt, "first");
  assert.ok(value.panels[0].box[0] > 0.5, "panel 1 of a right-to-left page is on the right");
  await page.locator('.diffsensei-page-editor button[data-action="json"]').click();
  await page.screenshot({ path: join(args.out, "page_layout.png") });
  result.page = s.value;
  result.console_errors = result.console.length;
  step("preset turned into drawn panels", { value });
}
