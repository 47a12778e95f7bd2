"""Text -> AST: the Lark grammar (loaded once), a post-lexer for newlines, and
the transformer that builds `archlang.syntax.ast` nodes with spans.

>>> from archlang.syntax.parser import parse
>>> module = parse("network N:\\n    input(1, 8, 8) -> conv(4)\\n", "n.arch")
>>> module.items[0].name, type(module.items[0].body).__name__
('N', 'Chain')
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer_NonRecursive, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from archlang.errors import ArchError, Span
from archlang.syntax import ast

# Installed from a wheel: archlang/grammars/arch.lark; in a checkout: grammars/arch.lark.
_HERE = Path(__file__).resolve()
GRAMMAR = next((p for p in (_HERE.parents[1] / "grammars" / "arch.lark", _HERE.parents[2] / "grammars" / "arch.lark")
                if p.is_file()), _HERE.parents[2] / "grammars" / "arch.lark")
MAX_NESTING = 48  # brackets inside brackets; far beyond any real spec
MAX_DEPTH = 200  # levels of the syntax tree (`not not ... x`, `- - 1`, `a if c else b if ...`); real specs: < 20
MAX_LITERAL = 10**15

_OPEN = {"LPAR", "LSQB", "LBRACE"}
_CLOSE = {"RPAR", "RSQB", "RBRACE"}
# A newline after one of these continues the statement, as after `->`.
_CONTINUES = {"_ARROW", "EQUAL", "COLON", "COMMA", "ADD_OP", "MUL_OP", "COMP_OP", "OR", "AND", "NOT", "IF", "ELSE"}


class _Newlines:
    """Drops newlines that cannot end a statement (Python's implicit line joining)."""

    always_accept = ("_NL",)

    def __init__(self, file: str):
        self.file = file

    def process(self, stream):
        depth, prev, pending = 0, None, None
        for tok in stream:
            if tok.type == "_NL":
                if depth == 0 and prev not in _CONTINUES and prev is not None:
                    pending = pending or tok
                continue
            if pending is not None and tok.type != "_ARROW":
                yield pending
            pending = None
            if tok.type in _OPEN:
                depth += 1
                if depth > MAX_NESTING:
                    raise ArchError("E104", f"brackets nested more than {MAX_NESTING} deep", _tok_span(tok, self.file),
                                    hint="split the expression with `let` or a `block`")
            elif tok.type in _CLOSE:
                depth = max(0, depth - 1)
            prev = tok.type
            yield tok
        if pending is not None:
            yield pending


def _tok_span(tok: Token, file: str) -> Span:
    end_line = tok.end_line or tok.line
    end_col = tok.end_column or tok.column + len(str(tok))
    return Span(file, tok.line, tok.column, end_line, end_col)


def _new(cls, **fields):
    # The parser builds each node from parts that already have their types, so it skips
    # pydantic's validation (model_construct): validating only re-checked them, and building
    # the validators of the node classes took longer, at each start, than parsing the zoo.
    return cls.model_construct(**fields)


@v_args(meta=True, inline=True)
class _ToAst(Transformer_NonRecursive):  # a deep tree must give an error, not a RecursionError
    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _span(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        return _tok_span(tok, self.file)

    # ---- top level
    def start(self, meta, *items):
        span = self._span(meta) if not meta.empty else Span(self.file, 1, 1, 1, 1)
        return _new(ast.Module, span=span, file=self.file, items=list(items))

    def value(self, meta, inner):
        return inner

    def import_stmt(self, meta, path):
        return _new(ast.Import, span=self._span(meta), path=str(path)[1:-1])

    def block_def(self, meta, name, params, body):
        lets, chain = body
        return _new(ast.BlockDef, span=self._tspan(name), name=str(name), params=params or [], lets=lets, body=chain)

    def network_def(self, meta, name, params, body):
        lets, chain = body
        return _new(ast.NetworkDef, span=self._tspan(name), name=str(name), params=params or [], lets=lets, body=chain)

    def network_alias(self, meta, name, base, args):
        return _new(ast.NetworkAlias, span=self._tspan(base), name=str(name), base=str(base), args=args or [],
                    name_span=self._tspan(name))

    def params(self, meta, *params):
        return [p for p in params if p is not None]

    def param(self, meta, name, default):
        return _new(ast.Param, span=self._tspan(name), name=str(name), default=default)

    def body(self, meta, *parts):
        return list(parts[:-1]), parts[-1]

    def let_stmt(self, meta, name, value):
        return _new(ast.Let, span=self._tspan(name), name=str(name), value=value)

    # ---- elements
    def chain(self, meta, *items):
        return items[0] if len(items) == 1 else _new(ast.Chain, span=self._span(meta), items=list(items))

    arg_chain = chain

    def labelled(self, meta, name, item):
        return _new(ast.Labelled, span=self._tspan(name), label=str(name), item=item)

    def labelled_first(self, meta, name, first, *rest):
        head = _new(ast.Labelled, span=self._tspan(name), label=str(name), item=first)
        return _new(ast.Chain, span=self._span(meta), items=[head, *rest]) if rest else head

    def switch(self, meta, item):
        return _new(ast.Switch, span=self._span(meta), item=item)

    def cond(self, meta, item, cond):
        return _new(ast.Cond, span=self._span(meta), item=item, cond=cond)

    def repeat(self, meta, product, index):
        if not (isinstance(product, ast.Arith) and product.ops[-1] == "*"):
            raise ArchError("E105", f"`as {index}` must follow a repeat such as `[conv] * 3`",
                            self._tspan(index), hint=f"write `[...] * n as {index}`")
        ops, operands = product.ops[:-1], product.operands[:-1]
        body = operands[0] if not ops else _new(ast.Arith, span=product.span, operands=operands, ops=ops)
        return _new(ast.Repeat, span=self._span(meta), body=body, count=product.operands[-1], index=str(index))

    # ---- expressions
    def if_expr(self, meta, then, cond, orelse):
        return _new(ast.IfExpr, span=self._span(meta), cond=cond, then=then, orelse=orelse)

    def or_(self, meta, *values):
        return _new(ast.BoolOp, span=self._span(meta), op="or", values=list(values))

    def and_(self, meta, *values):
        return _new(ast.BoolOp, span=self._span(meta), op="and", values=list(values))

    def not_(self, meta, operand):
        return _new(ast.Not, span=self._span(meta), operand=operand)

    def compare(self, meta, *parts):
        return _new(ast.Compare, span=self._span(meta), operands=list(parts[::2]), ops=[str(op) for op in parts[1::2]])

    def arith(self, meta, *parts):
        return _new(ast.Arith, span=self._span(meta), operands=list(parts[::2]), ops=[str(op) for op in parts[1::2]])

    def unary(self, meta, op, operand):
        if isinstance(operand, ast.Number):  # `-1` is a literal, not an operation
            value = -operand.value if op == "-" else operand.value
            return _new(ast.Number, span=self._span(meta), value=value)
        return _new(ast.Unary, span=self._span(meta), op=str(op), operand=operand)

    def power(self, meta, base, _op, exponent):
        return _new(ast.Power, span=self._span(meta), base=base, exponent=exponent)

    def call(self, meta, func, args):
        return _new(ast.Call, span=func.span, func=func, args=args or [])

    def index(self, meta, obj, key):
        return _new(ast.Index, span=self._span(meta), obj=obj, key=key)

    def number(self, meta, tok):
        text = str(tok)
        # (int() refuses more than 4300 digits; such a literal is out of range anyway)
        value = int(text) if text.isdigit() and len(text) <= 20 else float(text)
        if not math.isfinite(value) or abs(value) > MAX_LITERAL:
            raise ArchError("E108", f"number {text[:20]} is out of range", self._tspan(tok),
                            hint=f"numbers in a spec are at most {MAX_LITERAL:.0e}")
        return _new(ast.Number, span=self._tspan(tok), value=value)

    def string(self, meta, tok):
        return _new(ast.String, span=self._tspan(tok), value=str(tok)[1:-1])

    def true(self, meta):
        return _new(ast.Bool, span=self._span(meta), value=True)

    def false(self, meta):
        return _new(ast.Bool, span=self._span(meta), value=False)

    def name(self, meta, tok):
        return _new(ast.Name, span=self._tspan(tok), id=str(tok))

    def in_shape(self, meta, attr):
        return _new(ast.InShape, span=self._span(meta), attr=str(attr))

    def bracket(self, meta, items):
        return _new(ast.ListExpr, span=self._span(meta), items=items or [])

    def dict(self, meta, pairs):
        return _new(ast.DictExpr, span=self._span(meta), pairs=pairs or [])

    def paren(self, meta, inner):
        return inner

    def items(self, meta, *items):
        return list(items)

    def pairs(self, meta, *pairs):
        return [p for p in pairs if p is not None]

    def pair(self, meta, key, value):
        return (key, value)

    def args(self, meta, *args):
        return [a if isinstance(a, ast.Arg) else _new(ast.Arg, span=a.span, value=a) for a in args if a is not None]

    def kwarg(self, meta, name, value):
        return _new(ast.Arg, span=self._tspan(name), name=str(name), value=value)

    def branch_label(self, meta, name, value):
        return _new(ast.Arg, span=self._tspan(name), label=str(name), value=value)


@functools.cache
def _parser() -> Lark:
    # cache=True stores the LALR tables on disk: a cold start skips the analysis.
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="basic",
                propagate_positions=True, maybe_placeholders=True, cache=True, start=["start", "value"],
                postlex=_Newlines("<unused>"))


# Terminal names as a user would say them, for "expected ..." hints.
_READABLE = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "_ARROW": "`->`", "_NL": "a new line",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`",
    "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "QMARK": "`?`", "DOT": "`.`", "$END": "end of file",
    "ADD_OP": "`+` or `-`", "MUL_OP": "an operator", "COMP_OP": "a comparison",
}


_STATEMENT_STARTS = {"IMPORT", "BLOCK", "NETWORK", "LET", "_NL", "$END"}


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return f"`{tok}`"


def _expected(names) -> str:
    # Words ("a name", "a number") first, then punctuation and keywords.
    names = {n for n in names if not n.startswith("__")}
    if len(names) > 1:  # a newline is rarely the fix when something else is possible
        names.discard("_NL")
    words = {_READABLE.get(n, f"`{n.lower()}`") for n in names}
    return ", ".join(sorted(words, key=lambda w: (w.startswith("`"), w))[:8])


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> ArchError:
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
        hint = "strings use double quotes; comments start with `#`" if char in "'\"" else None
        return ArchError("E102", f"unexpected character {char!r}", span, hint=hint)
    tok = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or tok is None or tok.type == "$END":
        lines = text.splitlines() or [""]
        span = Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        return ArchError("E103", "unexpected end of file", span,
                         hint=f"expected {_expected(exc.expected)}" if getattr(exc, "expected", None) else None)
    span = _tok_span(tok, file)
    expected = exc.expected if isinstance(exc, UnexpectedToken) else set()
    hint = f"expected {_expected(expected)}" if expected else None
    if tok.type == "NAME" and ("_ARROW" in expected or expected <= _STATEMENT_STARTS):
        hint = "to chain layers, put `->` between them (at the end of a line or the start of the next)"
    if tok.type == "_NL":
        span = Span(file, tok.line, tok.column, tok.line, tok.column + 1)
    return ArchError("E101", f"unexpected {_describe(tok)}", span, hint=hint)


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse `text` into a Module; raise ArchError (with a span) on bad input."""
    if not text.strip():
        raise ArchError("E107", "the file is empty", Span(file, 1, 1, 1, 1),
                        hint="a spec needs at least `network Name: input(...) -> ...`")
    return _run(text, file, "start")


def parse_value(text: str, file: str = "<value>") -> ast.Node:
    """Parse one expression, as given to `--set NAME=VALUE`."""
    if not text.strip():
        raise ArchError("E309", "empty value", Span(file, 1, 1, 1, 1))
    return _run(text, file, "value")


def _run(text: str, file: str, start: str):
    parser = _parser()
    parser.options.postlex.file = file  # the shared post-lexer names the file in its errors
    try:
        tree = _ToAst(file).transform(parser.parse(text, start=start))
    except VisitError as e:  # an ArchError raised inside a transformer callback
        raise e.orig_exc from None
    except UnexpectedInput as e:
        raise _syntax_error(e, text, file) from None
    _check_depth(tree)
    return tree


def _check_depth(root) -> None:
    """Every later stage walks the tree recursively: refuse one deeper than MAX_DEPTH."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ArchError("E104", f"expression nested more than {MAX_DEPTH} deep", node.span,
                            hint="split the expression with `let` or a `block`")
        for value in node.__dict__.values():
            for item in value if isinstance(value, (list, tuple)) else (value,):
                for child in item if isinstance(item, tuple) else (item,):  # dict pairs are tuples
                    if isinstance(child, ast.Node):
                        stack.append((child, depth + 1))


def keywords() -> list[str]:
    """The words of the grammar (`network`, `if`, `true`, ...), which no name can be."""
    return sorted({str(t.pattern.value) for t in _parser().terminals
                   if t.pattern.type == "str" and str(t.pattern.value).isalpha()})


def lex(text: str) -> list[Token]:
    """The tokens of a text as far as they can be read (newlines that continue a statement
    dropped): what completion reads of the unfinished text before the cursor."""
    found: list[Token] = []
    try:
        for tok in _parser().lex(text):
            found.append(tok)
    except (UnexpectedInput, ArchError):  # an unfinished string, a stray character: stop there
        pass
    return found


# ---- the concrete tree: every token kept, comments collected (the formatter, the editor tooling)


@dataclass
class Concrete:
    """A parse of the text that keeps every token in the tree (brackets, commas, keywords), and
    the comments the lexer met, in order. Tokens carry lark's positions (`start_pos`, `line`, ...)."""

    tree: Tree
    comments: list[Token]


class _Comments:
    def __init__(self):
        self.found: list[Token] = []

    def __call__(self, tok: Token) -> Token:
        self.found.append(tok)
        return tok


_concrete_lock = threading.Lock()


@functools.cache
def _concrete_parser() -> tuple[Lark, _Comments]:
    comments = _Comments()
    parser = Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="basic", propagate_positions=True,
                  maybe_placeholders=True, keep_all_tokens=True, cache=True, start="start",
                  postlex=_Newlines("<unused>"), lexer_callbacks={"COMMENT": comments})
    return parser, comments


def parse_concrete(text: str, file: str = "<string>") -> Concrete:
    """The concrete tree of a spec; raise ArchError (with a span) on bad input, as `parse` does."""
    parser, comments = _concrete_parser()
    with _concrete_lock:
        parser.options.postlex.file = file
        comments.found = []
        try:
            tree = parser.parse(text)
        except UnexpectedInput as e:
            raise _syntax_error(e, text, file) from None
        return Concrete(tree, comments.found)
