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

/** Open the app and wait until the graph exists and `nodeType` is registered; close the first-run dialog if any. */
export async function openApp(page, url, nodeType) {
  await page.goto(url);
  await page.waitForFunction(
    (type) => window.comfyAPI?.app?.app?.graph && window.LiteGraph?.registered_node_types?.[type], nodeType,
    { timeout: 60000 },
  );
  await page.keyboard.press("Escape");
}

/** Load an API-format prompt as the graph, place and size its nodes ({id: [x, y]}, {id: [w, h]}), view at 100 %. */
export function loadApiGraph(page, { prompt, positions = {}, sizes = {}, name }) {
  return page.evaluate(async (graph) => {
    const { app } = window.comfyAPI.app;
    await app.loadApiJson(graph.prompt, graph.name);
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
