"""The playground's layer table: the summary as a tree, folded as the diagram folds.

Each row is a layer, a named scope (block call, labelled group, branch) or a
fold of identical units ("bottleneck × 5"); scopes and folds have children,
which the page opens on a click. The folding is the diagram's own
(`archlang.backends.diagram.fold`), so a row and a box of the overview agree.
A row's figures add up its children's, bottom-up: one pass over the network.

>>> import archlang
>>> rows = table_rows(archlang.load("specs/pattern.arch"))
>>> [(r["kind"], r["name"], r["count"], r["params"]) for r in rows[:2]]
[('layer', 'input', 1, 0), ('fold', 'conv1 … maxpool3', 3, 47136)]
"""

from __future__ import annotations

from archlang.backends.diagram.fold import Item, chain_summary, describe, items, runs, unit_text


def table_rows(net) -> list[dict]:
    """The top-level rows; every scope and fold row holds its children."""
    rows = _rows(items(net.root.children))
    _strip(rows)
    return rows


def _rows(seq: list[Item]) -> list[dict]:
    out = []
    for run in runs(seq):
        if len(run) > 1:
            out.append(_fold_row(run))
        elif run[0].kind == "iteration":  # a lone iteration has no name: its items stand in the scope
            out += _rows(run[0].inner)
        else:
            out.append(_item_row(run[0]))
    return out


def _layer_row(node) -> dict:
    stats = node.stats
    return {"kind": "layer", "name": node.name or node.type, "path": node.path, "family": node.layer.family,
            "type": describe(node.layer) + (" (implicit)" if node.implicit else ""), "count": 1,
            "shape": list(node.shape), "params": stats["params"], "macs": stats["macs"], "rf": list(stats["rf"]),
            "layers": 1, "_last": node.id}


def _parent(kind: str, name: str, path: str, type_: str, children: list[dict], count: int = 1) -> dict:
    last = max(children, key=lambda r: r["_last"])
    return {"kind": kind, "name": name, "path": path, "type": type_, "count": count, "shape": last["shape"],
            "params": sum(r["params"] for r in children), "macs": sum(r["macs"] for r in children),
            "rf": last["rf"], "layers": sum(r["layers"] for r in children), "_last": last["_last"],
            "children": children}


def _item_row(item: Item) -> dict:
    if item.kind == "layer":
        return _layer_row(item.obj)
    if item.kind == "iteration":
        return _parent("iteration", f"{item.first.name} … {item.last.name}", item.path, unit_text(item),
                       _rows(item.inner))
    scope = item.obj
    seq = items(scope.children)
    return _parent(scope.kind, scope.name, scope.path, scope.info.get("call") or chain_summary(seq), _rows(seq))


def _fold_row(run: list[Item]) -> dict:
    first, last = run[0].first, run[-1].last
    units = [_item_row(item) for item in run]
    row = _parent("fold", f"{first.name} … {last.name}", f"{first.path}:{last.name}", unit_text(run[0]), units,
                  count=len(run))
    weights = {u["params"] for u in units}
    row["unit_params"] = weights.pop() if len(weights) == 1 else None
    return row


def _strip(rows: list[dict]) -> None:
    for row in rows:
        del row["_last"]
        _strip(row.get("children", ()))


def open_rows(view) -> list[str]:
    """Paths of the rows the diagram shows opened (its clusters), so the table starts folded as the picture."""
    return [c.path for c in view.clusters]
