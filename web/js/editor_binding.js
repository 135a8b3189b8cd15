// How the pack's canvas editors (./canvas_widget.js subclasses) are put on their nodes and kept in step with the
// graph, the same way on the classic canvas and on Nodes 2.0 (the Vue node renderer), on the frontend ComfyUI 0.3.64
// bundles (1.27) as on current ones:
//  - each editor is a DOM widget that sizes itself through CSS (--comfy-widget-min-height, min-height); nothing
//    is polled. The classic canvas also calls the widget's onDraw, Nodes 2.0 never does: nothing depends on it;
//  - an editor re-reads the graph when something it shows may have changed: its node's widgets (their callbacks),
//    links of the nodes it reads through (onConnectionsChange of their types), the image widget of a Load Image it
//    shows (that widget's callback), and every change the frontend's change tracker records (the api event
//    "graphChanged": undo, redo, edits, loads). Several reasons in a row re-read once;
//  - undo, redo and reloads rebuild a node under the same id, and Nodes 2.0 keeps the first editor element on
//    screen: the rebuilt node's editor takes that place and the old editor retires (it never writes again);
//  - node menu entries come from the extension hook getNodeMenuItems where the frontend has it (app.
//    collectNodeMenuItems), else from the node's getExtraMenuOptions, never both;
//  - texts follow the frontend's language (setting Comfy.Locale) with the "diffsensei" tables of
//    locales/<lang>/main.json as the server's /i18n serves them; English where a table or a key is missing.
//
// ComfyUI imports every .js file under web/ as an extension, this one too: it only exports and registers nothing on
// import; the editors call registerCanvasEditor(). Only window.comfyAPI is used; callbacks are chained.

import { chain, editorOfRoot } from "./canvas_widget.js";
import { stringsFor, useStrings } from "./editor_text.js";

const followedWidgets = new WeakSet();
const watchedTypes = new WeakSet();
let refreshQueued = false;
let listening = false;
let translations = null; // the server's /i18n answer, once loaded
let translationsLoading = null;

function comfyApp() {
  return window.comfyAPI.app.app;
}

// ------------------------------------------------------------------------------------------------ following

/** Re-read the graph in every editor on screen soon (once, however many reasons arrive before then). */
export function refreshSoon() {
  if (refreshQueued) return;
  refreshQueued = true;
  setTimeout(refreshEditors, 0);
}

function refreshEditors() {
  refreshQueued = false;
  followLocale();
  for (const root of document.querySelectorAll("[data-diffsensei-editor]")) editorOfRoot.get(root)?.follow();
}

function listen() {
  if (listening) return;
  listening = true;
  window.comfyAPI.api.api.addEventListener("graphChanged", refreshSoon);
}

/** Re-read every editor when `widget` (of another node, e.g. a Load Image's image) is changed in the UI. */
export function followWidget(widget) {
  if (!widget || followedWidgets.has(widget)) return;
  followedWidgets.add(widget);
  widget.callback = chain(widget.callback, refreshSoon);
}

function followLinksOf(nodeType) {
  const proto = nodeType.prototype;
  if (watchedTypes.has(proto)) return;
  watchedTypes.add(proto);
  proto.onConnectionsChange = chain(proto.onConnectionsChange, refreshSoon);
}

// ------------------------------------------------------------------------------------------------ language

function currentLocale() {
  const app = comfyApp();
  return app.extensionManager?.setting?.get?.("Comfy.Locale") ?? app.ui?.settings?.getSettingValue?.("Comfy.Locale");
}

/** Use the translation for the current Comfy.Locale (English until /i18n answered, or without one). */
function followLocale() {
  if (translations) useStrings(stringsFor(translations, currentLocale()));
}

function loadTranslations() {
  translationsLoading ??= window.comfyAPI.api.api.fetchApi("/i18n")
    .then((answer) => (answer.ok ? answer.json() : {}))
    .catch(() => ({}))
    .then((answer) => {
      translations = answer && typeof answer === "object" ? answer : {};
      followLocale();
    });
  return translationsLoading;
}

// ------------------------------------------------------------------------------------------------ registration

/**
 * Register the frontend extension that puts an editor on every node of type `nodeId`. Spec:
 *   name          extension name;  nodeId  the node's class id
 *   Editor        a CanvasEditor subclass, constructed as new Editor(node, property)
 *   property      node property holding the editor (e.g. "diffsenseiLayoutEditor")
 *   valueWidget   the STRING widget; nodes without it get no editor
 *   widgetName, widgetType   name and type of the (unserialised) DOM widget
 *   minHeight     the DOM widget's minimum height;  minSize  [w, h] the node grows to at least
 *   readsThrough  optional class ids of other nodes whose links the editor shows (their link changes re-read it)
 *   menu          optional (editor) → node context menu entries [{content, callback}]
 */
export function registerCanvasEditor(spec) {
  const app = comfyApp();
  const nodeMenuHook = typeof app.collectNodeMenuItems === "function";
  app.registerExtension({
    name: spec.name,
    async beforeRegisterNodeDef(nodeType, nodeData) {
      if (spec.readsThrough?.includes(nodeData?.name)) followLinksOf(nodeType);
      if (nodeData?.name !== spec.nodeId) return;
      await loadTranslations();
      followLinksOf(nodeType);
      hookNode(nodeType.prototype, spec);
      if (spec.menu && !nodeMenuHook) {
        nodeType.prototype.getExtraMenuOptions = chain(nodeType.prototype.getExtraMenuOptions,
          function (_canvas, options) {
            const editor = this[spec.property];
            if (editor && Array.isArray(options)) options.push(...spec.menu(editor), null);
          });
      }
    },
    getNodeMenuItems(node) {
      const editor = node?.[spec.property];
      return spec.menu && editor && node.comfyClass === spec.nodeId ? spec.menu(editor) : [];
    },
  });
}

function hookNode(proto, spec) {
  const { property } = spec;
  proto.onNodeCreated = chain(proto.onNodeCreated, function () {
    attachEditor(this, spec);
  });
  proto.onConfigure = chain(proto.onConfigure, function () {
    const editor = this[property];
    if (!editor) return;
    editor.applyJsonVisibility();
    editor.resetSelection();
    editor.sync(true);
    refreshSoon(); // a rebuilt node: its editor may have to take the old one's place on screen
  });
  proto.onAdded = chain(proto.onAdded, refreshSoon);
  proto.onRemoved = chain(proto.onRemoved, function () {
    this[property]?.retire();
  });
}

function attachEditor(node, spec) {
  if (node[spec.property] || !node.widgets?.some((w) => w.name === spec.valueWidget)) return;
  listen();
  followLocale();
  const editor = new spec.Editor(node, spec.property);
  node[spec.property] = editor;
  editor.root.style.setProperty("--comfy-widget-min-height", `${spec.minHeight}px`);
  editor.root.style.minHeight = `${spec.minHeight}px`;
  const widget = node.addDOMWidget(spec.widgetName, spec.widgetType, editor.root, {
    serialize: false, // the value lives in the STRING widget
    hideOnZoom: false,
    getValue: () => String(editor.textWidget?.value ?? ""),
    setValue: () => {},
    onDraw: () => editor.sync(), // classic canvas only; the other triggers above cover Nodes 2.0
  });
  widget.serialize = false;
  editor.widget = widget;
  editor.applyJsonVisibility();
  for (const w of Object.values(editor.widgets)) {
    if (w) w.callback = chain(w.callback, () => editor.sync());
  }
  const [w, h] = node.size;
  node.setSize([Math.max(w, spec.minSize[0]), Math.max(h, node.computeSize()[1], spec.minSize[1])]);
  editor.sync(true);
}
