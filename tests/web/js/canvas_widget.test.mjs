// Unit tests of the canvas widgets' shared binding (web/js/canvas_widget.js) that need no DOM: node --test tests/web/js/
import assert from "node:assert/strict";
import { test } from "node:test";

// Node has no `window`: importing the module succeeds only if it touches nothing of the frontend on import (ComfyUI
// loads every .js under web/ as an extension, this shared module too).
const widget = await import("../../../web/js/canvas_widget.js");

test("importing the shared module registers nothing", () => {
  assert.equal(typeof globalThis.window, "undefined");
  assert.equal(typeof widget.registerCanvasEditor, "function");
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
  assert.equal(widget.cursorFor(null), "crosshair");
  assert.equal(widget.cursorFor("move"), "move");
  assert.equal(widget.cursorFor("nw"), "nwse-resize");
  assert.equal(widget.cursorFor("ne"), "nesw-resize");
  assert.equal(widget.cursorFor("n"), "ns-resize");
  assert.equal(widget.cursorFor("w"), "ew-resize");
});

test("registration chains the node type's callbacks and leaves other node types alone", async () => {
  const registered = [];
  globalThis.window = { comfyAPI: { app: { app: { registerExtension: (ext) => registered.push(ext) } } } };
  try {
    widget.registerCanvasEditor({
      name: "DiffSensei.Test", nodeId: "DiffSenseiTest", Editor: class {}, property: "testEditor", valueWidget: "value",
      widgetName: "test_editor", widgetType: "test", minHeight: 100, minSize: [100, 100],
      menu: (editor) => [{ content: `menu of ${editor.id}` }],
    });
    assert.equal(registered.length, 1);
    assert.equal(registered[0].name, "DiffSensei.Test");

    const seen = [];
    const makeType = () => ({
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
    });
    const other = makeType();
    const before = { ...other.prototype };
    await registered[0].beforeRegisterNodeDef(other, { name: "SomethingElse" });
    assert.deepEqual(other.prototype, before, "another node type is not touched");

    const ours = makeType();
    await registered[0].beforeRegisterNodeDef(ours, { name: "DiffSenseiTest" });
    const syncs = [];
    const editor = {
      id: 7, applyJsonVisibility: () => syncs.push("json"), resetSelection: () => syncs.push("reset"),
      sync: (force) => syncs.push(`sync ${!!force}`), destroy: () => syncs.push("destroy"),
    };
    // A node without the value widget gets no editor, and the original callback still runs and returns.
    const bare = { widgets: [], ...ours.prototype };
    assert.equal(ours.prototype.onNodeCreated.call(bare), "created-result");
    assert.equal(bare.testEditor, undefined);
    const node = { testEditor: editor };
    ours.prototype.onConfigure.call(node, "data");
    ours.prototype.onConnectionsChange.call(node);
    ours.prototype.onRemoved.call(node);
    assert.deepEqual(seen, ["created", "configure data"]);
    assert.deepEqual(syncs, ["json", "reset", "sync true", "sync false", "destroy"]);
    const options = [];
    ours.prototype.getExtraMenuOptions.call(node, null, options);
    assert.deepEqual(options, [{ content: "own entry" }, { content: "menu of 7" }, null]);
  } finally {
    delete globalThis.window;
  }
});
