// The editor base shared by the pack's canvas widgets (the Panel layout box editor, the Page layout canvas): a DOM
// widget with a toolbar, a canvas drawn at the shape of the thing edited, and a status line, kept in step with one
// STRING widget of the node that stays the only place the value lives (saved in widgets_values, sent in the API
// prompt). Subclasses say what to draw and how a drag edits the value; geometry stays in the DOM-free *_model.js,
// texts in ./editor_text.js, and how an editor is attached to its node and follows the graph in ./editor_binding.js.
//
// ComfyUI imports every .js file under web/ as an extension, this one too: it only exports and registers nothing on
// import. Only window.comfyAPI is used.

import { HANDLE, PAD } from "./canvas_drawing.js";
import { say, stringsStamp } from "./editor_text.js";
import { fitRect } from "./layout_model.js";

const PAPER = "#f7f4ec";
const PROP_SHOW_JSON = "diffsensei_show_json";
const TEXT_COLOUR = "var(--input-text, #ddd)";
const PRESSED = "var(--p-primary-color, #2b6cb0)";
const BUTTON_STYLE = {
  font: "inherit", padding: "1px 6px", borderRadius: "4px", cursor: "pointer",
  border: "1px solid var(--border-color, #555)", background: "var(--comfy-input-bg, #222)", color: TEXT_COLOUR,
};

function comfyApp() {
  return window.comfyAPI.app.app;
}

/** A function that calls `original` (if any) then `extra` with the same `this` and arguments; returns original's. */
export function chain(original, extra) {
  return function (...args) {
    const result = original?.apply(this, args);
    extra.apply(this, args);
    return result;
  };
}

/** Whether input `slot` of `node` is linked: node.isInputConnected (current frontends), else the slot's link id. */
export function inputLinked(node, slot) {
  if (typeof node.isInputConnected === "function") return node.isInputConnected(slot);
  return node.inputs?.[slot]?.link != null;
}

function element(tag, style = {}, props = {}) {
  const el = document.createElement(tag);
  Object.assign(el.style, style);
  Object.assign(el, props);
  return el;
}

function zeroSize() {
  return [0, -4];
}

/** Editors by their root element: what ./editor_binding.js finds on screen. */
export const editorOfRoot = new WeakMap();

// ------------------------------------------------------------------------------------------------ editor base

/**
 * The DOM, pointer plumbing and value round trip of a canvas widget on `node`. Options:
 *   prefix        CSS class prefix: `${prefix}-editor` (root), `-canvas`, `-status`
 *   valueWidget   name of the node's STRING widget holding the value (JSON text)
 *   watched       widget names whose change re-syncs the editor (valueWidget among them)
 *   lockedBy      widget names that make the editor read-only when their input is linked
 *   hints         {linked, invalid}: text keys (./editor_text.js) of what the status says when an edit is refused
 *   minAreaHeight CSS pixels the canvas area keeps at least
 *   property      the node property that holds the editor (a rebuilt node's editor is found there)
 * Subclasses implement sync(force), paperSize() → {width, height}, draw(ctx, frame), statusText(),
 * startDrag(point), dragTo(point), finishDrag(drag, point), dragCancelled(drag), cursorAt(point), onKeyDown(event),
 * and optionally onContextMenu(event), updateButtons(), resetSelection().
 *
 * Undo, redo and reloads rebuild the node under the same id with a new editor. An editor whose node was replaced
 * hands its place on screen to the new one (takeOver) and retires: a retired editor never writes the value again.
 */
export class CanvasEditor {
  constructor(node, { prefix, valueWidget, watched, lockedBy, hints, minAreaHeight, property }) {
    this.node = node;
    this.property = property;
    this.retired = false;
    this.texts = [];
    this.stamp = stringsStamp();
    this.valueName = valueWidget;
    this.lockedBy = lockedBy;
    this.hints = hints;
    this.widgets = Object.fromEntries(watched.map((n) => [n, node.widgets?.find((w) => w.name === n)]));
    this.error = null;
    this.message = null;
    this.drag = null;
    this.seen = null;
    this.buttons = {};
    this.fields = {};
    node.properties ??= {};

    this.root = element("div", {
      display: "flex", flexDirection: "column", gap: "4px", boxSizing: "border-box", minHeight: "0",
      font: "12px sans-serif", color: TEXT_COLOUR,
    }, { className: `${prefix}-editor` });
    this.root.dataset.diffsenseiEditor = prefix;
    editorOfRoot.set(this.root, this);
    this.bar = element("div", { display: "flex", flexWrap: "wrap", gap: "3px", alignItems: "center" });
    this.area = element("div",
      { position: "relative", flex: "1 1 auto", minHeight: `${minAreaHeight}px`, overflow: "hidden" });
    this.canvas = element("canvas", { position: "absolute", outline: "none", touchAction: "none" },
      { className: `${prefix}-canvas`, tabIndex: 0 });
    this.area.append(this.canvas);
    this.status = element("div",
      { minHeight: "15px", whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" },
      { className: `${prefix}-status` });
    this.root.append(this.bar, this.area, this.status);

    this.canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    this.canvas.addEventListener("pointercancel", () => this.cancelDrag());
    this.canvas.addEventListener("keydown", (e) => this.handedOver(e) || this.onKeyDown(e));
    if (this.onContextMenu) this.canvas.addEventListener("contextmenu", (e) => this.handedOver(e) || this.onContextMenu(e));
    this.canvas.addEventListener("wheel", (e) => {
      // Zoom and pan the graph as over the rest of the node.
      e.preventDefault();
      comfyApp().canvas?.processMouseWheel?.(e);
    }, { passive: false });
    // Shown again (Nodes 2.0 mounts nodes as they scroll into view) or resized: re-read the value, then redraw.
    this.resizeObserver = new ResizeObserver(() => {
      this.sync();
      this.render();
    });
    this.resizeObserver.observe(this.area);
  }

  // -------------------------------------------------------------------------------------------- texts

  /** Set a text of the editor now and again whenever the language changes: `apply` writes it. */
  label(apply) {
    this.texts.push(apply);
    apply();
  }

  /** Rewrite every text in the language in use (after a Comfy.Locale change). */
  relabel() {
    this.stamp = stringsStamp();
    for (const apply of this.texts) apply();
  }

  // -------------------------------------------------------------------------------------------- node rebuilt

  /**
   * The editor of the node that now has this editor's node id in the graph on screen, when that is another node
   * (undo, redo and reloads rebuild nodes under the same id); null while this editor's node is the current one.
   */
  successor() {
    const app = comfyApp();
    const graph = app.canvas?.graph ?? app.graph;
    const current = graph?.getNodeById?.(this.node.id);
    const editor = current && current !== this.node ? current[this.property] : null;
    return editor && editor !== this ? editor : null;
  }

  /** Take the place on screen of `old` (the editor of the node this one's node replaced) and retire it. */
  takeOver(old) {
    if (old.root.isConnected && !this.root.isConnected) old.root.replaceWith(this.root);
    old.retire();
    this.sync(true);
  }

  /** True (and the event goes nowhere) when this editor's node was replaced: its successor takes the screen. */
  handedOver(event) {
    if (!this.retired && !this.successor()) return false;
    event.preventDefault();
    event.stopPropagation();
    this.successor()?.takeOver(this);
    return true;
  }

  /** Stop for good: no more drawing on resize, no more writes. */
  retire() {
    this.retired = true;
    this.drag = null;
    this.resizeObserver?.disconnect();
  }

  /** Follow the graph: hand over to a rebuilt node's editor, else re-read the value. */
  follow() {
    const next = this.successor();
    if (next) next.takeOver(this);
    else if (!this.retired) this.sync();
  }

  /** The node's STRING widget that holds the value. */
  get textWidget() {
    return this.widgets[this.valueName];
  }

  get readOnly() {
    return this.node.inputs?.some((i, slot) => (this.lockedBy.includes(i.widget?.name) || this.lockedBy.includes(i.name))
      && inputLinked(this.node, slot)) ?? false;
  }

  /**
   * A toolbar button; `action` runs on click, then the canvas takes the keyboard focus back. `label` and `tip` are
   * text keys (./editor_text.js; {values} fill them in); a label {text} is shown as it is (symbols).
   */
  addButton(key, label, tip, action, values = {}) {
    const b = element("button", BUTTON_STYLE, { type: "button" });
    this.label(() => {
      b.textContent = typeof label === "string" ? say(label, values) : label.text;
      b.title = say(tip, values);
    });
    b.dataset.action = key;
    b.addEventListener("click", (event) => {
      event.stopPropagation();
      if (this.handedOver(event)) return;
      action();
      this.canvas.focus();
    });
    this.buttons[key] = b;
    this.bar.append(b);
  }

  /**
   * A small toolbar text field; `commit(text)` runs when an edit is confirmed (Enter, or leaving the field after a
   * change); Escape puts back the text it had. Keys typed in it are not graph shortcuts. `label` and `tip` are text
   * keys. Returns the <input>.
   */
  addField(key, label, tip, commit, { width = "64px" } = {}) {
    const input = element("input", { ...BUTTON_STYLE, cursor: "text", width }, { type: "text", spellcheck: false });
    input.dataset.field = key;
    let before = "";
    input.addEventListener("focus", () => {
      before = input.value;
    });
    input.addEventListener("keydown", (event) => {
      event.stopPropagation();
      if (event.key === "Escape") input.value = before;
      if (event.key === "Enter" || event.key === "Escape") {
        event.preventDefault();
        this.canvas.focus(); // leaving the field fires "change" when the text changed
      }
    });
    input.addEventListener("change", () => {
      if (input.value !== before && !this.retired) commit(input.value);
    });
    const wrap = element("label", { display: "inline-flex", gap: "3px", alignItems: "center" });
    const caption = document.createTextNode("");
    this.label(() => {
      caption.textContent = say(label);
      wrap.title = input.title = say(tip);
    });
    wrap.append(caption, input);
    this.fields[key] = input;
    this.bar.append(wrap);
    return input;
  }

  setPressed(key, pressed) {
    const b = this.buttons[key];
    b.style.background = pressed ? PRESSED : BUTTON_STYLE.background;
    b.style.color = pressed ? "#fff" : BUTTON_STYLE.color;
    b.setAttribute("aria-pressed", String(pressed));
  }

  // -------------------------------------------------------------------------------------------- value

  /** Write `text` into the value widget (its setter fires its callback), then re-sync and redraw the node. */
  store(text) {
    if (this.retired || this.successor()) return; // a replaced node's editor never writes
    const widget = this.textWidget;
    if (widget && text !== widget.value) widget.value = text;
    this.seen = null;
    this.sync();
    this.node.setDirtyCanvas?.(true, true);
  }

  /** False (and the status says why) when the value cannot be edited here: a linked input or invalid JSON. */
  editable() {
    if (this.readOnly) {
      this.warn(say(this.hints.linked));
      return false;
    }
    if (this.error) {
      this.warn(say(this.hints.invalid));
      return false;
    }
    return true;
  }

  /** Show `message` in the status line (until the next press on the canvas). */
  warn(message) {
    this.message = message;
    this.render();
  }

  resetSelection() {}

  toggleJson() {
    const shown = !this.node.properties[PROP_SHOW_JSON];
    this.node.properties[PROP_SHOW_JSON] = shown;
    this.applyJsonVisibility();
    const [w, h] = this.node.size;
    const min = this.node.computeSize();
    this.node.setSize([Math.max(w, min[0]), Math.max(shown ? h + 120 : h - 120, min[1])]);
    this.node.setDirtyCanvas?.(true, true);
  }

  get jsonShown() {
    return !!this.node.properties[PROP_SHOW_JSON];
  }

  applyJsonVisibility() {
    const text = this.textWidget;
    if (!text) return;
    const hide = !this.jsonShown;
    text.hidden = hide; // hides the text box and leaves it out of the node's size
    // The frontend's widget arrangement still gives hidden widgets room; a zero size takes it back.
    if (hide) text.computeSize = zeroSize;
    else if (text.computeSize === zeroSize) delete text.computeSize;
  }

  // -------------------------------------------------------------------------------------------- pointer

  /** The drawing's size in canvas CSS pixels (without the padding). */
  view() {
    return { w: Math.max(this.canvas.clientWidth - 2 * PAD, 1), h: Math.max(this.canvas.clientHeight - 2 * PAD, 1) };
  }

  /** The pointer as a point relative to the drawing, {x, y} in 0..1 inside it. */
  pointFromEvent(event) {
    const rect = this.canvas.getBoundingClientRect();
    // The widget may be scaled by the graph's zoom: map screen pixels to the canvas' own CSS pixels.
    const sx = this.canvas.clientWidth / (rect.width || 1);
    const sy = this.canvas.clientHeight / (rect.height || 1);
    const { w, h } = this.view();
    return { x: ((event.clientX - rect.left) * sx - PAD) / w, y: ((event.clientY - rect.top) * sy - PAD) / h };
  }

  /** How far from a handle (relative units, each axis) the pointer still grabs it. */
  tolerance() {
    const { w, h } = this.view();
    return { x: (HANDLE + 2) / w, y: (HANDLE + 2) / h };
  }

  onPointerDown(event) {
    if (this.handedOver(event)) return;
    if (event.button === 1) {
      comfyApp().canvas?.processMouseDown?.(event); // the middle button pans the graph
      return;
    }
    if (event.button !== 0) return;
    event.stopPropagation();
    this.canvas.focus();
    this.message = null;
    if (!this.editable()) return;
    this.startDrag(this.pointFromEvent(event));
    if (this.drag) this.canvas.setPointerCapture?.(event.pointerId);
    this.render();
  }

  onPointerMove(event) {
    const point = this.pointFromEvent(event);
    if (!this.drag) {
      this.canvas.style.cursor = this.cursorAt(point);
      return;
    }
    event.stopPropagation();
    this.dragTo(point);
    this.render();
  }

  onPointerUp(event) {
    if (!this.drag) return;
    event.stopPropagation();
    const drag = this.drag;
    this.drag = null;
    this.canvas.releasePointerCapture?.(event.pointerId);
    this.finishDrag(drag, this.pointFromEvent(event));
  }

  cancelDrag() {
    if (!this.drag) return;
    const drag = this.drag;
    this.drag = null;
    this.dragCancelled(drag);
    this.render();
  }

  // -------------------------------------------------------------------------------------------- drawing

  /**
   * Size the canvas to the largest rectangle of paperSize()'s shape in the area (sharp at the graph's zoom), paint
   * the paper, then draw(ctx, frame) with frame = {w, h, X, Y, rect}: the drawing's size in CSS pixels and maps
   * from relative coordinates (X(x), Y(y); rect([x1, y1, x2, y2]) → [x, y, w, h]) to canvas pixels.
   */
  render() {
    const area = this.area;
    if (!area.isConnected || this.retired) return;
    if (this.stamp !== stringsStamp()) this.relabel();
    const fit = fitRect(Math.max(area.clientWidth - 2 * PAD, 1), Math.max(area.clientHeight - 2 * PAD, 1),
      this.paperSize());
    const cssW = Math.max(Math.round(fit.w + 2 * PAD), 2 * PAD + 1);
    const cssH = Math.max(Math.round(fit.h + 2 * PAD), 2 * PAD + 1);
    Object.assign(this.canvas.style, {
      left: `${Math.round(fit.x)}px`, top: `${Math.round(fit.y)}px`, width: `${cssW}px`, height: `${cssH}px`,
    });
    const ratio = Math.min(3, (window.devicePixelRatio || 1) * Math.max(1, comfyApp().canvas?.ds?.scale ?? 1));
    const pw = Math.round(cssW * ratio);
    const ph = Math.round(cssH * ratio);
    if (this.canvas.width !== pw || this.canvas.height !== ph) {
      this.canvas.width = pw;
      this.canvas.height = ph;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const w = cssW - 2 * PAD;
    const h = cssH - 2 * PAD;
    const X = (x) => PAD + x * w;
    const Y = (y) => PAD + y * h;
    const rect = (box) => [X(box[0]), Y(box[1]), (box[2] - box[0]) * w, (box[3] - box[1]) * h];
    ctx.fillStyle = PAPER;
    ctx.fillRect(PAD, PAD, w, h);
    ctx.strokeStyle = "#777";
    ctx.lineWidth = 1;
    ctx.strokeRect(PAD - 0.5, PAD - 0.5, w + 1, h + 1);
    this.draw(ctx, { w, h, X, Y, rect });
    this.updateButtons?.();
    this.showStatus(this.statusText());
  }

  /** The status line: the JSON error, else the last message, else `text`. */
  showStatus(text) {
    let colour = TEXT_COLOUR;
    if (this.error) {
      text = this.error;
      colour = "#f66";
    } else if (this.message) {
      text = this.message;
      colour = "#fb4";
    }
    this.status.textContent = text;
    this.status.title = text;
    this.status.style.color = colour;
  }

}
