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
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer_NonRecursive, Tree, v_args
from lark.exceptions import UnexpectedInput, VisitError

from archlang.errors import ArchError, Span
from archlang.syntax import ast
from archlang.syntax.messages import syntax_error, tok_span

# Installed from a wheel: archlang/grammars/arch.lark; in a checkout: grammars/arch.lark.
_HERE = Path(__file__).resolve()
GRAMMAR = next((p for p in (_HERE.parents[1] / "grammars" / "arch.lark", _HERE.parents[2] / "grammars" / "arch.lark")
                if p.is_file()), _HERE.parents[2] / "grammars" / "arch.lark")
MAX_NESTING = 48  # brackets inside brackets; far beyond any real spec
MAX_DEPTH = 200  # levels of the syntax tree (`not not ... x`, `- - 1`, `a if c else b if ...`); real specs: < 20
MAX_LITERAL = 10**15
# Parsing costs 20 to 100 µs and up to 1 KB of memory per token (the grammar's precedence levels
# each reduce): 100,000 tokens, for a file and its imports, bound it to seconds and a few hundred MB.
# The zoo's largest file has 500 tokens.
MAX_TOKENS = 100_000
# Refused inside strings: control characters (NUL, escapes, C1), bidirectional overrides and
# line separators. A string reaches messages, terminals and generated files, where they would
# hide or rewrite text.
HOSTILE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

_OPEN = {"LPAR", "LSQB", "LBRACE"}
_CLOSE = {"RPAR", "RSQB", "RBRACE"}
# A newline after one of these continues the statement, as after `->`.
_CONTINUES = {"_ARROW", "EQUAL", "COLON", "COMMA", "ADD_OP", "MUL_OP", "COMP_OP", "OR", "AND", "NOT", "IF", "ELSE"}


class _Newlines:
    """Drops newlines that cannot end a statement (Python's implicit line joining)."""

    always_accept = ("_NL",)

    def __init__(self, file: str):
        self.file = file
        self.last: list = [None, None]  # the two tokens yielded last, for the messages of syntax errors
        self.budget = MAX_TOKENS  # tokens this parse may still read; parse() sets it
        self.count = 0

    def process(self, stream):
        depth, prev, pending = 0, None, None
        self.last, self.count = [None, None], 0
        for tok in stream:
            self.count += 1
            if self.count > self.budget:
                raise ArchError("E505", f"the spec has more than {MAX_TOKENS:,} tokens (with its imports)",
                                tok_span(tok, self.file), hint="bind repeated parts with `[...] * n`, blocks "
                                                                "and functions")
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
                    raise ArchError("E104", f"brackets nested more than {MAX_NESTING} deep", tok_span(tok, self.file),
                                    hint="split the expression with `let` or a `block`")
            elif tok.type in _CLOSE:
                depth = max(0, depth - 1)
            prev = tok.type
            self.last = [self.last[1], tok]
            yield tok
        if pending is not None:
            yield pending


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
        return tok_span(tok, self.file)

    # ---- top level
    def start(self, meta, *items):
        span = self._span(meta) if not meta.empty else Span(self.file, 1, 1, 1, 1)
        return _new(ast.Module, span=span, file=self.file, items=list(items))

    def value(self, meta, inner):
        return inner

    def import_stmt(self, meta, path):
        return _new(ast.Import, span=self._span(meta), path=str(path)[1:-1])

    def func_def(self, meta, name, params, body):
        _no_in(body, str(name))
        for param in params or []:
            if param.default is not None:
                _no_in(param.default, str(name))
        return _new(ast.FuncDef, span=self._tspan(name), name=str(name), params=params or [], body=body)

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
        params = [p for p in params if p is not None]
        seen: dict = {}
        for p in params:
            if p.name in seen:
                raise ArchError("E208", f"parameter `{p.name}` is declared twice", p.span,
                                hint=f"the first `{p.name}` is at {seen[p.name].span}; rename or remove one")
            seen[p.name] = p
        return params

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

    def label(self, meta, tok):
        return tok

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

    def slice(self, meta, obj, lower, upper, step):
        return _new(ast.Slice, span=self._span(meta), obj=obj, lower=lower, upper=upper, step=step)

    def list_comp(self, meta, item, *rest):
        *names, iterable, cond = rest
        if len(set(map(str, names))) < len(names):
            raise ArchError("E208", "a name appears twice after `for`", self._tspan(names[-1]))
        return _new(ast.ListComp, span=self._span(meta), item=item, names=[str(n) for n in names], iterable=iterable,
                    cond=cond)

    def number(self, meta, tok):
        text = str(tok)
        # (int() refuses more than 4300 digits; such a literal is out of range anyway)
        value = int(text) if text.isdigit() and len(text) <= 20 else float(text)
        if not math.isfinite(value) or abs(value) > MAX_LITERAL:
            raise ArchError("E108", f"number {text[:20]} is out of range", self._tspan(tok),
                            hint=f"numbers in a spec are at most {MAX_LITERAL:.0e}")
        return _new(ast.Number, span=self._tspan(tok), value=value)

    def string(self, meta, tok):
        value = str(tok)[1:-1]
        bad = HOSTILE.search(value)
        if bad:
            col = tok.column + 1 + bad.start()
            raise ArchError("E110", f"a string holds the control character {bad.group()!r}",
                            Span(self.file, tok.line, col, tok.line, col + 1),
                            hint="strings hold printable text only: remove the character")
        return _new(ast.String, span=self._tspan(tok), value=value)

    def true(self, meta):
        return _new(ast.Bool, span=self._span(meta), value=True)

    def false(self, meta):
        return _new(ast.Bool, span=self._span(meta), value=False)

    def name(self, meta, tok):
        return _new(ast.Name, span=self._tspan(tok), id=str(tok))

    def in_shape(self, meta, attr):
        return _new(ast.InShape, span=self._span(meta), attr=str(attr))

    def attribute(self, meta, name, attr):
        if str(name).lower() != "input":
            raise ArchError("E202", f"`{name}.{attr}`: only `in` and `input` have fields", self._span(meta),
                            hint="`in.c` is the shape entering here, `input.c` the network's input; "
                                 "a dict is read with `d[key]`")
        return _new(ast.InputShape, span=self._span(meta), attr=str(attr))

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


def _no_in(root, func: str) -> None:
    """A function is computed from its arguments: `in` (which depends on where it is used) is refused."""
    for node in _walk(root):
        if isinstance(node, ast.InShape):
            raise ArchError("E313", f"function `{func}` reads `in.{node.attr}`", node.span,
                            hint=f"a function sees only its arguments: pass the shape in, e.g. `{func}(in.c)`")


def _walk(root):
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        for value in node.__dict__.values():
            for item in value if isinstance(value, (list, tuple)) else (value,):
                for child in item if isinstance(item, tuple) else (item,):  # dict pairs are tuples
                    if isinstance(child, ast.Node):
                        stack.append(child)


@functools.cache
def _parser() -> Lark:
    # cache=True stores the LALR tables on disk: a cold start skips the analysis.
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="basic",
                propagate_positions=True, maybe_placeholders=True, cache=True, start=["start", "value"],
                postlex=_Newlines("<unused>"))


def parse(text: str, file: str = "<string>", budget: list | None = None) -> ast.Module:
    """Parse `text` into a Module; raise ArchError (with a span) on bad input. `budget`, a
    one-item list, holds the tokens left to a program of many files; parsing takes its share."""
    if not text.strip():
        raise ArchError("E107", "the file is empty", Span(file, 1, 1, 1, 1),
                        hint="a spec needs at least `network Name: input(...) -> ...`")
    budget = budget if budget is not None else [MAX_TOKENS]
    postlex = _parser().options.postlex
    postlex.budget = budget[0]
    try:
        return _run(text, file, "start")
    finally:
        budget[0] -= postlex.count
        postlex.budget = MAX_TOKENS


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
        raise syntax_error(e, text, file, parser.options.postlex.last[0]) from None
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
            raise syntax_error(e, text, file) from None
        return Concrete(tree, comments.found)
