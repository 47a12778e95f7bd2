"""Go to definition, find references, rename, the outline and the inlay hints, as LSP types,
from an Analysis and its index of names."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from archlang.errors import Span
from archlang.lsp.analysis import Analysis
from archlang.lsp.convert import path_to_uri, to_position, to_range
from archlang.lsp.facts import hint_label
from archlang.lsp.symbols import Def, Ref
from archlang.syntax import ast
from archlang.syntax.parser import keywords

RENAMEABLE = ("block", "let")


def lines_of(a: Analysis, file: str) -> list[str]:
    return a.source_lines if file == a.file else a.program.sources.lines(file)


def location(a: Analysis, span: Span) -> types.Location:
    return types.Location(uri=path_to_uri(span.file), range=to_range(span, lines_of(a, span.file)))


def target_at(a: Analysis, line: int, column: int) -> Def | None:
    """The definition under the cursor, or the one a name there refers to (None for a layer)."""
    item = a.index.at(a.file, line, column) if a.index else None
    return item.target if isinstance(item, Ref) else item


def definition(a: Analysis, line: int, column: int) -> types.Location | None:
    target = target_at(a, line, column)
    if target is None:
        return None
    if target.kind == "import":
        path = (Path(target.span.file).resolve().parent / target.name).resolve()
        return types.Location(uri=path.as_uri(), range=types.Range(start=types.Position(line=0, character=0),
                                                                   end=types.Position(line=0, character=0)))
    return location(a, target.span)


def references(a: Analysis, line: int, column: int, declaration: bool) -> list[types.Location]:
    target = target_at(a, line, column)
    if target is None:
        return []
    spans = ([target.span] if declaration else []) + [r.span for r in a.index.refs_to(target)]
    return [location(a, s) for s in spans]


def rename_target(a: Analysis, line: int, column: int) -> Def | None:
    target = target_at(a, line, column)
    return target if target is not None and target.kind in RENAMEABLE else None


def rename(a: Analysis, line: int, column: int, new: str) -> types.WorkspaceEdit | None:
    """Every place of the block or `let` under the cursor renamed; None when that name cannot
    be renamed, or `new` is no name or is taken where the old one lives."""
    target = rename_target(a, line, column)
    if target is None or not new.isidentifier() or not new.isascii() or new.lower() in keywords():
        return None
    taken = set(a.index.globals) if target.kind == "block" else {d.name for d in a.index.defs_in(target.owner)}
    if new in taken:
        return None
    changes: dict[str, list[types.TextEdit]] = {}
    for span in [target.span] + [r.span for r in a.index.refs_to(target)]:
        loc = location(a, span)
        changes.setdefault(loc.uri, []).append(types.TextEdit(range=loc.range, new_text=new))
    return types.WorkspaceEdit(changes=changes)


def symbols(a: Analysis) -> list[types.DocumentSymbol]:
    module = a.modules.get(a.file)
    if module is None:
        return []
    lines = a.source_lines
    items = module.items
    out = []
    for n, item in enumerate(items):
        span = getattr(item, "name_span", None) or item.span
        end = (items[n + 1].span.line - 1) if n + 1 < len(items) else len(lines)
        end = max(end, span.end_line)
        whole = Span(a.file, span.line, 1, end, len(lines[end - 1]) + 1 if end <= len(lines) else 1)
        out.append(types.DocumentSymbol(name=getattr(item, "name", None) or item.path, kind=_KIND[type(item)],
                                        range=to_range(whole, lines), selection_range=to_range(span, lines),
                                        detail=_detail(item), children=_children(item, lines) or None))
    return out


_KIND = {ast.NetworkDef: types.SymbolKind.Class, ast.NetworkAlias: types.SymbolKind.Class,
         ast.BlockDef: types.SymbolKind.Function, ast.Import: types.SymbolKind.Module,
         ast.Let: types.SymbolKind.Constant, ast.FuncDef: types.SymbolKind.Function}


def _detail(item) -> str:
    if isinstance(item, ast.NetworkAlias):
        return f"= {item.base}(...)"
    if isinstance(item, (ast.BlockDef, ast.NetworkDef, ast.FuncDef)):
        return f"({', '.join(p.name for p in item.params)})"
    return ""


def _children(item, lines: list[str]) -> list[types.DocumentSymbol]:
    out = []
    for kind, part in [(types.SymbolKind.Variable, p) for p in getattr(item, "params", [])] + \
                      [(types.SymbolKind.Variable, let) for let in getattr(item, "lets", [])]:
        rng = to_range(part.span, lines)
        out.append(types.DocumentSymbol(name=part.name, kind=kind, range=rng, selection_range=rng,
                                        detail="let" if isinstance(part, ast.Let) else "parameter"))
    return out


def inlay_hints(a: Analysis, first: int, last: int) -> list[types.InlayHint]:
    """Lines first..last (1-based): each that makes layers ends with `▸ shape · params`."""
    lines = a.source_lines
    out = []
    for line, stat in sorted(a.lines.items()):
        if first <= line <= last and line <= len(lines):
            end = len(lines[line - 1].rstrip()) + 1
            out.append(types.InlayHint(position=to_position(line, end, lines), label=hint_label(stat),
                                       kind=types.InlayHintKind.Type, padding_left=True))
    return out

