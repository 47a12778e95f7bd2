"""The elaborated graph: layer nodes in a networkx DiGraph, and the scope tree
(blocks, groups, branches, repeats) that gives them their names.

Names follow one rule in every scope: a label used once is the name; a label
used more than once (inside a repeat) is numbered (`stage1`, `stage2`); an
unlabelled layer or block is named by its type and a counter from 1 (`conv1`,
`bn1`, `basic3`). Repeats and plain groups are transparent: their contents
are named in the enclosing scope, so `[conv -> relu] * 3` gives conv1..conv3.
These names are the PyTorch module names and the diagram's box titles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from archlang.errors import ArchError, Frame, Span
from archlang.ir.pynames import unusable
from archlang.layers.base import Layer, Shape


@dataclass(eq=False)
class Scope:
    kind: str  # network | block | group | branch | repeat | iteration
    stem: str  # for generated names: the block name, "group", "branch"
    span: Span
    label: str | None = None
    parent: "Scope | None" = None
    children: list = field(default_factory=list)  # Scope | LayerNode, in order
    info: dict = field(default_factory=dict)  # block: call text; repeat: count, index
    name: str | None = None
    path: str = ""

    @property
    def transparent(self) -> bool:
        return self.kind in ("repeat", "iteration") or (self.kind == "group" and self.label is None)

    def add(self, child) -> None:
        self.children.append(child)

    def layers(self):
        """Every layer node below this scope, in order."""
        for child in self.children:
            if isinstance(child, Scope):
                yield from child.layers()
            else:
                yield child

    def named_chain(self, root: "Scope") -> tuple:
        """The named scopes from this one up to `root` (excluded), as (kind, stem, label): where a
        layer sits inside `root`, without the names that numbering gives."""
        out, scope = [], self
        while scope is not None and scope is not root:
            if not scope.transparent:
                out.append((scope.kind, scope.stem, scope.label))
            scope = scope.parent
        return tuple(out)

    def __repr__(self) -> str:
        return f"Scope({self.kind}, {self.path or self.stem!r})"


@dataclass(eq=False)
class LayerNode:
    id: int
    layer: Layer
    scope: Scope
    inputs: list[int]
    in_shapes: list[Shape]
    shape: Shape
    span: Span
    trace: tuple[Frame, ...] = ()
    label: str | None = None
    implicit: bool = False  # inserted by elaboration (the flatten before an fc)
    name: str = ""
    path: str = ""
    stats: dict = field(default_factory=dict)  # filled by the analysis passes

    @property
    def type(self) -> str:
        return self.layer.name

    @property
    def stem(self) -> str:
        return self.layer.name


def _nameables(scope: Scope):
    """Children that take a name in `scope`, looking through transparent scopes."""
    for child in scope.children:
        if isinstance(child, Scope) and child.transparent:
            yield from _nameables(child)
        elif isinstance(child, Scope) and not any(True for _ in child.layers()):
            continue  # an empty branch (identity) has no module
        else:
            yield child


def assign_names(scope: Scope, prefix: str = "") -> None:
    """Name every scope and layer below `scope`, top-down: labels first, so that a generated
    name never takes one a label gives (even a numbered label further on), then the rest."""
    items = list(_nameables(scope))
    _check_labels(items)
    owners = _label_names(items)
    named = {id(item): name for name, item in owners.items()}
    stem_count: Counter = Counter()
    for item in items:
        name = named.get(id(item))
        while name is None:
            stem_count[item.stem] += 1
            sep = "_" if item.stem[-1].isdigit() else ""  # relu6_1, not relu61
            name = f"{item.stem}{sep}{stem_count[item.stem]}"
            if name in owners:
                name = None
        owners[name] = item
        item.name = name
        item.path = f"{prefix}{name}"
        if isinstance(item, Scope):
            assign_names(item, item.path + ".")
    _name_transparent(scope, prefix.rstrip("."))


def _label_names(items) -> dict:
    """name -> item for the labelled items: a label used once is the name, one written inside a
    repeat is numbered. Two modules may not share a name: the summary would count weights that
    PyTorch holds once."""
    label_count = Counter(item.label for item in items if item.label)
    seen: Counter = Counter()
    owners: dict = {}
    for item in items:
        if not item.label:
            continue
        name = item.label
        if label_count[name] > 1:
            seen[name] += 1
            name = f"{name}{seen[name]}"
        first = owners.setdefault(name, item)
        if first is not item:
            numbered = item if item.label != name else first
            raise ArchError("E209", f"`{name}` would name two modules in one scope", item.span,
                            hint=f"the label at {first.span} and the one at {item.span} both give `{name}` (a "
                                 f"label in a repeat is numbered: `{numbered.label}` gives `{numbered.label}1`, "
                                 f"`{numbered.label}2`, ...); rename one of them")
    return owners


def _check_labels(items) -> None:
    # One label may name many things only when a repeat wrote it once.
    first: dict = {}
    for item in items:
        if item.label and first.setdefault(item.label, item).span != item.span:
            raise ArchError("E207", f"label `{item.label}` is used twice in one scope", item.span,
                            hint=f"the first `{item.label}` is at {first[item.label].span}; labels name "
                                 "modules, so they must be unique where they meet")


def _name_transparent(scope: Scope, path: str) -> None:
    # Repeats and plain groups carry the path of the scope their contents live in.
    for child in scope.children:
        if isinstance(child, Scope) and child.transparent:
            child.path = path
            _name_transparent(child, path)


def check_module_names(scope: Scope) -> None:
    """Refuse a name that PyTorch cannot use for a module (see archlang.ir.pynames), at load
    time, so that `archlang check` finds it and every backend can rely on it."""
    for child in scope.children:
        if child.name:
            why = unusable(child.name)
            if why:
                raise ArchError("E703", f"the name `{child.name}` cannot name a PyTorch module: it is {why}",
                                child.span, hint=f"choose another label, like `{child.name}_`")
        if isinstance(child, Scope):
            check_module_names(child)
