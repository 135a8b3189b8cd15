// Page canvas on "DiffSensei: Page layout": the page at its paper shape, its panels numbered in reading order, each
// with its character and dialog boxes; draw, move, resize and delete panels with the mouse.
//
// As on the Panel layout node, the node's own `page` STRING widget is the one place the value lives (saved in
// widgets_values, sent in the API prompt). With a named preset the canvas shows the preset's panels; the first edit
// (or "Edit as custom") copies them into the JSON as drawn panels and sets the preset to custom. Geometry lives in
// ./page_model.js (no DOM). Only window.comfyAPI is used; node callbacks are chained, never replaced.

import { characterColour, handlePoints } from "./layout_model.js";
import * as model from "./page_model.js";

const NODE_ID = "DiffSenseiPageLayout";
const EDITOR_WIDGET = "page_editor";
const SETTINGS = ["preset", "page_size", "dpi", "direction", "margin_mm", "gutter_mm", "page"];
const PAD = 8;
const HANDLE = 5;
const MIN_EDITOR_HEIGHT = 300;
const PROP_SHOW_JSON = "diffsensei_show_json";
const PAPER = "#f7f4ec";

function chain(original, extra) {
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

const BUTTON_STYLE = {
  font: "inherit", padding: "1px 6px", borderRadius: "4px", cursor: "pointer",
  border: "1px solid var(--border-color, #555)", background: "var(--comfy-input-bg, #222)",
  color: "var(--input-text, #ddd)",
};

function zeroSize() {
  return [0, -4];
}

class PageEditor {
  constructor(node) {
    this.node = node;
    this.widgets = Object.fromEntries(SETTINGS.map((n) => [n, node.widgets?.find((w) => w.name === n)]));
    this.page = model.emptyPage();
    this.error = null;
    this.selected = null; // index in page.panels
    this.drag = null;
    this.message = null;
    this.seen = null;
    node.properties ??= {};
    this.build();
  }

  get settings() {
    const v = (name) => this.widgets[name]?.value;
    const dpi = Number(v("dpi")) || 300;
    const size = model.pageSizePx(v("page_size"), dpi) ?? { width: 2150, height: 3035 };
    return {
      preset: v("preset") ?? model.CUSTOM, direction: v("direction") === "ltr" ? "ltr" : "rtl", ...size,
      margin: model.mmToPx(Number(v("margin_mm")) || 0, dpi), gutter: model.mmToPx(Number(v("gutter_mm")) || 0, dpi),
    };
  }

  build() {
    this.root = element("div", {
      display: "flex", flexDirection: "column", gap: "4px", boxSizing: "border-box", minHeight: "0",
      font: "12px sans-serif", color: "var(--input-text, #ddd)",
    }, { className: "diffsensei-page-editor" });
    const bar = element("div", { display: "flex", flexWrap: "wrap", gap: "3px", alignItems: "center" });
    this.buttons = {};
    const button = (key, label, title, action) => {
      const b = element("button", BUTTON_STYLE, { textContent: label, title, type: "button" });
      b.dataset.action = key;
      b.addEventListener("click", (event) => {
        event.stopPropagation();
        action();
        this.canvas.focus();
      });
      this.buttons[key] = b;
      bar.append(b);
    };
    button("custom", "Edit as custom", "Copy the preset's panels into the page JSON as drawn panels (preset → custom)",
      () => this.toCustom());
    button("delete", "Delete", "Delete the selected panel (Delete key)", () => this.deleteSelected());
    button("json", "JSON", "Show or hide the page JSON text", () => this.toggleJson());
    this.area = element("div", { position: "relative", flex: "1 1 auto", minHeight: "80px", overflow: "hidden" });
    this.canvas = element("canvas", { position: "absolute", outline: "none", touchAction: "none" },
      { className: "diffsensei-page-canvas", tabIndex: 0 });
    this.area.append(this.canvas);
    this.status = element("div", { minHeight: "15px", whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" },
      { className: "diffsensei-page-status" });
    this.root.append(bar, this.area, this.status);
    this.canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    this.canvas.addEventListener("pointercancel", () => this.cancelDrag());
    this.canvas.addEventListener("keydown", (e) => this.onKeyDown(e));
    this.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      window.comfyAPI.app.app.canvas?.processMouseWheel?.(e);
    }, { passive: false });
    this.resizeObserver = new ResizeObserver(() => this.render());
    this.resizeObserver.observe(this.area);
  }

  // -------------------------------------------------------------------------------------------- value

  sync(force = false) {
    if (this.drag) return;
    const key = JSON.stringify(SETTINGS.map((n) => this.widgets[n]?.value));
    if (!force && key === this.seen) return;
    this.seen = key;
    const parsed = model.parsePage(this.widgets.page?.value ?? "");
    this.error = parsed.error;
    if (parsed.page) this.page = parsed.page;
    if (this.selected !== null && !this.page.panels[this.selected]) this.selected = null;
    this.render();
  }

  commit(page) {
    this.page = page;
    const text = model.serializePage(page);
    if (this.widgets.page && text !== this.widgets.page.value) this.widgets.page.value = text;
    this.seen = null;
    this.sync();
    this.node.setDirtyCanvas?.(true, true);
  }

  get readOnly() {
    return this.node.inputs?.some((i) => SETTINGS.includes(i.widget?.name) && i.link != null) ?? false;
  }

  editable() {
    if (this.readOnly) return this.say("a setting of this node is linked; edit the page at its source."), false;
    if (this.error) return this.say("the page JSON is invalid: fix it (JSON button)."), false;
    return true;
  }

  toCustom() {
    if (!this.editable()) return false;
    const settings = this.settings;
    if (settings.preset === model.CUSTOM) return true;
    const page = model.presetToCustom(this.page, settings);
    this.widgets.preset.value = model.CUSTOM;
    this.widgets.preset.callback?.(model.CUSTOM);
    this.message = `preset '${settings.preset}' copied as drawn panels`;
    this.commit(page);
    return true;
  }

  deleteSelected() {
    if (this.selected === null) return this.say("select a panel first.");
    if (!this.toCustom()) return;
    this.commit(model.deletePanel(this.page, this.selected));
    this.selected = null;
    this.render();
  }

  toggleJson() {
    const shown = !this.node.properties[PROP_SHOW_JSON];
    this.node.properties[PROP_SHOW_JSON] = shown;
    this.applyJsonVisibility();
    const [w, h] = this.node.size;
    const min = this.node.computeSize();
    this.node.setSize([Math.max(w, min[0]), Math.max(shown ? h + 120 : h - 120, min[1])]);
    this.node.setDirtyCanvas?.(true, true);
  }

  applyJsonVisibility() {
    const text = this.widgets.page;
    if (!text) return;
    const hide = !this.node.properties[PROP_SHOW_JSON];
    text.hidden = hide;
    if (hide) text.computeSize = zeroSize;
    else if (text.computeSize === zeroSize) delete text.computeSize;
  }

  say(message) {
    this.message = message;
    this.render();
  }

  // -------------------------------------------------------------------------------------------- pointer

  view() {
    return { w: Math.max(this.canvas.clientWidth - 2 * PAD, 1), h: Math.max(this.canvas.clientHeight - 2 * PAD, 1) };
  }

  pointFromEvent(event) {
    const rect = this.canvas.getBoundingClientRect();
    const sx = this.canvas.clientWidth / (rect.width || 1);
    const sy = this.canvas.clientHeight / (rect.height || 1);
    const { w, h } = this.view();
    return { x: ((event.clientX - rect.left) * sx - PAD) / w, y: ((event.clientY - rect.top) * sy - PAD) / h };
  }

  handleAt(point) {
    const box = this.selected !== null ? this.page.panels[this.selected]?.box : null;
    if (!box || this.settings.preset !== model.CUSTOM) return null;
    const { w, h } = this.view();
    const hit = handlePoints(box).find((p) => Math.abs(p.x - point.x) * w <= HANDLE + 2 && Math.abs(p.y - point.y) * h <= HANDLE + 2);
    return hit?.name ?? null;
  }

  onPointerDown(event) {
    if (event.button !== 0) return;
    event.stopPropagation();
    this.canvas.focus();
    this.message = null;
    if (!this.editable()) return;
    const point = this.pointFromEvent(event);
    const custom = this.settings.preset === model.CUSTOM;
    const handle = this.handleAt(point);
    const shapes = model.resolvedPanels(this.page, this.settings);
    const under = custom ? model.hitPanel(this.page, point) : null;
    if (!custom) {
      // The first edit turns the preset into drawn panels; then select what is under the pointer.
      const hit = shapes.filter((s) => point.x >= s.box[0] && point.x <= s.box[2] && point.y >= s.box[1] && point.y <= s.box[3]);
      if (!this.toCustom()) return;
      this.selected = hit.length ? hit[hit.length - 1].order : null;
      this.render();
      return;
    }
    if (handle) this.drag = { type: "resize", handle, index: this.selected, start: point, original: this.page.panels[this.selected] };
    else if (under !== null) {
      this.selected = under;
      this.drag = { type: "move", handle: "move", index: under, start: point, original: this.page.panels[under] };
    } else {
      this.selected = null;
      this.drag = { type: "create", start: point, point };
    }
    this.drag.before = this.page;
    this.canvas.setPointerCapture?.(event.pointerId);
    this.render();
  }

  onPointerMove(event) {
    const point = this.pointFromEvent(event);
    if (!this.drag) {
      const handle = this.handleAt(point);
      this.canvas.style.cursor = handle ? "nwse-resize" : model.hitPanel(this.page, point) !== null ? "move" : "crosshair";
      return;
    }
    event.stopPropagation();
    const drag = this.drag;
    if (drag.type === "create") drag.point = point;
    else this.page = model.editPanel(drag.before, drag.index, drag.original, drag.handle, drag.start, point, this.settings);
    this.render();
  }

  onPointerUp(event) {
    if (!this.drag) return;
    event.stopPropagation();
    const drag = this.drag;
    this.drag = null;
    this.canvas.releasePointerCapture?.(event.pointerId);
    const point = this.pointFromEvent(event);
    if (drag.type === "create") {
      if (Math.abs(point.x - drag.start.x) + Math.abs(point.y - drag.start.y) < 1e-3) return this.render();
      const { page, index, error } = model.addPanel(drag.before, drag.start, point, this.settings);
      this.message = error;
      if (!error) {
        this.selected = index;
        this.commit(page);
      } else this.render();
      return;
    }
    this.commit(model.editPanel(drag.before, drag.index, drag.original, drag.handle, drag.start, point, this.settings));
  }

  cancelDrag() {
    if (!this.drag) return;
    this.page = this.drag.before;
    this.drag = null;
    this.render();
  }

  onKeyDown(event) {
    if (event.key === "Delete" || event.key === "Backspace") {
      this.deleteSelected();
      event.preventDefault();
      event.stopPropagation();
    } else if (event.key === "Escape") {
      this.cancelDrag();
      this.selected = null;
      this.render();
      event.stopPropagation();
    }
  }

  // -------------------------------------------------------------------------------------------- drawing

  render() {
    if (!this.area.isConnected) return;
    const settings = this.settings;
    const aw = Math.max(this.area.clientWidth - 2 * PAD, 1);
    const ah = Math.max(this.area.clientHeight - 2 * PAD, 1);
    const aspect = settings.width / settings.height;
    const w = Math.max(1, Math.min(aw, ah * aspect));
    const h = Math.max(1, w / aspect);
    const cssW = Math.round(w + 2 * PAD);
    const cssH = Math.round(h + 2 * PAD);
    Object.assign(this.canvas.style, {
      left: `${Math.round((aw - w) / 2)}px`, top: `${Math.round((ah - h) / 2)}px`, width: `${cssW}px`, height: `${cssH}px`,
    });
    const ratio = Math.min(3, window.devicePixelRatio || 1);
    if (this.canvas.width !== Math.round(cssW * ratio)) this.canvas.width = Math.round(cssW * ratio);
    if (this.canvas.height !== Math.round(cssH * ratio)) this.canvas.height = Math.round(cssH * ratio);
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const iw = cssW - 2 * PAD;
    const ih = cssH - 2 * PAD;
    const X = (x) => PAD + x * iw;
    const Y = (y) => PAD + y * ih;
    ctx.fillStyle = PAPER;
    ctx.fillRect(PAD, PAD, iw, ih);
    ctx.strokeStyle = "#777";
    ctx.strokeRect(PAD - 0.5, PAD - 0.5, iw + 1, ih + 1);
    if (settings.margin > 0) {
      ctx.save();
      ctx.setLineDash([3, 3]);
      ctx.strokeStyle = "rgba(0,0,0,0.25)";
      const mx = settings.margin / settings.width;
      const my = settings.margin / settings.height;
      ctx.strokeRect(X(mx), Y(my), (1 - 2 * mx) * iw, (1 - 2 * my) * ih);
      ctx.restore();
    }
    const shapes = this.error ? [] : model.resolvedPanels(this.page, settings);
    for (const shape of shapes) this.drawPanel(ctx, shape, X, Y);
    if (this.selected !== null && settings.preset === model.CUSTOM && this.page.panels[this.selected]?.box) {
      const [x1, y1, x2, y2] = this.page.panels[this.selected].box;
      ctx.save();
      ctx.strokeStyle = "#0af";
      ctx.strokeRect(X(x1) - 0.5, Y(y1) - 0.5, (x2 - x1) * iw + 1, (y2 - y1) * ih + 1);
      ctx.fillStyle = "#fff";
      for (const p of handlePoints([X(x1), Y(y1), X(x2), Y(y2)])) {
        ctx.fillRect(p.x - HANDLE, p.y - HANDLE, 2 * HANDLE, 2 * HANDLE);
        ctx.strokeRect(p.x - HANDLE + 0.5, p.y - HANDLE + 0.5, 2 * HANDLE - 1, 2 * HANDLE - 1);
      }
      ctx.restore();
    }
    if (this.drag?.type === "create") {
      const { start, point } = this.drag;
      ctx.save();
      ctx.setLineDash([4, 3]);
      ctx.strokeStyle = "#0af";
      ctx.strokeRect(X(Math.min(start.x, point.x)), Y(Math.min(start.y, point.y)), Math.abs(point.x - start.x) * iw,
        Math.abs(point.y - start.y) * ih);
      ctx.restore();
    }
    this.updateChrome(settings, shapes);
  }

  drawPanel(ctx, shape, X, Y) {
    const [x1, y1, x2, y2] = shape.box;
    const outline = shape.polygon ?? [[x1, y1], [x2, y1], [x2, y2], [x1, y2]];
    ctx.save();
    ctx.beginPath();
    outline.forEach(([x, y], k) => (k ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.closePath();
    ctx.fillStyle = "#fff";
    ctx.fill();
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.clip();
    const entry = shape.index !== null ? this.page.panels[shape.index]?.rest ?? {} : {};
    const inner = (b) => [X(x1 + b[0] * (x2 - x1)), Y(y1 + b[1] * (y2 - y1)), (b[2] - b[0]) * (X(x2) - X(x1)), (b[3] - b[1]) * (Y(y2) - Y(y1))];
    (Array.isArray(entry.characters) ? entry.characters : []).forEach((b, i) => {
      const box = Array.isArray(b) ? b : b?.box;
      if (!Array.isArray(box) || box.length !== 4) return;
      ctx.globalAlpha = 0.25;
      ctx.fillStyle = characterColour(i);
      ctx.fillRect(...inner(box));
      ctx.globalAlpha = 1;
    });
    (Array.isArray(entry.dialogs) ? entry.dialogs : []).forEach((b) => {
      const box = Array.isArray(b) ? b : b?.box;
      if (!Array.isArray(box) || box.length !== 4) return;
      ctx.setLineDash([4, 3]);
      ctx.strokeStyle = "#444";
      ctx.lineWidth = 1;
      ctx.strokeRect(...inner(box));
      ctx.setLineDash([]);
    });
    ctx.restore();
    const cx = (X(x1) + X(x2)) / 2;
    const cy = (Y(y1) + Y(y2)) / 2;
    ctx.save();
    ctx.fillStyle = "rgba(20,20,20,0.85)";
    ctx.beginPath();
    ctx.arc(cx, cy, 11, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#fff";
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(String(shape.order + 1), cx, cy + 1);
    ctx.restore();
  }

  updateChrome(settings, shapes) {
    const custom = settings.preset === model.CUSTOM;
    this.buttons.custom.disabled = custom;
    this.buttons.delete.disabled = this.selected === null || !custom;
    let text = `${settings.width}×${settings.height} px · ${shapes.length} panel(s) · ${settings.direction === "rtl" ? "right to left" : "left to right"}`;
    let colour = "var(--input-text, #ddd)";
    if (this.error) {
      text = this.error;
      colour = "#f66";
    } else if (this.message) {
      text = this.message;
      colour = "#fb4";
    } else if (!custom) text += " · preset (drag on the page to edit it as drawn panels)";
    this.status.textContent = text;
    this.status.title = text;
    this.status.style.color = colour;
  }

  destroy() {
    this.resizeObserver?.disconnect();
  }
}

function attachEditor(node) {
  if (node.diffsenseiPageEditor || !node.widgets?.some((w) => w.name === "page")) return;
  const editor = new PageEditor(node);
  node.diffsenseiPageEditor = editor;
  const widget = node.addDOMWidget(EDITOR_WIDGET, "diffsensei_page_editor", editor.root, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => String(editor.widgets.page?.value ?? ""),
    setValue: () => {},
    getMinHeight: () => MIN_EDITOR_HEIGHT,
    onDraw: () => editor.sync(),
  });
  widget.serialize = false;
  editor.applyJsonVisibility();
  for (const name of SETTINGS) {
    const w = editor.widgets[name];
    if (w) w.callback = chain(w.callback, () => editor.sync());
  }
  const [w, h] = node.size;
  node.setSize([Math.max(w, 380), Math.max(h, node.computeSize()[1], 560)]);
  editor.sync(true);
}

window.comfyAPI.app.app.registerExtension({
  name: "DiffSensei.PageLayoutEditor",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_ID) return;
    const proto = nodeType.prototype;
    proto.onNodeCreated = chain(proto.onNodeCreated, function () {
      attachEditor(this);
    });
    proto.onConfigure = chain(proto.onConfigure, function () {
      const editor = this.diffsenseiPageEditor;
      if (!editor) return;
      editor.applyJsonVisibility();
      editor.selected = null;
      editor.sync(true);
    });
    proto.onRemoved = chain(proto.onRemoved, function () {
      this.diffsenseiPageEditor?.destroy();
    });
  },
});
