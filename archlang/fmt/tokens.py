"""The formatter's view of a spec: its tokens in order, each with the grammar rule it sits in,
and the gaps between them (spaces, newlines, comments, backslash continuations).

The tokens come from the concrete parse tree (`archlang.syntax.parser.parse_concrete`), so
each knows its rule: a `(` in `call` is a call, a `?` in `switch` is a switch, an `-` in
`unary` is a sign. A token inside a rule this module does not list in KNOWN_RULES is
*frozen*: the formatter keeps the text around it as it was.

>>> toks, gaps = scan("network N:  # head\\n    input(1)\\n")
>>> [t.value for t in toks], gaps[3].pieces
(['network', 'N', ':', 'input', '(', '1', ')'], [('comment', '# head', False), ('nl', 1)])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token, Tree

from archlang.syntax.parser import parse_concrete

# The rules of grammars/arch.lark the layout rules know. A new rule is formatted only once it
# is listed here (and given spacing rules in layout.py if it needs any); until then its text is
# kept as written.
KNOWN_RULES = frozenset({
    "start", "import_stmt", "block_def", "network_def", "network_alias", "params", "param", "body",
    "let_stmt", "chain", "labelled", "switch", "cond", "if_expr", "or_", "and_", "not_", "compare",
    "arith", "repeat", "unary", "power", "call", "index", "number", "string", "true", "false", "name",
    "in_shape", "bracket", "dict", "paren", "items", "labelled_first", "pairs", "pair", "args", "kwarg",
    "branch_label", "arg_chain", "func_def", "label", "slice", "attribute", "list_comp",
})
KNOWN_TOKENS = frozenset({
    "NAME", "NUMBER", "STRING", "_ARROW", "POW", "COMP_OP", "ADD_OP", "MUL_OP", "LPAR", "RPAR", "LSQB",
    "RSQB", "LBRACE", "RBRACE", "COMMA", "COLON", "EQUAL", "QMARK", "DOT", "IMPORT", "BLOCK", "NETWORK",
    "LET", "IF", "ELSE", "OR", "AND", "NOT", "AS", "IN", "TRUE", "FALSE", "FOR",
})
# Where a line that starts a definition or a statement of a body is indented from.
ITEM_PARENTS = {"start": "item", "body": "stmt"}
# Statements whose last child is a value that a continuation line lines up with.
VALUE_PARENTS = {"let_stmt", "func_def"}


@dataclass(eq=False)
class Tok:
    type: str
    value: str
    start: int  # offsets in the text
    end: int
    rule: str  # the rule the token sits in
    frozen: object = None  # the outermost unknown rule around it, if any
    role: str = ""  # "item": starts a definition; "stmt": starts a statement of a body
    stmt: int = 0  # index of the first token of the definition or statement it belongs to
    chain: int = -1  # for `->`: index of the first token of its chain
    hang: int = -1  # in the value of a `let`: index of the value's first token

    @property
    def known(self) -> bool:
        return self.frozen is None and self.type in KNOWN_TOKENS


def kept_between(a: Tok | None, b: Tok | None) -> bool:
    """Whether the text between two tokens stays as written: both inside one rule the formatter
    does not know, or either a token it does not know."""
    if a is None or b is None:
        return False
    return (a.frozen is not None and a.frozen is b.frozen) or a.type not in KNOWN_TOKENS or b.type not in KNOWN_TOKENS


@dataclass
class Gap:
    """What lies between two tokens: ("nl", count), ("comment", text, indented), ("bs",) in order;
    `indented`: the comment starts its line after some indentation."""

    text: str
    pieces: list = field(default_factory=list)

    @property
    def newlines(self) -> int:
        return sum(p[1] for p in self.pieces if p[0] == "nl")

    @property
    def plain(self) -> bool:
        """Only spaces and newlines: no comment, no backslash."""
        return all(p[0] == "nl" for p in self.pieces)


_GAP = re.compile(r"(#[^\n]*)|(\\\n)|(\n)|[ \t\f]+")


def split_gap(text: str) -> Gap:
    gap = Gap(text)
    for m in _GAP.finditer(text):
        comment, backslash, newline = m.groups()
        if comment is not None:
            line_start = text.rfind("\n", 0, m.start()) + 1
            gap.pieces.append(("comment", comment.rstrip(), line_start > 0 and m.start() > line_start))
        elif backslash:
            gap.pieces.append(("bs",))
        elif newline:
            if gap.pieces and gap.pieces[-1][0] == "nl":
                gap.pieces[-1] = ("nl", gap.pieces[-1][1] + 1)
            else:
                gap.pieces.append(("nl", 1))
    return gap


def scan(text: str, file: str = "<string>") -> tuple[list[Tok], list[Gap]]:
    """Tokens (with their rules) and the n + 1 gaps around them; raises ArchError on a syntax error."""
    toks = _walk(parse_concrete(text, file).tree)
    bounds = [0] + [x for t in toks for x in (t.start, t.end)] + [len(text)]
    gaps = [split_gap(text[a:b]) for a, b in zip(bounds[::2], bounds[1::2])]
    return toks, gaps


@dataclass
class _Context:
    """What a token learns from the rules around it, handed down from a rule to its children."""

    tree: Tree
    frozen: object = None  # the outermost unknown rule
    stmt: Tree | None = None  # the definition or statement (a child of `start` or `body`)
    role: str = ""  # "item" or "stmt", for the first token of `stmt`
    hang: Tree | None = None  # the value of a `let`


def _walk(tree: Tree) -> list[Tok]:
    """The tokens left to right, without recursion (a spec may nest deeply)."""
    toks: list[Tok] = []
    first: dict[int, int] = {}  # id(tree) -> index of its first token
    path: list[_Context] = []
    stack: list = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        if node is None:  # leaving a rule
            path.pop()
        elif isinstance(node, Tree):
            path.append(_enter(node, parent))
            stack.append((None, None))
            stack.extend((child, path[-1]) for child in reversed(node.children) if child is not None)
        elif isinstance(node, Token) and node.type != "_NL":
            toks.append(_token(node, path, first, len(toks)))
    return toks


def _enter(tree: Tree, parent: _Context | None) -> _Context:
    rule = str(tree.data)
    if parent is None:
        return _Context(tree, frozen=tree if rule not in KNOWN_RULES else None)
    ctx = _Context(tree, parent.frozen, parent.stmt, parent.role, parent.hang)
    if ctx.frozen is None and rule not in KNOWN_RULES:
        ctx.frozen = tree
    up = str(parent.tree.data)
    if up in ITEM_PARENTS:
        ctx.stmt, ctx.role = tree, ITEM_PARENTS[up]
    if up in VALUE_PARENTS and tree is parent.tree.children[-1]:
        ctx.hang = tree
    return ctx


def _token(tok: Token, path: list[_Context], first: dict, index: int) -> Tok:
    for ctx in reversed(path):
        if id(ctx.tree) in first:
            break
        first[id(ctx.tree)] = index
    here = path[-1]
    out = Tok(tok.type, str(tok), tok.start_pos, tok.end_pos, str(here.tree.data), frozen=here.frozen)
    if here.stmt is not None:
        out.stmt = first[id(here.stmt)]
        out.role = here.role if out.stmt == index else ""
    if here.hang is not None:
        out.hang = first[id(here.hang)]
    if tok.type == "_ARROW":
        out.chain = first[id(here.tree)]
    return out
