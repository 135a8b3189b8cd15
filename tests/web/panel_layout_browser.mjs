// Browser check of the Panel layout box editor against a running ComfyUI (started by test_editors_browser.py).
//
//   node tests/web/panel_layout_browser.mjs --url http://127.0.0.1:PORT --graph GRAPH.json --out DIR [--chromium PATH]
//   node tests/web/panel_layout_browser.mjs --url http://127.0.0.1:PORT --workflows LIST.json --out DIR [...]
//
// With --workflows (LIST.json: [{"name": "<file name>", "workflow": <UI workflow JSON>}, ...]) it only loads each
// workflow with app.loadGraphData and checks that no node type is missing, that every node was created with its
// registered type, and that saving the graph again gives back the same widget values (so the positional
// widgets_values in the file match the widgets the UI creates). Results in DIR/result.json.
//
// GRAPH.json: {"prompt": <API prompt>, "layout_node": "<id>", "positions": {id: [x, y]}, "sizes": {id: [w, h]},
// "characters": <number of reference images>}. The prompt must hold the Panel layout node fed by reference images
// through Encode Characters and Apply, and at least one output node that runs without those weights being real.
// Headless Debian chromium driven by playwright-core (no browser download). Draws boxes with the mouse, checks the
// widget value, graphToPrompt(), a save/reload round trip and a queued run; writes DIR/result.json and screenshots.
// Exits 1 with the failed check on stderr.
// The harness (browser, steps, result file) is ./browser_harness.mjs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { PACK, canvasMouse, loadApiGraph, near, openApp, packExtensions, runBrowserCheck } from "./browser_harness.mjs";

const options = { graph: { type: "string" }, workflows: { type: "string" } };
await runBrowserCheck({ options, required: [["graph", "workflows"]] }, async (harness) => {
  await (harness.args.workflows ? checkWorkflows(harness) : run(harness));
});

async function run({ args, page, result, step }) {
  const GRAPH = JSON.parse(readFileSync(args.graph, "utf8"));
  const LAYOUT_ID = String(GRAPH.layout_node);
  const PANEL = { width: GRAPH.prompt[LAYOUT_ID].inputs.width, height: GRAPH.prompt[LAYOUT_ID].inputs.height };
  await openApp(page, args.url, "DiffSenseiPanelLayout");
  step("app loaded");

  // The pack's files are served: the editor as an extension, the model module, the node help page.
  const { served, registered } = await packExtensions(page);
  const docs = await page.evaluate(async (pack) => {
    const answer = await fetch(`/extensions/${pack}/docs/DiffSenseiPanelLayout.md`);
    return { status: answer.status, text: (await answer.text()).slice(0, 80) };
  }, PACK);
  assert.ok(served.some((e) => e.endsWith("/js/panel_layout.js")), JSON.stringify(served));
  assert.ok(!served.some((e) => e.includes("test")), "no test file may be served as an extension");
  assert.ok(registered.includes("DiffSensei.PanelLayoutEditor"), JSON.stringify(registered));
  assert.equal(docs.status, 200, "node help page DiffSenseiPanelLayout.md is served");
  step("extension and docs served", { served, registered, docs });

  // The graph from API JSON, placed so the layout node and the reference images are in view.
  await loadApiGraph(page, { ...GRAPH, name: "diffsensei_layout_test" });
  const canvas = page.locator("canvas.diffsensei-layout-canvas");
  await canvas.waitFor({ state: "visible", timeout: 20000 });
  step("graph built, editor visible");

  const state = () => page.evaluate((id) => {
    const node = window.comfyAPI.app.app.graph.getNodeById(Number(id));
    const editor = node.diffsenseiLayoutEditor;
    return {
      value: node.widgets.find((w) => w.name === "layout").value,
      layoutHidden: !!node.widgets.find((w) => w.name === "layout").hidden,
      status: editor.status.textContent,
      error: editor.error,
      references: editor.references ? editor.references.images.map((img) => !!img?.complete && img.naturalWidth > 0) : null,
      nodeCount: window.comfyAPI.app.app.graph.nodes.length,
    };
  }, LAYOUT_ID);
  const initial = await state();
  assert.equal(initial.layoutHidden, true, "the raw layout text box is hidden behind the editor");

  // The canvas has the panel's aspect ratio (8 px padding each side).
  const { drag, click, aspect } = canvasMouse(page, canvas);
  assert.ok(Math.abs((await aspect()) - PANEL.width / PANEL.height) < 0.03, `aspect ${await aspect()}`);

  const button = (action) => page.locator(`.diffsensei-layout-editor button[data-action="${action}"]`).click();

  await drag([0.05, 0.15], [0.42, 0.95]);
  await drag([0.5, 0.4], [0.9, 0.95]);
  await button("dialogs");
  await drag([0.55, 0.04], [0.95, 0.32]);
  let s = await state();
  let value = JSON.parse(s.value);
  assert.equal(value.characters.length, 2, s.value);
  assert.equal(value.dialogs.length, 1, s.value);
  assert.ok(near(value.characters[0], [0.05, 0.15, 0.42, 0.95]), `character 1 ${value.characters[0]}`);
  assert.ok(near(value.characters[1], [0.5, 0.4, 0.9, 0.95]), `character 2 ${value.characters[1]}`);
  assert.ok(near(value.dialogs[0], [0.55, 0.04, 0.95, 0.32]), `dialog 1 ${value.dialogs[0]}`);
  step("two character boxes and a dialog box drawn", { value });

  // Degenerate boxes are refused: a 4-pixel drag adds nothing and says why.
  const before = s.value;
  await drag([0.2, 0.05], [0.205, 0.06]);
  s = await state();
  assert.equal(s.value, before, "a tiny drag must not add a box");
  assert.match(s.status, /too small/);
  step("tiny box refused", { status: s.status });

  // Move the first character by dragging its inside; delete a second dialog with the Delete key.
  await button("characters");
  await drag([0.2, 0.5], [0.22, 0.45]);
  value = JSON.parse((await state()).value);
  assert.ok(near(value.characters[0], [0.07, 0.1, 0.44, 0.9]), `moved character 1 ${value.characters[0]}`);
  await button("dialogs");
  await drag([0.05, 0.02], [0.3, 0.12]);
  assert.equal(JSON.parse((await state()).value).dialogs.length, 2);
  await page.keyboard.press("Delete");
  s = await state();
  assert.equal(JSON.parse(s.value).dialogs.length, 1, "Delete removes the selected box");
  assert.equal(s.nodeCount, Object.keys(GRAPH.prompt).length, "Delete in the editor must not delete the node");
  step("move and delete", { value: JSON.parse(s.value) });

  // Reorder: right-click character 2 → "Move character earlier" swaps the order; the ▶ button swaps it back.
  const order = async () => JSON.parse((await state()).value).characters;
  const original = await order();
  await click([0.7, 0.8], { button: "right" });
  const item = page.locator(".litecontextmenu .litemenu-entry", { hasText: "Move character earlier" });
  await item.click();
  const swapped = await order();
  assert.deepEqual(swapped, [original[1], original[0]], "context menu reorders the characters");
  await button("later");
  assert.deepEqual(await order(), original, "the ▶ button moves the selected character back");
  step("reorder by context menu and button");

  // The widget value is what the API prompt sends; the editor itself is not serialised.
  const prompt = await page.evaluate(async (id) => {
    const { app } = window.comfyAPI.app;
    const p = await app.graphToPrompt();
    const node = p.workflow.nodes.find((n) => String(n.id) === id);
    return { inputs: p.output[id].inputs, widgetsValues: node.widgets_values };
  }, LAYOUT_ID);
  s = await state();
  assert.equal(prompt.inputs.layout, s.value);
  assert.deepEqual(Object.keys(prompt.inputs).sort(), ["batch_size", "height", "layout", "width"]);
  assert.deepEqual(prompt.widgetsValues, [PANEL.width, PANEL.height, 1, s.value]);
  step("graphToPrompt sends the layout", prompt);

  // The JSON button shows the raw text box (with the same value) and hides it again.
  const jsonShown = (want) => page.waitForFunction(({ value, want }) => [...document.querySelectorAll("textarea")]
    .some((t) => t.value === value && t.offsetParent !== null) === want, { value: s.value, want }, { timeout: 5000 });
  await button("json");
  await jsonShown(true);
  await button("json");
  await jsonShown(false);
  assert.equal((await state()).layoutHidden, true);
  step("JSON text shown and hidden");

  // Invalid JSON typed into the text: the editor shows the error and refuses to draw over it.
  const invalid = await page.evaluate((id) => {
    const node = window.comfyAPI.app.app.graph.getNodeById(Number(id));
    const widget = node.widgets.find((w) => w.name === "layout");
    const good = widget.value;
    widget.value = "{\"characters\": [[0.1, 0.1, 0.5";
    node.diffsenseiLayoutEditor.sync();
    const seen = { error: node.diffsenseiLayoutEditor.error, status: node.diffsenseiLayoutEditor.status.textContent };
    widget.value = good;
    node.diffsenseiLayoutEditor.sync();
    return { ...seen, after: node.diffsenseiLayoutEditor.error };
  }, LAYOUT_ID);
  assert.match(invalid.error, /not valid JSON/);
  assert.equal(invalid.after, null);
  step("invalid JSON reported", invalid);

  // Save and reload the workflow: the layout survives; the editor redraws it.
  const reloaded = await page.evaluate(async (id) => {
    const { app } = window.comfyAPI.app;
    const saved = JSON.parse(JSON.stringify(app.graph.serialize()));
    await app.loadGraphData(saved);
    const node = app.graph.getNodeById(Number(id));
    node.diffsenseiLayoutEditor.sync(true);
    return {
      savedValues: saved.nodes.find((n) => String(n.id) === id).widgets_values,
      value: node.widgets.find((w) => w.name === "layout").value,
      editorBoxes: node.diffsenseiLayoutEditor.layout.characters.length + node.diffsenseiLayoutEditor.layout.dialogs.length,
      widgets: node.widgets.map((w) => w.name),
    };
  }, LAYOUT_ID);
  assert.equal(reloaded.value, s.value, "layout after reload");
  assert.equal(reloaded.savedValues[3], s.value);
  assert.equal(reloaded.editorBoxes, 3);
  assert.deepEqual(reloaded.widgets, ["width", "height", "batch_size", "layout", "layout_editor"]);
  await canvas.waitFor({ state: "visible" });
  step("save and reload keeps the layout", reloaded);

  // The canvas follows the width widget live (set as its number field does); normalised boxes stay put.
  const wider = PANEL.width + 256;
  await page.evaluate(({ id, width }) => {
    const node = window.comfyAPI.app.app.graph.getNodeById(Number(id));
    const widget = node.widgets.find((w) => w.name === "width");
    widget.value = width;
    widget.callback?.(width);
  }, { id: LAYOUT_ID, width: wider });
  await page.waitForFunction((want) => {
    const c = document.querySelector("canvas.diffsensei-layout-canvas");
    return c && Math.abs((c.clientWidth - 16) / (c.clientHeight - 16) - want) < 0.03;
  }, wider / PANEL.height, { timeout: 10000 });
  assert.equal((await state()).value, s.value, "resizing the panel keeps the boxes");
  step("canvas follows the width widget", { aspect: await aspect() });

  // The reference images' thumbnails are shown in character order, once loaded.
  await page.waitForFunction(({ id, want }) => {
    const editor = window.comfyAPI.app.app.graph.getNodeById(Number(id)).diffsenseiLayoutEditor;
    editor.sync();
    const images = editor.references?.images ?? [];
    return images.length === want && images.every((img) => img?.complete && img.naturalWidth > 0);
  }, { id: LAYOUT_ID, want: GRAPH.characters }, { timeout: 15000 });
  step("reference thumbnails", { references: (await state()).references });

  // Queue through the UI and wait for the run (the graph's output nodes decide what runs).
  const queued = await page.evaluate(async () => {
    const { app } = window.comfyAPI.app;
    const before = Object.keys(await (await fetch("/history")).json());
    await app.queuePrompt(0, 1);
    for (let i = 0; i < 720; i++) {
      const history = await (await fetch("/history")).json();
      const fresh = Object.entries(history).filter(([key]) => !before.includes(key));
      const done = fresh.find(([, entry]) => entry.status?.completed || entry.status?.status_str === "error");
      if (done) return { promptId: done[0], status: done[1].status, outputs: done[1].outputs, prompt: done[1].prompt?.[2] };
      await new Promise((r) => setTimeout(r, 250));
    }
    return null;
  });
  assert.ok(queued, "the queued prompt did not finish in 180 s");
  assert.equal(queued.status.status_str, "success", JSON.stringify(queued.status));
  assert.equal(queued.prompt?.[LAYOUT_ID]?.inputs?.layout, s.value, "the server received the drawn layout");
  step("queued from the UI and ran", { promptId: queued.promptId, outputs: queued.outputs });
  result.queued = queued.promptId;
  result.layout = s.value;

  // Screenshot: select character 2 to show the handles, then capture the page and the node.
  await click([0.7, 0.8]);
  await page.mouse.move(450, 860); // away from the tabs and toolbars (their hover popups)
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(args.out, "panel_layout.png") });
  const box = await page.locator(".diffsensei-layout-editor").boundingBox();
  await page.screenshot({
    path: join(args.out, "panel_layout_node.png"),
    clip: { x: Math.max(box.x - 20, 0), y: Math.max(box.y - 120, 0), width: box.width + 40, height: box.height + 150 },
  });
  step("screenshots", { files: ["panel_layout.png", "panel_layout_node.png"] });

  const ours = result.console.filter((line) => /diffsensei|panel_layout|layout_model|canvas_widget/i.test(line));
  assert.deepEqual(ours, [], "console errors from the pack's scripts");
}

// Each example workflow loads in the live UI: no missing node types, every node built, widget values kept.
async function checkWorkflows({ args, page, result, step }) {
  const list = JSON.parse(readFileSync(args.workflows, "utf8"));
  await openApp(page, args.url, "DiffSenseiPanelLayout");
  // The frontend hands the list it fills with missing node types to the extensions' beforeConfigureGraph hook.
  await page.evaluate(() => {
    const { app } = window.comfyAPI.app;
    app.registerExtension({
      name: "DiffSensei.test.missingNodes",
      beforeConfigureGraph(_graphData, missing) { window.__dssMissingNodeTypes = missing; },
    });
  });
  step("app loaded");
  result.workflows = [];
  for (const { name, workflow } of list) {
    const report = await page.evaluate(async ({ name, workflow }) => {
      const { app } = window.comfyAPI.app;
      window.__dssMissingNodeTypes = null;
      const earlierToasts = new Set(document.querySelectorAll(".p-toast-message"));
      await app.loadGraphData(workflow, true, true, name, { showMissingNodesDialog: false, showMissingModelsDialog: false });
      const missing = (window.__dssMissingNodeTypes ?? []).map((m) => (typeof m === "string" ? m : m.type));
      const registered = window.LiteGraph.registered_node_types;
      const saved = app.graph.serialize();
      const byId = Object.fromEntries(saved.nodes.map((n) => [n.id, n]));
      const unregistered = workflow.nodes.filter((n) => !registered[n.type]).map((n) => n.type);
      const wrongType = workflow.nodes.filter((n) => byId[n.id]?.type !== n.type).map((n) => `${n.id}:${n.type}`);
      // Newer frontends leave out an empty widgets_values when saving: empty and missing are the same.
      const changedWidgets = workflow.nodes
        .filter((n) => n.widgets_values && JSON.stringify(byId[n.id]?.widgets_values ?? [])
          !== JSON.stringify(n.widgets_values))
        .map((n) => ({ id: n.id, type: n.type, file: n.widgets_values, ui: byId[n.id]?.widgets_values }));
      // A file the schema rejects is still loaded, with an alert toast naming the zod error.
      const invalid = [...document.querySelectorAll(".p-toast-message")].filter((t) => !earlierToasts.has(t))
        .map((t) => t.textContent)
        .filter((text) => /invalid workflow|zod/i.test(text));
      return {
        name, missing, unregistered, wrongType, changedWidgets, invalid,
        nodes: saved.nodes.length, links: (saved.links ?? []).length, hasErrors: saved.nodes.filter((n) => n.has_errors).length,
      };
    }, { name, workflow });
    result.workflows.push(report);
    assert.deepEqual(report.invalid, [], `${name}: the UI's workflow schema check failed`);
    assert.deepEqual(report.missing, [], `${name}: the UI reports missing node types`);
    assert.deepEqual(report.unregistered, [], `${name}: node types not registered in LiteGraph`);
    assert.deepEqual(report.wrongType, [], `${name}: nodes not created with their type`);
    assert.equal(report.nodes, workflow.nodes.length, `${name}: node count after loading`);
    assert.equal(report.links, workflow.links.length, `${name}: link count after loading`);
    assert.deepEqual(report.changedWidgets, [], `${name}: widget values changed by loading and saving`);
    step(`workflow ${name} loaded`, { nodes: report.nodes, links: report.links });
    await page.screenshot({ path: join(args.out, `${name.replace(/\.json$/, "")}.png`) });
  }
}
