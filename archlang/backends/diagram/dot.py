"""A view as graphviz DOT text, written by hand so that it is deterministic
byte for byte (the golden tests compare it) and needs no graphviz to write.

Text sizes are fixed in points and the graph has no `size`: a big network
makes a big picture whose text stays readable, never a shrunken thumbnail.
`nslimit` and `mclimit` bound the network-simplex and crossing-minimisation
work of `dot`, which is what grows fastest on ResNet-152-sized graphs.
"""

from __future__ import annotations

from html import escape

from archlang.backends.diagram.style import (FONT, FONT_SIZE, MERGE_SYMBOLS, SMALL_SIZE, THEMES, cluster_attrs,
                                             fmt_shape, human, node_attrs)
from archlang.backends.diagram.labels import legend_line
from archlang.backends.diagram.view import Box, Cluster, View

# nslimit 4: at 2 the x-placement of deeply nested clusters stops short of straight chains
EFFORT = {"nslimit": "4", "nslimit1": "2", "mclimit": "0.6"}
# The fallback when a layout times out: no clusters, straight edges, little search.
CHEAP = {"nslimit": "0.5", "nslimit1": "0.5", "mclimit": "0.05", "remincross": "false", "searchsize": "10",
         "splines": "line"}
WRAP_AT = 44  # characters of a block call per line
MAIN_WEIGHT, SKIP_WEIGHT = 8, 1  # heavier main-path edges keep the main path straight, also where it
# passes into nested clusters beside a long skip (at 4 the skip pulled a U-Net level sideways)


def to_dot(view: View, title: str, cheap: bool = False) -> str:
    """DOT source of the view; `cheap`: the low-effort layout used when the normal one times out."""
    theme = THEMES[view.options.theme]
    graph = {"rankdir": view.options.rankdir, "bgcolor": theme.background, "fontname": FONT,
             "fontsize": str(FONT_SIZE + 2), "fontcolor": theme.text, "label": title, "labelloc": "t",
             "nodesep": "0.22", "ranksep": "0.4", "pad": "0.25", "newrank": "true",
             "outputorder": "edgesfirst", "ordering": "out", **(CHEAP if cheap else EFFORT)}
    node = {"fontname": FONT, "fontsize": str(FONT_SIZE), "fontcolor": theme.text, "margin": "0.12,0.05",
            "height": "0.3", "penwidth": "1.1"}
    edge = {"fontname": FONT, "fontsize": str(SMALL_SIZE), "fontcolor": theme.muted, "color": theme.edge,
            "arrowsize": "0.6", "penwidth": "1.1"}
    note = legend_line(_texts(view))
    if note:
        graph["label"] = Html(f"{escape(title)}<br/>"
                              f'<font point-size="{SMALL_SIZE}" color="{theme.muted}">{escape(note)}</font>')
    lines = [f"digraph {_q(view.network)} {{", f"  graph [{_attrs(graph)}];", f"  node [{_attrs(node)}];",
             f"  edge [{_attrs(edge)}];"]
    members = _members(view, flat=cheap)
    groups = {} if cheap else _groups(view)
    lines += _scope_lines(view, None, members, theme, "  ", groups)
    if view.legend and not cheap:
        lines += _legend_lines(view, theme)
    for e in view.edges:
        attrs = {"weight": str(SKIP_WEIGHT if e.skip else MAIN_WEIGHT)}
        attrs["tooltip"] = f"{fmt_shape(e.shape)}"  # what the page shows on hover
        if e.labelled:  # an xlabel: placed after layout, so it never pulls the edge out of line
            attrs["xlabel"] = f" {fmt_shape(e.shape)} "
        if e.skip:
            attrs["style"] = "dashed"
        lines.append(f"  {e.src} -> {e.dst} [{_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _legend_lines(view: View, theme) -> list[str]:
    """The legend panel: a cluster beside the chain, one sub-cluster per kind of unit, stacked."""
    muted = theme.muted
    out = ["  subgraph cluster_legend {",
           f"    graph [{_attrs({'id': 'legend', 'label': Html('<b>units</b>'), 'labeljust': 'l', 'style': 'rounded,dashed', 'color': theme.cluster_border, 'fontcolor': theme.text, 'margin': '10'})}];"]
    for u in reversed(view.legend):  # declared last to first: dot then keeps them first to last
        title = f"<b>{escape(u.letter)}</b>  {escape(u.stem)}"
        title += f'<br/><font point-size="{SMALL_SIZE}" color="{muted}">e.g. {escape(u.example)}</font>'
        out.append(f"    subgraph cluster_{u.id} {{")
        out.append(f"      graph [{_attrs({'id': 'u:' + u.letter, 'label': Html(title), 'labeljust': 'l', 'margin': '10', **cluster_attrs('block', theme)})}];")
        side = {e.dst for e in u.edges if e.skip} | {e.src for e in u.edges if e.skip}
        side -= {e.src for e in u.edges if not e.skip} & {e.dst for e in u.edges if not e.skip}
        for b in u.boxes:
            attrs = _unit_box_attrs(b, theme)
            if b.id not in side or b.kind in ("in", "out", "merge"):
                attrs["group"] = u.id  # the unit's main path: one straight column
            out.append(f"      {b.id} [{_attrs(attrs)}];")
        for e in u.edges:
            attrs = {"tooltip": fmt_shape(e.shape), "weight": str(SKIP_WEIGHT if e.skip else MAIN_WEIGHT)}
            if e.skip:
                attrs["style"] = "dashed"
            out.append(f"      {e.src} -> {e.dst} [{_attrs(attrs)}];")
        out.append("    }")
    out.append("  }")
    # side by side, right of the chain, all starting level with the input
    chain = [view.boxes[0].id] + [f"{u.id}in" for u in view.legend]
    out.append(f"  {{ rank=same; {'; '.join(chain)}; }}")
    out += [f"  {a} -> {b} [style=invis];" for a, b in zip(chain, chain[1:])]
    return out


def _unit_box_attrs(b, theme) -> dict:
    if b.kind in ("in", "out"):
        return {"shape": "plaintext", "label": b.label, "fontsize": str(SMALL_SIZE), "fontcolor": theme.muted,
                "height": "0.2", "tooltip": b.tooltip}
    attrs = node_attrs(b.kind, b.family, theme)
    attrs["tooltip"] = b.tooltip
    attrs["label"] = MERGE_SYMBOLS.get(b.label, b.label[:1]) if b.kind == "merge" else b.label
    return attrs


def _texts(view: View) -> list[str]:
    """What the boxes say, with each fold's count, for the legend line."""
    return [f"{b.label} {b.summary}" + (f" ×{b.count}" if b.kind == "fold" else "") for b in view.boxes]


def _members(view: View, flat: bool = False) -> dict:
    """Cluster id (None: the top) -> its boxes and sub-clusters, in creation order."""
    members: dict = {None: []}
    for c in [] if flat else view.clusters:
        members.setdefault(c.parent, []).append(c)
        members.setdefault(c.id, [])
    for b in view.boxes:
        members[None if flat else b.cluster].append(b)
    return members


def _groups(view: View) -> dict[str, str]:
    """Box id -> its column (graphviz `group`: edges within one are kept straight): the chain,
    or the side branch (a shortcut, a concat partner) it stands in."""
    clusters = {c.id: c for c in view.clusters}
    out = {}
    for b in view.boxes:
        c, group = clusters.get(b.cluster), "main"
        while c is not None:
            if c.kind == "branch" and c.role == "side":
                group = c.id
                break
            c = clusters.get(c.parent)
        out[b.id] = group
    return out


def _first_box(members: dict, cluster: str) -> Box | None:
    """The cluster's first box in the view's order (members list sub-clusters before boxes)."""
    boxes = [m if isinstance(m, Box) else _first_box(members, m.id) for m in members[cluster]]
    boxes = [b for b in boxes if b is not None]
    return min(boxes, key=lambda b: int(b.id[1:])) if boxes else None


def _titled(c: Cluster) -> bool:
    """Whether a cluster shows a title: all but an add's main branch (its merge says what it is)."""
    return not (c.kind == "branch" and c.role == "main")


def _title_anchor(members: dict, cid: str, first: Box) -> str:
    """What a cluster's title stands left of: the title of the next titled cluster that starts with
    the same box (nested titles in a row, outermost left), else the box."""
    inner = next((m for m in members[cid] if isinstance(m, Cluster) and _first_box(members, m.id) is first), None)
    while inner is not None:
        if _titled(inner):
            return f"t{inner.id}"
        inner = next((m for m in members[inner.id]
                      if isinstance(m, Cluster) and _first_box(members, m.id) is first), None)
    return first.id


def _reversed_branches(items: list) -> list:
    """Side by side branch clusters declared last to first: with the flat edges of `_branch_order`,
    this is the declaration order in which `dot` keeps them first to last, left to right."""
    out, run = [], []
    for m in items + [None]:
        if isinstance(m, Cluster) and m.kind == "branch":
            run.append(m)
            continue
        out += run[::-1]
        run = []
        if m is not None:
            out.append(m)
    return out


def _branch_order(members: dict, cluster: str | None, indent: str) -> list[str]:
    """Side by side branches (consecutive branch clusters of one scope) in the spec's order: their
    first boxes on one rank, joined left to right by invisible edges."""
    out, run = [], []
    for m in members[cluster] + [None]:
        if isinstance(m, Cluster) and m.kind == "branch":
            first = _first_box(members, m.id)
            if first is not None:
                run.append(first.id)
            continue
        if len(run) > 1:
            out.append(f"{indent}{{ rank=same; {'; '.join(run)}; }}")
            out += [f"{indent}{a} -> {b} [style=invis];" for a, b in zip(run, run[1:])]
        run = []
    return out


def _leading_branch(members: dict, cluster: str, first: Box) -> Cluster | None:
    """The first of side by side branches that the cluster starts with, if it does."""
    items = members[cluster]
    for k, m in enumerate(items):
        if isinstance(m, Cluster) and m.kind == "branch" and _first_box(members, m.id) is first:
            neighbours = items[k - 1:k] + items[k + 1:k + 2]
            if any(isinstance(n, Cluster) and n.kind == "branch" for n in neighbours):
                return m
    return None


def _scope_lines(view: View, cluster: str | None, members: dict, theme, indent: str, groups: dict,
                 hosted: dict | None = None) -> list[str]:
    hosted = {} if hosted is None else hosted
    out = _branch_order(members, cluster, indent) if groups else []
    for m in _reversed_branches(members[cluster]):
        if isinstance(m, Cluster):
            attrs, title_attrs = _cluster_graph_attrs(m, theme)
            out.append(f"{indent}subgraph cluster_{m.id} {{")
            out.append(f"{indent}  graph [{_attrs(attrs)}];")
            first = _first_box(members, m.id)
            title_lines = []
            if first is not None and _titled(m):  # the title stands beside the first box, where no edge runs
                title = f"t{m.id}"
                # nested clusters that start with the same box: their titles in a row, outermost left
                anchor = _title_anchor(members, m.id, first)
                title_lines = [f"{title} [{_attrs(title_attrs)}];", f"{{ rank=same; {title}; {anchor}; }}",
                               f"{title} -> {anchor} [style=invis];"]
                # a cluster that starts with side by side branches: its title declared inside the first
                # of them, else `dot` may order those branches around the title against the spec
                host = _leading_branch(members, m.id, first) if groups else None
                if host is not None:
                    hosted[host.id] = title_lines
                    title_lines = []
            out += _scope_lines(view, m.id, members, theme, indent + "  ", groups, hosted)
            out += [f"{indent}  {line}" for line in title_lines + hosted.pop(m.id, [])]
            out.append(f"{indent}}}")
        else:
            attrs = box_attrs(m, theme)
            if groups:
                attrs["group"] = groups[m.id]
            if m.kind == "merge" and groups:
                attrs["ordering"] = "in"  # branches left to right in the spec's order
            out.append(f"{indent}{m.id} [{_attrs(attrs)}];")
    return out


TITLE_WRAP = 36  # characters of a cluster title before its call goes to a second line


def _cluster_graph_attrs(c: Cluster, theme) -> tuple[dict, dict]:
    """The cluster's attributes, and those of its title: a node beside the cluster's first box
    (a cluster's own label sits above its first box, where the edge into that box crosses it)."""
    call = c.label or c.type
    params = f'<font point-size="{SMALL_SIZE}">{human(c.params)} params</font>' if c.params else ""
    lines = [f"<b>{escape(c.name)}</b>  {params}"]
    lines += [escape(p) for p in (wrap(call, TITLE_WRAP) if call else [])]
    cells = "".join(f'<tr><td align="left">{line}</td></tr>' for line in lines)
    label = f'<table border="0" cellborder="0" cellspacing="0" cellpadding="1">{cells}</table>'
    style = cluster_attrs(c.kind, theme)
    title = {"id": f"t:{c.path}", "shape": "plaintext", "label": Html(label), "margin": "0.1,0.02",
             "fontcolor": style["fontcolor"], "tooltip": c.path}
    return {"id": f"c:{c.path}", "label": "", "tooltip": c.path, **style}, title


def box_attrs(b: Box, theme) -> dict:
    attrs = node_attrs(b.kind, b.family, theme)
    attrs["id"] = f"p:{b.path}"
    attrs["tooltip"] = _tooltip(b)
    if b.kind == "merge":
        attrs["label"] = MERGE_SYMBOLS.get(b.type, b.type[:1])
        return attrs
    attrs["label"] = Html(box_label(b, theme))
    return attrs


def box_label(b: Box, theme) -> str:
    """The HTML-like label: name in bold, then type, then what a collapsed box holds and weighs."""
    small = f'<font point-size="{SMALL_SIZE}" color="{theme.muted}">'
    name = f"<b>{escape(b.name)}</b>"
    if b.kind == "fold":
        name += f"  <b>×{b.count}</b>"
    if b.kind in ("input", "output"):
        return _rows([name, escape(fmt_shape(b.shape))])
    text = b.label or b.type
    if b.kind == "layer" and not b.named:  # `3×3 conv, 64`: what it is says enough
        lines = [escape(text)]
    elif b.kind == "layer" and "(" not in text and len(text) < 16:  # `relu1 relu`: one line
        return _rows([f"{name}  {escape(text)}"])
    elif b.summary and b.label != b.type:  # paper: what it holds, then the call in small print
        lines = [name, escape(b.summary)] + [f"{small}{escape(t)}</font>" for t in wrap(text, WRAP_AT + 12)]
    else:
        lines = [name] + [escape(t) for t in wrap(text)]
    if b.summary and b.label == b.type:
        lines.append(escape(b.summary))
    if b.units:
        lines.append(f"{small}see {escape(b.units)}</font>")
    if b.params and b.unit_params:
        lines.append(f"{small}{human(b.params)} params ({human(b.unit_params)} each)</font>")
    elif b.params:
        lines.append(f"{small}{human(b.params)} params</font>")
    return _rows(lines)


def wrap(text: str, width: int = WRAP_AT) -> list[str]:
    """A long block call over several lines, broken after its commas."""
    if len(text) <= width or ", " not in text:
        return [text]
    lines, current = [], ""
    for part in text.split(", "):
        if current and len(current) + len(part) + 2 > width:
            lines.append(current + ",")
            current = "  " + part
        else:
            current = f"{current}, {part}" if current else part
    return lines + [current]


def _rows(lines: list[str]) -> str:
    """Lines as table rows: a little air between them (browsers' fonts run taller than graphviz measures)."""
    cells = "".join(f"<tr><td>{line}</td></tr>" for line in lines)
    return f'<table border="0" cellborder="0" cellspacing="0" cellpadding="1">{cells}</table>'



def _tooltip(b: Box) -> str:
    what = f"{b.path}: {b.type}" if b.kind != "fold" else f"{b.path}: {b.count} × {b.type}"
    return f"{what}\n{b.params:,} params, {b.macs:,} MACs, output {fmt_shape(b.shape)}"


def _attrs(attrs: dict) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in attrs.items())


class Html(str):
    """An HTML-like label, already escaped: written between < and > instead of quotes."""


def _value(v: str) -> str:
    return f"<{v}>" if isinstance(v, Html) else _q(v)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
