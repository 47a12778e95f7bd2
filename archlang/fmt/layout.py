"""The canonical layout: the tokens of a spec, in their order, with the whitespace between
them decided by the rules below. Nothing else changes: no token is added, dropped or moved
past another, and every comment stays where it was.

- Line breaks are the author's (as gofmt keeps them), with two changes: `->` starts the
  continuation line rather than ending the line before it, and a line longer than
  `line_length` is broken before a `->`.
- A definition starts at column 0; the lets and the chain of its body at 4.
- A continuation line inside brackets lines up after the opening bracket, or, when the bracket
  ends its line, is indented 4 from the line that opened it; its closing bracket goes back to
  that line's indentation. A line starting with `->` lines up with the first element of its chain.
- One space around `->`, `=`, binary operators and keywords, after `,` and `:`; none inside
  brackets, before a call's `(`, an index's `[` or a switch's `?`, or after a sign; two spaces
  before a trailing comment. At most one blank line; one newline at the end.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from archlang.fmt.tokens import Gap, Tok, kept_between

INDENT = 4
OPENERS = {"LPAR", "LSQB", "LBRACE"}
CLOSERS = {"RPAR", "RSQB", "RBRACE"}
# (token type, rule it sits in) pairs written without a space before them.
TIGHT_BEFORE = {("LPAR", "call"), ("LPAR", "block_def"), ("LPAR", "network_def"), ("LPAR", "network_alias"),
                ("LSQB", "index"), ("LSQB", "slice"), ("QMARK", "switch"), ("LPAR", "func_def")}
TIGHT_AFTER = {("ADD_OP", "unary"), ("COLON", "slice")}


def space(a: Tok, b: Tok) -> str:
    """The space between two tokens on one line."""
    if b.type in CLOSERS or b.type in ("COMMA", "COLON", "DOT") or a.type in OPENERS or a.type == "DOT":
        return ""
    if (b.type, b.rule) in TIGHT_BEFORE or (a.type, a.rule) in TIGHT_AFTER:
        return ""
    return " "


@dataclass
class _Bracket:
    col: int  # of the opening bracket
    line_indent: int  # of the line it is on
    hanging: bool = False  # the bracket ends its line


@dataclass
class Arrow:
    """A `->` as laid out: where a long line may be broken."""

    index: int
    line: int
    col: int
    chain_col: int  # where a line starting with this arrow goes
    chain: int  # the index of its chain's first token
    first_on_line: bool


class Emitter:
    """Lays the tokens out once; `breaks` are arrows that start a new line although written inside one."""

    def __init__(self, toks: list[Tok], gaps: list[Gap], breaks: set[int]):
        self.toks, self.gaps, self.breaks = toks, gaps, breaks
        self.out: list[str] = []  # finished lines
        self.lines = 0  # how many
        self.line: list[str] = []  # the line being written
        self.col = 0  # its length so far
        self.on_line = 0  # tokens on it so far
        self.col_of: list[int] = []  # output column of each token
        self.indent_of: list[int] = []  # indentation of each token's line
        self.stack: list[_Bracket] = []
        self.arrows: list[Arrow] = []
        self.indent = 0

    def run(self) -> str:
        for i, tok in enumerate(self.toks):
            self._gap(i)
            self._token(i, tok)
        self._gap(len(self.toks))
        body = "".join(self.out) + "".join(self.line).rstrip()
        return body.strip("\n") + "\n" if body.strip() else ""

    # ---- writing
    def _put(self, text: str) -> None:
        self.line.append(text)
        self.col += len(text)

    def _newlines(self, count: int) -> None:
        self.out.append("".join(self.line).rstrip() + "\n" * min(count, 2))
        self.lines += min(count, 2)
        self.line, self.col, self.on_line = [], 0, 0

    def _start_line(self, indent: int) -> None:
        self.indent = indent
        self.line, self.col, self.on_line = [" " * indent], indent, 0

    def _verbatim(self, text: str) -> None:
        *done, last = text.split("\n")
        if done:
            self.out.append("".join(self.line) + "\n".join(done) + "\n")
            self.lines += len(done)
            self.line, self.col, self.on_line = [], 0, 0
            self.indent = len(last) - len(last.lstrip(" \t\f"))
        self._put(last)

    def _token(self, i: int, tok: Tok) -> None:
        col = self.col
        self.col_of.append(col)
        self.indent_of.append(self.indent)
        if tok.type == "_ARROW" and tok.chain >= 0:
            self.arrows.append(Arrow(i, self.lines, col, self.col_of[tok.chain], tok.chain,
                                     self.on_line == 0))
        self._put(tok.value)
        self.on_line += 1
        if tok.type in OPENERS:
            self.stack.append(_Bracket(col, self.indent, hanging=bool(self.gaps[i + 1].pieces)))
        elif tok.type in CLOSERS and self.stack:
            self.stack.pop()

    # ---- the gap before token i (i == len(toks): after the last token)
    def _gap(self, i: int) -> None:
        gap = self.gaps[i]
        prev = self.toks[i - 1] if i else None
        tok = self.toks[i] if i < len(self.toks) else None
        if kept_between(prev, tok):
            return self._verbatim(gap.text)
        pieces = list(gap.pieces)
        if i in self.breaks and not gap.newlines:
            pieces.append(("nl", 1))
        if not pieces:
            if prev is not None and tok is not None:
                self._put(space(prev, tok))
            return
        pending = 0  # newlines read and not yet written
        for n, piece in enumerate(pieces):
            if piece[0] == "nl":
                pending += piece[1]
            elif piece[0] == "bs":
                self._put(" \\")
                pending += 1
            elif n == 0 and prev is not None:  # a trailing comment
                self._put("  " + piece[1])
            else:
                self._break(pending)
                self._start_line(self._comment_indent(i, tok, piece[2]))
                self._put(piece[1])
                pending = 0
        if tok is not None:
            self._break(max(pending, 1))
            self._start_line(self._indent(i))

    def _break(self, count: int) -> None:
        if self.out or self.line:  # no blank lines before the first line
            self._newlines(count)

    # ---- indentation
    def _indent(self, i: int) -> int:
        tok = self.toks[i]
        prev = self.toks[i - 1] if i else None
        arrow = tok if tok.type == "_ARROW" else prev if prev is not None and prev.type == "_ARROW" else None
        if self.stack and tok.type in CLOSERS:
            return self.stack[-1].line_indent
        if arrow is not None and arrow.chain >= 0:
            return self.col_of[arrow.chain]
        if self.stack:
            return self._inside(self.stack[-1])
        if tok.role == "item":
            return 0
        if tok.role == "stmt" or tok.stmt >= i:
            return INDENT
        if 0 <= tok.hang < i:  # a let's value goes on: line up with its start
            return self.col_of[tok.hang]
        return self.indent_of[tok.stmt] + INDENT

    @staticmethod
    def _inside(top: _Bracket) -> int:
        return top.line_indent + INDENT if top.hanging else top.col + 1

    def _comment_indent(self, i: int, tok: Tok | None, indented: bool) -> int:
        if tok is None:  # after the last token: at the margin, or in the body it follows
            return INDENT if indented else 0
        if self.stack and tok.type in CLOSERS:
            return self._inside(self.stack[-1])
        return self._indent(i)


def move_arrows(toks: list[Tok], gaps: list[Gap]) -> None:
    """`a ->\n    b` becomes `a\n    -> b`: the newline goes before the arrow (a newline on
    either side of `->` continues the chain, so the parse is the same)."""
    for i, tok in enumerate(toks[:-1]):
        after, before = gaps[i + 1], gaps[i]
        if tok.type == "_ARROW" and tok.known and after.newlines and after.plain and before.plain:
            if not before.newlines:
                gaps[i] = after
            gaps[i + 1] = Gap(" ")


def layout(toks: list[Tok], gaps: list[Gap], line_length: int) -> str:
    """The canonical text. Long lines are broken before arrows, pass after pass: a break can
    move the brackets that later lines line up with."""
    move_arrows(toks, gaps)
    breaks: set[int] = set()
    for _ in range(len(toks) + 1):
        emitter = Emitter(toks, gaps, breaks)
        text = emitter.run()
        more = long_line_breaks(emitter, text.split("\n"), line_length, toks)
        if not more:
            return text
        breaks |= more
    return text


def long_line_breaks(emitter: Emitter, lines: list[str], line_length: int, toks: list[Tok]) -> set[int]:
    by_line: dict[int, list[Arrow]] = {}
    for arrow in emitter.arrows:
        if not arrow.first_on_line and toks[arrow.index].known:
            by_line.setdefault(arrow.line, []).append(arrow)
    found: set[int] = set()
    for n, arrows in by_line.items():
        if len(lines[n]) > line_length:
            found |= _split(arrows, len(lines[n]), line_length)
    return found


def _split(arrows: list[Arrow], length: int, line_length: int) -> set[int]:
    """Greedy: each piece of the line as long as fits. After a break at arrow `a`, the rest of
    the line moves by a shift (to the column of a's chain); `starts` and `shifts` remember them."""
    starts, shifts = [-1], [0]
    found: set[int] = set()
    i = 0
    while i < len(arrows) and length + shifts[-1] > line_length:
        d, choice = shifts[-1], None
        for j in range(i, len(arrows)):
            a = arrows[j]
            if a.chain_col + shifts[bisect.bisect_right(starts, a.chain) - 1] >= a.col + d:
                continue  # a break here would not move the rest left
            if choice is not None and a.col + d - 1 > line_length:
                break
            choice = j
            if a.col + d - 1 > line_length:
                break
        if choice is None:
            break
        a = arrows[choice]
        found.add(a.index)
        starts.append(a.index)
        shifts.append(a.chain_col + shifts[bisect.bisect_right(starts, a.chain) - 1] - a.col)
        i = choice + 1
    return found
