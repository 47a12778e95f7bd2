"""Syntax errors in words: Lark's exceptions become ArchErrors with a span, what was expected
as a user would say it, and a hint (a missing `->`, a keyword used as a name)."""

from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from archlang.errors import ArchError, Span

KEYWORDS = ("import", "block", "network", "let", "if", "else", "for", "in", "as", "and", "or", "not", "true",
            "false")
_LABEL_KEYWORDS = {"BLOCK", "NETWORK", "LET"}  # keywords that may be labels (grammars/arch.lark: `label`)


def tok_span(tok: Token, file: str) -> Span:
    end_line = tok.end_line or tok.line
    end_col = tok.end_column or tok.column + len(str(tok))
    return Span(file, tok.line, tok.column, end_line, end_col)


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
    if "NAME" in names:  # where a label may start, `block:` is one: "a name" says it
        names -= _LABEL_KEYWORDS
    words = {_READABLE.get(n, f"`{n.lower()}`") for n in names}
    return ", ".join(sorted(words, key=lambda w: (w.startswith("`"), w))[:8])


def _keyword_misuse(tok: Token, expected: set, file: str, prev: Token | None) -> ArchError | None:
    """`let block = 1`, `network N(in = 3)`, `conv(block = 2)`: a keyword where a name must go.
    `prev` is the token before `tok`."""
    word = None
    if str(tok).lower() in KEYWORDS and "NAME" in expected:
        word = tok
    else:
        if prev is not None and prev.type in _LABEL_KEYWORDS and expected == {"COLON"}:
            word = prev  # `block` read as a label, and no `:` came
    if word is None:
        return None
    return ArchError("E109", f"`{word}` is a keyword, not a name", tok_span(word, file),
                     hint=f"rename it, e.g. `{str(word).lower()}_` (as labels, `block:`, `network:` and `let:` "
                          "are fine)")


def syntax_error(exc: UnexpectedInput, text: str, file: str, prev: Token | None = None) -> ArchError:
    """Lark's exception as an ArchError with a span and a hint; `prev` is the token before the bad one."""
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
    span = tok_span(tok, file)
    expected = exc.expected if isinstance(exc, UnexpectedToken) else set()
    keyword = _keyword_misuse(tok, expected, file, prev)
    if keyword is not None:
        return keyword
    hint = f"expected {_expected(expected)}" if expected else None
    if tok.type == "NAME" and ("_ARROW" in expected or expected <= _STATEMENT_STARTS):
        hint = "to chain layers, put `->` between them (at the end of a line or the start of the next)"
    if tok.type == "_NL":
        span = Span(file, tok.line, tok.column, tok.line, tok.column + 1)
    return ArchError("E101", f"unexpected {_describe(tok)}", span, hint=hint)
