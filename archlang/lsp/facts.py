"""What the analysed network says about a place in the spec: the layers each line makes (for
inlay hints) and the texts of hovers.

A layer belongs to the line it is written on, and to the line of every block call that led to
it (its block-call trace): `-> layer1: stage(...)` owns every layer of the stage. A line inside
a block is elaborated once per call of the block: each call is one *instance* of the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archlang.analysis.summary import human_bytes
from archlang.ir.graph import LayerNode, Scope
from archlang.layers import fmt_shape


@dataclass
class LineStat:
    instances: dict = field(default_factory=dict)  # the enclosing call (None at the top) -> its layers
    calls: bool = False  # a block call on the line made some of them
    repeats: bool = False  # a repeat written on the line made some of them
    total: bool = False  # the line names the network: its totals

    @property
    def nodes(self) -> list[LayerNode]:
        return [n for inst in self.instances.values() for n in inst]


def line_stats(net, file: str) -> dict[int, LineStat]:
    """Line (1-based) of `file` -> the layers it makes."""
    stats: dict[int, LineStat] = {}
    for node in net.nodes:
        seen = set()
        for depth, frame in enumerate(node.trace):
            if frame.span.file == file and frame.span.line not in seen:
                seen.add(frame.span.line)
                stat = stats.setdefault(frame.span.line, LineStat())
                stat.calls = True
                stat.instances.setdefault(id(node.trace[depth - 1]) if depth else None, []).append(node)
        if node.span.file == file and node.span.line not in seen:
            key = id(node.trace[-1]) if node.trace else None
            stat = stats.setdefault(node.span.line, LineStat())
            stat.instances.setdefault(key, []).append(node)
            stat.repeats = stat.repeats or _repeated_on(node, file, node.span.line)
    named = net.program.networks.get(net.name)
    span = getattr(named, "name_span", None) or getattr(named, "span", None)
    if span is not None and span.file == file:
        stats[span.line] = LineStat({None: list(net.nodes)}, total=True)
    return stats


def _repeated_on(node: LayerNode, file: str, line: int) -> bool:
    scope = node.scope
    while scope is not None and scope.kind != "block":
        if scope.kind == "repeat" and scope.span.file == file and scope.span.line == line:
            return True
        scope = scope.parent
    return False


def si(n: float) -> str:
    """36.9K, 2.4M, 512."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


def _span_of(values: list, show) -> str:
    first, last = show(values[0]), show(values[-1])
    return first if all(show(v) == first for v in values) else f"{first} … {last}"


def hint_label(stat: LineStat) -> str:
    """`▸ 64×56×56 · 36.9K`: the shape the line ends in and its parameters."""
    insts = list(stat.instances.values())
    shapes = [inst[-1].shape for inst in insts]
    params = [sum(n.stats["params"] for n in inst) for inst in insts]
    parts = [_span_of(shapes, fmt_shape)]
    if any(params):
        parts.append(_span_of(params, si))
    if stat.total:
        parts.append(f"{si(sum(n.stats['macs'] for n in insts[0]))} MACs")
    elif len(insts) == 1 and (stat.calls or stat.repeats) and len(insts[0]) > 1:
        parts.append(f"{len(insts[0])} layers")
    if len(insts) > 1:
        parts.append(f"×{len(insts)}")
    return "▸ " + " · ".join(parts)


def layer_text(node: LayerNode) -> str:
    s = node.stats
    rf = s["rf"][0] if s["rf"][0] == s["rf"][1] else f"{s['rf'][0]}×{s['rf'][1]}"
    ins = ", ".join(fmt_shape(x) for x in node.in_shapes) or "—"
    return (f"**{node.path or node.type}** `{node.layer.describe()}`\n\n"
            f"input {ins} → output {fmt_shape(node.shape)}  \n"
            f"params {s['params']:,} · MACs {s['macs']:,} · receptive field {rf}")


def layer_hover(nodes: list[LayerNode]) -> str:
    out = layer_text(nodes[0])
    if len(nodes) > 1:
        rows = [f"- `{n.path}`: {', '.join(fmt_shape(x) for x in n.in_shapes)} → {fmt_shape(n.shape)}, "
                f"{n.stats['params']:,} params" for n in nodes[:8]]
        more = f"\n- … {len(nodes) - 8} more" if len(nodes) > 8 else ""
        out += f"\n\nmade {len(nodes)} times:\n" + "\n".join(rows) + more
    return out


def totals(nodes: list[LayerNode]) -> str:
    params = sum(n.stats["params"] for n in nodes)
    macs = sum(n.stats["macs"] for n in nodes)
    return f"{len(nodes)} layers · params {params:,} · MACs {macs:,} ({si(macs)})"


def call_text(scopes: list[Scope]) -> str:
    """The calls of one block-call site: each call's arguments, shapes and totals."""
    rows = []
    for scope in scopes[:8]:
        layers = list(scope.layers())
        if not layers:
            rows.append(f"- `{scope.info.get('call', scope.stem)}`: no layers")
            continue
        rows.append(f"- **{scope.path or scope.stem}** `{scope.info.get('call', scope.stem)}`: "
                    f"{fmt_shape(layers[0].in_shapes[0]) if layers[0].in_shapes else '—'} → "
                    f"{fmt_shape(layers[-1].shape)} · {totals(layers)}")
    if len(scopes) > 8:
        rows.append(f"- … {len(scopes) - 8} more calls")
    return "\n".join(rows)


def network_text(net) -> str:
    rf = net.receptive_field
    return (f"**{net.name}**: input {fmt_shape(net.input_shape)} → output {fmt_shape(net.output_shape)}\n\n"
            f"- {len(net.layers)} layers\n- params {net.params:,} (trainable {net.trainable_params:,}), "
            f"buffers {net.buffers:,}\n- MACs {net.macs:,} ({si(net.macs)})\n"
            f"- receptive field {rf[0] if rf[0] == rf[1] else f'{rf[0]}×{rf[1]}'}\n"
            f"- activations {human_bytes(net.activation_bytes)} per sample (float32, forward)")


def block_scopes(root: Scope) -> list[Scope]:
    """Every block call of the network, in order (without recursion: scopes may nest deeply)."""
    found, stack = [], [root]
    while stack:
        scope = stack.pop()
        if scope.kind == "block":
            found.append(scope)
        stack.extend(reversed([c for c in scope.children if isinstance(c, Scope)]))
    return found


def doc_comment(lines: list[str], line: int) -> str:
    """The `#` lines right above line `line` (1-based), without their `#`."""
    found = []
    i = line - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        found.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return "\n".join(reversed(found))
