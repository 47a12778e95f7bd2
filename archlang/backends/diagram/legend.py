"""The legend panel: every distinct kind of unit a view folds or collapses,
drawn once, opened, beside the main chain — like Figure 5 of the ResNet
paper or Figure 2 of the Inception paper.

A *unit* is a block call whose body merges paths (a bottleneck, an
Inception module, a dense layer, an inverted residual), found inside the
collapsed boxes and folds of a view; a collapsed block without merges (a
`basic_conv`, a `transition`) is a unit when it is a box of its own. Two
calls are the same kind of unit when their layers, kernels and wiring are
the same, whatever their widths: ResNet-50 has two (a bottleneck with a
projection shortcut and one without). Each is drawn from its first call,
with the real widths of that call; inside it, a block without merges is one
box (`1×1 conv, 64 · BN · ReLU`). The boxes that hold a unit name its
letter ("see A, B").
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

from archlang.backends.diagram.labels import layer_text, short_layer
from archlang.ir.graph import LayerNode, Scope

MAX_UNITS = 6  # kinds of unit in one legend; more would crowd the picture


@dataclass
class Unit:
    id: str
    letter: str
    stem: str
    example: str  # the path of the call drawn
    call: str
    boxes: list = field(default_factory=list)
    edges: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "letter": self.letter, "stem": self.stem, "example": self.example, "call": self.call,
                "boxes": [asdict(b) for b in self.boxes], "edges": [asdict(e) for e in self.edges]}


@dataclass
class UnitBox:
    id: str
    kind: str  # layer | merge | block | in | out
    family: str
    label: str
    tooltip: str


@dataclass
class UnitEdge:
    src: str
    dst: str
    shape: tuple
    skip: bool


def has_merge(scope: Scope) -> bool:
    """Whether the scope's own body (looking through groups, branches and repeats) merges paths."""
    for child in scope.children:
        if isinstance(child, LayerNode):
            if child.layer.many_inputs:
                return True
        elif child.kind != "block" and has_merge(child):
            return True
    return False


def merges_inside(scope: Scope) -> bool:
    return any(n.layer.many_inputs for n in scope.layers())


def units_of(scope: Scope, own_box: bool) -> list[Scope]:
    """The unit calls inside a collapsed scope (or the scope itself), in order."""
    if scope.kind == "block" and has_merge(scope):
        return [scope]
    found = []
    for child in scope.children:
        if isinstance(child, Scope):
            found += units_of(child, False)
    if not found and own_box and scope.kind == "block" and sum(1 for _ in scope.layers()) > 1:
        return [scope]
    return found


@functools.lru_cache(maxsize=4096)
def _kernel(layer):
    fields = getattr(getattr(layer, "args", None), "__dict__", {})
    return fields.get("kernel_size")


def structure(scope: Scope) -> tuple:
    """What makes two calls the same kind of unit: layers, kernels and wiring, not widths or strides."""
    base = min(n.id for n in scope.layers())
    if not merges_inside(scope):  # a plain chain (conv -> bn -> relu): its layer types say it all
        return (scope.stem, tuple(n.layer.name for n in scope.layers()))
    return (scope.stem, tuple((n.layer.name, _kernel(n.layer), tuple(i - base for i in n.inputs), n.scope.stem)
                              for n in scope.layers()))


def build_legend(net, sources: dict, skips: set, plain: set) -> tuple[list[Unit], dict[str, list[str]]]:
    """Units of the scopes behind each box ({box id: [scope]}); and box id -> the letters it holds.
    A chain without merges is a unit of its own only in a `plain` box (one that shows just its call)."""
    kinds: dict[tuple, Unit] = {}
    refs: dict[str, list[str]] = {}
    for box_id, scopes in sources.items():
        letters = []
        for scope in scopes:
            for unit in units_of(scope, box_id in plain):
                key = structure(unit)
                if key not in kinds:
                    if len(kinds) >= MAX_UNITS:
                        continue
                    k = len(kinds)
                    kinds[key] = _draw(net, unit, f"u{k}", chr(ord("A") + k), skips)
                letter = kinds[key].letter
                if letter not in letters:
                    letters.append(letter)
        if letters:
            refs[box_id] = sorted(letters)
    return list(kinds.values()), refs


def _draw(net, scope: Scope, uid: str, letter: str, skips: set) -> Unit:
    unit = Unit(uid, letter, scope.stem, scope.path, scope.info.get("call") or scope.stem)
    rep: dict[int, str] = {}

    def add(kind, family, label, tooltip, layers):
        box = UnitBox(f"{uid}n{len(unit.boxes)}", kind, family, label, tooltip)
        unit.boxes.append(box)
        for n in layers:
            rep[n.id] = box.id

    def walk(s: Scope):
        for child in s.children:
            if isinstance(child, LayerNode):
                kind = "merge" if child.layer.many_inputs else "layer"
                add(kind, child.layer.family, layer_text(child.layer, "paper"), child.layer.describe(), [child])
            elif child.kind == "block" and not merges_inside(child):
                layers = list(child.layers())
                text = " · ".join(short_layer(n.layer) for n in layers)
                family = next((n.layer.family for n in layers if n.layer.family in ("conv", "linear", "pool")),
                              layers[0].layer.family)
                add("layer", family, text, child.info.get("call") or child.stem, layers)
            else:
                walk(child)

    layers = sorted(scope.layers(), key=lambda n: n.id)
    first_in = layers[0].inputs[0] if layers[0].inputs else None
    shape_in = tuple(net.nodes[first_in].shape) if first_in is not None else ()
    unit.boxes.append(UnitBox(f"{uid}in", "in", "input", "×".join(map(str, shape_in)), "input of the unit"))
    walk(scope)
    seen = set()
    for n in layers:
        for i in n.inputs:
            src = rep.get(i, f"{uid}in")
            key = (src, rep[n.id])
            if key[0] != key[1] and key not in seen:
                seen.add(key)
                unit.edges.append(UnitEdge(src, rep[n.id], tuple(net.nodes[i].shape), (i, n.id) in skips))
    out = layers[-1]
    unit.boxes.append(UnitBox(f"{uid}out", "out", "output", "×".join(map(str, out.shape)), "output of the unit"))
    unit.edges.append(UnitEdge(rep[out.id], f"{uid}out", tuple(out.shape), False))
    return unit
