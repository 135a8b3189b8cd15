// Box editor on "DiffSensei: Panel layout": draw character and dialog boxes on a canvas of the panel's shape.
//
// The node's own `layout` STRING widget stays the one place the value lives: it is what the workflow saves in
// widgets_values and what the API prompt sends, so a workflow works the same with or without this file. The
// editor hides that text box (the JSON button shows it again), draws from its text and writes every edit back
// into it. The editor widget itself is not serialised. Geometry and edits live in ./layout_model.js (no DOM); the
// DOM widget and pointer plumbing are shared with the page canvas in ./canvas_widget.js, the binding to the node and
// the graph in ./editor_binding.js, the texts (in the frontend's language) in ./editor_text.js.
//
// Only window.comfyAPI is used (app, api); node callbacks are chained, never replaced.

import { centredText, cursorFor, dashedRect, drawHandles, PAD, roundedRect } from "./canvas_drawing.js";
import { CanvasEditor, inputLinked } from "./canvas_widget.js";
import { followWidget, registerCanvasEditor } from "./editor_binding.js";
import { say } from "./editor_text.js";
import * as model from "./layout_model.js";

const NODE_ID = "DiffSenseiPanelLayout";
const APPLY_ID = "DiffSenseiApply";
const ENCODE_ID = "DiffSenseiEncodeCharacters";
const CHARACTER_INPUTS = ["character_1", "character_2", "character_3", "character_4"];
const PROP_SNAP = "diffsensei_snap";

// ------------------------------------------------------------------------------------------------ references

function upstream(node, inputName) {
  const slot = node?.findInputSlot?.(inputName) ?? -1;
  let source = slot >= 0 && inputLinked(node, slot) ? node.getInputNode(slot) : null;
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
      if (source.comfyClass === "LoadImage") {
        // Its image widget names the file the run will read (its preview may still show the previous one).
        const widget = source.widgets?.find((w) => w.name === "image");
        followWidget(widget);
        const url = widget?.value ? window.comfyAPI.api.api.apiURL(viewPath(widget.value)) : null;
        images.push(url ? thumbnail(url, onLoad) : null);
      } else if (source.imgs?.length) {
        images.push(...source.imgs);
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

// ------------------------------------------------------------------------------------------------ editor

class LayoutEditor extends CanvasEditor {
  constructor(node, property) {
    super(node, {
      prefix: "diffsensei-layout", valueWidget: "layout", watched: ["width", "height", "layout"], lockedBy: ["layout"],
      minAreaHeight: 60, property, hints: { linked: "layout.linked", invalid: "layout.invalid" },
    });
    this.layout = model.emptyLayout();
    this.warnings = [];
    this.selection = null;
    this.preview = null;
    this.kind = "characters";
    this.references = null;
    this.addButton("characters", "layout.character", "layout.characterTip", () => this.setKind("characters"));
    this.addButton("dialogs", "layout.dialog", "layout.dialogTip", () => this.setKind("dialogs"));
    this.addButton("snap", "layout.snap", "layout.snapTip", () => this.toggleSnap(), { n: model.SNAP_DIVISIONS });
    this.addButton("earlier", { text: "◀" }, "layout.earlierTip", () => this.reorder(-1));
    this.addButton("later", { text: "▶" }, "layout.laterTip", () => this.reorder(1));
    this.addButton("delete", "layout.delete", "layout.deleteTip", () => this.deleteSelected());
    this.addButton("clear", "layout.clear", "layout.clearTip", () => this.clear());
    this.addButton("json", "layout.json", "layout.jsonTip", () => this.toggleJson());
  }

  get panel() {
    return { width: Number(this.widgets.width?.value) || 1024, height: Number(this.widgets.height?.value) || 768 };
  }

  get snap() {
    return !!this.node.properties[PROP_SNAP];
  }

  // -------------------------------------------------------------------------------------------- value

  /** Re-read the widgets; re-render when the text, the panel size or the references changed. */
  sync(force = false) {
    if (this.drag) return; // the drag renders itself; the text is read again once it ends
    const text = String(this.textWidget?.value ?? "");
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
    this.store(model.serializeLayout(layout));
  }

  resetSelection() {
    this.selection = null;
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

  reorder(delta) {
    if (!this.editable()) return;
    if (this.selection?.kind !== "characters") {
      this.warn(say("layout.selectCharacter"));
      return;
    }
    const { layout, selection } = model.reorderCharacter(this.layout, this.selection.index, delta);
    if (layout !== this.layout) this.commit(layout, selection);
  }

  deleteSelected() {
    if (!this.editable()) return;
    if (!this.selection) {
      this.warn(say("layout.selectBox"));
      return;
    }
    this.commit(model.deleteBox(this.layout, this.selection), null);
  }

  clear() {
    if (this.readOnly) return this.editable();
    this.commit(model.emptyLayout(), null);
  }

  // -------------------------------------------------------------------------------------------- pointer

  dragOptions() {
    return { minSize: model.minBoxSize(this.panel), snap: this.snap };
  }

  cursorAt(point) {
    const hit = this.error ? null : model.hitTest(this.layout, point, this.tolerance(), this.selection);
    return cursorFor(hit?.handle);
  }

  startDrag(point) {
    const { drag, selection } = model.beginDrag(this.layout, point, {
      kind: this.kind, tolerance: this.tolerance(), selection: this.selection,
    });
    if (drag.type === "create" && model.boxCount(this.layout) >= model.MAX_BOXES) {
      this.warn(say("layout.full", { max: model.MAX_BOXES }));
      return;
    }
    this.drag = { ...drag, before: this.layout };
    this.selection = selection;
  }

  dragTo(point) {
    const { layout, preview } = model.updateDrag(this.drag.before, this.drag, point, this.dragOptions());
    this.layout = layout;
    this.preview = preview;
  }

  finishDrag(drag, point) {
    this.preview = null;
    const result = model.endDrag(drag.before, drag, point, this.dragOptions());
    this.message = result.message;
    if (model.serializeLayout(result.layout) !== model.serializeLayout(drag.before)) {
      this.commit(result.layout, result.selection);
    } else {
      this.layout = drag.before;
      this.selection = result.selection ?? (drag.type === "create" ? null : this.selection);
      this.render();
    }
  }

  dragCancelled(drag) {
    this.layout = drag.before;
    this.preview = null;
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
    if (handled) {
      // Keep the graph from acting on these keys too (Delete would remove the whole node).
      event.preventDefault();
      event.stopPropagation();
    }
  }

  onContextMenu(event) {
    event.preventDefault();
    event.stopPropagation();
    const point = this.pointFromEvent(event);
    const hit = this.error ? null : model.hitTest(this.layout, point, this.tolerance(), this.selection);
    this.selection = hit ? { kind: hit.kind, index: hit.index } : this.selection;
    this.render();
    const ContextMenu = window.LiteGraph?.ContextMenu;
    if (!ContextMenu) return;
    new ContextMenu(this.menuItems(), { event, title: hit ? model.boxName(hit.kind, hit.index) : say("layout.menu.title") });
  }

  menuItems() {
    const items = [];
    const sel = this.selection;
    if (sel) {
      const box = model.boxName(sel.kind, sel.index);
      items.push({ content: say("layout.menu.delete", { box }), callback: () => this.deleteSelected() });
      if (sel.kind === "characters") {
        items.push({ content: say("layout.menu.earlier"), disabled: sel.index === 0, callback: () => this.reorder(-1) });
        items.push({
          content: say("layout.menu.later"), disabled: sel.index >= this.layout.characters.length - 1,
          callback: () => this.reorder(1),
        });
      }
    }
    const other = this.kind === "characters" ? "dialogs" : "characters";
    items.push(
      { content: say(other === "dialogs" ? "layout.menu.newDialogs" : "layout.menu.newCharacters"),
        callback: () => this.setKind(other) },
      { content: say(this.snap ? "layout.menu.unsnap" : "layout.menu.snap"), callback: () => this.toggleSnap() },
      { content: say("layout.menu.clear"), callback: () => this.clear() },
      { content: say(this.jsonShown ? "layout.menu.hideJson" : "layout.menu.showJson"), callback: () => this.toggleJson() },
    );
    return items;
  }

  // -------------------------------------------------------------------------------------------- drawing

  paperSize() {
    return this.panel;
  }

  draw(ctx, { w, h, rect }) {
    if (this.snap) this.drawGrid(ctx, w, h);
    const refs = this.references?.images ?? [];
    this.layout.characters.forEach((entry, i) => this.drawCharacter(ctx, rect(entry.box), i, refs[i]));
    this.layout.dialogs.forEach((entry, i) => this.drawDialog(ctx, rect(entry.box), i));
    const box = model.selectedBox(this.layout, this.selection);
    if (box) drawHandles(ctx, rect(box));
    if (this.preview) {
      const colour = !this.preview.valid ? "#d00"
        : this.preview.kind === "characters" ? model.characterColour(this.layout.characters.length) : "#222";
      dashedRect(ctx, rect(this.preview.box), colour, 2);
    }
    if (this.error) this.drawError(ctx, w, h);
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
    ctx.fillRect(x + 3, y + 3, badge, badge);
    centredText(ctx, String(index + 1), x + 3 + badge / 2, y + 3 + badge / 2 + 1);
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
    centredText(ctx, label, x + 4 + badge / 2, y + 13, { font: "bold 11px sans-serif" });
    ctx.restore();
  }

  drawError(ctx, w, h) {
    ctx.save();
    ctx.fillStyle = "rgba(180,0,0,0.85)";
    ctx.fillRect(PAD, PAD + h / 2 - 22, w, 44);
    centredText(ctx, say("layout.invalidTitle"), PAD + w / 2, PAD + h / 2 - 8, { maxWidth: w - 8 });
    centredText(ctx, say("layout.invalidHint"), PAD + w / 2, PAD + h / 2 + 9,
      { font: "11px sans-serif", maxWidth: w - 8 });
    ctx.restore();
  }

  updateButtons() {
    for (const kind of model.KINDS) this.setPressed(kind, this.kind === kind);
    this.setPressed("snap", this.snap);
    const isCharacter = this.selection?.kind === "characters";
    this.buttons.earlier.disabled = !isCharacter || this.selection.index === 0;
    this.buttons.later.disabled = !isCharacter || this.selection.index >= this.layout.characters.length - 1;
    this.buttons.delete.disabled = !this.selection;
  }

  statusText() {
    const refs = this.references;
    const counted = refs && refs.known ? refs.images.length : null;
    const { width, height } = this.panel;
    const status = say("layout.status", { width, height, counts: model.describeCounts(this.layout, counted) });
    return this.warnings.length ? say("layout.statusWarning", { status, warning: this.warnings[0] }) : status;
  }
}

registerCanvasEditor({
  name: "DiffSensei.PanelLayoutEditor", nodeId: NODE_ID, Editor: LayoutEditor, property: "diffsenseiLayoutEditor",
  valueWidget: "layout", widgetName: "layout_editor", widgetType: "diffsensei_layout_editor",
  minHeight: 260, minSize: [420, 460], readsThrough: [APPLY_ID, ENCODE_ID],
  menu: (editor) => [
    { content: say("layout.nodeMenu.clear"), callback: () => editor.clear() },
    { content: say(editor.jsonShown ? "layout.nodeMenu.hideJson" : "layout.nodeMenu.showJson"),
      callback: () => editor.toggleJson() },
  ],
});
