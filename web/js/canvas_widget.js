// The frontend binding shared by the pack's canvas widgets (the Panel layout box editor, the Page layout canvas): a
// DOM widget with a toolbar, a canvas drawn at the shape of the thing edited, and a status line, kept in step with
// one STRING widget of the node that stays the only place the value lives (saved in widgets_values, sent in the API
// prompt). Subclasses say what to draw and how a drag edits the value; geometry stays in the DOM-free *_model.js.
//
// ComfyUI imports every .js file under web/ as an extension, this one too: it only exports and registers nothing on
// import; the bindings call registerCanvasEditor(). Only window.comfyAPI is used; node callbacks are chained.

import { fitRect, handlePoints } from "./layout_model.js";

export const PAD = 8; // canvas pixels around the drawing, so edge handles stay grabbable
const HANDLE = 5; // half the side of a resize handle, canvas pixels
const PAPER = "#f7f4ec";
const PROP_SHOW_JSON = "diffsensei_show_json";
const TEXT_COLOUR = "var(--input-text, #ddd)";
const PRESSED = "var(--p-primary-color, #2b6cb0)";
const BUTTON_STYLE = {
  font: "inherit", padding: "1px 6px", borderRadius: "4px", cursor: "pointer",
  border: "1px solid var(--border-color, #555)", background: "var(--comfy-input-bg, #222)", color: TEXT_COLOUR,
};
const CURSORS = {
  n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize", nw: "nwse-resize", se: "nwse-resize",
  ne: "nesw-resize", sw: "nesw-resize", move: "move",
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

function element(tag, style = {}, props = {}) {
  const el = document.createElement(tag);
  Object.assign(el.style, style);
  Object.assign(el, props);
  return el;
}

/** The pointer cursor over a resize handle name ("nw", "n", ...), "move", or nothing (crosshair: draw a box). */
export function cursorFor(handle) {
  return handle ? CURSORS[handle] ?? "default" : "crosshair";
}

// ------------------------------------------------------------------------------------------------ drawing helpers

/** The selection outline of a box [x, y, w, h] (canvas pixels) with its 8 resize handles. */
export function drawHandles(ctx, [x, y, w, h]) {
  ctx.save();
  ctx.strokeStyle = "#0af";
  ctx.lineWidth = 1;
  ctx.strokeRect(x - 0.5, y - 0.5, w + 1, h + 1);
  ctx.fillStyle = "#fff";
  for (const p of handlePoints([x, y, x + w, y + h])) {
    ctx.fillRect(p.x - HANDLE, p.y - HANDLE, 2 * HANDLE, 2 * HANDLE);
    ctx.strokeRect(p.x - HANDLE + 0.5, p.y - HANDLE + 0.5, 2 * HANDLE - 1, 2 * HANDLE - 1);
  }
  ctx.restore();
}

/** A dashed outline of a box [x, y, w, h] (canvas pixels): the box a drag is drawing. */
export function dashedRect(ctx, [x, y, w, h], colour, lineWidth = 1) {
  ctx.save();
  ctx.setLineDash([4, 3]);
  ctx.lineWidth = lineWidth;
  ctx.strokeStyle = colour;
  ctx.strokeRect(x, y, w, h);
  ctx.restore();
}

/** Text centred on (x, y); leaves the context's text settings changed (call inside save/restore). */
export function centredText(ctx, text, x, y, { font = "bold 12px sans-serif", colour = "#fff", maxWidth } = {}) {
  ctx.fillStyle = colour;
  ctx.font = font;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  if (maxWidth === undefined) ctx.fillText(text, x, y);
  else ctx.fillText(text, x, y, maxWidth);
}

export function roundedRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

function zeroSize() {
  return [0, -4];
}

// ------------------------------------------------------------------------------------------------ editor base

/**
 * The DOM, pointer plumbing and value round trip of a canvas widget on `node`. Options:
 *   prefix        CSS class prefix: `${prefix}-editor` (root), `-canvas`, `-status`
 *   valueWidget   name of the node's STRING widget holding the value (JSON text)
 *   watched       widget names whose change re-syncs the editor (valueWidget among them)
 *   lockedBy      widget names that make the editor read-only when their input is linked
 *   hints         {linked, invalid}: what the status says when an edit is refused for either reason
 *   minAreaHeight CSS pixels the canvas area keeps at least
 * Subclasses implement sync(force), paperSize() → {width, height}, draw(ctx, frame), statusText(),
 * startDrag(point), dragTo(point), finishDrag(drag, point), dragCancelled(drag), cursorAt(point), onKeyDown(event),
 * and optionally onContextMenu(event), updateButtons(), resetSelection().
 */
export class CanvasEditor {
  constructor(node, { prefix, valueWidget, watched, lockedBy, hints, minAreaHeight }) {
    this.node = node;
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
    this.canvas.addEventListener("keydown", (e) => this.onKeyDown(e));
    if (this.onContextMenu) this.canvas.addEventListener("contextmenu", (e) => this.onContextMenu(e));
    this.canvas.addEventListener("wheel", (e) => {
      // Zoom and pan the graph as over the rest of the node.
      e.preventDefault();
      comfyApp().canvas?.processMouseWheel?.(e);
    }, { passive: false });
    this.resizeObserver = new ResizeObserver(() => this.render());
    this.resizeObserver.observe(this.area);
  }

  /** The node's STRING widget that holds the value. */
  get textWidget() {
    return this.widgets[this.valueName];
  }

  get readOnly() {
    return this.node.inputs?.some((i) => (this.lockedBy.includes(i.widget?.name) || this.lockedBy.includes(i.name))
      && i.link != null) ?? false;
  }

  /** A toolbar button; `action` runs on click, then the canvas takes the keyboard focus back. */
  addButton(key, label, title, action) {
    const b = element("button", BUTTON_STYLE, { textContent: label, title, type: "button" });
    b.dataset.action = key;
    b.addEventListener("click", (event) => {
      event.stopPropagation();
      action();
      this.canvas.focus();
    });
    this.buttons[key] = b;
    this.bar.append(b);
  }

  /**
   * A small toolbar text field; `commit(text)` runs when an edit is confirmed (Enter, or leaving the field after a
   * change); Escape puts back the text it had. Keys typed in it are not graph shortcuts. Returns the <input>.
   */
  addField(key, label, title, commit, { width = "64px", placeholder = "" } = {}) {
    const input = element("input", { ...BUTTON_STYLE, cursor: "text", width },
      { type: "text", placeholder, spellcheck: false, title });
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
      if (input.value !== before) commit(input.value);
    });
    const wrap = element("label", { display: "inline-flex", gap: "3px", alignItems: "center" }, { title });
    wrap.append(label, input);
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
    const widget = this.textWidget;
    if (widget && text !== widget.value) widget.value = text;
    this.seen = null;
    this.sync();
    this.node.setDirtyCanvas?.(true, true);
  }

  /** False (and the status says why) when the value cannot be edited here: a linked input or invalid JSON. */
  editable() {
    if (this.readOnly) {
      this.say(this.hints.linked);
      return false;
    }
    if (this.error) {
      this.say(this.hints.invalid);
      return false;
    }
    return true;
  }

  say(message) {
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
    if (!area.isConnected) return;
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

  destroy() {
    this.resizeObserver?.disconnect();
  }
}

// ------------------------------------------------------------------------------------------------ registration

/**
 * Register the frontend extension that puts an editor on every node of type `nodeId`. Spec:
 *   name          extension name;  nodeId  the node's class id
 *   Editor        a CanvasEditor subclass, constructed as new Editor(node)
 *   property      node property holding the editor (e.g. "diffsenseiLayoutEditor")
 *   valueWidget   the STRING widget; nodes without it get no editor
 *   widgetName, widgetType   name and type of the (unserialised) DOM widget
 *   minHeight     the DOM widget's minimum height;  minSize  [w, h] the node grows to at least
 *   menu          optional (editor, node) → node context menu entries
 */
export function registerCanvasEditor(spec) {
  comfyApp().registerExtension({
    name: spec.name,
    async beforeRegisterNodeDef(nodeType, nodeData) {
      if (nodeData?.name !== spec.nodeId) return;
      const proto = nodeType.prototype;
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
      });
      proto.onConnectionsChange = chain(proto.onConnectionsChange, function () {
        this[property]?.sync();
      });
      proto.onRemoved = chain(proto.onRemoved, function () {
        this[property]?.destroy();
      });
      if (spec.menu) {
        proto.getExtraMenuOptions = chain(proto.getExtraMenuOptions, function (_canvas, options) {
          const editor = this[property];
          if (editor && Array.isArray(options)) options.push(...spec.menu(editor, this), null);
        });
      }
    },
  });
}

function attachEditor(node, spec) {
  if (node[spec.property] || !node.widgets?.some((w) => w.name === spec.valueWidget)) return;
  const editor = new spec.Editor(node);
  node[spec.property] = editor;
  const widget = node.addDOMWidget(spec.widgetName, spec.widgetType, editor.root, {
    serialize: false, // the value lives in the STRING widget
    hideOnZoom: false,
    getValue: () => String(editor.textWidget?.value ?? ""),
    setValue: () => {},
    getMinHeight: () => spec.minHeight,
    onDraw: () => editor.sync(),
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
