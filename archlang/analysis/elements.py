"""Elements of a network: one layer, one named scope (a block call, a labelled group, a
branch), one iteration of a repeat, or a fold of equal consecutive units, with the figures
of all the layers it holds.

`net["layer3"]` and `net.find("layer3.bottleneck2")` return an `Element`; the folded summary
(`net.summary(depth=2)`) is a walk over them. Names are the dotted paths of the summary and
the PyTorch `state_dict`. Repeats, their iterations and unlabelled groups have no name: their
contents are elements of the enclosing scope, as in the naming rule of archlang.ir.graph.
An iteration of several elements, and a fold, are written `FIRST:LAST` (`layer3.bottleneck2:bottleneck6`,
VGG's `features.conv1:relu2`), as `archlang render --expand` takes them.
"""

from __future__ import annotations

import difflib
import functools

from archlang.errors import ArchError
from archlang.ir.graph import LayerNode, Scope


def _consumers(net) -> dict[int, list[int]]:
    """id -> ids of the layers that read its output; built once per network."""
    cached = net.__dict__.get("_consumers")
    if cached is None:
        cached = {n.id: [] for n in net.nodes}
        for n in net.nodes:
            for i in n.inputs:
                cached[i].append(n.id)
        net.__dict__["_consumers"] = cached
    return cached


class Element:
    """A layer, a named scope or a fold, seen from outside: what goes in, what comes out, what it costs."""

    def __init__(self, net, kind: str, path: str, name: str, nodes: list[LayerNode], description: str | None,
                 scope: Scope | None = None, units: list["Element"] | None = None):
        self.net = net
        self.kind = kind  # layer | block | group | branch | iteration | fold
        self.path, self.name = path, name
        self.layers: list[LayerNode] = nodes  # every layer it holds, in elaboration order
        self._description = description
        self.scope = scope
        self.units = units or []  # a fold's units, an iteration's elements

    @property
    def description(self) -> str:
        """A layer's arguments, a block's call, a branch's chain (`conv_bn → relu → conv_bn`), a fold's
        unit and count."""
        if self._description is None:
            self._description = self.scope.info.get("call") or _chain(elements(self.net, self.scope))
        return self._description

    # ---- what goes in and out
    @functools.cached_property
    def _ids(self) -> set[int]:
        return {n.id for n in self.layers}

    @functools.cached_property
    def output_node(self) -> LayerNode:
        """The layer whose output leaves the element (the last one, when several do)."""
        consumers = _consumers(self.net)
        leaving = [n for n in self.layers
                   if n.id == self.net.output or any(c not in self._ids for c in consumers[n.id])]
        return (leaving or self.layers)[-1]

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The shapes flowing in from outside, one per distinct producer, in order."""
        outside = sorted({i for n in self.layers for i in n.inputs if i not in self._ids})
        if not outside and self.layers[0].id == 0:  # the input layer: what the network is given
            return [tuple(self.layers[0].shape)]
        return [tuple(self.net.nodes[i].shape) for i in outside]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape flowing in (the first, for a merge of several)."""
        shapes = self.input_shapes
        return shapes[0] if shapes else ()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.output_node.shape)

    # ---- what it costs
    def _total(self, stat: str) -> int:
        return sum(n.stats[stat] for n in self.layers)

    @property
    def params(self) -> int:
        return self._total("params")

    @property
    def buffers(self) -> int:
        return self._total("buffers")

    @property
    def macs(self) -> int:
        return self._total("macs")

    @property
    def activation_bytes(self) -> int:
        """Bytes of the outputs of its layers, per sample (float32, forward), as the summary counts them."""
        return self._total("memory")

    @property
    def receptive_field(self) -> tuple[int, int]:
        """The receptive field at its output, in pixels of the network's input (as the summary's RF)."""
        return tuple(self.output_node.stats["rf"])

    # ---- inside
    @property
    def children(self) -> list["Element"]:
        """What it holds, one level down: layers and named scopes (a fold: its units; an iteration: its
        elements)."""
        if self.kind in ("fold", "iteration"):
            return list(self.units)
        if self.scope is None:
            return []
        return elements(self.net, self.scope)

    def __getitem__(self, path: str) -> "Element":
        """An element inside this one, by its path relative to this one (`net["layer3"]["bottleneck1"]`)."""
        if self.kind == "layer":
            raise ArchError("E750", f"`{self.path}` is a layer: nothing is inside it", None,
                            hint="look up a block, a labelled group or a branch instead")
        return find(self.net, f"{self.path}.{path}" if not self.units else _inside_fold(self, path))

    def __iter__(self):
        return iter(self.children)

    def __contains__(self, path) -> bool:
        try:
            self[path]
        except ArchError:
            return False
        return True

    def summary(self, depth: int = 1) -> str:
        """The table of what it holds, folded to `depth` levels, with its totals (a layer: its own row)."""
        from archlang.analysis.summary import depth_table

        return depth_table(self.net, depth, within=self)

    def to_dict(self) -> dict:
        return {
            "path": self.path, "name": self.name, "kind": self.kind, "description": self.description,
            "input_shapes": [list(s) for s in self.input_shapes], "output_shape": list(self.output_shape),
            "params": self.params, "buffers": self.buffers, "macs": self.macs,
            "receptive_field": list(self.receptive_field), "memory_bytes": self.activation_bytes,
            "layers": len(self.layers), "units": len(self.units) if self.kind == "fold" else 1,
            "children": [c.path for c in self.children],
        }

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.output_shape))
        given = " + ".join("×".join(map(str, s)) for s in self.input_shapes)
        return (f"<{self.kind} {self.path}: {self.description}; {given} -> {shape}, {len(self.layers)} layers, "
                f"{self.params:,} params, {self.macs:,} MACs, RF {_rf(self.receptive_field)}>")


def _rf(rf) -> str:
    return str(rf[0]) if rf[0] == rf[1] else f"{rf[0]}×{rf[1]}"


def _inside_fold(fold: Element, path: str) -> str:
    """The full path of `path` inside a fold or an iteration, whose units live in the enclosing scope."""
    names = [n for u in fold.units for n in _names(u)]
    if path.split(".", 1)[0] not in names:
        raise ArchError("E750", f"`{path}` is not in `{fold.path}`", None,
                        hint="it holds " + ", ".join(f"`{n}`" for n in names[:12]) + (", ..." if len(names) > 12
                                                                                      else ""))
    first = _first(fold)
    return first.path[:-len(first.name)] + path  # the enclosing scope's `layer3.` (nothing at the top)


def _names(e: Element) -> list[str]:
    return [n for u in e.units for n in _names(u)] if e.units else [e.name]


def _first(e: Element) -> Element:
    return _first(e.units[0]) if e.units else e


def _last(e: Element) -> Element:
    return _last(e.units[-1]) if e.units else e


# ---- building elements from the scope tree
@functools.lru_cache(maxsize=4096)
def describe(layer) -> str:
    """A layer's arguments as text; layers with equal arguments are one shared object, so this caches well."""
    return layer.describe()


def layer_element(net, node: LayerNode) -> Element:
    what = describe(node.layer) + (" (implicit)" if node.implicit else "")
    return Element(net, "layer", node.path or node.type, node.name or node.type, [node], what)


def scope_element(net, scope: Scope) -> Element:
    return Element(net, scope.kind, scope.path, scope.name, list(scope.layers()), None, scope=scope)


def _chain(items: list[Element]) -> str:
    """`conv_bn → relu → conv_bn`: what a scope without a call holds (a branch, a labelled group)."""
    words: list[list] = []
    for e in items:
        token = e.layers[0].type if e.kind == "layer" else e.scope.stem if e.kind == "block" else e.name
        if words and words[-1][0] == token:
            words[-1][1] += 1
        else:
            words.append([token, 1])
    text = [t + (f" ×{k}" if k > 1 else "") for t, k in words]
    return " → ".join(text if len(text) <= 6 else text[:3] + ["…"] + text[-2:])


def units(net, scope: Scope) -> list[Element]:
    """The sequence inside `scope` as the summary folds it: like `elements`, but each iteration
    of a repeat that holds several elements is one element (kind "iteration", named `first:last`),
    so that equal iterations fold (VGG's `[conv → relu] ×2`)."""
    out: list[Element] = []
    for child in scope.children:
        if isinstance(child, LayerNode):
            out.append(layer_element(net, child))
        elif child.kind == "repeat":
            for it in child.children:
                inner = units(net, it)
                if len(inner) == 1:
                    out += inner
                elif inner:
                    out.append(_iteration(net, it, inner))
        elif child.transparent:
            out += units(net, child)
        elif next(child.layers(), None) is not None:
            out.append(scope_element(net, child))
    return out


def _iteration(net, scope: Scope, inner: list[Element]) -> Element:
    first, last = _first(inner[0]), _last(inner[-1])
    words = [run[0].description + (f" ×{len(run)}" if len(run) > 1 else "") for run in runs(inner)]
    return Element(net, "iteration", f"{first.path}:{last.name}", f"{first.name}:{last.name}",
                   [n for e in inner for n in e.layers], "[" + " → ".join(words) + "]", scope=scope, units=inner)


def elements(net, scope: Scope) -> list[Element]:
    """The elements directly inside `scope`, looking through repeats and unlabelled groups."""
    out: list[Element] = []
    for child in scope.children:
        if isinstance(child, LayerNode):
            out.append(layer_element(net, child))
        elif child.transparent:
            out += elements(net, child)
        elif next(child.layers(), None) is not None:  # an empty branch (identity) is no element
            out.append(scope_element(net, child))
    return out


# ---- folds: consecutive units of one structure
def signature(e: Element) -> tuple | None:
    """What makes two scopes or two iterations the same unit: kind, block and label, and every
    layer's arguments, wiring, label and the named scopes it sits in. Shapes are left out
    (DenseNet's units read ever wider inputs). Layers and branches never fold."""
    if e.kind in ("layer", "branch", "fold"):
        return None
    cached = e.__dict__.get("_signature")
    if cached is None:
        first = e.layers[0].id
        inside = tuple((describe(n.layer), n.implicit, n.label, n.scope.named_chain(e.scope),
                        tuple(i - first if i >= first else "out" for i in n.inputs)) for n in e.layers)
        cached = e.__dict__["_signature"] = _head(e) + (inside,)
    return cached


def _head(e: Element) -> tuple:
    """What two units share before their layers are compared: cheap to tell most elements apart."""
    named = e.scope is not None and e.kind != "iteration"
    return (e.kind, e.scope.stem if named else None, e.scope.label if named else None, len(e.layers))


def runs(items: list[Element]) -> list[list[Element]]:
    """Consecutive elements with equal signatures, grouped; the rest alone."""
    out: list[list[Element]] = []
    for e in items:
        prev = out[-1][0] if out else None
        if (prev is not None and _head(prev) == _head(e) and signature(e) is not None
                and signature(prev) == signature(e)):
            out[-1].append(e)
        else:
            out.append([e])
    return out


def fold(net, run: list[Element]) -> Element:
    """One element for a run of equal units: `bottleneck2:bottleneck6`, `bottleneck(256, 1) ×5`;
    `conv1:relu2`, `[conv(64, 3, padding=1) → relu] ×2`."""
    first, last = _first(run[0]), _last(run[-1])
    nodes = [n for e in run for n in e.layers]
    return Element(net, "fold", f"{first.path}:{last.name}", f"{first.name}:{last.name}", nodes,
                   f"{run[0].description} ×{len(run)}", units=run)


def folds_in(net, items: list[Element]):
    """The folds and iterations of a sequence of units, looking into iterations (not named scopes)."""
    for run in runs(items):
        if len(run) > 1:
            yield fold(net, run)
        for e in run:
            if e.kind == "iteration":
                yield e
                yield from folds_in(net, e.units)


# ---- finding an element by path
def find(net, path: str) -> Element:
    """The element at a dotted path (`layer3`, `layer3.bottleneck1.main`, `fc`, a fold
    `layer3.bottleneck2:bottleneck6`); an E750 naming the closest paths when there is none."""
    if not isinstance(path, str) or not path:
        raise ArchError("E750", f"an element's path is a dotted name, not {path!r}", None,
                        hint="e.g. net[\"layer3\"] or net.find(\"layer3.bottleneck1\")")
    head, sep, last = path.partition(":")
    items, scope = elements(net, net.root), net.root
    parts = head.split(".")
    for depth, part in enumerate(parts):
        found = next((e for e in items if e.name == part), None)
        if found is None:
            break
        if depth == len(parts) - 1:
            if not sep:
                return found
            ranged = next((f for f in folds_in(net, units(net, scope)) if f.path == path), None)
            run = ranged or _run_to(items, found, last)
            if run:
                return ranged or fold(net, run)
            break
        if found.scope is None:
            break
        items, scope = elements(net, found.scope), found.scope
    raise _not_found(net, path, items, scope)


def _run_to(items: list[Element], first: Element, last: str) -> list[Element] | None:
    """The consecutive elements from `first` to the one named `last`, if they are equal units."""
    start = items.index(first)
    names = [e.name for e in items]
    if last not in names[start + 1:]:
        return None
    run = items[start:names.index(last, start + 1) + 1]
    sig = signature(first)
    return run if sig is not None and all(signature(e) == sig for e in run) else None


def named_paths(net) -> list[str]:
    """The path of every layer and named scope, from the scope tree (no figures computed)."""
    out: list[str] = []

    def walk(scope: Scope) -> None:
        for child in scope.children:
            if isinstance(child, LayerNode):
                out.append(child.path or child.type)
            else:
                if not child.transparent and child.path:
                    out.append(child.path)
                walk(child)

    walk(net.root)
    return out


def _not_found(net, path: str, where: list[Element], scope: Scope) -> ArchError:
    """E750, with the closest paths: among the elements where the look-up stopped (and its
    folds), else any element of the same last name, else the top level."""
    local = [e.path for e in where] + [f.path for f in folds_in(net, units(net, scope))]
    close = difflib.get_close_matches(path, local, n=3, cutoff=0.6)
    if not close:  # the right name at another depth (`bottleneck2` for `layer3.bottleneck2`)
        tail = path.rsplit(".", 1)[-1]
        close = [p for p in named_paths(net) if p.rsplit(".", 1)[-1] == tail][:3]
    if close:
        hint = "did you mean " + " or ".join(f"`{p}`" for p in close) + "?"
    else:
        top = [e.path for e in elements(net, net.root)]
        hint = "the top-level elements are " + ", ".join(f"`{p}`" for p in top[:12]) + (", ..." if len(top) > 12
                                                                                         else "")
    return ArchError("E750", f"no element `{path}` in {net.name}", None, hint=hint)
