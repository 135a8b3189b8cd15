// Every text the two canvas editors show (toolbar, menus, status lines, warnings, messages), in English, and the
// lookup that shows them in the frontend's language instead when the pack has a translation.
//
// Translations live in locales/<lang>/main.json under the key "diffsensei", with the same tree of keys as ENGLISH
// below; ComfyUI serves every pack's locales at /i18n, and ./editor_sync.js hands the table for the current
// `Comfy.Locale` to useStrings(). A key a translation lacks falls back to English, one by one. Templates name their
// values in braces ({n}); an entry with "one" and "other" picks "one" when n is 1.
//
// No DOM, no ComfyUI: the model modules (layout_model.js, page_model.js, page_cast.js) word their messages with
// say(), so their unit tests read English. ComfyUI imports every .js file under web/ as an extension, this one too:
// it only exports and registers nothing on import.

export const ENGLISH = Object.freeze({
  layout: {
    character: "Character",
    characterTip: "Drag on the panel to add a character box (one per reference image, in order)",
    dialog: "Dialog",
    dialogTip: "Drag on the panel to add a dialog bubble box",
    snap: "Snap",
    snapTip: "Snap boxes to a {n}×{n} grid",
    earlierTip: "Move the selected character one place earlier ([)",
    laterTip: "Move the selected character one place later (])",
    delete: "Delete",
    deleteTip: "Delete the selected box (Delete key)",
    clear: "Clear",
    clearTip: "Remove every box",
    json: "JSON",
    jsonTip: "Show or hide the layout JSON text",
    linked: "the layout input is linked; edit the layout at its source.",
    invalid: "the layout JSON is invalid: fix it (JSON button) or press Clear.",
    selectCharacter: "select a character box to move it in the order.",
    selectBox: "select a box first.",
    full: "a panel holds at most {max} boxes; delete one first.",
    tooSmall: "box too small: drag at least {min} px of the panel each way.",
    unknownKind: "unknown box kind {kind}",
    box: { characters: "character box {n}", dialogs: "dialog box {n}" },
    menu: {
      title: "Panel layout",
      delete: "Delete {box}",
      earlier: "Move character earlier",
      later: "Move character later",
      newCharacters: "New boxes: character",
      newDialogs: "New boxes: dialog",
      snap: "Snap to grid",
      unsnap: "Stop snapping to grid",
      clear: "Clear all boxes",
      showJson: "Show layout JSON",
      hideJson: "Hide layout JSON",
    },
    nodeMenu: { clear: "Layout: clear all boxes", showJson: "Layout: show JSON", hideJson: "Layout: hide JSON" },
    invalidTitle: "Invalid layout JSON",
    invalidHint: "fix it (JSON button) or press Clear",
    status: "{width}×{height} · {counts}",
    statusWarning: "{status} · {warning}",
    counts: "{characters}, {dialogs}",
    characters: { one: "{n} character", other: "{n} characters" },
    dialogs: { one: "{n} dialog", other: "{n} dialogs" },
    references: { one: "{n} reference image connected", other: "{n} reference images connected" },
    drawMore: "{counts} — {references}: draw {n} more character box(es)",
    deleteSome: "{counts} — {references}: delete {n} character box(es)",
    parse: {
      notJson: "the layout is not valid JSON ({detail}); redraw the boxes or press Clear.",
      notObject: "the layout must be a JSON object with \"characters\" and \"dialogs\" lists.",
      unknownKeys: "the layout has unknown keys {keys}; expected characters, dialogs (width, height).",
      sizeMismatch: "the JSON says {side} {json} but the node's {side} is {node}; remove \"{side}\" from the JSON or "
        + "make them agree.",
      notList: "\"{kind}\" must be a list of [x1, y1, x2, y2] boxes.",
      tooMany: "the layout has {count} boxes; at most {max} (characters and dialogs together).",
      notBox: "{what} must be [x1, y1, x2, y2]; got {got}.",
      notFinite: "{what} must hold 4 finite numbers; got {got}.",
      farOutside: "{what} {got} is far outside 0..1; coordinates are relative to the panel.",
      swapped: "{what} had swapped corners; sorted.",
      clamped: "{what} reached outside the panel; clamped.",
      noArea: "{what} has no area inside the panel; redraw it.",
    },
  },
  page: {
    custom: "Edit as custom",
    customTip: "Copy the preset's panels into the page JSON as drawn panels (preset → custom)",
    delete: "Delete",
    deleteTip: "Delete the selected panel (Delete key)",
    json: "JSON",
    jsonTip: "Show or hide the page JSON text",
    cast: "cast",
    castTip: "The characters the selected panel shows, in the order of its character boxes (1 = the first reference "
      + "image): e.g. 2, or 1, 3; empty or 'all' for every character. Its character boxes follow: one per cast "
      + "member. Enter applies.",
    noPanel: "no panel",
    linked: "a setting of this node is linked; edit the page at its source.",
    invalid: "the page JSON is invalid: fix it (JSON button).",
    copied: "preset '{preset}' copied as drawn panels",
    panel: "panel {n}",
    thePanel: "the panel",
    selectForCast: "select a panel first (click it), then type its cast.",
    selectPanel: "select a panel first.",
    castSet: "{panel}: cast {cast}",
    castSetChanged: "{panel}: cast {cast} ({changes})",
    added: "added {n} character box(es)",
    removed: "removed {n} character box(es)",
    addedRemoved: "{added}, {removed}",
    problem: "⚠ {problem}",
    problems: "⚠ {problem} (+{more} more)",
    rtl: "right to left",
    ltr: "left to right",
    status: "{width}×{height} px · {n} panel(s) · {reading}",
    selected: "{panel} selected · {status}",
    presetHint: "{status} · preset (drag a panel to edit it as drawn panels)",
    castBadge: "cast {cast}",
    castUnknown: "cast ?",
    full: "a page holds at most {max} panels.",
    tooSmall: "panel too small: drag at least {min} page pixels each way.",
    parse: {
      notJson: "the page is not valid JSON ({detail}).",
      notObject: "the page must be a JSON object.",
      panelsNotList: "\"panels\" must be a list.",
      panelNotObject: "panel {n} must be an object.",
      badPolygon: "panel {n}: \"polygon\" must list at least 3 [x, y] points in 0..1.",
      badBox: "panel {n}: \"box\" must be [x1, y1, x2, y2] in 0..1.",
    },
  },
  cast: {
    all: "all",
    badText: "cast: expected character numbers from 1 (1 = the first reference image), e.g. \"2\" or \"1, 3\", or "
      + "\"{all}\" for every character; got \"{typed}\".",
    twiceTyped: "cast: character {c} is named twice in \"{typed}\"; name each character once.",
    badStored: "{panel}: \"cast\" must list character numbers from 1, e.g. [2] or [1, 3]; got {got}. Type the cast "
      + "again, or fix it in the page JSON (JSON button).",
    twiceStored: "{panel}: the cast names character {c} twice; name each character once.",
    tooFewBoxes: "{panel}: the cast {cast} names {n} character(s) but the panel has {boxes} character box(es); "
      + "expected one box per cast member, in box order. Add {k} character box(es) in the page JSON (JSON button), "
      + "or change the cast.",
    tooManyBoxes: "{panel}: the cast {cast} names {n} character(s) but the panel has {boxes} character box(es); "
      + "expected one box per cast member, in box order. Delete {k} character box(es) in the page JSON (JSON "
      + "button), or change the cast.",
  },
});

let strings = null; // the translation in use, or null for English
let stamp = 0;

/** Use `table` (a translation's "diffsensei" tree) for say(); null or anything not an object: English. */
export function useStrings(table) {
  const next = table && typeof table === "object" && !Array.isArray(table) ? table : null;
  if (next === strings) return;
  strings = next;
  stamp += 1;
}

/** A number that changes whenever useStrings() switches the table (editors relabel themselves when it moves). */
export function stringsStamp() {
  return stamp;
}

function lookup(table, key, n) {
  let entry = table;
  for (const part of key.split(".")) entry = entry && typeof entry === "object" ? entry[part] : undefined;
  if (entry && typeof entry === "object") entry = n === 1 && typeof entry.one === "string" ? entry.one : entry.other;
  return typeof entry === "string" ? entry : null;
}

/** The text for `key` ("layout.menu.clear") in the language in use (else English) with {name}s filled in. */
export function say(key, values = {}) {
  const template = lookup(strings, key, values.n) ?? lookup(ENGLISH, key, values.n) ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/**
 * The "diffsensei" table for `locale` from the server's /i18n answer ({lang: {...main.json keys, nodeDefs: {...}}}),
 * or null (English): the exact language first, then its base language ("ja-JP" → "ja").
 */
export function stringsFor(i18n, locale) {
  const code = String(locale ?? "");
  for (const lang of [code, code.split("-")[0]]) {
    const table = i18n?.[lang]?.diffsensei;
    if (table && typeof table === "object") return table;
  }
  return null;
}

/** Every key of a string tree, dotted ("layout.menu.clear"; plural entries end in .one / .other), sorted. */
export function stringKeys(tree, prefix = "") {
  return Object.entries(tree).flatMap(([name, value]) => (value && typeof value === "object"
    ? stringKeys(value, `${prefix}${name}.`) : [`${prefix}${name}`])).sort();
}

/** The {names} a template fills in, sorted and without repeats. */
export function placeholders(template) {
  return [...new Set([...String(template).matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();
}
