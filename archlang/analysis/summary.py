"""The summary table and its JSON form, from an analysed network."""

from __future__ import annotations

from archlang.ir.values import show


def _shape(shape) -> str:
    return "×".join(map(str, shape))


def _rf(rf) -> str:
    return str(rf[0]) if rf[0] == rf[1] else f"{rf[0]}×{rf[1]}"


def _number(x):
    """A jump as JSON: an integer, or a float for a fraction of a pixel (after upsampling)."""
    return x if isinstance(x, int) else float(x)


def _si(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def summary_rows(net) -> list[list[str]]:
    rows = []
    for n in net.nodes:
        what = n.layer.describe() + (" (implicit)" if n.implicit else "")
        rows.append([n.path or n.type, what, _shape(n.shape), f"{n.stats['params']:,}", f"{n.stats['macs']:,}",
                     _rf(n.stats["rf"])])
    return rows


def summary_table(net, rows: list[list[str]] | None = None, title: str | None = None,
                  footer: list[str] | None = None) -> str:
    header = ["layer", "type", "output", "params", "MACs", "RF"]
    rows = summary_rows(net) if rows is None else rows
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    right = {3, 4, 5}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "─" * len(line(header))
    out = [title or f"{net.name}  ({net.file})", rule, line(header), rule, *map(line, rows), rule]
    if footer is not None:
        return "\n".join(out + footer)
    settings = ", ".join(f"{k}={show(v)}" for k, v in {**net.settings, **net.switches}.items())
    out += [
        f"input {_shape(net.input_shape)} -> output {_shape(net.output_shape)}" + (f"   [{settings}]" if settings else ""),
        f"params: {net.params:,} (trainable {net.trainable_params:,})   buffers: {net.buffers:,}",
        f"MACs: {net.macs:,} ({_si(net.macs)})   receptive field: {_rf(net.receptive_field)}",
        f"activations: {human_bytes(net.activation_bytes)} per sample (float32, forward)",
    ]
    return "\n".join(out)


def _json_value(value):
    """A setting as JSON: a parameter may hold a layer, a block or a chain (`network N(unit = relu)`)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return getattr(getattr(value, "defn", value), "name", None) or show(value)  # layer, block; else described


def summary_dict(net, layers: bool = True) -> dict:
    rows = [{
        "name": n.path or n.type,
        "type": n.type,
        "description": n.layer.describe(),
        "implicit": n.implicit,
        "inputs": [net.nodes[i].path or net.nodes[i].type for i in n.inputs],
        "output_shape": list(n.shape),
        "params": n.stats["params"],
        "buffers": n.stats["buffers"],
        "macs": n.stats["macs"],
        "receptive_field": list(n.stats["rf"]),
        "jump": [_number(j) for j in n.stats["jump"]],
        "memory_bytes": n.stats["memory"],
    } for n in net.nodes] if layers else None
    out = {
        "network": net.name,
        "file": net.file,
        "settings": {k: _json_value(v) for k, v in net.settings.items()},
        "input_shape": list(net.input_shape),
        "output_shape": list(net.output_shape),
        "params": net.params,
        "trainable_params": net.trainable_params,
        "buffers": net.buffers,
        "macs": net.macs,
        "receptive_field": list(net.receptive_field),
        "activation_bytes": net.activation_bytes,
    }
    if rows is not None:
        out["layers"] = rows
    return out


# ---- the folded summary: one row per element down to a depth
def depth_rows(net, depth: int, within=None) -> list[tuple[int, object, bool]]:
    """(level, element, open) rows: the elements of the top level (level 1; with `within`, an
    element, the elements inside it: a fold's units, a layer itself) and, inside every
    scope above `depth`, its elements; a scope at `depth` is one row with its totals, and a run
    of equal units there is one row (`bottleneck2:bottleneck6`, `bottleneck(256, 1) ×5`). An open
    scope's row carries its totals too, before its contents: the rows that are not open add up
    to the network's totals."""
    from archlang.analysis.elements import fold, runs, units

    check_depth(depth)
    rows: list[tuple[int, object, bool]] = []

    def walk(items, level: int, fold_here: bool = True) -> None:
        for run in runs(items) if fold_here else [[e] for e in items]:
            if len(run) > 1 and level >= depth:
                rows.append((level, fold(net, run), False))
                continue
            for e in run:
                if e.kind == "iteration":  # an iteration has no name: its contents stand in its place
                    walk(e.units, level)
                    continue
                is_open = e.scope is not None and level < depth
                rows.append((level, e, is_open))
                if is_open:
                    walk(units(net, e.scope), level + 1)

    if within is None:
        walk(units(net, net.root), 1)
    elif within.scope is not None and within.kind != "iteration":
        walk(units(net, within.scope), 1)
    else:  # a fold's or an iteration's units one by one; a layer itself
        walk(within.units or [within], 1, fold_here=False)
    return rows


def check_depth(depth) -> None:
    from archlang.errors import ArchError

    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ArchError("E751", f"the summary's depth is a whole number from 1, not {depth!r}", None,
                        hint="1: one row per top-level element; 2: one level inside them (e.g. --depth 2)")


def depth_table(net, depth: int, within=None) -> str:
    """The folded table of the network, or (`within`) of one element's contents, with its totals."""
    rows = [["  " * (level - 1) + e.path, e.description, _shape(e.output_shape), f"{e.params:,}", f"{e.macs:,}",
             _rf(e.receptive_field)] for level, e, _ in depth_rows(net, depth, within)]
    layers = len(net.nodes) if within is None else len(within.layers)
    where = f"({net.file})" if within is None else f"{within.path}: {within.description}"
    title = f"{net.name}  {where}  depth {depth}: {len(rows)} rows for {layers} layers"
    if within is None:
        return summary_table(net, rows=rows, title=title)
    given = " + ".join(map(_shape, within.input_shapes))
    footer = [f"input {given} -> output {_shape(within.output_shape)}",
              f"params: {within.params:,}   buffers: {within.buffers:,}",
              f"MACs: {within.macs:,} ({_si(within.macs)})   receptive field: {_rf(within.receptive_field)}",
              f"activations: {human_bytes(within.activation_bytes)} per sample (float32, forward)"]
    return summary_table(net, rows=rows, title=title, footer=footer)


def depth_dict(net, depth: int) -> dict:
    out = summary_dict(net, layers=False)
    out["depth"] = depth
    out["rows"] = [{**e.to_dict(), "level": level, "open": is_open} for level, e, is_open in depth_rows(net, depth)]
    return out
