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


def summary_table(net) -> str:
    header = ["layer", "type", "output", "params", "MACs", "RF"]
    rows = summary_rows(net)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    right = {3, 4, 5}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "─" * len(line(header))
    out = [f"{net.name}  ({net.file})", rule, line(header), rule, *map(line, rows), rule]
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


def summary_dict(net) -> dict:
    layers = [{
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
    } for n in net.nodes]
    return {
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
        "layers": layers,
    }
