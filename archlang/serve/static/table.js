// The table under the diagram: the summary folded as the diagram folds (a row per box of the
// overview; a click on ▸ opens a row), the totals, and what changed since the last version.
import {el, shape, count, human, bytes, rf} from "./util.js";

export function renderTotals(box, totals) {
  box.replaceChildren(
    el("b", {text: totals.network}),
    el("span", {text: ` ${shape(totals.input)} → ${shape(totals.output)}`}),
    el("span", {class: "sep", text: "·"}),
    el("b", {text: count(totals.params), title: human(totals.params)}), el("span", {text: " params"}),
    el("span", {class: "sep", text: "·"}),
    el("b", {text: human(totals.macs), title: count(totals.macs)}), el("span", {text: " MACs"}),
    el("span", {class: "sep", text: "·"}),
    el("span", {text: `RF ${rf(totals.rf)}`}),
    el("span", {class: "sep", text: "·"}),
    el("span", {text: `${bytes(totals.activation_bytes)} activations`, title: "float32, forward, per sample"}),
    el("span", {class: "sep", text: "·"}),
    el("span", {text: `${count(totals.layers)} layers`}));
}

export function renderDiff(box, changes, compared) {
  if (!compared) { box.replaceChildren(); return; }
  if (!changes.length) {
    box.replaceChildren(el("span", {class: "diff-none",
      text: "no change in shapes, parameters or MACs since the last version"}));
    return;
  }
  const items = [el("span", {class: "diff-head", text: "since the last version:"})];
  for (const c of changes) {
    const item = el("span", {class: `change ${c.change}`, "data-what": c.what});
    item.append(el("span", {class: "what", text: c.what}));
    if (c.change === "added" || c.change === "removed") item.append(el("span", {class: "new", text: ` ${c.new}`}));
    else if (c.old || c.new) {
      item.append(el("span", {class: "old", text: ` ${c.old}`}), " → ", el("span", {class: "new", text: c.new}));
    }
    items.push(item);
  }
  box.replaceChildren(...items);
}

// rows: the server's tree; open: the set of open paths (kept by the caller across updates);
// changed: paths whose figures changed, marked.
export function renderTable(tbody, rows, open, changed, {toggle, pick}) {
  const out = [];
  const walk = (level, depth) => {
    for (const row of level) {
      out.push(line(row, depth, open.has(row.path), changed.has(row.path), toggle, pick));
      if (row.children && open.has(row.path)) walk(row.children, depth + 1);
    }
  };
  walk(rows, 0);
  tbody.replaceChildren(...out);
}

function line(row, depth, isOpen, isChanged, toggle, pick) {
  const name = el("td", {class: "name"});
  name.style.paddingLeft = `${6 + depth * 16}px`;
  if (row.children) {
    name.append(el("button", {class: "toggle", text: isOpen ? "▾" : "▸", title: isOpen ? "close" : "open",
      "aria-expanded": String(isOpen), onclick: (e) => { e.stopPropagation(); toggle(row.path); }}));
  } else {
    name.append(el("span", {class: "toggle-space"}));
  }
  name.append(el("span", {class: "label", text: row.name}));
  if (row.count > 1) name.append(el("span", {class: "count", text: ` ×${row.count}`}));
  const each = row.count > 1 && row.unit_params !== null && row.unit_params !== undefined && row.params
    ? ` (${count(row.unit_params)} each)` : "";
  const params = el("td", {class: "num", text: count(row.params), title: human(row.params) + each});
  const macs = el("td", {class: "num", text: human(row.macs), title: `${count(row.macs)} MACs`});
  return el("tr", {class: `kind-${row.kind}${isChanged ? " changed" : ""}`, "data-path": row.path,
    onclick: () => pick(row.path)},
    name, el("td", {class: "type", text: row.type, title: row.type}),
    el("td", {class: "shape", text: shape(row.shape)}), params, macs, el("td", {class: "num", text: rf(row.rf)}));
}
