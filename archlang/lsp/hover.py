"""Hover: what is under the cursor, in Markdown.

On a layer: its resolved arguments, shapes, params, MACs, receptive field (each time it is
made); on a block call: the block's signature and doc comment and the call's totals; on a
network's name: the summary's totals; on any other name: what it is and its value.
"""

from __future__ import annotations

from archlang.errors import ArchError
from archlang.ir.build import pick_network
from archlang.ir.elaborate import Elaborator, Limits
from archlang.ir.values import BlockRef, Env, LayerRef, show
from archlang.layers import lookup
from archlang.layers.base import fmt_value
from archlang.lsp.analysis import Analysis
from archlang.lsp.convert import contains
from archlang.lsp.facts import block_scopes, call_text, doc_comment, layer_hover, network_text
from archlang.lsp.symbols import Def, Ref
from archlang.syntax import ast


def hover_at(a: Analysis, line: int, column: int) -> str | None:
    item = a.index.at(a.file, line, column) if a.index else None
    target = item.target if isinstance(item, Ref) else item
    if target is not None and target.kind in ("network", "alias"):
        return _network(a, target)
    if a.net is not None:
        nodes = [n for n in a.net.nodes if n.span.file == a.file and contains(n.span, line, column)]
        if nodes:
            return layer_hover(nodes)
        calls = [s for s in block_scopes(a.net.root) if s.span.file == a.file and contains(s.span, line, column)]
        if calls:
            return signature(a, a.program.blocks[calls[0].stem].defn) + "\n\n" + call_text(calls)
    if target is not None:
        return _definition(a, target)
    if isinstance(item, Ref):  # a layer that is not made here (a block never called, an error before it)
        cls = lookup(item.name)
        return f"```arch\n{layer_signature(item.name)}\n```" + (f"\n{cls.doc}" if cls.doc else "")
    return None


def signature(a: Analysis, defn: ast.BlockDef) -> str:
    params = ", ".join(p.name + (f" = {source_of(a, p.default)}" if p.default is not None else "")
                       for p in defn.params)
    doc = doc_comment(a.program.sources.lines(defn.span.file), defn.span.line)
    return f"```arch\nblock {defn.name}({params})\n```" + (f"\n{doc}" if doc else "")


def source_of(a: Analysis, node: ast.Node) -> str:
    """The text a node was parsed from (its first line, for a node over several)."""
    s = node.span
    lines = a.program.sources.lines(s.file)
    if not 1 <= s.line <= len(lines):
        return "…"
    text = lines[s.line - 1]
    return text[s.column - 1:s.end_column - 1] if s.end_line == s.line else text[s.column - 1:].rstrip() + " …"


def _network(a: Analysis, target: Def) -> str:
    if a.net is not None and (target.name == a.net.name or target.node is _built_def(a)):
        return network_text(a.net)
    return f"network `{target.name}`" + (f" (this file builds `{a.net.name}`)" if a.net else "")


def _definition(a: Analysis, d: Def) -> str | None:
    if d.kind == "block":
        calls = [s for s in block_scopes(a.net.root) if s.stem == d.name] if a.net else []
        text = signature(a, d.node)
        return text + (f"\n\ncalled {len(calls)} time{'s' * (len(calls) != 1)} in `{a.net.name}`:\n"
                       + call_text(calls) if calls else "")
    if d.kind == "param":
        return _param(a, d)
    if d.kind == "let":
        value = _let_value(a, d)
        line = a.program.sources.lines(d.span.file)[d.span.line - 1].strip()  # (a call's span is its name only)
        return f"```arch\n{line}\n```" + (f"\n\nvalue: `{value}`" if value else "")
    if d.kind == "index":
        count = source_of(a, d.node.count)
        return f"`{d.name}`: the index of the repeat, 0 … ({count}) - 1"
    if d.kind == "import":
        return f"imports `{d.name}`: its blocks and networks"
    return None


def _param(a: Analysis, d: Def) -> str:
    owner = d.owner
    default = f" = {source_of(a, d.node.default)}" if d.node.default is not None else ""
    head = f"parameter `{d.name}{default}` of {owner.kind} `{owner.name}`" if owner else f"parameter `{d.name}`"
    if owner is not None and owner.kind == "network" and a.net is not None and d.name in a.net.settings:
        return head + f"\n\nvalue: `{shown(a.net.settings[d.name])}`"
    if owner is not None and owner.kind == "block" and a.net is not None:
        calls = [s.info.get("call", "") for s in block_scopes(a.net.root) if s.stem == owner.name]
        if calls:
            listed = "\n".join(f"- `{c}`" for c in list(dict.fromkeys(calls))[:8])
            return head + f"\n\ncalled as:\n{listed}"
    return head


def _let_value(a: Analysis, d: Def) -> str | None:
    """A network's `let`, evaluated as the network is built; a block's varies with each call."""
    owner = d.owner
    if owner is None or owner.kind != "network" or a.net is None or owner.node is not _built_def(a):
        return None
    ev = Elaborator(a.program.blocks, {}, Limits())
    env = Env(dict(a.net.settings), a.program.globals)
    try:
        for let in owner.node.lets:
            ev.define(let, env, None)
            if let is d.node:
                return shown(env.vars[let.name])
    except ArchError:  # an error: the value is not known here
        return None
    return None


def _built_def(a: Analysis):
    try:
        return pick_network(a.program, a.net.name)[1]
    except ArchError:
        return None


def shown(value) -> str:
    """A value as a spec writes it; a block or a layer by its name."""
    if isinstance(value, BlockRef):
        return value.defn.name
    return value.name if isinstance(value, LayerRef) else show(value)


def layer_signature(name: str) -> str | None:
    cls = lookup(name)
    if cls is None:
        return None
    parts = [k if f.is_required() else f"{k} = {fmt_value(f.default)}" for k, f in cls.Args.model_fields.items()]
    return f"{cls.name}({', '.join(parts)})" if parts else cls.name

