// Page canvas on "DiffSensei: Page layout": the page at its paper shape, its panels numbered in reading order, each
// with its character boxes (coloured and numbered by the character they show) and dialog boxes; draw, move, resize
// and delete panels with the mouse, and type a selected panel's cast (which characters it shows).
//
// As on the Panel layout node, the node's own `page` STRING widget is the one place the value lives (saved in
// widgets_values, sent in the API prompt). With a named preset the canvas shows the preset's panels: a click selects
// one (its cast can be set without leaving the preset); the first drag (or "Edit as custom") copies them into the
// JSON as drawn panels and sets the preset to custom. Geometry lives in ./page_model.js and casts in ./page_cast.js
// (both without DOM); the DOM widget and pointer plumbing are shared with the box editor in ./canvas_widget.js, the
// binding to the node and the graph in ./editor_binding.js, the texts (in the frontend's language) in
// ./editor_text.js. Only window.comfyAPI is used; node callbacks are chained, never replaced.

import { centredText, cursorFor, dashedRect, drawHandles, roundedRect } from "./canvas_drawing.js";
import { CanvasEditor } from "./canvas_widget.js";
import { registerCanvasEditor } from "./editor_binding.js";
import { say } from "./editor_text.js";
import { characterColour, handlePoints } from "./layout_model.js";
import * as casts from "./page_cast.js";
import * as model from "./page_model.js";

const SETTINGS = ["preset", "page_size", "dpi", "direction", "margin_mm", "gutter_mm", "page"];
const PICK_SLOP = 0.01; // how far (relative, x + y) a press on a preset panel moves before it becomes a drag
const PROBLEM = "#d22";

/** The boxes of a panel entry's `characters` or `dialogs` list ([x1, y1, x2, y2] or {box}); null where malformed. */
function entryBoxes(list) {
  return (Array.isArray(list) ? list : []).map((b) => {
    const box = Array.isArray(b) ? b : b?.box;
    return Array.isArray(box) && box.length === 4 ? box : null;
  });
}

class PageEditor extends CanvasEditor {
  constructor(node, property) {
    super(node, {
      prefix: "diffsensei-page", valueWidget: "page", watched: SETTINGS, lockedBy: SETTINGS, minAreaHeight: 80,
      property, hints: { linked: "page.linked", invalid: "page.invalid" },
    });
    this.page = model.emptyPage();
    this.selected = null; // index in page.panels
    this.shapes = [];
    this.addButton("custom", "page.custom", "page.customTip", () => this.toCustom());
    this.addButton("delete", "page.delete", "page.deleteTip", () => this.deleteSelected());
    this.addButton("json", "page.json", "page.jsonTip", () => this.toggleJson());
    this.castField = this.addField("cast", "page.cast", "page.castTip", (text) => this.setCast(text));
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

  // -------------------------------------------------------------------------------------------- value

  sync(force = false) {
    if (this.drag) return;
    const key = JSON.stringify(SETTINGS.map((n) => this.widgets[n]?.value));
    if (!force && key === this.seen) return;
    this.seen = key;
    const parsed = model.parsePage(this.textWidget?.value ?? "");
    this.error = parsed.error;
    if (parsed.page) this.page = parsed.page;
    const settings = this.settings;
    if (!model.shapeOfEntry(model.resolvedPanels(this.page, settings), settings.preset, this.selected)) {
      this.selected = null;
    }
    this.render();
  }

  commit(page) {
    this.page = page;
    this.store(model.serializePage(page));
  }

  resetSelection() {
    this.selected = null;
  }

  toCustom() {
    if (!this.editable()) return false;
    const settings = this.settings;
    if (settings.preset === model.CUSTOM) return true;
    const page = model.presetToCustom(this.page, settings);
    const selected = this.selected; // entry k is the panel read k-th both before and after
    this.widgets.preset.value = model.CUSTOM;
    this.widgets.preset.callback?.(model.CUSTOM);
    this.message = say("page.copied", { preset: settings.preset });
    this.commit(page);
    this.selected = selected !== null && page.panels[selected] ? selected : null;
    this.render();
    return true;
  }

  /** "panel N" (reading number) for entry `index`, as the status and the backend's errors name it. */
  panelLabel(index) {
    const settings = this.settings;
    const shape = model.shapeOfEntry(model.resolvedPanels(this.page, settings), settings.preset, index);
    return shape ? say("page.panel", { n: shape.order + 1 }) : say("page.thePanel");
  }

  setCast(text) {
    if (this.selected === null) return this.warn(say("page.selectForCast"));
    if (!this.editable()) return;
    const { cast, error } = casts.parseCastText(text);
    if (error) return this.warn(error);
    const panel = this.panelLabel(this.selected);
    const { page, added, removed } = casts.castPanel(this.page, this.selected, cast);
    const parts = [added && say("page.added", { n: added }), removed && say("page.removed", { n: removed })];
    const changes = parts[0] && parts[1] ? say("page.addedRemoved", { added: parts[0], removed: parts[1] })
      : parts[0] || parts[1];
    const values = { panel, cast: casts.formatCast(cast), changes };
    this.message = say(changes ? "page.castSetChanged" : "page.castSet", values);
    this.commit(page);
  }

  deleteSelected() {
    if (this.selected === null) return this.warn(say("page.selectPanel"));
    if (!this.toCustom()) return;
    this.commit(model.deletePanel(this.page, this.selected));
    this.selected = null;
    this.render();
  }

  // -------------------------------------------------------------------------------------------- pointer

  /** The resize handle of the selected drawn panel under `point`, or null. */
  handleAt(point) {
    const box = this.selected !== null ? this.page.panels[this.selected]?.box : null;
    if (!box || this.settings.preset !== model.CUSTOM) return null;
    const tol = this.tolerance();
    const hit = handlePoints(box).find((p) => Math.abs(p.x - point.x) <= tol.x && Math.abs(p.y - point.y) <= tol.y);
    return hit?.name ?? null;
  }

  cursorAt(point) {
    return cursorFor(this.handleAt(point) ?? (model.entryAt(this.page, this.settings, point) !== null ? "move" : null));
  }

  startDrag(point) {
    const settings = this.settings;
    if (settings.preset !== model.CUSTOM) {
      // A press selects the preset panel under the pointer (entry = reading number); dragging it (dragTo) turns the
      // preset into drawn panels first.
      this.selected = model.entryAt(this.page, settings, point);
      if (this.selected !== null) this.drag = { type: "pick", index: this.selected, start: point, before: this.page };
      return;
    }
    const handle = this.handleAt(point);
    const under = model.hitPanel(this.page, point);
    if (handle) {
      const index = this.selected;
      this.drag = { type: "resize", handle, index, start: point, original: this.page.panels[index] };
    } else if (under !== null) {
      this.selected = under;
      this.drag = { type: "move", handle: "move", index: under, start: point, original: this.page.panels[under] };
    } else {
      this.selected = null;
      this.drag = { type: "create", start: point, point };
    }
    this.drag.before = this.page;
  }

  /** The page with the panel a move or resize drag holds moved to `point`. */
  edited(drag, point) {
    return model.editPanel(drag.before, drag.index, drag.original, drag.handle, drag.start, point, this.settings);
  }

  dragTo(point) {
    if (this.drag.type === "pick") {
      const { index, start } = this.drag;
      if (Math.abs(point.x - start.x) + Math.abs(point.y - start.y) < PICK_SLOP) return;
      this.drag = null; // so the page re-syncs to the drawn panels
      if (!this.toCustom()) return;
      this.drag = { type: "move", handle: "move", index, start, original: this.page.panels[index], before: this.page };
    }
    if (this.drag.type === "create") this.drag.point = point;
    else this.page = this.edited(this.drag, point);
  }

  finishDrag(drag, point) {
    if (drag.type === "pick") return this.render();
    if (drag.type !== "create") {
      this.commit(this.edited(drag, point));
      return;
    }
    if (Math.abs(point.x - drag.start.x) + Math.abs(point.y - drag.start.y) < 1e-3) return this.render();
    const { page, index, error } = model.addPanel(drag.before, drag.start, point, this.settings);
    this.message = error;
    if (error) return this.render();
    this.selected = index;
    this.commit(page);
  }

  dragCancelled(drag) {
    this.page = drag.before;
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

  paperSize() {
    const { width, height } = this.settings;
    return { width, height };
  }

  draw(ctx, frame) {
    const settings = this.settings;
    const { w, h, X, Y, rect } = frame;
    if (settings.margin > 0) {
      const mx = settings.margin / settings.width;
      const my = settings.margin / settings.height;
      ctx.save();
      ctx.setLineDash([3, 3]);
      ctx.strokeStyle = "rgba(0,0,0,0.25)";
      ctx.strokeRect(X(mx), Y(my), (1 - 2 * mx) * w, (1 - 2 * my) * h);
      ctx.restore();
    }
    this.shapes = this.error ? [] : model.resolvedPanels(this.page, settings);
    for (const shape of this.shapes) this.drawPanel(ctx, shape, frame);
    const selected = model.shapeOfEntry(this.shapes, settings.preset, this.selected);
    if (selected && settings.preset === model.CUSTOM) drawHandles(ctx, rect(selected.box));
    else if (selected) this.outline(ctx, selected, frame, { colour: "#0af", width: 3 });
    if (this.drag?.type === "create") {
      const { start, point } = this.drag;
      const [x1, x2] = [start.x, point.x].sort((a, b) => a - b);
      const [y1, y2] = [start.y, point.y].sort((a, b) => a - b);
      dashedRect(ctx, rect([x1, y1, x2, y2]), "#0af");
    }
  }

  /** Trace a panel's outline (its polygon, else its box) and stroke it; leaves the path set for fill or clip. */
  outline(ctx, shape, { X, Y }, { colour = "#111", width = 2, fill = null } = {}) {
    const [x1, y1, x2, y2] = shape.box;
    const points = shape.polygon ?? [[x1, y1], [x2, y1], [x2, y2], [x1, y2]];
    ctx.beginPath();
    points.forEach(([x, y], k) => (k ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.closePath();
    if (fill) {
      ctx.fillStyle = fill;
      ctx.fill();
    }
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.stroke();
    ctx.restore();
  }

  drawPanel(ctx, shape, frame) {
    const { X, Y } = frame;
    const [x1, y1, x2, y2] = shape.box;
    ctx.save();
    this.outline(ctx, shape, frame, { fill: "#fff" });
    ctx.clip();
    const entry = shape.index !== null ? this.page.panels[shape.index] : null;
    const inner = (b) => [X(x1 + b[0] * (x2 - x1)), Y(y1 + b[1] * (y2 - y1)), (b[2] - b[0]) * (X(x2) - X(x1)),
      (b[3] - b[1]) * (Y(y2) - Y(y1))];
    const shows = casts.boxCharacters(entry);
    entryBoxes(entry?.rest.characters).forEach((box, i) => {
      if (!box) return;
      const [bx, by, bw, bh] = inner(box);
      const colour = shows[i] ? characterColour(shows[i] - 1) : "#888";
      ctx.globalAlpha = 0.25;
      ctx.fillStyle = colour;
      ctx.fillRect(bx, by, bw, bh);
      ctx.globalAlpha = 1;
      ctx.fillStyle = colour;
      ctx.fillRect(bx, by, 14, 14);
      centredText(ctx, shows[i] ? String(shows[i]) : "?", bx + 7, by + 7.5, { font: "bold 10px sans-serif" });
    });
    for (const box of entryBoxes(entry?.rest.dialogs).filter(Boolean)) {
      ctx.setLineDash([4, 3]);
      ctx.strokeStyle = "#444";
      ctx.lineWidth = 1;
      ctx.strokeRect(...inner(box));
      ctx.setLineDash([]);
    }
    ctx.restore();
    const cx = (X(x1) + X(x2)) / 2;
    const cy = (Y(y1) + Y(y2)) / 2;
    const cast = casts.panelCast(entry);
    const problem = entry ? casts.castProblem(entry, "") : null;
    ctx.save();
    ctx.fillStyle = problem ? PROBLEM : "rgba(20,20,20,0.85)";
    ctx.beginPath();
    ctx.arc(cx, cy, 11, 0, 2 * Math.PI);
    ctx.fill();
    centredText(ctx, String(shape.order + 1), cx, cy + 1);
    if (cast !== null) {
      const text = Array.isArray(cast) ? say("page.castBadge", { cast: casts.formatCast(cast) }) : say("page.castUnknown");
      ctx.font = "bold 10px sans-serif";
      const w = ctx.measureText(text).width + 8;
      ctx.fillStyle = problem ? PROBLEM : "rgba(20,20,20,0.75)";
      roundedRect(ctx, cx - w / 2, cy + 14, w, 14, 4);
      ctx.fill();
      centredText(ctx, text, cx, cy + 21.5, { font: "bold 10px sans-serif" });
    }
    ctx.restore();
  }

  updateButtons() {
    const custom = this.settings.preset === model.CUSTOM;
    this.buttons.custom.disabled = custom;
    this.buttons.delete.disabled = this.selected === null;
    const field = this.castField;
    field.disabled = this.selected === null || this.readOnly || !!this.error;
    field.placeholder = this.selected === null ? say("page.noPanel") : say("cast.all");
    if (document.activeElement !== field) {
      const cast = this.selected === null ? null : casts.panelCast(this.page.panels[this.selected]);
      field.value = cast === null ? "" : Array.isArray(cast) ? casts.formatCast(cast) : JSON.stringify(cast);
    }
  }

  statusText() {
    const settings = this.settings;
    const problems = this.error ? [] : casts.castProblems(this.page, settings);
    if (problems.length > 1) return say("page.problems", { problem: problems[0], more: problems.length - 1 });
    if (problems.length) return say("page.problem", { problem: problems[0] });
    const reading = say(settings.direction === "rtl" ? "page.rtl" : "page.ltr");
    const { width, height } = settings;
    let status = say("page.status", { width, height, n: this.shapes.length, reading });
    if (this.selected !== null) status = say("page.selected", { panel: this.panelLabel(this.selected), status });
    return settings.preset === model.CUSTOM ? status : say("page.presetHint", { status });
  }
}

registerCanvasEditor({
  name: "DiffSensei.PageLayoutEditor", nodeId: "DiffSenseiPageLayout", Editor: PageEditor,
  property: "diffsenseiPageEditor", valueWidget: "page",
  widgetName: "page_editor", widgetType: "diffsensei_page_editor",
  minHeight: 300, minSize: [380, 560],
});
