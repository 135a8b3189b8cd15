// Browser check: a page planned from a chapter script opens on the page canvas of "DiffSensei: Page layout" against a
// running ComfyUI (started by test_chapter_page_browser.py):
//
//   node tests/web/chapter_page_browser.mjs --url http://127.0.0.1:PORT --out DIR --page PAGE.json [--chromium PATH]
//
// PAGE.json is one page of a chapter plan (the page JSON the planner writes). The check loads a one-node graph with
// it, checks that the canvas reads every panel in the planned order with its cast and boxes, that graphToPrompt()
// sends the page unchanged, selects the panel with the most bubbles, and writes DIR/chapter_page.png (the node) and
// DIR/result.json (with the prompt's page).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { canvasMouse, loadApiGraph, openApp, runBrowserCheck } from "./browser_harness.mjs";

await runBrowserCheck({ options: { page: { type: "string" } }, required: [["page"]], viewport: { width: 900, height: 1100 } },
  async ({ args, page, result, step }) => {
    const planned = readFileSync(args.page, "utf8");
    const value = JSON.parse(planned);
    await openApp(page, args.url, "DiffSenseiPageLayout");
    const prompt = {
      1: { class_type: "DiffSenseiPageLayout", inputs: {
        preset: value.preset, page_size: "B5 manga (182×257 mm)", dpi: value.dpi, direction: value.direction,
        margin_mm: 8, gutter_mm: 3, border_mm: 0.5, page: planned } },
    };
    await loadApiGraph(page, { prompt, positions: { 1: [20, 20] }, sizes: { 1: [560, 1000] }, name: "chapter_page" });
    const canvas = page.locator("canvas.diffsensei-page-canvas");
    await canvas.waitFor({ state: "visible", timeout: 20000 });
    const state = await page.evaluate(async () => {
      const model = await import("/extensions/ComfyUI-DiffSensei/js/page_model.js");
      const node = window.comfyAPI.app.app.graph.getNodeById(1);
      const editor = node.diffsenseiPageEditor;
      const resolved = model.resolvedPanels(editor.page, editor.settings);
      return { order: resolved.map((p) => p.order), status: editor.status.textContent,
        widget: node.widgets.find((w) => w.name === "page").value };
    });
    assert.deepEqual(state.order, value.panels.map((_, k) => k), "the canvas reads the panels in the planned order");
    assert.deepEqual(JSON.parse(state.widget).panels.map((p) => p.cast), value.panels.map((p) => p.cast));
    step("planned page on the canvas", { order: state.order, status: state.status });

    const sent = await page.evaluate(async () => (await window.comfyAPI.app.app.graphToPrompt()).output["1"].inputs.page);
    assert.deepEqual(JSON.parse(sent), JSON.parse(planned), "the API prompt sends the planned page unchanged");
    result.page = sent;
    step("graphToPrompt sends the planned page");

    const busiest = value.panels.reduce((best, p, k) => (p.dialogs.length > value.panels[best].dialogs.length ? k : best), 0);
    const [x1, y1, x2, y2] = value.panels[busiest].box;
    const mouse = canvasMouse(page, canvas);
    await mouse.click([x1 + 0.1 * (x2 - x1), y1 + 0.97 * (y2 - y1)]);
    await page.mouse.move(5, 5);
    const box = await page.locator(".diffsensei-page-editor").boundingBox();
    await page.screenshot({
      path: join(args.out, "chapter_page.png"),
      // the editor without its status line and right edge, where the node's dark corner shows through
      clip: { x: box.x, y: box.y, width: box.width - 8, height: box.height - 16 },
    });
    const ours = result.console.filter((line) => /diffsensei|page_layout|page_model|page_cast|canvas_widget/i.test(line));
    assert.deepEqual(ours, [], "console errors from the pack's scripts");
    step("screenshot of the planned page", { selected: busiest });
  });
