// Browser check of the page canvas on "DiffSensei: Page layout" against a running ComfyUI (started by
// test_editors_browser.py, in every frontend mode):
//
//   node tests/web/page_layout_browser.mjs --url http://127.0.0.1:PORT --out DIR [--chromium PATH]
//
// Loads a one-node graph, draws two panels with the mouse on a custom page, checks the widget value, the reading
// numbers (right to left), graphToPrompt(), types a selected panel's cast (its character boxes follow), sets the cast
// of a preset panel without leaving the preset, turns the preset into drawn panels with "Edit as custom", and turns
// another preset into drawn panels by dragging one of its panels. Writes DIR/result.json (with the page JSON after
// "Edit as custom"), DIR/page_layout_node.png (the drawn panels, one selected), DIR/page_layout_cast.png (a preset
// page with casts) and DIR/page_layout.png; exits 1 with the failed check on stderr.
// The harness (browser, steps, result file) is ./browser_harness.mjs.
import assert from "node:assert/strict";
import { join } from "node:path";

import { canvasMouse, loadApiGraph, near, openApp, packExtensions, runBrowserCheck } from "./browser_harness.mjs";

const CUSTOM = "custom (drawn panels)";
const PROMPT = {
  1: { class_type: "DiffSenseiPageLayout", inputs: {
    preset: CUSTOM, page_size: "A5 (148×210 mm)", dpi: 150, direction: "rtl", margin_mm: 8, gutter_mm: 3, border_mm: 0.5,
    page: '{"panels": []}' } },
};

await runBrowserCheck({ viewport: { width: 1200, height: 900 } }, async ({ args, page, result, step }) => {
  await openApp(page, args.url, "DiffSenseiPageLayout");
  const { served, registered } = await packExtensions(page);
  assert.ok(served.some((e) => e.endsWith("/js/page_layout.js")), JSON.stringify(served));
  assert.ok(served.some((e) => e.endsWith("/js/panel_layout.js")), "the panel editor is still served");
  assert.ok(served.some((e) => e.endsWith("/js/canvas_widget.js")), "the shared binding is served (and loaded) too");
  assert.ok(served.some((e) => e.endsWith("/js/page_cast.js")), "the cast model is served (and loaded) too");
  // The shared module is loaded on its own and by both editors: still one registration per editor, none of its own.
  assert.deepEqual(registered.sort(), ["DiffSensei.PageLayoutEditor", "DiffSensei.PanelLayoutEditor"]);
  step("app loaded, page canvas served", { served, registered });

  await loadApiGraph(page, {
    prompt: PROMPT, positions: { 1: [40, 40] }, sizes: { 1: [420, 760] }, name: "diffsensei_page_test",
  });
  const canvas = page.locator("canvas.diffsensei-page-canvas");
  await canvas.waitFor({ state: "visible", timeout: 20000 });
  const state = () => page.evaluate(() => {
    const node = window.comfyAPI.app.app.graph.getNodeById(1);
    const editor = node.diffsenseiPageEditor;
    const widget = (name) => node.widgets.find((w) => w.name === name);
    return { value: widget("page").value, preset: widget("preset").value, hidden: !!widget("page").hidden,
      status: editor.status.textContent, selected: editor.selected, nodes: window.comfyAPI.app.app.graph.nodes.length };
  });
  const mouse = canvasMouse(page, canvas);
  const aspect = await mouse.aspect();
  assert.ok(Math.abs(aspect - 874 / 1240) < 0.03, `the canvas has the A5 shape: ${aspect}`);
  assert.equal((await state()).hidden, true, "the raw JSON box is hidden behind the canvas");
  step("node loaded with a page-shaped canvas", { aspect });

  await mouse.drag([0.06, 0.06], [0.47, 0.5]); // left panel drawn first
  await mouse.drag([0.53, 0.06], [0.94, 0.5]); // then the right one
  let s = await state();
  let value = JSON.parse(s.value);
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

  // Move the right panel down a little by dragging its inside, then resize it by its bottom-left handle.
  await mouse.drag([0.7, 0.3], [0.7, 0.35]);
  value = JSON.parse((await state()).value);
  assert.ok(near(value.panels[1].box, [0.53, 0.11, 0.94, 0.55]), `moved panel 2 ${value.panels[1].box}`);
  await mouse.drag([0.53, 0.55], [0.6, 0.6]);
  value = JSON.parse((await state()).value);
  assert.ok(near(value.panels[1].box, [0.6, 0.11, 0.94, 0.6]), `resized panel 2 ${value.panels[1].box}`);
  step("move and resize", { box: value.panels[1].box });
  await page.mouse.move(700, 860); // away from the tabs and toolbars (their hover popups)
  const editorBox = await page.locator(".diffsensei-page-editor").boundingBox();
  await page.screenshot({
    path: join(args.out, "page_layout_node.png"),
    clip: { x: Math.max(editorBox.x - 20, 0), y: Math.max(editorBox.y - 20, 0), width: editorBox.width + 40,
      height: Math.min(editorBox.height + 40, 900 - Math.max(editorBox.y - 20, 0)) },
  });

  // A tiny drag on the empty page adds nothing and says why.
  await mouse.drag([0.2, 0.8], [0.205, 0.805]);
  s = await state();
  assert.equal(JSON.parse(s.value).panels.length, 2);
  assert.match(s.status, /too small/);
  step("tiny panel refused", { status: s.status });

  const prompt = await page.evaluate(async () => (await window.comfyAPI.app.app.graphToPrompt()).output);
  assert.equal(prompt["1"].inputs.page, (await state()).value, "the API prompt sends the drawn page");
  assert.ok(!("page_editor" in prompt["1"].inputs), "the canvas itself is not serialised");
  step("graphToPrompt sends the page JSON");

  // The cast of a selected panel: a click selects the right panel, the toolbar field sets its cast, and its
  // character boxes follow (one per cast member; a character keeps its box).
  const castField = page.locator('.diffsensei-page-editor input[data-field="cast"]');
  assert.equal(await castField.isDisabled(), true, "no panel selected: the cast field is off");
  await mouse.click([0.77, 0.35]);
  assert.equal(await castField.isDisabled(), false, "a panel selected: the cast field is on");
  assert.equal(await castField.inputValue(), "", "no cast yet (every character)");
  assert.match((await state()).status, /^panel 1 selected/, "right to left: the right panel is panel 1");
  const typeCast = async (text) => {
    await castField.fill(text);
    await castField.press("Enter");
    return state();
  };
  s = await typeCast("2");
  value = JSON.parse(s.value);
  assert.deepEqual(value.panels[1].cast, [2], s.value);
  assert.equal(value.panels[1].characters.length, 1, "one character box for the one cast member");
  assert.ok(near(value.panels[1].box, [0.6, 0.11, 0.94, 0.6]), "the panel itself did not move");
  assert.equal(value.panels[0].cast, undefined, "the other panel is untouched");
  assert.match(s.status, /panel 1: cast 2 \(added 1 character box/);
  const boxOf2 = value.panels[1].characters[0];
  s = await typeCast("1, 2");
  value = JSON.parse(s.value);
  assert.deepEqual(value.panels[1].cast, [1, 2]);
  assert.deepEqual(value.panels[1].characters[1], boxOf2, "character 2 keeps its box, now second");
  assert.equal(await castField.inputValue(), "1, 2");
  s = await typeCast("0");
  assert.match(s.status, /cast: expected character numbers from 1/);
  assert.deepEqual(JSON.parse(s.value).panels[1].cast, [1, 2], "a bad cast changes nothing");
  s = await typeCast("all");
  value = JSON.parse(s.value);
  assert.equal(value.panels[1].cast, undefined, "all: no cast key");
  assert.equal(value.panels[1].characters.length, 2);
  step("cast typed for a selected panel", { value });

  // A preset, then "Edit as custom": the preset's panels become drawn panels in reading order.
  await page.evaluate(() => {
    const node = window.comfyAPI.app.app.graph.getNodeById(1);
    const preset = node.widgets.find((w) => w.name === "preset");
    preset.value = "4 panels (2×2)";
    preset.callback?.(preset.value);
    node.widgets.find((w) => w.name === "page").value = JSON.stringify({ panels: [{ prompt: "first" }] });
    node.diffsenseiPageEditor.sync(true);
  });
  // A click on a preset panel selects it without leaving the preset; its cast pads the JSON's entries up to it.
  await mouse.click([0.25, 0.75]);
  s = await typeCast("1");
  value = JSON.parse(s.value);
  assert.equal(s.preset, "4 panels (2×2)", "setting a cast keeps the preset");
  assert.equal(value.panels.length, 4, s.value);
  assert.deepEqual(value.panels[3], { cast: [1], characters: value.panels[3].characters }, "bottom left is panel 4");
  assert.equal(value.panels[3].characters.length, 1);
  await mouse.click([0.75, 0.25]);
  s = await typeCast("2, 1");
  assert.deepEqual(JSON.parse(s.value).panels[0], { prompt: "first", cast: [2, 1], characters: JSON.parse(s.value).panels[0].characters });
  await page.mouse.move(700, 860); // away from the tabs and toolbars (their hover popups)
  const castBox = await page.locator(".diffsensei-page-editor").boundingBox();
  await page.screenshot({
    path: join(args.out, "page_layout_cast.png"),
    clip: { x: Math.max(castBox.x - 20, 0), y: Math.max(castBox.y - 20, 0), width: castBox.width + 40,
      height: Math.min(castBox.height + 40, 900 - Math.max(castBox.y - 20, 0)) },
  });
  step("cast of preset panels set without leaving the preset", { value: JSON.parse(s.value) });

  await page.locator('.diffsensei-page-editor button[data-action="custom"]').click();
  s = await state();
  value = JSON.parse(s.value);
  assert.equal(s.preset, CUSTOM);
  assert.equal(value.panels.length, 4);
  assert.equal(value.panels[0].prompt, "first");
  assert.ok(value.panels[0].box[0] > 0.5, "panel 1 of a right-to-left page is on the right");
  assert.deepEqual([value.panels[0].cast, value.panels[3].cast], [[2, 1], [1]], "the casts go with their panels");
  await page.locator('.diffsensei-page-editor button[data-action="json"]').click();
  await page.screenshot({ path: join(args.out, "page_layout.png") });
  result.page = s.value;
  step("preset turned into drawn panels", { value });

  // Dragging a preset panel turns the preset into drawn panels and moves that panel.
  await page.evaluate(() => {
    const node = window.comfyAPI.app.app.graph.getNodeById(1);
    const preset = node.widgets.find((w) => w.name === "preset");
    preset.value = "2 panels (2 rows)";
    preset.callback?.(preset.value);
    node.widgets.find((w) => w.name === "page").value = JSON.stringify({ panels: [] });
    node.diffsenseiPageEditor.sync(true);
  });
  const before = await page.evaluate(async () => {
    const model = await import("/extensions/ComfyUI-DiffSensei/js/page_model.js");
    const editor = window.comfyAPI.app.app.graph.getNodeById(1).diffsenseiPageEditor;
    return model.resolvedPanels(editor.page, editor.settings).find((p) => p.order === 1).box;
  });
  await mouse.drag([0.5, 0.75], [0.55, 0.75]);
  s = await state();
  value = JSON.parse(s.value);
  assert.equal(s.preset, CUSTOM, "the drag left the preset");
  assert.equal(value.panels.length, 2);
  assert.ok(near(value.panels[1].box, [before[0] + 0.05, before[1], before[2] + 0.05, before[3]]),
    `panel 2 moved right: ${value.panels[1].box} from ${before}`);
  assert.equal(s.selected, 1, "the dragged panel stays selected");
  await page.keyboard.press("Delete");
  value = JSON.parse((await state()).value);
  assert.equal(value.panels.length, 1, "Delete removes the panel that was dragged");
  assert.ok(value.panels[0].box[3] < 0.6, "the top panel is left");
  result.console_errors = result.console.length;
  step("a dragged preset panel became a drawn panel", { value });

  const ours = result.console.filter((line) => /diffsensei|page_layout|page_model|page_cast|canvas_widget/i.test(line));
  assert.deepEqual(ours, [], "console errors from the pack's scripts");
});
