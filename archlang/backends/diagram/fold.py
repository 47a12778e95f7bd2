"""What a scope holds, as a diagram sees it: items, their signatures, and runs
of identical items that one box can stand for.

An *item* is one thing a scope shows in sequence: a layer, a named scope (a
block call, a labelled group, a branch), or one iteration of a repeat.
Repeats, iterations and plain groups are transparent for naming, so they are
looked through here too; an empty branch (identity) is an edge, not an item.

Folding is a view choice, never a change to the graph: consecutive items
with equal *signatures* (the same block call, the same layers and wiring)
form a run, which a view may draw as one "×N" box.
When a stage's first unit differs (a projection, a stride), it is its own
run, so the stage reads "bottleneck ×36 (first /2)" (see `labels`). A run
never takes part of a repeat: a repeat whose iterations differ (VGG's
stages) is drawn iteration by iteration, so that alike stages look alike.
"""

from __future__ import annotations

import functools
import weakref

from archlang.backends.diagram.labels import call_text, counted, layer_text, short_layer
from archlang.ir.graph import LayerNode, Scope

ELIDE_AT = 56  # characters of a chain summary before its middle is elided


def has_layers(scope: Scope) -> bool:
    return next(scope.layers(), None) is not None


class Item:
    """A layer, a named scope, or one iteration (with its own items) of a repeat."""

    __slots__ = ("kind", "obj", "foldable", "inner", "_sig", "repeat")

    def __init__(self, kind: str, obj, foldable: bool, inner: list["Item"] | None = None):
        self.kind, self.obj, self.foldable, self.inner = kind, obj, foldable, inner or []
        self._sig = None
        self.repeat = None  # the repeat scope this item is an iteration of

    @property
    def first(self) -> "Item":
        return self.inner[0].first if self.kind == "iteration" else self

    @property
    def last(self) -> "Item":
        return self.inner[-1].last if self.kind == "iteration" else self

    @property
    def name(self) -> str:
        return self.obj.name if self.kind != "iteration" else f"{self.first.name}:{self.last.name}"

    @property
    def path(self) -> str:
        """Dotted path; an iteration of several items is the range `first:last`."""
        return self.obj.path if self.kind != "iteration" else f"{self.first.path}:{self.last.name}"

    def layers(self):
        return iter((self.obj,)) if self.kind == "layer" else self.obj.layers()

    def contains(self, path: str) -> bool:
        """Whether the dotted `path` names this item or something inside it."""
        if self.kind == "iteration":
            return any(i.contains(path) for i in self.inner)
        return path == self.obj.path or path.startswith(self.obj.path + ".")

    def signature(self) -> tuple:
        if self._sig is None:
            # Views are built several times per picture (and per HTML state): remember per scope.
            self._sig = _SIGNATURES.get(self.obj)
            if self._sig is None:
                self._sig = _SIGNATURES[self.obj] = (_head(self), _layers_signature(self))
        return self._sig

    def token(self, style: str = "spec") -> str:
        """A short word for the item in a chain summary."""
        if self.kind == "layer":
            return short_layer(self.obj.layer) if style == "paper" else self.obj.layer.name
        if self.kind == "iteration":
            return "[" + " → ".join(i.token(style) for i in self.inner) + "]"
        return self.obj.stem if self.obj.kind == "block" else self.obj.name


_SIGNATURES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=4096)
def describe(layer) -> str:
    """A layer's description; layers with equal arguments are one shared object, so this caches well."""
    return layer.describe()


def items(children) -> list[Item]:
    """The items of a scope's children, looking through transparent scopes."""
    out: list[Item] = []
    for child in children:
        if isinstance(child, LayerNode):
            out.append(Item("layer", child, False))
        elif child.kind == "repeat":
            for it in child.children:
                if has_layers(it):
                    out.append(_iteration(it))
                    out[-1].repeat = child
        elif child.transparent:
            out += items(child.children)
        elif has_layers(child):
            # Branches run side by side, so they never fold into a sequence.
            out.append(Item("scope", child, child.kind != "branch"))
    return out


def _iteration(scope: Scope) -> Item:
    inner = items(scope.children)
    if len(inner) == 1:  # `[unit(c)] * n`: the iteration is its one block call
        inner[0].foldable = True
        return inner[0]
    return Item("iteration", scope, True, inner)


def _head(item: Item):
    if item.kind == "scope":
        return (item.obj.kind, item.obj.stem, item.obj.label, item.obj.info.get("call"))
    return (item.kind, tuple(_head(i) for i in item.inner))


def _layers_signature(item: Item) -> tuple:
    """The item's structure: layer descriptions, wiring and scopes, but not shapes.

    Shapes are left out on purpose: a repeat's units are the same unit even
    when their input widths differ (DenseNet's growing inputs, the first conv
    of a VGG stage). A unit that differs in structure (a projection, a
    stride) has a different signature and stays its own box: "1 + (N-1)".
    """
    root = item.obj.scope if item.kind == "layer" else item.obj
    sig = []
    for node in item.layers():
        wiring = tuple(node.id - i for i in node.inputs)  # relative, so equal units compare equal
        sig.append((describe(node.layer), node.implicit, wiring, node.label, _scope_chain(node.scope, root)))
    return tuple(sig)


def _scope_chain(scope: Scope, root: Scope) -> tuple:
    chain = []
    while scope is not None and scope is not root:
        if not scope.transparent:
            chain.append((scope.kind, scope.stem, scope.label))
        scope = scope.parent
    return tuple(chain)


def runs(seq: list[Item]) -> list[list[Item]]:
    """Consecutive foldable items with equal signatures, grouped; others alone.

    A run that holds some but not all iterations of a repeat is split into single items."""
    out: list[list[Item]] = []
    for item in seq:
        prev = out[-1] if out else None
        if prev and item.foldable and prev[0].foldable and prev[0].signature() == item.signature():
            prev.append(item)
        else:
            out.append([item])
    iterations: dict = {}
    for item in seq:
        if item.repeat is not None:
            iterations[id(item.repeat)] = iterations.get(id(item.repeat), 0) + 1
    split: list[list[Item]] = []
    for run in out:
        repeats = {id(i.repeat) for i in run if i.repeat is not None}
        if len(run) > 1 and any(sum(1 for i in run if id(i.repeat) == r) < iterations[r] for r in repeats):
            split += [[item] for item in run]
        else:
            split.append(run)
    return split


def chain_summary(seq: list[Item], style: str = "spec") -> str:
    """`conv_bn → relu → conv_bn`, `bottleneck ×36 (first /2)`: what a collapsed scope holds."""
    counts: list[tuple[str, list]] = []
    for run in runs(seq):
        token = run[0].token(style)
        # a repeat's units join the unit before them when it is of the same kind (a stage's first unit)
        if counts and counts[-1][0] == token and any(i.repeat is not None for i in run):
            counts[-1][1].append(run)
        else:
            counts.append((token, [run]))
    words = [counted(token, rs) for token, rs in counts]
    text = " → ".join(words)
    if len(text) > ELIDE_AT and len(words) > 3:
        text = " → ".join(words[:2] + ["…"] + words[-1:])
    return text


def unit_text(item: Item, style: str = "spec") -> str:
    """What one unit of a fold is: a layer's or block call's arguments, or an iteration's chain."""
    if item.kind == "layer":
        return layer_text(item.obj.layer, style)
    if item.kind == "scope":
        return call_text(item.obj, style) or chain_summary(items(item.obj.children), style)
    words = [unit_text(run[0], style) + (f" ×{len(run)}" if len(run) > 1 else "") for run in runs(item.inner)]
    return "[" + " → ".join(words) + "]"


def folds_inside(seq: list[Item]) -> bool:
    return any(len(run) > 1 for run in runs(seq))
