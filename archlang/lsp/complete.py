"""Completion: what may be written at the cursor, read from the tokens before it (the text
is usually unfinished there) and from the last analysis that parsed.

Inside a call's parentheses, the argument names of the layer (from the registry) or block
come first; then layers with their signatures, blocks, the names in scope, built-ins and
keywords; after `in.`, the attributes of the input shape.
"""

from __future__ import annotations

from lsprotocol import types

from archlang.ir.evaluate import SHAPE_ATTRS, BUILTINS
from archlang.layers import REGISTRY, lookup
from archlang.lsp.analysis import Analysis
from archlang.lsp.hover import layer_signature, signature
from archlang.syntax import ast
from archlang.syntax.parser import keywords, lex

_K = types.CompletionItemKind


def complete(a: Analysis | None, prefix: str) -> list[types.CompletionItem]:
    """`prefix`: the document's text up to the cursor."""
    toks = lex(prefix)
    last = str(toks[-1]) if toks else ""
    if last and toks[-1].end_pos == len(prefix) and (last[-1].isalnum() or last[-1] == "_"):
        toks = toks[:-1]  # the word being typed: the editor filters by it
    if len(toks) >= 2 and (toks[-2].type, toks[-1].type) == ("IN", "DOT"):
        return [_item(attr, _K.Field, "the input shape") for attr in [*SHAPE_ATTRS, "shape"]]
    items = _arguments(a, _callee(toks))
    items += [_item(name, _K.Function, layer_signature(name), _doc(name)) for name in sorted(REGISTRY)]
    if a is not None and a.program is not None:
        items += [_item(name, _K.Module, signature(a, ref.defn)) for name, ref in sorted(a.program.blocks.items())]
        items += [_item(d.name, _K.Variable, d.kind) for d in _in_scope(a, prefix.count("\n") + 1)]
    items += [_item(name, _K.Function, "built-in") for name in BUILTINS]
    items += [_item(word, _K.Keyword) for word in keywords()]
    return items


def _item(label: str, kind, detail: str | None = None, doc: str | None = None, insert: str | None = None):
    return types.CompletionItem(label=label, kind=kind, detail=detail, documentation=doc, insert_text=insert)


def _doc(name: str) -> str | None:
    cls = REGISTRY[name]
    alias = f"alias of `{cls.name}`. " if name != cls.name else ""
    return (alias + cls.doc).strip() or None


def _callee(toks) -> str | None:
    """The name before the innermost `(` still open at the cursor."""
    stack: list[str | None] = []
    for prev, tok in zip([None, *toks], toks):
        if tok.type in ("LPAR", "LSQB", "LBRACE"):
            stack.append(str(prev) if tok.type == "LPAR" and prev is not None and prev.type == "NAME" else None)
        elif tok.type in ("RPAR", "RSQB", "RBRACE") and stack:
            stack.pop()
    return stack[-1] if stack else None


def _arguments(a: Analysis | None, callee: str | None) -> list[types.CompletionItem]:
    if callee is None:
        return []
    cls = lookup(callee)
    if cls is not None:
        names = [*cls.Args.model_fields, *cls.arg_aliases]
        return [_item(f"{n} =", _K.Property, f"argument of {cls.name}", insert=f"{n} = ") for n in names]
    ref = a.program.blocks.get(callee) if a is not None and a.program is not None else None
    if ref is not None:
        return [_item(f"{p.name} =", _K.Property, f"parameter of {callee}", insert=f"{p.name} = ")
                for p in ref.defn.params]
    return []


def _in_scope(a: Analysis, line: int):
    """The parameters, lets and repeat indexes of the definition the cursor is in."""
    module = a.modules.get(a.file)
    if module is None or a.index is None:
        return []
    owner = None
    for item in module.items:
        if item.span.line <= line and isinstance(item, (ast.BlockDef, ast.NetworkDef)):
            owner = a.index.globals.get(item.name)
    return a.index.defs_in(owner) if owner is not None else []
