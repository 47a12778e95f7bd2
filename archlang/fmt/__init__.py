"""`archlang fmt`: one canonical layout for specs, like black or gofmt.

The formatter reads the grammar's concrete parse tree and the comments the lexer collected,
and only decides the whitespace between tokens (archlang/fmt/layout.py says how). It is
idempotent, keeps every comment, and refuses (E920) rather than write a text whose tokens
differ from the input's.

>>> from archlang.fmt import format_text
>>> print(format_text("network N :\\n  input( 1,8,8 )->conv(4,pad=1)  ->\\n relu # act\\n"), end="")
network N:
    input(1, 8, 8) -> conv(4, pad = 1)
    -> relu  # act
"""

from __future__ import annotations

from archlang.errors import ArchError, Span
from archlang.fmt.layout import layout
from archlang.fmt.tokens import scan
from archlang.ir.loader import normalize_newlines

LINE_LENGTH = 120

__all__ = ["LINE_LENGTH", "format_text", "token_stream"]


def format_text(text: str, file: str = "<string>", line_length: int = LINE_LENGTH) -> str:
    """The canonical form of a spec; raises ArchError on a syntax error. Keeps a byte-order
    mark and CRLF line endings if the text has them."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    crlf = "\r\n" in text
    plain = normalize_newlines(text.removeprefix("\ufeff").replace("\r\n", "\n"))
    toks, gaps = scan(plain, file)
    before = stream_of(toks, gaps)
    out = layout(toks, gaps, line_length)
    if token_stream(out, file) != before:
        raise ArchError("E920", "formatting would change the tokens of the spec; it was left as it was",
                        Span(file, 1, 1, 1, 1), hint="please report this spec: it is a bug in the formatter")
    return bom + (out.replace("\n", "\r\n") if crlf else out)


def token_stream(text: str, file: str = "<string>") -> list[tuple[str, str]]:
    """Every token and comment of a spec, in order: what formatting must keep."""
    return stream_of(*scan(text, file))


def stream_of(toks, gaps) -> list[tuple[str, str]]:
    stream = []
    for gap, tok in zip(gaps, [*toks, None]):
        stream += [("COMMENT", piece[1]) for piece in gap.pieces if piece[0] == "comment"]
        if tok is not None:
            stream.append((tok.type, tok.value))
    return stream
