// Box editor on "DiffSensei: Panel layout": draw character and dialog boxes on a canvas of the panel's shape.
//
// The node's own `layout` STRING widget stays the one place the value lives: it is what the workflow saves in
// widgets_values and what the API prompt sends, so a workflow works the same with or without this file. The
// editor hides that text box (the JSON button shows it again), draws from its text and writes every edit back
// into it. The editor widget itself is not serialised. Geometry and edits live in ./layout_model.js (no DOM).
//
// Only window.comfyAPI is used (app, api); node callbacks are chained, never replaced.

import * as model from "./layout_model.js";

const NODE_ID = "DiffSenseiPanelLayout";
const APPLY_ID = "DiffSenseiApply";
const ENCODE_ID = "DiffSenseiEncodeCharacters";
const CHARACTER_INPUTS = ["character_1", "character_2", "character_3", "character_4"];
const EDITOR_WIDGET = "layout_editor";
const PAD = 8; // canvas pixels around the panel, so edge handles stay grabbable
const HANDLE = 5; // half the side of a resize handle, canvas pixels
const MIN_EDITOR_HEIGHT = 260;
const PROP_SNAP = "diffsensei_snap";
const PROP_SHOW_JSON = "diffsensei_show_json";
const PAPER = "#f7f4ec";

function comfy() {
  return window.comfyAPI;
}

function chain(original, extra) {
  return function (...args) {
    const result = original?.apply(this, args);
    extra.apply(this, args);
    return result;
  };
}

// ------------------------------------------------------------------------------------------------ references

function upstream(node, inputName) {
  const slot = node?.findInputSlot?.(inputName) ?? -1;
  let source = slot >= 0 ? node.getInputNode(slot) : null;
  for (let hops = 0; source && source.type === "Reroute" && hops < 16; hops++) source = source.getInputNode(0);
  return source;
}

const thumbnailCache = new Map();

function thumbnail(url, onLoad) {
  let entry = thumbnailCache.get(url);
  if (!entry) {
    entry = new Image();
    entry.addEventListener("load", () => onLoad());
    entry.src = url;
    thumbnailCache.set(url, entry);
  } else if (!entry.complete) {
    entry.addEventListener("load", () => onLoad(), { once: true });
  }
  return entry;
}

/**
 * The reference images feeding the characters this layout is applied with, in character order:
 * {images: [HTMLImageElement | null, ...], known} — known is false when some source's image count is unknown.
 * Follows layout → Apply → characters → Encode Characters → character_1..4 (through reroutes).
 */
function referenceImages(node, onLoad) {
  const slot = node.outputs?.findIndex((output) => output.type === "DIFFSENSEI_LAYOUT") ?? -1;
  const applies = (slot >= 0 ? node.getOutputNodes(slot) : null) ?? [];
  for (const apply of applies) {
    if (apply.comfyClass !== APPLY_ID) continue;
    const encoder = upstream(apply, "characters");
    if (!encoder || encoder.comfyClass !== ENCODE_ID) continue;
    const images = [];
    let known = true;
    for (const name of CHARACTER_INPUTS) {
      const source = upstream(encoder, name);
      if (!source) continue;
      if (source.imgs?.length) {
        images.push(...source.imgs);
      } else if (source.comfyClass === "LoadImage") {
        const file = source.widgets?.find((w) => w.name === "image")?.value;
        const url = file ? comfy().api.api.apiURL(viewPath(file)) : null;
        images.push(url ? thumbnail(url, onLoad) : null);
      } else {
        known = false;
        images.push(null);
      }
    }
    return { images, known };
  }
  return null;
}

function viewPath(file) {
  const text = String(file);
  const cut = text.lastIndexOf("/");
  const params = new URLSearchParams({
    filename: cut >= 0 ? text.slice(cut + 1) : text, type: "input", subfolder: cut >= 0 ? text.slice(0, cut) : "",
  });
  return `/view?${params}`;
}

// ------------------------------------------------------------------------------------------------ DOM helpers

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

// ------------------------------------------------------------------------------------------------ editor

class LayoutEditor {
  constructor(node) {
    this.node = node;
    this.widgets = Object.fromEntries(["width", "height", "layout"].map((n) => [n, node.widgets?.find((w) => w.name === n)]));
    this.layout = model.emptyLayout();
    this.error = null;
    this.warnings = [];
    this.selection = null;
    this.drag = null;
    this.preview = null;
    this.kind = "characters";
    this.message = null;
    this.seen = null;
    this.references = null;
    node.properties ??= {};
    this.build();
  }

  get panel() {
    return { width: Number(this.widgets.width?.value) || 1024, height: Number(this.widgets.height?.value) || 768 };
  }

  get snap() {
    return !!this.node.properties[PROP_SNAP];
  }

  get readOnly() {
    const input = this.node.inputs?.find((i) => i.widget?.name === "layout" || i.name === "layout");
    return input?.link != null;
  }

  build() {
    this.root = element("div", {
      display: "flex", flexDirection: "column", gap: "4px", boxSizing: "border-box", minHeight: "0",
      font: "12px sans-serif", color: "var(--input-text, #ddd)",
    }, { className: "diffsensei-layout-editor" });
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
    button("characters", "Character", "Drag on the panel to add a character box (one per reference image, in order)",
      () => this.setKind("characters"));
    button("dialogs", "Dialog", "Drag on the panel to add a dialog bubble box", () => this.setKind("dialogs"));
    button("snap", "Snap", `Snap boxes to a ${model.SNAP_DIVISIONS}×${model.SNAP_DIVISIONS} grid`, () => this.toggleSnap());
    button("earlier", "◀", "Move the selected character one place earlier ([)", () => this.reorder(-1));
    button("later", "▶", "Move the selected character one place later (])", () => this.reorder(1));
    button("delete", "Delete", "Delete the selected box (Delete key)", () => this.deleteSelected());
    button("clear", "Clear", "Remove every box", () => this.clear());
    button("json", "JSON", "Show or hide the layout JSON text", () => this.toggleJson());

    this.area = element("div", { position: "relative", flex: "1 1 auto", minHeight: "60px", overflow: "hidden" });
    this.canvas = element("canvas", { position: "absolute", outline: "none", touchAction: "none" },
      { className: "diffsensei-layout-canvas", tabIndex: 0 });
    this.area.append(this.canvas);
    this.status = element("div", { minHeight: "15px", whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" },
      { className: "diffsensei-layout-status" });
    this.root.append(bar, this.area, this.status);

    this.canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    this.canvas.addEventListener("pointercancel", () => this.cancelDrag());
    this.canvas.addEventListener("keydown", (e) => this.onKeyDown(e));
    this.canvas.addEventListener("contextmenu", (e) => this.onContextMenu(e));
    this.canvas.addEventListener("wheel", (e) => {
      // Zoom and pan the graph as over the rest of the node.
      e.preventDefault();
      comfy().app.app.canvas?.processMouseWheel?.(e);
    }, { passive: false });
    this.resizeObserver = new ResizeObserver(() => this.render());
    this.resizeObserver.observe(this.area);
  }

  // -------------------------------------------------------------------------------------------- value

  /** Re-read the widgets; re-render when the text, the panel size or the references changed. */
  sync(force = false) {
    if (this.drag) return; // the drag renders itself; the text is read again once it ends
    const text = String(this.widgets.layout?.value ?? "");
    const { width, height } = this.panel;
    const refs = referenceImages(this.node, () => this.render());
    const refKey = refs ? `${refs.known}:${refs.images.map((img) => img?.src ?? "-").join("|")}` : "none";
    const size = `${width}x${height}`;
    const seen = this.seen ?? {};
    if (!force && seen.text === text && seen.size === size && seen.refs === refKey) return;
    this.references = refs;
    if (force || seen.text !== text || seen.size !== size) {
      const parsed = model.parseLayout(text, { width, height });
      this.error = parsed.error;
      this.warnings = parsed.warnings;
      if (parsed.layout) this.layout = parsed.layout;
      if (!model.selectedBox(this.layout, this.selection)) this.selection = null;
    }
    this.seen = { text, size, refs: refKey };
    this.render();
  }

  commit(layout, selection = this.selection) {
    this.layout = layout;
    this.selection = selection;
    this.error = null;
    this.warnings = [];
    const text = model.serializeLayout(layout);
    if (this.widgets.layout && text !== this.widgets.layout.value) {
      this.widgets.layout.value = text; // the text widget's setter also fires its callback
    }
    this.seen = null;
    this.sync();
    this.node.setDirtyCanvas?.(true, true);
  }

  // -------------------------------------------------------------------------------------------- actions

  setKind(kind) {
    this.kind = kind;
    this.render();
  }

  toggleSnap() {
    this.node.properties[PROP_SNAP] = !this.snap;
    this.render();
  }

  editable() {
    if (this.readOnly) {
      this.say("the layout input is linked; edit the layout at its source.");
      return false;
    }
    if (this.error) {
      this.say("the layout JSON is invalid: fix it (JSON button) or press Clear.");
      return false;
    }
    return true;
  }

  reorder(delta) {
    if (!this.editable()) return;
    if (this.selection?.kind !== "characters") {
      this.say("select a character box to move it in the order.");
      return;
    }
    const { layout, selection } = model.reorderCharacter(this.layout, this.selection.index, delta);
    if (layout !== this.layout) this.commit(layout, selection);
  }

  deleteSelected() {
    if (!this.editable()) return;
    if (!this.selection) {
      this.say("select a box first.");
      return;
    }
    this.commit(model.deleteBox(this.layout, this.selection), null);
  }

  clear() {
    if (this.readOnly) return this.editable();
    this.commit(model.emptyLayout(), null);
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
    const text = this.widgets.layout;
    if (!text) return;
    const hide = !this.node.properties[PROP_SHOW_JSON];
    text.hidden = hide; // hides the text box and leaves it out of the node's size
    // The frontend's widget arrangement still gives hidden widgets room; a zero size takes it back.
    if (hide) text.computeSize = zeroSize;
    else if (text.computeSize === zeroSize) delete text.computeSize;
  }

  say(message) {
    this.message = message;
    this.render();
  }

  // -------------------------------------------------------------------------------------------- pointer

  view() {
    const w = this.canvas.clientWidth - 2 * PAD;
    const h = this.canvas.clientHeight - 2 * PAD;
    return { w: Math.max(w, 1), h: Math.max(h, 1) };
  }

  pointFromEvent(event) {
    const rect = this.canvas.getBoundingClientRect();
    // The widget may be scaled by the graph's zoom: map screen pixels to the canvas' own CSS pixels.
    const sx = this.canvas.clientWidth / (rect.width || 1);
    const sy = this.canvas.clientHeight / (rect.height || 1);
    const { w, h } = this.view();
    return { x: ((event.clientX - rect.left) * sx - PAD) / w, y: ((event.clientY - rect.top) * sy - PAD) / h };
  }

  tolerance() {
    const { w, h } = this.view();
    return { x: (HANDLE + 2) / w, y: (HANDLE + 2) / h };
  }

  dragOptions() {
    return { minSize: model.minBoxSize(this.panel), snap: this.snap };
  }

  onPointerDown(event) {
    if (event.button === 1) {
      comfy().app.app.canvas?.processMouseDown?.(event); // middle button pans the graph
      return;
    }
    if (event.button !== 0) return;
    event.stopPropagation();
    this.canvas.focus();
    this.message = null;
    if (!this.editable()) return;
    const point = this.pointFromEvent(event);
    const { drag, selection } = model.beginDrag(this.layout, point, {
      kind: this.kind, tolerance: this.tolerance(), selection: this.selection,
    });
    if (drag.type === "create" && model.boxCount(this.layout) >= model.MAX_BOXES) {
      this.say(`a panel holds at most ${model.MAX_BOXES} boxes; delete one first.`);
      return;
    }
    this.drag = { ...drag, before: this.layout };
    this.selection = selection;
    this.canvas.setPointerCapture?.(event.pointerId);
    this.render();
  }

  onPointerMove(event) {
    const point = this.pointFromEvent(event);
    if (!this.drag) {
      const hit = this.error ? null : model.hitTest(this.layout, point, this.tolerance(), this.selection);
      this.canvas.style.cursor = cursorFor(hit);
      return;
    }
    event.stopPropagation();
    const { layout, preview } = model.updateDrag(this.drag.before, this.drag, point, this.dragOptions());
    this.layout = layout;
    this.preview = preview;
    this.render();
  }

  onPointerUp(event) {
    if (!this.drag) return;
    event.stopPropagation();
    const drag = this.drag;
    this.drag = null;
    this.preview = null;
    this.canvas.releasePointerCapture?.(event.pointerId);
    const result = model.endDrag(drag.before, drag, this.pointFromEvent(event), this.dragOptions());
    this.message = result.message;
    if (model.serializeLayout(result.layout) !== model.serializeLayout(drag.before)) {
      this.commit(result.layout, result.selection);
    } else {
      this.layout = drag.before;
      this.selection = result.selection ?? (drag.type === "create" ? null : this.selection);
      this.render();
    }
  }

  cancelDrag() {
    if (!this.drag) return;
    this.layout = this.drag.before;
    this.drag = null;
    this.preview = null;
    this.render();
  }

  onKeyDown(event) {
    const key = event.key;
    let handled = true;
    const step = this.snap ? 1 / model.SNAP_DIVISIONS : event.shiftKey ? 0.05 : 0.01;
    const arrows = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (key === "Delete" || key === "Backspace") this.deleteSelected();
    else if (key === "Escape") {
      if (this.drag) this.cancelDrag();
      else this.selection = null;
      this.render();
    } else if (key === "[") this.reorder(-1);
    else if (key === "]") this.reorder(1);
    else if (key === "c" || key === "C") this.setKind("characters");
    else if (key === "d" || key === "D") this.setKind("dialogs");
    else if (arrows[key] && this.selection && this.editable()) {
      this.commit(model.nudgeBox(this.layout, this.selection, ...arrows[key]));
    } else handled = false;
    if (handled || key === "Delete" || key === "Backspace") {
      // Keep the graph from acting on these keys too (Delete would remove the whole node).
      event.preventDefault();
      event.stopPropagation();
    }
  }

  onContextMenu(event) {
    event.preventDefault();
    event.stopPropagation();
    const hit = this.error ? null : model.hitTest(this.layout, this.pointFromEvent(event), this.tolerance(), this.selection);
    this.selection = hit ? { kind: hit.kind, index: hit.index } : this.selection;
    this.render();
    const ContextMenu = window.LiteGraph?.ContextMenu;
    if (!ContextMenu) return;
    new ContextMenu(this.menuItems(), { event, title: hit ? model.boxName(hit.kind, hit.index) : "Panel layout" });
  }

  menuItems() {
    const items = [];
    const sel = this.selection;
    if (sel) {
      items.push({ content: `Delete ${model.boxName(sel.kind, sel.index)}`, callback: () => this.deleteSelected() });
      if (sel.kind === "characters") {
        items.push({ content: "Move character earlier", disabled: sel.index === 0, callback: () => this.reorder(-1) });
        items.push({
          content: "Move character later", disabled: sel.index >= this.layout.characters.length - 1,
          callback: () => this.reorder(1),
        });
      }
    }
    items.push(
      { content: `New boxes: ${this.kind === "characters" ? "dialog" : "character"}`,
        callback: () => this.setKind(this.kind === "characters" ? "dialogs" : "characters") },
      { content: `${this.snap ? "Stop snapping" : "Snap"} to grid`, callback: () => this.toggleSnap() },
      { content: "Clear all boxes", callback: () => this.clear() },
      { content: `${this.node.properties[PROP_SHOW_JSON] ? "Hide" : "Show"} layout JSON`, callback: () => this.toggleJson() },
    );
    return items;
  }

  // -------------------------------------------------------------------------------------------- drawing

  render() {
    const area = this.area;
    if (!area.isConnected) return;
    const fit = model.fitRect(Math.max(area.clientWidth - 2 * PAD, 1), Math.max(area.clientHeight - 2 * PAD, 1), this.panel);
    const cssW = Math.max(Math.round(fit.w + 2 * PAD), 2 * PAD + 1);
    const cssH = Math.max(Math.round(fit.h + 2 * PAD), 2 * PAD + 1);
    Object.assign(this.canvas.style, {
      left: `${Math.round(fit.x)}px`, top: `${Math.round(fit.y)}px`, width: `${cssW}px`, height: `${cssH}px`,
    });
    const ratio = Math.min(3, (window.devicePixelRatio || 1) * Math.max(1, comfy().app.app.canvas?.ds?.scale ?? 1));
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
    const toPx = (box) => [PAD + box[0] * w, PAD + box[1] * h, (box[2] - box[0]) * w, (box[3] - box[1]) * h];

    ctx.fillStyle = PAPER;
    ctx.fillRect(PAD, PAD, w, h);
    if (this.snap) this.drawGrid(ctx, w, h);
    ctx.strokeStyle = "#777";
    ctx.lineWidth = 1;
    ctx.strokeRect(PAD - 0.5, PAD - 0.5, w + 1, h + 1);

    const refs = this.references?.images ?? [];
    this.layout.characters.forEach((entry, i) => this.drawCharacter(ctx, toPx(entry.box), i, refs[i]));
    this.layout.dialogs.forEach((entry, i) => this.drawDialog(ctx, toPx(entry.box), i));
    const box = model.selectedBox(this.layout, this.selection);
    if (box) this.drawSelection(ctx, toPx(box));
    if (this.preview) this.drawPreview(ctx, toPx(this.preview.box), this.preview);
    if (this.error) this.drawError(ctx, w, h);
    this.updateChrome();
  }

  drawGrid(ctx, w, h) {
    ctx.strokeStyle = "rgba(0,0,0,0.08)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 1; i < model.SNAP_DIVISIONS; i++) {
      const x = PAD + Math.round((i * w) / model.SNAP_DIVISIONS) + 0.5;
      const y = PAD + Math.round((i * h) / model.SNAP_DIVISIONS) + 0.5;
      ctx.moveTo(x, PAD);
      ctx.lineTo(x, PAD + h);
      ctx.moveTo(PAD, y);
      ctx.lineTo(PAD + w, y);
    }
    ctx.stroke();
  }

  drawCharacter(ctx, [x, y, w, h], index, image) {
    const colour = model.characterColour(index);
    ctx.save();
    ctx.globalAlpha = 0.22;
    ctx.fillStyle = colour;
    ctx.fillRect(x, y, w, h);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
    const badge = 18;
    let top = y + 3;
    if (image?.complete && image.naturalWidth) {
      const side = Math.max(16, Math.min(56, w * 0.4, h * 0.4));
      const scale = Math.min(side / image.naturalWidth, side / image.naturalHeight);
      const iw = image.naturalWidth * scale;
      const ih = image.naturalHeight * scale;
      ctx.drawImage(image, x + 3, y + badge + 5, iw, ih);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1;
      ctx.strokeRect(x + 3.5, y + badge + 5.5, iw - 1, ih - 1);
    }
    ctx.fillStyle = colour;
    ctx.fillRect(x + 3, top, badge, badge);
    ctx.fillStyle = "#fff";
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(String(index + 1), x + 3 + badge / 2, top + badge / 2 + 1);
    ctx.restore();
  }

  drawDialog(ctx, [x, y, w, h], index) {
    ctx.save();
    const r = Math.min(12, w / 3, h / 3);
    roundedRect(ctx, x + 1, y + 1, w - 2, h - 2, r);
    ctx.fillStyle = "rgba(255,255,255,0.8)";
    ctx.fill();
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#222";
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.setLineDash([]);
    const label = `D${index + 1}`;
    ctx.font = "bold 11px sans-serif";
    const badge = Math.max(18, ctx.measureText(label).width + 8);
    ctx.fillStyle = "#222";
    ctx.fillRect(x + 4, y + 4, badge, 16);
    ctx.fillStyle = "#fff";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(label, x + 4 + badge / 2, y + 13);
    ctx.restore();
  }

  drawSelection(ctx, [x, y, w, h]) {
    ctx.save();
    ctx.strokeStyle = "#0af";
    ctx.lineWidth = 1;
    ctx.strokeRect(x - 0.5, y - 0.5, w + 1, h + 1);
    ctx.fillStyle = "#fff";
    for (const p of model.handlePoints([x, y, x + w, y + h])) {
      ctx.fillRect(p.x - HANDLE, p.y - HANDLE, 2 * HANDLE, 2 * HANDLE);
      ctx.strokeRect(p.x - HANDLE + 0.5, p.y - HANDLE + 0.5, 2 * HANDLE - 1, 2 * HANDLE - 1);
    }
    ctx.restore();
  }

  drawPreview(ctx, [x, y, w, h], preview) {
    ctx.save();
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 2;
    ctx.strokeStyle = !preview.valid ? "#d00"
      : preview.kind === "characters" ? model.characterColour(this.layout.characters.length) : "#222";
    ctx.strokeRect(x, y, w, h);
    ctx.restore();
  }

  drawError(ctx, w, h) {
    ctx.save();
    ctx.fillStyle = "rgba(180,0,0,0.85)";
    ctx.fillRect(PAD, PAD + h / 2 - 22, w, 44);
    ctx.fillStyle = "#fff";
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("Invalid layout JSON", PAD + w / 2, PAD + h / 2 - 8, w - 8);
    ctx.font = "11px sans-serif";
    ctx.fillText("fix it (JSON button) or press Clear", PAD + w / 2, PAD + h / 2 + 9, w - 8);
    ctx.restore();
  }

  updateChrome() {
    for (const kind of model.KINDS) {
      const active = this.kind === kind;
      this.buttons[kind].style.background = active ? "var(--p-primary-color, #2b6cb0)" : BUTTON_STYLE.background;
      this.buttons[kind].style.color = active ? "#fff" : BUTTON_STYLE.color;
      this.buttons[kind].setAttribute("aria-pressed", String(active));
    }
    this.buttons.snap.style.background = this.snap ? "var(--p-primary-color, #2b6cb0)" : BUTTON_STYLE.background;
    this.buttons.snap.setAttribute("aria-pressed", String(this.snap));
    const isCharacter = this.selection?.kind === "characters";
    this.buttons.earlier.disabled = !isCharacter || this.selection.index === 0;
    this.buttons.later.disabled = !isCharacter || this.selection.index >= this.layout.characters.length - 1;
    this.buttons.delete.disabled = !this.selection;
    const refs = this.references;
    const counted = refs && refs.known ? refs.images.length : null;
    const { width, height } = this.panel;
    let text = `${width}×${height} · ${model.describeCounts(this.layout, counted)}`;
    let colour = "var(--input-text, #ddd)";
    if (this.error) {
      text = this.error;
      colour = "#f66";
    } else if (this.message) {
      text = this.message;
      colour = "#fb4";
    } else if (this.warnings.length) {
      text += ` · ${this.warnings[0]}`;
    }
    this.status.textContent = text;
    this.status.title = text;
    this.status.style.color = colour;
  }

  destroy() {
    this.resizeObserver?.disconnect();
  }
}

function zeroSize() {
  return [0, -4];
}

function roundedRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

function cursorFor(hit) {
  if (!hit) return "crosshair";
  const cursors = { n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize", nw: "nwse-resize",
    se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize", move: "move" };
  return cursors[hit.handle] ?? "default";
}

// ------------------------------------------------------------------------------------------------ binding

function attachEditor(node) {
  if (node.diffsenseiLayoutEditor || !node.widgets?.some((w) => w.name === "layout")) return;
  const editor = new LayoutEditor(node);
  node.diffsenseiLayoutEditor = editor;
  const widget = node.addDOMWidget(EDITOR_WIDGET, "diffsensei_layout_editor", editor.root, {
    serialize: false, // the value lives in the `layout` text widget
    hideOnZoom: false,
    getValue: () => String(editor.widgets.layout?.value ?? ""),
    setValue: () => {},
    getMinHeight: () => MIN_EDITOR_HEIGHT,
    onDraw: () => editor.sync(),
  });
  widget.serialize = false;
  editor.widget = widget;
  editor.applyJsonVisibility();
  for (const name of ["width", "height", "layout"]) {
    const w = editor.widgets[name];
    if (w) w.callback = chain(w.callback, () => editor.sync());
  }
  const [w, h] = node.size;
  node.setSize([Math.max(w, 420), Math.max(h, node.computeSize()[1], 460)]);
  editor.sync(true);
}

window.comfyAPI.app.app.registerExtension({
  name: "DiffSensei.PanelLayoutEditor",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_ID) return;
    const proto = nodeType.prototype;
    proto.onNodeCreated = chain(proto.onNodeCreated, function () {
      attachEditor(this);
    });
    proto.onConfigure = chain(proto.onConfigure, function () {
      const editor = this.diffsenseiLayoutEditor;
      if (!editor) return;
      editor.applyJsonVisibility();
      editor.selection = null;
      editor.sync(true);
    });
    proto.onConnectionsChange = chain(proto.onConnectionsChange, function () {
      this.diffsenseiLayoutEditor?.sync();
    });
    proto.onRemoved = chain(proto.onRemoved, function () {
      this.diffsenseiLayoutEditor?.destroy();
    });
    proto.getExtraMenuOptions = chain(proto.getExtraMenuOptions, function (_canvas, options) {
      const editor = this.diffsenseiLayoutEditor;
      if (!editor || !Array.isArray(options)) return;
      options.push(
        { content: "Layout: clear all boxes", callback: () => editor.clear() },
        { content: `Layout: ${this.properties[PROP_SHOW_JSON] ? "hide" : "show"} JSON`, callback: () => editor.toggleJson() },
        null,
      );
    });
  },
});
