// Browser check that the pack's texts follow the frontend's language (started by test_editors_browser.py):
//
//   node tests/web/locale_browser.mjs --url http://127.0.0.1:PORT --expect EXPECT.json --out DIR [--chromium PATH]
//
// EXPECT.json: {lang: {title, widthName, widthTip, toolbar: {action: label}, status, pageToolbar: {action: label}}}
// from locales/<lang>/{nodeDefs,main}.json. For each language in turn it sets Comfy.Locale as the settings dialog does,
// waits for the frontend to reload in it, builds the graph again, then checks the Panel layout node's title, the
// tooltip shown when hovering its width input, both editors' toolbars and the layout editor's status line; then it
// sets English back and checks the toolbar is English again.
// Writes DIR/locale_<lang>.png (the node with the tooltip showing) and DIR/result.json; exits 1 on a failed check.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { frontendInfo, openApp, runBrowserCheck, showNode } from "./browser_harness.mjs";

const PROMPT = {
  1: { class_type: "DiffSenseiPanelLayout", inputs: { width: 768, height: 512, batch_size: 1, layout: "{}" } },
  2: { class_type: "DiffSenseiPageLayout", inputs: {
    preset: "custom (drawn panels)", page_size: "A5 (148×210 mm)", dpi: 150, direction: "rtl", margin_mm: 8,
    gutter_mm: 3, border_mm: 0.5, page: '{"panels": []}' } },
};

/**
 * Switch Comfy.Locale as the settings dialog does and wait until the frontend has reloaded the node definitions in
 * that language (their title is `title`) and rebuilt the open workflow; then build the test graph again, so its nodes
 * are added in that language (newer frontends keep the titles a workflow was saved with). A switch made before the frontend watches the setting (just after the page loaded)
 * changes nothing: then it is switched back and again, up to three times.
 */
async function setLocale(page, lang, title) {
  for (let attempt = 1; ; attempt++) {
    const switched = await page.evaluate(async ({ lang, title }) => {
      const { app } = window.comfyAPI.app;
      await app.extensionManager.setting.set("Comfy.Locale", lang);
      for (let waited = 0; waited < 12000; waited += 100) {
        if (window.LiteGraph.registered_node_types.DiffSenseiPanelLayout?.title === title) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await app.extensionManager.setting.set("Comfy.Locale", lang === "en" ? "zh" : "en");
      return false;
    }, { lang, title });
    if (switched) break;
    assert.ok(attempt < 3, `Comfy.Locale ${lang}: the frontend never reloaded the node definitions in it`);
    await page.waitForTimeout(2000);
  }
  await page.waitForTimeout(1500); // then the frontend rebuilds the open workflow: let it finish first
  await page.evaluate(async (prompt) => {
    const { app } = window.comfyAPI.app;
    app.graph.clear();
    await app.loadApiJson(prompt, "diffsensei_locale_test");
  }, PROMPT);
}

/** The labels of an editor's toolbar buttons, {action: text}, of the node's current editor. */
function toolbar(page, id, property) {
  return page.evaluate(({ id, property }) => {
    const editor = window.comfyAPI.app.app.graph.getNodeById(id)?.[property];
    return editor ? Object.fromEntries(Object.entries(editor.buttons).map(([k, b]) => [k, b.textContent])) : {};
  }, { id, property });
}

/** Hover node 1's width input (found by its shown name in Nodes 2.0, by its place on the canvas elsewhere). */
async function hoverWidth(page, shownName) {
  const label = page.locator('[data-node-id="1"]').getByText(shownName, { exact: true }).first();
  let at;
  if (await label.count()) {
    const b = await label.boundingBox();
    at = [b.x + 4, b.y + b.height / 2];
  } else {
    at = await page.evaluate(() => {
      const { app } = window.comfyAPI.app;
      const node = app.graph.getNodeById(1);
      const widget = node.widgets.find((w) => w.name === "width");
      const rect = app.canvas.canvas.getBoundingClientRect();
      const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + 60, node.pos[1] + (widget.last_y ?? widget.y) + 10]);
      return [rect.left + x, rect.top + y];
    });
  }
  await page.mouse.move(at[0] - 3, at[1]);
  await page.mouse.move(...at, { steps: 3 });
}

await runBrowserCheck({ options: { expect: { type: "string" } }, required: [["expect"]] }, async ({ args, page, result, step }) => {
  const expect = JSON.parse(readFileSync(args.expect, "utf8"));
  await openApp(page, args.url, "DiffSenseiPanelLayout");
  result.frontend = await frontendInfo(page);
  await page.evaluate((prompt) => window.comfyAPI.app.app.loadApiJson(prompt, "diffsensei_locale_test"), PROMPT);
  const englishTitle = await page.evaluate(() => window.LiteGraph.registered_node_types.DiffSenseiPanelLayout.title);
  step("app loaded", result.frontend);
  for (const [lang, want] of Object.entries(expect)) {
    await setLocale(page, lang, want.title);
    const title = await page.evaluate(() => window.comfyAPI.app.app.graph.getNodeById(1)?.title);
    assert.equal(title, want.title, `${lang}: the Panel layout node's title`);
    await showNode(page, 1);
    await page.locator("canvas.diffsensei-layout-canvas").waitFor({ state: "visible", timeout: 20000 });
    const labels = await toolbar(page, 1, "diffsenseiLayoutEditor");
    for (const [action, text] of Object.entries(want.toolbar)) assert.equal(labels[action], text, `${lang}: ${action}`);
    const pageLabels = await toolbar(page, 2, "diffsenseiPageEditor");
    for (const [action, text] of Object.entries(want.pageToolbar)) assert.equal(pageLabels[action], text, `${lang}: page ${action}`);
    const status = await page.evaluate(() => window.comfyAPI.app.app.graph.getNodeById(1).diffsenseiLayoutEditor.status.textContent);
    assert.ok(status.includes(want.status), `${lang}: status '${status}' lacks '${want.status}'`);

    await hoverWidth(page, want.widthName);
    const tip = page.getByText(want.widthTip, { exact: true }).first();
    await tip.waitFor({ state: "visible", timeout: 8000 })
      .catch(() => assert.fail(`${lang}: no tooltip '${want.widthTip}' when hovering the width input`));
    await page.screenshot({ path: join(args.out, `locale_${lang}.png`) });
    step(`${lang}: title, tooltip, toolbars and status translated`, { title: want.title, labels, pageLabels, status });
    await page.mouse.move(900, 760);
  }
  await setLocale(page, "en", englishTitle); // the server keeps the setting: English for the checks after this one
  await page.waitForFunction(() => {
    const editor = window.comfyAPI.app.app.graph.getNodeById(1)?.diffsenseiLayoutEditor;
    return editor?.buttons.characters.textContent === "Character";
  }, null, { timeout: 30000 });
  step("English again");
});
