"""Definitions and references over the AST of a spec and its imports, resolved by the
language's scoping rules: a name is a parameter, a `let` or a repeat index of the definition
it is in, else a block or network of the program, else a layer or a built-in (no definition).

>>> from archlang.syntax.parser import parse
>>> index = build_index({"a.arch": parse("block b(c) = conv(c)\\nnetwork N:\\n    input(1, 8, 8) -> b(4)\\n",
...                                       "a.arch")})
>>> [(r.name, r.target.kind if r.target else "layer", r.span.line) for r in index.refs]
[('conv', 'layer', 1), ('c', 'param', 1), ('input', 'layer', 3), ('b', 'block', 3)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archlang.errors import Span
from archlang.layers import lookup
from archlang.syntax import ast


@dataclass(eq=False)
class Def:
    kind: str  # block | network | alias | param | let | index | import
    name: str
    span: Span
    node: ast.Node
    owner: "Def | None" = None  # the block or network a param, let or index belongs to


@dataclass(eq=False)
class Ref:
    name: str
    span: Span
    target: Def | None  # None: a layer of the registry


@dataclass
class Index:
    defs: list[Def] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    globals: dict[str, Def] = field(default_factory=dict)

    def refs_to(self, target: Def) -> list[Ref]:
        return [r for r in self.refs if r.target is target]

    def at(self, file: str, line: int, column: int) -> Def | Ref | None:
        """The definition or reference under a 1-based position."""
        from archlang.lsp.convert import contains

        for item in (*self.refs, *self.defs):
            if item.span.file == file and contains(item.span, line, column):
                return item
        return None

    def defs_in(self, owner: Def) -> list[Def]:
        return [d for d in self.defs if d.owner is owner]


def build_index(modules: dict[str, ast.Module]) -> Index:
    index = Index()
    for module in modules.values():
        for item in module.items:
            if isinstance(item, (ast.BlockDef, ast.NetworkDef)):
                kind = "block" if isinstance(item, ast.BlockDef) else "network"
                index.globals.setdefault(item.name, _define(index, kind, item.name, item.span, item))
            elif isinstance(item, ast.NetworkAlias):
                span = item.name_span or item.span
                index.globals.setdefault(item.name, _define(index, "alias", item.name, span, item))
            elif isinstance(item, ast.Import):
                _define(index, "import", item.path, item.span, item)
            elif isinstance(item, (ast.Let, ast.FuncDef)):  # a file-level value or function
                index.globals.setdefault(item.name, _define(index, "let", item.name, item.span, item))
    items = [item for module in modules.values() for item in module.items]
    for item in sorted(items, key=lambda item: isinstance(item, ast.NetworkAlias)):  # an alias binds parameters:
        _Walker(index).item(item)  # those of every network are defined first
    return index


def _define(index: Index, kind: str, name: str, span: Span, node, owner: Def | None = None) -> Def:
    d = Def(kind, name, span, node, owner)
    index.defs.append(d)
    return d


class _Walker:
    def __init__(self, index: Index):
        self.index = index
        self.scopes: list[dict[str, Def]] = []
        self.owner: Def | None = None

    def item(self, item) -> None:
        if isinstance(item, (ast.BlockDef, ast.NetworkDef)):
            self.definition(self.index.globals.get(item.name), item)
        elif isinstance(item, ast.NetworkAlias):
            base = self.index.globals.get(item.base)
            if base is not None:
                self.index.refs.append(Ref(item.base, item.span, base))
            self.args(item.args, base)
        elif isinstance(item, (ast.Let, ast.FuncDef)):
            self.scopes, self.owner = [{}], None
            self.let(item)
            self.scopes = []

    def let(self, let) -> None:
        """`let x = value` or `let f(params) = body`: a function's parameters are seen in its body only."""
        if isinstance(let, ast.FuncDef):
            params = {}
            for param in let.params:
                if param.default is not None:
                    self.walk(param.default)
                params[param.name] = _define(self.index, "param", param.name, param.span, param, self.owner)
            self.scopes.append(params)
            self.walk(let.body)
            self.scopes.pop()
        else:
            self.walk(let.value)

    def definition(self, owner: Def | None, item) -> None:
        if owner is None or owner.node is not item:  # a second definition of a name (E203)
            owner = Def("block" if isinstance(item, ast.BlockDef) else "network", item.name, item.span, item)
        scope: dict[str, Def] = {}
        self.scopes, self.owner = [scope], owner
        for param in item.params:
            if param.default is not None:
                self.walk(param.default)
            scope[param.name] = _define(self.index, "param", param.name, param.span, param, owner)
        for let in item.lets:
            self.let(let)
            scope[let.name] = _define(self.index, "let", let.name, let.span, let, owner)
        self.walk(item.body)
        self.scopes = []

    def resolve(self, name: str) -> Def | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return self.index.globals.get(name)

    def args(self, args: list[ast.Arg], callee: Def | None) -> None:
        params = {d.name: d for d in self.index.defs_in(callee)} if callee is not None else {}
        for arg in args:
            if arg.name and arg.name in params and params[arg.name].kind == "param":
                self.index.refs.append(Ref(arg.name, arg.span, params[arg.name]))
            self.walk(arg.value)

    def walk(self, node) -> None:
        if isinstance(node, ast.Name):
            target = self.resolve(node.id)
            if target is not None or lookup(node.id):
                self.index.refs.append(Ref(node.id, node.span, target))
        elif isinstance(node, ast.Call):
            self.walk(node.func)
            callee = self.resolve(node.func.id) if isinstance(node.func, ast.Name) else None
            self.args(node.args, callee if callee is not None and callee.kind == "block" else None)
        elif isinstance(node, ast.Repeat) and node.index:
            self.walk(node.count)
            self.scopes.append({node.index: _define(self.index, "index", node.index, node.span, node, self.owner)})
            self.walk(node.body)
            self.scopes.pop()
        elif isinstance(node, ast.Node):  # any other node, new syntax included: its children in order
            for value in node.__dict__.values():
                self.walk_any(value)

    def walk_any(self, value) -> None:
        if isinstance(value, ast.Node):
            self.walk(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                self.walk_any(v)
