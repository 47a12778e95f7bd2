"""archlang's spans and errors as LSP types.

Spans count lines and columns from 1 in characters, the end exclusive; LSP counts from 0 and
measures columns in UTF-16 code units (a character outside the BMP is two).

>>> from archlang.errors import Span
>>> r = to_range(Span("a.arch", 2, 5, 2, 9), ["", "    conv(8)"])
>>> (r.start.line, r.start.character, r.end.character)
(1, 4, 8)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types

from archlang.errors import ArchError, Span


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


def path_to_uri(path: str | Path) -> str:
    return Path(path).resolve().as_uri()


def _utf16(line: str, column: int) -> int:
    """The UTF-16 offset of a 1-based character column."""
    head = line[:max(column - 1, 0)]
    return len(head) + sum(1 for ch in head if ord(ch) > 0xFFFF) + max(column - 1 - len(line), 0)


def to_column(line: str, character: int) -> int:
    """The 1-based character column of an LSP (UTF-16) offset in `line`."""
    units = 0
    for i, ch in enumerate(line):
        if units >= character:
            return i + 1
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line) + 1 + max(character - units, 0)


def to_position(line: int, column: int, lines: list[str]) -> types.Position:
    text = lines[line - 1] if 1 <= line <= len(lines) else ""
    return types.Position(line=max(line - 1, 0), character=_utf16(text, column))


def to_range(span: Span, lines: list[str]) -> types.Range:
    return types.Range(start=to_position(span.line, span.column, lines),
                       end=to_position(span.end_line, span.end_column, lines))


def contains(span: Span, line: int, column: int) -> bool:
    """Whether the 1-based (line, column) is inside the span, its end included (a cursor just
    after a name is on it)."""
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


def diagnostic(err: ArchError, span: Span, lines: list[str], where: str = "",
               related: list[types.DiagnosticRelatedInformation] | None = None) -> types.Diagnostic:
    """One error as a diagnostic at `span`; `where` prefixes the message when the error itself
    lies in another file."""
    message = where + err.message
    if err.detail:
        message += "\n" + err.detail
    if err.hint:
        message += f"\nhint: {err.hint}"
    return types.Diagnostic(range=to_range(span, lines), message=message, severity=types.DiagnosticSeverity.Error,
                            code=err.code, source="archlang", related_information=related or None)
