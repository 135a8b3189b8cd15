// What the browser checks (panel_layout_browser.mjs, page_layout_browser.mjs) share: the command line, headless
// Debian chromium driven by playwright-core (no browser download), the console log, numbered steps, DIR/result.json
// and a failure screenshot, waiting for the app, and mouse helpers over a widget canvas.
//
//   runBrowserCheck({options, required, viewport}, async ({args, page, result, step}) => { ... })
//
// parses --url, --out, --chromium (plus `options`), runs the body, writes DIR/result.json ({ok, steps, console, ...
// what the body put in result}) and exits 1 with the failed check on stderr.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

export const PACK = "ComfyUI-DiffSensei";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync",
];

export async function runBrowserCheck({ options = {}, required = [], viewport = { width: 1400, height: 900 } }, body) {
  const { values: args } = parseArgs({
    options: {
      url: { type: "string" }, out: { type: "string" }, chromium: { type: "string", default: "/usr/bin/chromium" },
      ...options,
    },
  });
  assert.ok(args.url && args.out, "--url and --out are required");
  for (const names of required) {
    assert.ok(names.some((name) => args[name]), `one of ${names.map((n) => `--${n}`).join(", ")} is required`);
  }
  const result = { steps: [], console: [] };
  const started = Date.now();
  const step = (name, data = {}) => {
    const seconds = (Date.now() - started) / 1000;
    result.steps.push({ name, seconds, ...data });
    process.stdout.write(`ok - ${name} (${seconds.toFixed(1)} s)\n`);
  };

  const profile = mkdtempSync(join(tmpdir(), "dss-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium, headless: true, viewport, args: FLAGS,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") result.console.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => result.console.push(`pageerror: ${err.message}\n${err.stack ?? ""}`));
  try {
    await body({ args, page, result, step });
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
}

/**
 * Open the app and wait until its canvas and graph exist and `nodeType` is registered; close the first-run dialog if
 * any. (The canvas comes last: a graph loaded before it, e.g. on frontend 1.49, loses its nodes.)
 */
export async function openApp(page, url, nodeType) {
  await page.goto(url);
  await page.waitForFunction(
    (type) => {
      const app = window.comfyAPI?.app?.app;
      return app?.canvas?.canvas && app.canvas.graph && window.LiteGraph?.registered_node_types?.[type];
    }, nodeType, { timeout: 60000 },
  );
  // The start-up workflow (the restored or default one) loads after the canvas exists; a graph loaded before it
  // ends up in a background tab. Give it up to 10 s to appear (a start-up graph may also be empty).
  await page.waitForFunction(() => window.comfyAPI.app.app.canvas.graph?._nodes?.length > 0, null, { timeout: 10000 })
    .catch(() => {});
  await page.keyboard.press("Escape");
}

/** Load an API-format prompt as the graph, place and size its nodes ({id: [x, y]}, {id: [w, h]}), view at 100 %. */
export function loadApiGraph(page, { prompt, positions = {}, sizes = {}, name }) {
  return page.evaluate(async (graph) => {
    const { app } = window.comfyAPI.app;
    const ours = () => Object.keys(graph.prompt).every((id) => app.graph.getNodeById(Number(id)));
    for (let attempt = 1; ; attempt++) {  // loaded again if the start-up workflow replaced it meanwhile
      await app.loadApiJson(graph.prompt, graph.name);
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (ours()) break;
      if (attempt === 5) throw new Error(`the app replaced the graph ${graph.name} after each of 5 loads`);
    }
    for (const [id, pos] of Object.entries(graph.positions)) app.graph.getNodeById(Number(id)).pos = pos;
    for (const [id, size] of Object.entries(graph.sizes)) app.graph.getNodeById(Number(id)).setSize(size);
    app.canvas.ds.scale = 1;
    app.canvas.ds.offset = [0, 0];
    app.graph.setDirtyCanvas(true, true);
  }, { prompt, positions, sizes, name });
}

/** The pack's files the server lists as frontend extensions, and the names of the extensions the app registered. */
export function packExtensions(page) {
  return page.evaluate(async (pack) => {
    const listed = await (await fetch("/extensions")).json();
    const names = (window.comfyAPI.app.app.extensions ?? []).map((e) => e.name).filter((n) => n.startsWith("DiffSensei."));
    return { served: listed.filter((e) => e.includes(pack)), registered: names };
  }, PACK);
}

/**
 * Mouse helpers over a widget canvas drawn with an 8 px pad: at(x, y) → page pixels of a relative point,
 * drag(from, to) and click([x, y], options) in relative coordinates.
 */
export function canvasMouse(page, canvas, pad = 8) {
  const at = async (x, y) => {
    const b = await canvas.boundingBox();
    return [b.x + pad + x * (b.width - 2 * pad), b.y + pad + y * (b.height - 2 * pad)];
  };
  const drag = async (from, to) => {
    const [x1, y1] = await at(...from);
    const [x2, y2] = await at(...to);
    await page.mouse.move(x1, y1);
    await page.mouse.down();
    await page.mouse.move(x2, y2, { steps: 8 });
    await page.mouse.up();
  };
  const click = async ([x, y], options = {}) => {
    const [px, py] = await at(x, y);
    await page.mouse.click(px, py, options);
  };
  const aspect = async () => {
    const b = await canvas.boundingBox();
    return (b.width - 2 * pad) / (b.height - 2 * pad);
  };
  return { at, drag, click, aspect };
}

/** Boxes equal to within `tolerance` in every coordinate. */
export function near(got, want, tolerance = 0.012) {
  return got.length === want.length && got.every((v, i) => Math.abs(v - want[i]) < tolerance);
}

/**
 * The frontend the page runs: {version, vueNodes} (Nodes 2.0 on or off). Also starts recording deprecation warnings
 * with their stacks into window.__dssDeprecations (see ownDeprecations).
 */
export function frontendInfo(page) {
  return page.evaluate(() => {
    const { app } = window.comfyAPI.app;
    return {
      version: window.__COMFYUI_FRONTEND_VERSION__ ?? null,
      vueNodes: !!app.extensionManager?.setting?.get?.("Comfy.VueNodes.Enabled"),
    };
  });
}

/** Record every console warning that says "deprecated" with the stack that printed it (call before page.goto). */
export function recordDeprecations(page) {
  return page.addInitScript(() => {
    window.__dssDeprecations = [];
    const warn = console.warn;
    console.warn = function (...args) {
      if (/deprecat/i.test(String(args[0]))) window.__dssDeprecations.push(`${args[0]}\n${new Error().stack}`);
      return warn.apply(this, args);
    };
  });
}

/** The deprecation warnings printed from the pack's own scripts (should be none). */
export function ownDeprecations(page) {
  return page.evaluate((pack) => (window.__dssDeprecations ?? []).filter((w) => w.includes(`/extensions/${pack}/`)), PACK);
}

/** Scroll the graph (at 100 %) so node `id`'s top-left corner is at (x, y) of the graph canvas; waits two frames. */
export async function showNode(page, id, [x, y] = [60, 130]) {
  await page.evaluate(({ id, x, y }) => {
    const { app } = window.comfyAPI.app;
    const node = app.graph.getNodeById(id);
    app.canvas.ds.scale = 1;
    app.canvas.ds.offset = [x - node.pos[0], y - node.pos[1]];
    app.canvas.setDirty(true, true);
  }, { id, x, y });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/**
 * What node `id`'s editor holds and what is on screen: {value (the STRING widget), model (the on-screen editor's
 * value as it would write it), current (the editor on screen is the node's own), onScreen (editors of that class in
 * the page), status, jsonHidden}. `spec` = {property, widget, cls, serialize: "layout" | "page"}.
 */
export function editorState(page, id, spec) {
  return page.evaluate(async ({ id, spec, pack }) => {
    const { app } = window.comfyAPI.app;
    const node = app.graph.getNodeById(id);
    const editor = node[spec.property];
    const shown = [...document.querySelectorAll(`.${spec.cls}`)].filter((el) => el.isConnected);
    const model = await import(`/extensions/${pack}/js/${spec.serialize === "page" ? "page_model" : "layout_model"}.js`);
    const write = (e) => (spec.serialize === "page" ? model.serializePage(e.page) : model.serializeLayout(e.layout));
    const widget = node.widgets.find((w) => w.name === spec.widget);
    return {
      value: widget.value, jsonHidden: !!widget.hidden, onScreen: shown.length,
      current: shown.length === 1 && shown[0] === editor.root, model: write(editor), status: editor.status.textContent,
    };
  }, { id, spec, pack: PACK });
}

/**
 * Give the graph the keyboard: a click on an empty spot of it. Only once before a series of undo/redo keys: on the
 * 1.27 frontend a click between two quick undos stopped the next Ctrl+Z in our runs (its change tracker compares the
 * graph on mouse-up without waiting for a restore in progress).
 */
export function focusGraph(page, emptySpot = [900, 760]) {
  return page.mouse.click(...emptySpot);
}

/** Right-click node `id`'s title (a DOM header in Nodes 2.0, the canvas elsewhere) and click the entry `text`. */
export async function nodeMenu(page, id, text) {
  const vue = page.locator(`[data-node-id="${id}"]`).first();
  let at;
  if (await vue.count()) {
    const b = await vue.boundingBox();
    at = [b.x + 60, b.y + 12];
  } else {
    at = await page.evaluate((id) => {
      const { app } = window.comfyAPI.app;
      const node = app.graph.getNodeById(id);
      const rect = app.canvas.canvas.getBoundingClientRect();
      const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + 60, node.pos[1] - 12]);
      return [rect.left + x, rect.top + y];
    }, id);
  }
  await page.mouse.click(...at, { button: "right" });
  const entry = page.getByText(text, { exact: true }).first();
  await entry.waitFor({ state: "visible", timeout: 5000 });
  await entry.click();
}
