"""Spanned errors, their stable codes, and the compiler-style formatter.

Raising and formatting are separate: an `ArchError` carries a code, a message
and a `Span`; `format_error` gets the source text from the `SourceMap` and
draws the line with a caret, like a good compiler.

>>> from archlang.errors import Span, SourceMap, ArchError, format_error
>>> sources = SourceMap({"net.arch": "input(3, 32, 32) -> cnov(16)"})
>>> err = ArchError("E201", "unknown layer `cnov`", Span("net.arch", 1, 21, 1, 25),
...                 hint="did you mean `conv`?")
>>> print(format_error(err, sources))
net.arch:1:21: error[E201]: unknown layer `cnov`
    1 | input(3, 32, 32) -> cnov(16)
      |                     ^^^^
hint: did you mean `conv`?
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

# Every error the language can raise, with a one-line title. Codes are stable:
# docs/errors.md lists them with an example and the fix, and the error
# fixtures in tests/errors/ cover each one.
CODES: dict[str, str] = {
    # 1xx: reading and parsing text
    "E101": "syntax error: unexpected token",
    "E102": "syntax error: unexpected character",
    "E103": "syntax error: unexpected end of file",
    "E104": "nesting too deep",
    "E105": "`as` without a repeat",
    "E106": "file is not valid UTF-8 text",
    "E107": "file is empty",
    "E108": "number out of range",
    # 2xx: names
    "E201": "unknown layer or block",
    "E202": "unknown name",
    "E203": "duplicate definition",
    "E204": "unknown network parameter",
    "E205": "no network in file",
    "E206": "unknown network",
    "E207": "duplicate label",
    # 3xx: arguments and values
    "E301": "invalid argument value",
    "E302": "unknown argument",
    "E303": "too many arguments",
    "E304": "missing argument",
    "E305": "argument given twice",
    "E306": "wrong type in expression",
    "E307": "index out of range or missing key",
    "E308": "division by zero",
    "E309": "invalid --set or --input value",
    "E310": "not a layer",
    "E311": "not a value",
    # 4xx: shapes
    "E401": "branches disagree on shape",
    "E402": "layer does not fit its input shape",
    "E403": "spatial size reaches zero",
    "E404": "no input layer",
    "E405": "input layer in the wrong place",
    # 5xx: files and imports
    "E501": "file not found",
    "E502": "file cannot be read",
    "E503": "import cycle",
    "E504": "import of a file that is not .arch",
    # 6xx: limits
    "E601": "repeat count too large",
    "E602": "too many layers",
    "E603": "recursive block",
    "E604": "block calls nested too deep",
    "E605": "value too large",
    # 7xx: backends
    "E701": "model too large",
    "E702": "weights do not match",
}


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns count from 1, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Frame:
    """One step of the block-call chain that led to an error."""

    what: str
    span: Span
    block: str | None = None


@dataclass
class ArchError(Exception):
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    detail: str | None = None
    trace: list[Frame] = field(default_factory=list)
    sources: "SourceMap | None" = None

    def __post_init__(self) -> None:
        assert self.code in CODES, self.code
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.format()

    def format(self) -> str:
        return format_error(self, self.sources or SourceMap())


class SourceMap(dict):
    """File name -> source text, so that errors can quote any file they name."""

    def lines(self, file: str) -> list[str]:
        text = self.get(file)
        if text is None:
            try:
                text = Path(file).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return []
        return text.splitlines()


def did_you_mean(name: str, candidates, what: str = "") -> str | None:
    close = difflib.get_close_matches(name.lower(), sorted(set(candidates)), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
    if what:
        return f"{what}: " + ", ".join(sorted(set(candidates)))
    return None


def _snippet(span: Span, sources: SourceMap) -> list[str]:
    lines = sources.lines(span.file)
    if not 1 <= span.line <= len(lines):
        return []
    text = lines[span.line - 1].replace("\t", " ")
    end = span.end_column if span.end_line == span.line else len(text) + 1
    width = max(1, min(end, len(text) + 1) - span.column)
    gutter = " " * len(str(span.line))
    return [
        f"    {span.line} | {text}",
        f"    {gutter} | {' ' * (span.column - 1)}{'^' * width}",
    ]


def _frames(frames: list[Frame], sources: SourceMap) -> list[str]:
    out = []
    for frame in frames:
        out.append(f"  {frame.span}: {frame.what}")
        out += ["  " + line for line in _snippet(frame.span, sources)]
    return out


def format_error(err: ArchError, sources: SourceMap) -> str:
    where = f"{err.span}: " if err.span else ""
    out = [f"{where}error[{err.code}]: {err.message}"]
    if err.detail:
        out += ["    " + line for line in err.detail.splitlines()]
    if err.span:
        out += _snippet(err.span, sources)
    if err.trace:
        out.append("note: reached through these block calls (innermost last):")
        frames = err.trace
        if len(frames) > 8:  # like a traceback of deep recursion: the ends tell the story
            out += _frames(frames[:3], sources)
            out.append(f"  ... {len(frames) - 6} more block calls ...")
            frames = frames[-3:]
        out += _frames(frames, sources)
    if err.hint:
        out.append(f"hint: {err.hint}")
    return "\n".join(out)
