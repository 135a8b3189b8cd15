// Unit tests of the canvas widgets' shared modules (web/js/canvas_widget.js, canvas_drawing.js, editor_binding.js)
// that need no DOM: node --test tests/web/js/
import assert from "node:assert/strict";
import { test } from "node:test";

// Node has no `window`: importing the modules succeeds only if they touch nothing of the frontend on import (ComfyUI
// loads every .js under web/ as an extension, these shared modules too).
const widget = await import("../../../web/js/canvas_widget.js");
const drawing = await import("../../../web/js/canvas_drawing.js");
const binding = await import("../../../web/js/editor_binding.js");

test("importing the shared modules registers nothing", () => {
  assert.equal(typeof globalThis.window, "undefined");
  assert.equal(typeof binding.registerCanvasEditor, "function");
  assert.equal(typeof widget.CanvasEditor, "function");
});

test("a linked input is read through isInputConnected where the node has it, else from the slot's link", () => {
  const modern = { inputs: [{ link: 7 }, { link: null }], isInputConnected: (slot) => slot === 1 };
  assert.equal(widget.inputLinked(modern, 0), false, "the node's own answer wins over the deprecated slot field");
  assert.equal(widget.inputLinked(modern, 1), true);
  const old = { inputs: [{ link: 7 }, { link: null }] };
  assert.equal(widget.inputLinked(old, 0), true);
  assert.equal(widget.inputLinked(old, 1), false);
  assert.equal(widget.inputLinked(old, 5), false);
});

test("chain calls the original first, then the extra, with the same this and arguments", () => {
  const calls = [];
  const original = function (a, b) {
    calls.push(["original", this.name, a, b]);
    return "kept";
  };
  const chained = widget.chain(original, function (a, b) {
    calls.push(["extra", this.name, a, b]);
    return "ignored";
  });
  assert.equal(chained.call({ name: "node" }, 1, 2), "kept");
  assert.deepEqual(calls, [["original", "node", 1, 2], ["extra", "node", 1, 2]]);
  const alone = widget.chain(undefined, function () {
    calls.push(["alone", this.name]);
  });
  assert.equal(alone.call({ name: "n2" }), undefined);
  assert.deepEqual(calls.at(-1), ["alone", "n2"]);
});

test("cursors follow the handle under the pointer", () => {
  assert.equal(drawing.cursorFor(null), "crosshair");
  assert.equal(drawing.cursorFor("move"), "move");
  assert.equal(drawing.cursorFor("nw"), "nwse-resize");
  assert.equal(drawing.cursorFor("ne"), "nesw-resize");
  assert.equal(drawing.cursorFor("n"), "ns-resize");
  assert.equal(drawing.cursorFor("w"), "ew-resize");
});

/** A stand-in frontend: registerExtension collects, /i18n answers `i18n`, the locale setting is `locale`. */
function fakeFrontend({ nodeMenuHook, i18n = {}, locale = "en", onScreen = [] }) {
  const registered = [];
  const app = {
    registerExtension: (ext) => registered.push(ext),
    extensionManager: { setting: { get: (id) => (id === "Comfy.Locale" ? locale : undefined) } },
  };
  if (nodeMenuHook) app.collectNodeMenuItems = () => [];
  const listeners = {};
  const api = {
    fetchApi: async (route) => ({ ok: route === "/i18n", json: async () => i18n }),
    addEventListener: (name, fn) => (listeners[name] = fn),
  };
  globalThis.window = { comfyAPI: { app: { app }, api: { api } } };
  globalThis.document = { querySelectorAll: () => onScreen };
  return { registered, listeners };
}

function makeType(seen) {
  return {
    prototype: {
      onNodeCreated() {
        seen.push("created");
        return "created-result";
      },
      onConfigure(data) {
        seen.push(`configure ${data}`);
      },
      getExtraMenuOptions(_canvas, options) {
        options.push({ content: "own entry" });
      },
    },
  };
}

const SPEC = {
  name: "DiffSensei.Test", nodeId: "DiffSenseiTest", Editor: class {}, property: "testEditor", valueWidget: "value",
  widgetName: "test_editor", widgetType: "test", minHeight: 100, minSize: [100, 100], readsThrough: ["DiffSenseiUp"],
  menu: (editor) => [{ content: `menu of ${editor.id}` }],
};
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

test("registration chains the node type's callbacks, and every reason to re-read the graph re-reads it once", async () => {
  const follows = [];
  const root = {};
  const { registered } = fakeFrontend({ nodeMenuHook: false, onScreen: [root] });
  widget.editorOfRoot.set(root, { follow: () => follows.push("follow") });
  try {
    binding.registerCanvasEditor(SPEC);
    assert.deepEqual(registered.map((e) => e.name), ["DiffSensei.Test"]);
    const seen = [];
    const other = makeType(seen);
    const before = { ...other.prototype };
    await registered[0].beforeRegisterNodeDef(other, { name: "SomethingElse" });
    assert.deepEqual(other.prototype, before, "another node type is not touched");
    const upstream = makeType(seen);
    await registered[0].beforeRegisterNodeDef(upstream, { name: "DiffSenseiUp" });
    assert.deepEqual(Object.keys(upstream.prototype).sort(), [...Object.keys(before), "onConnectionsChange"].sort(),
      "a node the editor reads through only gets its link changes followed");

    const ours = makeType(seen);
    await registered[0].beforeRegisterNodeDef(ours, { name: "DiffSenseiTest" });
    const calls = [];
    const editor = {
      id: 7, applyJsonVisibility: () => calls.push("json"), resetSelection: () => calls.push("reset"),
      sync: (force) => calls.push(`sync ${!!force}`), retire: () => calls.push("retire"),
    };
    // A node without the value widget gets no editor, and the original callback still runs and returns.
    const bare = { widgets: [], ...ours.prototype };
    assert.equal(ours.prototype.onNodeCreated.call(bare), "created-result");
    assert.equal(bare.testEditor, undefined);
    const node = { testEditor: editor };
    ours.prototype.onConfigure.call(node, "data");
    ours.prototype.onConnectionsChange.call(node);
    upstream.prototype.onConnectionsChange.call({});
    ours.prototype.onRemoved.call(node);
    assert.deepEqual(seen, ["created", "configure data"]);
    assert.deepEqual(calls, ["json", "reset", "sync true", "retire"]);
    await tick();
    assert.deepEqual(follows, ["follow"], "three reasons in a row: the editors on screen re-read the graph once");
    const options = [];
    ours.prototype.getExtraMenuOptions.call(node, null, options);
    assert.deepEqual(options, [{ content: "own entry" }, { content: "menu of 7" }, null]);
  } finally {
    delete globalThis.window;
    delete globalThis.document;
  }
});

test("on a frontend with getNodeMenuItems the entries come from that hook only", async () => {
  const { registered } = fakeFrontend({ nodeMenuHook: true });
  try {
    binding.registerCanvasEditor(SPEC);
    const seen = [];
    const ours = makeType(seen);
    const own = ours.prototype.getExtraMenuOptions;
    await registered[0].beforeRegisterNodeDef(ours, { name: "DiffSenseiTest" });
    assert.equal(ours.prototype.getExtraMenuOptions, own, "the deprecated hook is left alone");
    const node = { comfyClass: "DiffSenseiTest", testEditor: { id: 3 } };
    assert.deepEqual(registered[0].getNodeMenuItems(node), [{ content: "menu of 3" }]);
    assert.deepEqual(registered[0].getNodeMenuItems({ comfyClass: "Other", testEditor: { id: 3 } }), []);
    assert.deepEqual(registered[0].getNodeMenuItems({ comfyClass: "DiffSenseiTest" }), [], "no editor, no entries");
  } finally {
    delete globalThis.window;
    delete globalThis.document;
  }
});
