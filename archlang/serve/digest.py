"""What changed since the last valid version: a small digest of each valid
update (totals and the rows the overview shows), and the difference of two.

The page keeps the digest it compares with and sends it back with the next
update: the server holds no state per page, and a restarted worker loses
nothing.

>>> old = {"params": 25557032, "macs": 4089184256, "input": [3, 224, 224], "output": [1000], "layers": 176,
...        "rows": {"layer3": ["layer3", [1024, 14, 14], 7098368, 1]}}
>>> new = {**old, "params": 23500000, "rows": {"layer3": ["layer3", [1024, 7, 7], 7098368, 1]}}
>>> [f"{c['what']} {c['old']} → {c['new']}" for c in diff(old, new)]
['params 25.6 M → 23.5 M', 'layer3 output 1024×14×14 → 1024×7×7']
"""

from __future__ import annotations

SHOWN = 8  # changes listed; the rest are counted


def _key(row: dict) -> str:
    # A fold's path ends in its last unit (`layer3.b2:b6`), which moves when the count does.
    return row["path"].partition(":")[0] if row["kind"] == "fold" else row["path"]


def digest(net, rows: list[dict]) -> dict:
    """Totals, and [name, shape, params, count] of the top rows and of the labelled groups' rows
    (`features`, `classifier`), which is what an overview shows, whatever the picture has open."""
    shown: dict[str, list] = {}

    def add(level):
        for row in level:
            shown[_key(row)] = [_key(row) if row["kind"] == "fold" else row["name"], row["shape"], row["params"],
                                row["count"]]
            if row["kind"] == "group":
                add(row.get("children", ()))

    add(rows)
    return {"params": net.params, "macs": net.macs, "input": list(net.input_shape),
            "output": list(net.output_shape), "layers": len(net.layers), "rows": shown}


def human(n: int) -> str:
    """25557032 -> '25.6 M': three significant digits, as one reads a total."""
    for size, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return str(n)


def _count(old: int, new: int) -> tuple[str, str]:
    a, b = human(old), human(new)
    return (a, b) if a != b else (f"{old:,}", f"{new:,}")  # a change too small for the rounded figure


def _shape(shape) -> str:
    return "×".join(map(str, shape))


def diff(old: dict | None, new: dict) -> list[dict]:
    """[{what, old, new, change}]: totals first, then the rows in the new version's order."""
    if not old:
        return []
    out = []
    for what in ("params", "macs"):
        if old.get(what) != new[what]:
            a, b = _count(int(old.get(what) or 0), new[what])
            out.append({"what": "MACs" if what == "macs" else what, "old": a, "new": b,
                        "change": "up" if new[what] > (old.get(what) or 0) else "down"})
    for what in ("input", "output"):
        if old.get(what) != new[what]:
            out.append({"what": what, "old": _shape(old.get(what) or []), "new": _shape(new[what]), "change": "shape"})
    if old.get("layers") != new["layers"]:
        out.append({"what": "layers", "old": str(old.get("layers")), "new": str(new["layers"]), "change": "count"})
    out += _row_changes(old.get("rows") or {}, new["rows"])
    if len(out) > SHOWN:
        out = out[:SHOWN] + [{"what": f"and {len(out) - SHOWN} more changes", "old": "", "new": "", "change": "more"}]
    return out


def _row_changes(old: dict, new: dict) -> list[dict]:
    out = []
    for key, (name, shape, params, count) in new.items():
        before = old.get(key)
        if before is None:
            out.append({"what": name, "old": "", "new": "new", "change": "added", "path": key})
            continue
        if before[3] != count:
            out.append({"what": f"{name} units", "old": f"×{before[3]}", "new": f"×{count}", "change": "count",
                        "path": key})
        if before[1] != shape:
            out.append({"what": f"{name} output", "old": _shape(before[1]), "new": _shape(shape), "change": "shape",
                        "path": key})
        elif before[2] != params:
            a, b = _count(int(before[2]), params)
            out.append({"what": f"{name} params", "old": a, "new": b, "change": "up" if params > before[2] else "down",
                        "path": key})
    for key, before in old.items():
        if key not in new:
            out.append({"what": str(before[0]), "old": "", "new": "removed", "change": "removed"})
    return out
