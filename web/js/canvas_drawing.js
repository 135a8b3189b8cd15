// Drawing helpers shared by the pack's canvas editors (./canvas_widget.js and its subclasses): handles, dashed and
// rounded outlines, centred text, and the cursor over a handle. Canvas 2D only, no ComfyUI.
//
// ComfyUI imports every .js file under web/ as an extension, this one too: it only exports.

import { handlePoints } from "./layout_model.js";

export const PAD = 8; // canvas pixels around the drawing, so edge handles stay grabbable
export const HANDLE = 5; // half the side of a resize handle, canvas pixels
const CURSORS = {
  n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize", nw: "nwse-resize", se: "nwse-resize",
  ne: "nesw-resize", sw: "nesw-resize", move: "move",
};

/** The pointer cursor over a resize handle name ("nw", "n", ...), "move", or nothing (crosshair: draw a box). */
export function cursorFor(handle) {
  return handle ? CURSORS[handle] ?? "default" : "crosshair";
}

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
