"""A view: the boxes, clusters and edges one picture shows, as plain data.

`build_view(net, options)` is a pure function of the network and the view
options; the graph formats (DOT and so svg/png/pdf, JSON, HTML) start from it. A box stands for a layer, a collapsed scope, or a
fold of identical items ("×N"); an opened scope is a cluster around its
contents. Every layer of the network is represented by exactly one box, and
an edge joins two boxes when a tensor flows between layers they represent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from archlang.backends.diagram.fold import Item, chain_summary, items, runs, unit_text
from archlang.backends.diagram.labels import COUNT, call_text, layer_text
from archlang.backends.diagram.options import ViewOptions, check_paths

OVERVIEW_MIN = 8  # an overview this small opens its biggest element (a `features` trunk)
OVERVIEW_MAX = 40  # ... unless that would make it bigger than this


@dataclass
class Box:
    id: str
    path: str
    name: str
    kind: str  # layer | merge | input | output | block | group | branch | fold
    type: str  # the layer's description, the block call, or the fold's unit
    family: str  # the style key: the layer family, or the scope kind
    params: int
    macs: int
    shape: tuple
    layers: int
    count: int = 1  # units in a fold
    unit_params: int = 0  # a fold's parameters per unit, when every unit has as many
    summary: str = ""  # what a collapsed scope holds, when it folds something
    expandable: bool = False
    cluster: str | None = None
    label: str = ""  # the main text in the view's label style (paper: `3×3 conv, 64, /2`)
    named: bool = True  # the name is worth showing (a label in the spec, a scope, a fold)
    units: str = ""  # the letters of the legend's units this box holds ("A, B")


@dataclass
class Cluster:
    id: str
    path: str
    name: str
    kind: str
    type: str
    params: int
    parent: str | None = None
    label: str = ""
    role: str = ""  # a branch: "main" (the path an add continues) or "side" (a shortcut, a concat partner)


@dataclass
class Edge:
    src: str
    dst: str
    shape: tuple
    skip: bool  # a skip path: drawn dashed beside the main path
    labelled: bool = True  # a tensor fanning out shows its shape once, on its main edge


@dataclass
class View:
    network: str
    options: ViewOptions
    boxes: list[Box] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    represent: dict[int, str] = field(default_factory=dict, repr=False)  # layer id -> box id
    legend: list = field(default_factory=list)  # legend.Unit: each kind of unit the boxes hold, opened
    sources: dict = field(default_factory=dict, repr=False)  # box id -> the scopes it stands for

    def to_dict(self) -> dict:
        """The JSON form: an honest dump of what the picture shows."""
        return {
            "network": self.network,
            "options": self.options.to_dict(),
            "boxes": [_plain(asdict(b)) for b in self.boxes],
            "clusters": [asdict(c) for c in self.clusters],
            "edges": [_plain(asdict(e)) for e in self.edges],
            "legend": [u.to_dict() for u in self.legend],
        }


def _plain(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def build_view(net, options: ViewOptions) -> View:
    check_paths(net, options)
    if options.view == "layers":
        return _Builder(net, options, everything=True).build(options.legend)
    opened = _overview_opened(net, options)
    if options.view == "blocks":
        overview = _Builder(net, options, opened).build()
        opened |= {b.path for b in overview.boxes if b.kind in ("block", "group", "branch")}
    return _Builder(net, options, opened).build(options.legend)


def _overview_opened(net, options: ViewOptions) -> set[str]:
    """A top level of few boxes (`features -> classifier`) opens its biggest element, repeatedly."""
    opened: set[str] = set()
    view = _Builder(net, options, opened).build()
    while len(view.boxes) < OVERVIEW_MIN:
        top = [b for b in view.boxes if b.cluster is None and b.kind in ("block", "group")]
        if not top:
            break
        biggest = max(top, key=lambda b: b.layers)
        if biggest.path in options.collapse:
            break
        bigger = _Builder(net, options, opened | {biggest.path}).build()
        if len(bigger.boxes) > OVERVIEW_MAX:
            break
        opened.add(biggest.path)
        view = bigger
    return opened


class _Builder:
    def __init__(self, net, options: ViewOptions, opened: set[str] = frozenset(), everything: bool = False):
        self.net, self.options = net, options
        self.opened, self.everything = opened, everything
        self.view = View(net.name, options)
        self._role_map: dict | None = None

    def build(self, legend: bool = False) -> View:
        """The view; `legend`: with the legend panel (only the final view of `build_view` needs it)."""
        self._contents(self.net.root.children, None)
        self._output_box()
        skips = self._connect()
        if legend:
            from archlang.backends.diagram.legend import build_legend

            # a box that spells out its chain (a summary) needs no legend entry for the chain itself
            plain = {b.id for b in self.view.boxes if not b.summary and b.kind != "fold"}
            self.view.legend, refs = build_legend(self.net, self.view.sources, skips, plain)
            for b in self.view.boxes:
                b.units = ", ".join(refs.get(b.id, ()))
        return self.view

    # ---- which elements are open
    def _is_open(self, path: str) -> bool:
        if path in self.options.collapse:
            return False
        if any(e == path or e.startswith(path + ".") for e in self.options.expand):
            return True
        return self.everything or path in self.opened

    def _fold_open(self, path: str) -> bool:
        if path in self.options.collapse:
            return False
        return self.everything or path in self.options.expand

    # ---- walking the scope tree
    def _contents(self, children, cluster: str | None) -> None:
        for run in runs(items(children)):
            for segment in self._segments(run):
                if len(segment) > 1:
                    self._fold_box(segment, cluster)
                else:
                    self._item(segment[0], cluster)

    def _segments(self, run: list[Item]) -> list[list[Item]]:
        """A run as folds and single items: split around what an --expand reaches into."""
        if len(run) == 1:
            return [run]
        whole = _fold_path(run)
        if whole in self.options.collapse:
            return [run]
        if self.everything or whole in self.options.expand:
            return [[item] for item in run]
        marks = self._singled_out(run)
        out, current = [], []
        for k, item in enumerate(run):
            if k in marks:
                out += [current] if current else []
                out.append([item])
                current = []
            else:
                current.append(item)
        return out + ([current] if current else [])

    def _singled_out(self, run: list[Item]) -> set[int]:
        """Indices of the run's items an --expand names, reaches into, or spans (a `first:last` range)."""
        marks: set[int] = set()
        for e in self.options.expand:
            first, sep, last = e.partition(":")
            if not sep:
                marks.update(k for k, item in enumerate(run) if item.contains(e))
                continue
            span = _range_in(run, first, last)
            if span:
                marks.update(range(*span))
            else:  # a range deeper down: the one item holding both its ends opens
                ends = (first, _sibling(first, last))
                marks.update(k for k, item in enumerate(run) if all(item.contains(p) for p in ends))
        return marks

    def _item(self, item: Item, cluster: str | None) -> None:
        if item.kind == "layer":
            self._layer_box(item.obj, cluster)
        elif item.kind == "iteration":
            self._contents(item.obj.children, cluster)  # an iteration has no name of its own
        elif self._is_open(item.obj.path):
            self._contents(item.obj.children, self._cluster(item.obj, cluster))
        else:
            self._scope_box(item.obj, cluster)

    # ---- the pieces of the view
    def _new_box(self, layers, cluster, **fields) -> Box:
        layers = list(layers)
        box = Box(id=f"n{len(self.view.boxes)}", params=sum(n.stats["params"] for n in layers),
                  macs=sum(n.stats["macs"] for n in layers), shape=tuple(layers[-1].shape), layers=len(layers),
                  cluster=cluster, **fields)
        self.view.boxes.append(box)
        for n in layers:
            self.view.represent[n.id] = box.id
        return box

    def _layer_box(self, node, cluster) -> None:
        layer = node.layer
        kind = "merge" if layer.many_inputs else "input" if layer.family == "input" else "layer"
        implicit = " (implicit)" if node.implicit else ""
        self._new_box([node], cluster, path=node.path, name=node.name or node.type, kind=kind,
                      type=layer.describe() + implicit, family=layer.family,
                      label=layer_text(layer, self.options.labels) + implicit,
                      named=self.options.labels == "spec" or node.label is not None)

    def _scope_box(self, scope, cluster) -> None:
        seq = items(scope.children)
        call = scope.info.get("call")
        style = self.options.labels
        summary = chain_summary(seq, style)
        self.view.sources[f"n{len(self.view.boxes)}"] = [scope]
        self._new_box(_ordered(scope), cluster, path=scope.path, name=scope.name, kind=scope.kind,
                      type=call or chain_summary(seq), family=scope.kind, expandable=True,
                      summary=summary if call and COUNT.search(summary) else "",
                      label=call_text(scope, style) if call else summary)

    def _fold_box(self, segment: list[Item], cluster) -> None:
        first, last = segment[0].first, segment[-1].last
        layers = [n for item in segment for n in _ordered_item(item)]
        weights = {sum(n.stats["params"] for n in item.layers()) for item in segment}
        self.view.sources[f"n{len(self.view.boxes)}"] = [i.obj for i in segment if i.kind != "layer"]
        self._new_box(layers, cluster, path=_fold_path(segment), name=f"{first.name} … {last.name}",
                      kind="fold", type=unit_text(segment[0]), family="fold", count=len(segment), expandable=True,
                      label=unit_text(segment[0], self.options.labels),
                      unit_params=weights.pop() if len(weights) == 1 else 0)

    def _cluster(self, scope, parent) -> str:
        layers = list(scope.layers())
        call = scope.info.get("call") or ""
        cid = f"c{len(self.view.clusters)}"
        self.view.clusters.append(Cluster(cid, scope.path, scope.name, scope.kind, call,
                                          sum(n.stats["params"] for n in layers), parent,
                                          call_text(scope, self.options.labels),
                                          self._roles().get(id(scope), "") if scope.kind == "branch" else ""))
        return cid

    def _roles(self) -> dict:
        """Branch scope id -> "main" (the biggest branch of an add, or a concat's only non-empty
        branch: drawn in line with the chain) or "side" (drawn in a column of its own)."""
        if self._role_map is None:
            from archlang.backends.diagram.skips import SIDE_MERGES, merges

            self._role_map = {}
            for node, branches, main in merges(self.net):
                filled = sum(1 for b in branches if next(b.layers(), None) is not None)
                for k, b in enumerate(branches):
                    alone = node.type in SIDE_MERGES or filled == 1
                    self._role_map[id(b)] = "main" if k == main and alone else "side"
        return self._role_map

    def _output_box(self) -> None:
        out = self.net.nodes[self.net.output]
        box = Box(id=f"n{len(self.view.boxes)}", path="output", name="output", kind="output", type="output",
                  family="output", params=0, macs=0, shape=tuple(out.shape), layers=0, label="output")
        self.view.boxes.append(box)

    def _connect(self) -> None:
        from archlang.backends.diagram.skips import skip_edges

        skips = skip_edges(self.net)
        found: dict[tuple[str, str], Edge] = {}
        rep = self.view.represent
        for node in self.net.nodes:
            for i in node.inputs:
                key = (rep[i], rep[node.id])
                if key[0] == key[1]:
                    continue
                skip = (i, node.id) in skips
                if key in found:
                    found[key].skip &= skip  # a box pair joined by any main-path edge is main path
                else:
                    found[key] = Edge(*key, tuple(self.net.nodes[i].shape), skip)
        out = self.net.output
        found[(rep[out], self.view.boxes[-1].id)] = Edge(rep[out], self.view.boxes[-1].id,
                                                         tuple(self.net.nodes[out].shape), False)
        self.view.edges = _label_once(list(found.values()))
        return skips


def _label_once(edges: list[Edge]) -> list[Edge]:
    """Of the edges leaving one box with one shape, only the first main-path edge is labelled."""
    chosen: dict[tuple, Edge] = {}
    for e in edges:
        key = (e.src, e.shape)
        if key not in chosen or (chosen[key].skip and not e.skip):
            chosen[key] = e
    for e in edges:
        e.labelled = chosen[(e.src, e.shape)] is e
    return edges


def _sibling(path: str, name: str) -> str:
    """`layer3.bottleneck2`, `bottleneck36` -> `layer3.bottleneck36`."""
    prefix = path.rpartition(".")[0]
    return f"{prefix}.{name}" if prefix else name


def _range_in(run: list[Item], first: str, last: str) -> tuple[int, int] | None:
    """The run's items from the one starting at path `first` to the one ending at sibling `last`."""
    last_path = _sibling(first, last)
    starts = [k for k, item in enumerate(run) if item.first.path == first]
    if not starts:
        return None
    ends = [k for k in range(starts[0], len(run)) if run[k].last.path == last_path]
    return (starts[0], ends[0] + 1) if ends else None


def _fold_path(segment: list[Item]) -> str:
    return f"{segment[0].first.path}:{segment[-1].last.name}"


def _ordered(scope):
    return sorted(scope.layers(), key=lambda n: n.id)


def _ordered_item(item: Item):
    return sorted(item.layers(), key=lambda n: n.id)
