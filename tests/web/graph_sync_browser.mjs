// Browser check that both canvas editors follow the graph in whatever frontend mode the server runs (started by
// test_editors_browser.py; classic canvas or Nodes 2.0, old or new frontend):
//
//   node tests/web/graph_sync_browser.mjs --url http://127.0.0.1:PORT --out DIR [--chromium PATH]
//
// Panel layout: draw, move, resize and delete boxes; undo three times, redo, undo (after each, the editor on screen
// is the node's own and shows the value the node holds); a drag after undo adds one box to the undone layout and
// brings back nothing undone; a new image on the Load Image feeding character 1 shows as its thumbnail; unlinking
// character 2 updates the reference-count warning, linking it again counts it again; the node menu shows and hides
// the JSON.
// Page layout: draw two panels, undo, redo, undo, then a drag adds one panel to the undone page. No deprecation
// warning may come from the pack's scripts. Writes DIR/result.json ({frontend, ...}), DIR/sync_layout.png and
// DIR/sync_page.png; exits 1 with the failed check on stderr. The input folder must hold dss_character_a.png (red),
// dss_character_b.png (blue) and dss_character_c.png (yellow) as test_editors_browser.py writes them.
import assert from "node:assert/strict";
import { join } from "node:path";

import {
  canvasMouse, editorState, focusGraph, frontendInfo, near, nodeMenu, openApp, ownDeprecations, recordDeprecations,
  runBrowserCheck, showNode,
} from "./browser_harness.mjs";

const PROMPT = {
  1: { class_type: "DiffSenseiPanelLayout", inputs: { width: 768, height: 512, batch_size: 1, layout: "{}" } },
  3: { class_type: "LoadImage", inputs: { image: "dss_character_a.png" } },
  4: { class_type: "LoadImage", inputs: { image: "dss_character_b.png" } },
  5: { class_type: "DiffSenseiEncodeCharacters", inputs: {
    character_1: ["3", 0], character_2: ["4", 0], grayscale: true, seed: 0, magi_masking: true } },
  6: { class_type: "DiffSenseiApply", inputs: { characters: ["5", 0], layout: ["1", 0], ip_scale: 0.6 } },
  8: { class_type: "DiffSenseiPageLayout", inputs: {
    preset: "custom (drawn panels)", page_size: "A5 (148×210 mm)", dpi: 150, direction: "rtl", margin_mm: 8,
    gutter_mm: 3, border_mm: 0.5, page: '{"panels": []}' } },
};
const LAYOUT = { property: "diffsenseiLayoutEditor", widget: "layout", cls: "diffsensei-layout-editor", serialize: "layout" };
const PAGE = { property: "diffsenseiPageEditor", widget: "page", cls: "diffsensei-page-editor", serialize: "page" };
const RED = [200, 40, 60]; // dss_character_a.png
const YELLOW = [250, 220, 0]; // dss_character_c.png

/** Pixels of the layout canvas within 12 of `rgb` in every channel (how much of a thumbnail is drawn). */
function pixelsOf(page, rgb) {
  return page.evaluate((rgb) => {
    const canvas = document.querySelector("canvas.diffsensei-layout-canvas");
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - rgb[0]) < 12 && Math.abs(data[i + 1] - rgb[1]) < 12 && Math.abs(data[i + 2] - rgb[2]) < 12) count++;
    }
    return count;
  }, rgb);
}

await runBrowserCheck({ viewport: { width: 1400, height: 900 } }, async ({ args, page, result, step }) => {
  await recordDeprecations(page);
  await openApp(page, args.url, "DiffSenseiPanelLayout");
  result.frontend = await frontendInfo(page);
  await page.evaluate((prompt) => window.comfyAPI.app.app.loadApiJson(prompt, "diffsensei_sync_test"), PROMPT);
  await showNode(page, 1);
  const canvas = page.locator("canvas.diffsensei-layout-canvas");
  await canvas.waitFor({ state: "visible", timeout: 20000 });
  step("app loaded, graph built", result.frontend);

  const layout = () => editorState(page, 1, LAYOUT);
  // The value an undo or redo restores, once the frontend has finished restoring (the next key press may be taken for
  // a new change before then).
  const waitValue = (id, spec, want, what) => page.waitForFunction(({ id, name, want }) => {
    const { app } = window.comfyAPI.app;
    const node = app.graph.getNodeById(id);
    const tracker = app.extensionManager?.workflow?.activeWorkflow?.changeTracker;
    return node?.widgets.find((w) => w.name === name).value === want && !tracker?._restoringState;
  }, { id, name: spec.widget, want }, { timeout: 10000 }).catch(() => assert.fail(`${what}: the value never became ${want}`));
  const agree = async (id, spec, what) => {
    const s = await editorState(page, id, spec);
    assert.equal(s.onScreen, 1, `${what}: ${s.onScreen} editors on screen`);
    assert.ok(s.current, `${what}: the editor on screen is not the node's current one`);
    assert.equal(s.model, s.value, `${what}: the screen shows another value than the node holds`);
    return s;
  };
  const mouse = canvasMouse(page, canvas);
  const history = [(await layout()).value];
  const edit = async (action) => {
    await action();
    history.push((await layout()).value);
  };
  await edit(() => mouse.drag([0.05, 0.1], [0.3, 0.9]));
  await edit(() => mouse.drag([0.35, 0.1], [0.6, 0.9]));
  await edit(() => mouse.drag([0.65, 0.1], [0.9, 0.9]));
  await edit(() => mouse.drag([0.15, 0.5], [0.2, 0.45])); // move box 1
  await mouse.click([0.45, 0.5]); // select box 2, then pull its bottom-right handle
  await edit(() => mouse.drag([0.6, 0.9], [0.62, 0.95]));
  await mouse.click([0.8, 0.5]);
  await edit(() => page.keyboard.press("Delete"));
  const boxes = history.map((v) => JSON.parse(v).characters ?? []);
  assert.deepEqual(boxes.map((b) => b.length), [0, 1, 2, 3, 3, 3, 2], JSON.stringify(history));
  assert.ok(near(boxes[4][0], [0.1, 0.05, 0.35, 0.85]), `moved box 1: ${boxes[4][0]}`);
  assert.ok(near(boxes[5][1], [0.35, 0.1, 0.62, 0.95]), `resized box 2: ${boxes[5][1]}`);
  await agree(1, LAYOUT, "after the edits");
  step("draw, move, resize and delete", { history });

  // Ctrl is held until the frontend has restored the state: 1.27's change tracker compares the graph on that key-up
  // without waiting for a restore in progress, which can record the half-loaded graph as a new change and drop the
  // redo history (a person's key-up comes later than a script's).
  // Keys at a person's pace: the frontend handles each key in an animation frame after the event.
  const chord = async (key, id, spec, want, what) => {
    await page.keyboard.down("Control");
    await page.waitForTimeout(100);
    await page.keyboard.press(key, { delay: 60 });
    await waitValue(id, spec, want, what);
    await page.keyboard.up("Control");
    await page.waitForTimeout(150);
    return agree(id, spec, what);
  };
  await focusGraph(page);
  for (const k of [1, 2, 3]) await chord("z", 1, LAYOUT, history[6 - k], `undo ${k}`);
  await chord("y", 1, LAYOUT, history[4], "redo");
  await chord("z", 1, LAYOUT, history[3], "undo after redo");
  const undone = await agree(1, LAYOUT, "after the undos");
  assert.match(undone.status, /3 characters/);
  step("undo, redo, undo: the editor on screen shows the node's value", { status: undone.status });

  // A drag after undo adds exactly one box to the undone layout: nothing undone comes back.
  await mouse.drag([0.05, 0.005], [0.95, 0.09]);
  const after = JSON.parse((await agree(1, LAYOUT, "drag after undo")).value).characters;
  assert.equal(after.length, 4, JSON.stringify(after));
  assert.deepEqual(after.slice(0, 3), boxes[3], "the boxes of the undone layout, unchanged");
  assert.ok(near(after[3], [0.05, 0.005, 0.95, 0.09]), `the new box ${after[3]}`);
  step("a drag after undo adds one box, resurrects nothing", { after });

  // A new image on the Load Image feeding character 1 becomes that character's thumbnail.
  const thumbnails = async (rgb, min) => {
    for (let tries = 0; tries < 60; tries++) {
      if (await pixelsOf(page, rgb) >= min) return;
      await page.waitForTimeout(250);
    }
    assert.fail(`fewer than ${min} pixels of ${rgb} on the layout canvas`);
  };
  await thumbnails(RED, 30);
  assert.equal(await pixelsOf(page, YELLOW), 0);
  await page.evaluate(() => {
    const image = window.comfyAPI.app.app.graph.getNodeById(3).widgets.find((w) => w.name === "image");
    image.value = "dss_character_c.png"; // as the combo or an upload sets it
    image.callback?.(image.value);
  });
  await thumbnails(YELLOW, 30); // character 1's thumbnail shows the new image
  assert.equal(await pixelsOf(page, RED), 0, "the old image is gone");
  step("an upstream image change updates the thumbnail");

  // Unlinking character 2 from Encode Characters: the warning counts one image; linking it again: two.
  const slot = await page.evaluate(() => {
    const encoder = window.comfyAPI.app.app.graph.getNodeById(5);
    const slot = encoder.findInputSlot("character_2");
    encoder.disconnectInput(slot);
    return slot;
  });
  const statusMatches = (pattern, flags = "") => page.waitForFunction(({ pattern, flags }) => {
    const editor = window.comfyAPI.app.app.graph.getNodeById(1).diffsenseiLayoutEditor;
    return new RegExp(pattern, flags).test(editor.status.textContent);
  }, { pattern, flags }, { timeout: 10000 });
  await statusMatches("1 reference image connected: delete 3 character box").catch(async () => {
    assert.fail(`no warning after unlinking: ${(await layout()).status}`);
  });
  const warned = (await layout()).status;
  await page.evaluate((slot) => {
    const graph = window.comfyAPI.app.app.graph;
    graph.getNodeById(4).connect(0, graph.getNodeById(5), slot);
  }, slot);
  await statusMatches("2 reference images connected: delete 2 character box").catch(async () => {
    assert.fail(`linking again did not count the image again: ${(await layout()).status}`);
  });
  step("unlinking a reference image updates the warning, linking it again counts it again", { warned });

  await nodeMenu(page, 1, "Layout: show JSON");
  await page.waitForFunction(() => !window.comfyAPI.app.app.graph.getNodeById(1).widgets.find((w) => w.name === "layout").hidden);
  await nodeMenu(page, 1, "Layout: hide JSON");
  await page.waitForFunction(() => window.comfyAPI.app.app.graph.getNodeById(1).widgets.find((w) => w.name === "layout").hidden);
  step("node menu shows and hides the JSON");

  await page.mouse.move(900, 760); // away from the tabs and toolbars (their hover popups)
  await page.waitForTimeout(300);
  const box = await page.locator(".diffsensei-layout-editor").boundingBox();
  await page.screenshot({ path: join(args.out, "sync_layout.png"),
    clip: { x: Math.max(box.x - 20, 0), y: Math.max(box.y - 140, 0), width: box.width + 40, height: box.height + 170 } });

  // The page canvas: two panels, undo, redo, undo, then one more panel on the undone page.
  await showNode(page, 8);
  const pageCanvas = page.locator("canvas.diffsensei-page-canvas");
  await pageCanvas.waitFor({ state: "visible", timeout: 10000 });
  const pages = [(await editorState(page, 8, PAGE)).value];
  const pageMouse = canvasMouse(page, pageCanvas);
  await pageMouse.drag([0.06, 0.06], [0.47, 0.5]);
  pages.push((await editorState(page, 8, PAGE)).value);
  await pageMouse.drag([0.53, 0.06], [0.94, 0.5]);
  pages.push((await editorState(page, 8, PAGE)).value);
  assert.deepEqual(pages.map((v) => JSON.parse(v).panels.length), [0, 1, 2]);
  await focusGraph(page);
  await chord("z", 8, PAGE, pages[1], "page undo");
  await chord("y", 8, PAGE, pages[2], "page redo");
  await chord("z", 8, PAGE, pages[1], "page undo after redo");
  await pageMouse.drag([0.06, 0.55], [0.94, 0.94]);
  const panels = JSON.parse((await agree(8, PAGE, "page drag after undo")).value).panels;
  assert.equal(panels.length, 2, JSON.stringify(panels));
  assert.deepEqual(panels[0], JSON.parse(pages[1]).panels[0]);
  assert.ok(near(panels[1].box, [0.06, 0.55, 0.94, 0.94]), `new panel ${panels[1].box}`);
  await page.mouse.move(900, 760); // away from the tabs and toolbars (their hover popups)
  const pageBox = await page.locator(".diffsensei-page-editor").boundingBox();
  await page.screenshot({ path: join(args.out, "sync_page.png"),
    clip: { x: Math.max(pageBox.x - 20, 0), y: Math.max(pageBox.y - 20, 0), width: pageBox.width + 40,
      height: Math.min(pageBox.height + 40, 900 - Math.max(pageBox.y - 20, 0)) } });
  step("page canvas: undo, redo, and a drag after undo adds one panel", { panels: panels.length });

  assert.deepEqual(await ownDeprecations(page), [], "deprecation warnings from the pack's scripts");
  const ours = result.console.filter((line) => /diffsensei|canvas_widget|editor_binding|editor_text/i.test(line));
  assert.deepEqual(ours, [], "console errors from the pack's scripts");
});
