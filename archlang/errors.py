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
CODES: dict[str, tuple[str, str]] = {
    # 1xx: reading and parsing text
    "E101": ("syntax error: unexpected token", "Look just before the caret: a missing `->`, `,` or bracket is "
             "the usual cause. Chains need `->` between layers, also across lines."),
    "E102": ("syntax error: unexpected character", "Remove the character; names are letters, digits and `_`, "
             "comments start with `#`."),
    "E103": ("syntax error: unexpected end of file", "Close the open bracket or finish the chain."),
    "E104": ("nesting too deep", "Brackets nest at most 48 deep: bind inner parts with `let` or a `block`."),
    "E105": ("`as` without a repeat", "`as i` names the index of a repeat: write `[...] * n as i`."),
    "E106": ("file is not valid UTF-8 text", "Save the file as UTF-8."),
    "E107": ("file is empty", "A spec needs at least `network Name:` and a chain starting with `input(...)`."),
    "E108": ("number out of range", "Numbers in a spec are at most 10^15 and finite."),
    "E109": ("keyword used as a name", "Rename it (`block_`, `in_c`); the keywords are listed in docs/language.md. "
             "`block`, `network` and `let` may be labels (`block: conv(64)`)."),
    "E110": ("control character in a string", "Strings hold printable text: remove NUL, escape, tab and other "
             "control characters, bidirectional overrides and line separators."),
    # 2xx: names
    "E201": ("unknown layer or block", "Check the spelling (the hint suggests the closest names) or define "
             "the block / import the file that defines it."),
    "E202": ("unknown name", "Define it with `let`, make it a parameter, or check the spelling."),
    "E203": ("duplicate definition", "Rename one of the two blocks or networks (imported files share one "
             "namespace)."),
    "E204": ("unknown network parameter", "`--set` and `load(...)` take the network's parameters and switches; "
             "the hint lists them."),
    "E205": ("no network in file", "Add `network Name:`; a file of blocks only is a library to import."),
    "E206": ("unknown network", "Pick one of the networks the hint lists (`--network NAME`)."),
    "E207": ("duplicate label", "Labels name modules: give each labelled element of a scope its own label."),
    "E208": ("duplicate parameter", "A network, block or function declares each parameter once: rename or "
             "remove the second."),
    "E209": ("two modules with one name", "A numbered label (`stage` in a repeat gives `stage1`, `stage2`) met "
             "another label of that name: rename one of the labels."),
    # 3xx: arguments and values
    "E301": ("invalid argument value", "The message names the argument and the rule; the hint lists the "
             "accepted forms."),
    "E302": ("unknown argument", "Use one of the layer's or block's argument names (see docs/language.md)."),
    "E303": ("too many arguments", "Remove the extra positional arguments, or name them."),
    "E304": ("missing argument", "Give the required argument; the hint shows the signature."),
    "E305": ("argument given twice", "Give each argument once, positionally or by name."),
    "E306": ("wrong type in expression", "Convert or compare: conditions must be booleans, counts integers, "
             "indexes integers."),
    "E307": ("index out of range or missing key", "Use an index within the list, or a key of the dict."),
    "E308": ("division by zero", "Check the divisor (often a parameter set to 0)."),
    "E309": ("invalid --set or --input value", "Give a value of the parameter's type, like the default; "
             "--input is CxHxW."),
    "E310": ("not a layer", "A chain holds layers, blocks and groups; values go in arguments."),
    "E311": ("not a value", "A layer or chain was given where a number, string or list is needed."),
    "E312": ("outside a function's domain", "`log` and `sqrt` need positive (`sqrt`: non-negative) numbers, "
             "`log`'s base is positive and not 1, `range`'s step is not 0."),
    "E313": ("`in` inside a function", "A function sees only its arguments: pass the shape as one, "
             "`f(in.c)`."),
    # 4xx: shapes
    "E401": ("branches disagree on shape", "Make the branches end in the same shape (add), the same height "
             "and width (concat), or broadcastable shapes (mul): project the skip with a 1x1 conv."),
    "E402": ("layer does not fit its input shape", "The message shows the input shape: flatten before `fc`, "
             "keep feature-map layers before `flatten`, make groups divide the channels."),
    "E403": ("spatial size reaches zero", "The map became smaller than a kernel: pad, use smaller kernels or "
             "strides, pool less, or use a larger `--input`."),
    "E404": ("no input layer", "Start the network's chain with `input(C, H, W)`."),
    "E405": ("input layer in the wrong place", "A network has one `input`, its first element."),
    "E406": ("reshape changes the number of values", "The sizes of `reshape` must multiply to its input's "
             "element count (C·H·W of a map); write -1 for the one size to infer."),
    "E407": ("crop larger than its input", "`crop` keeps the centre of its input: crop to at most the input's "
             "height and width (U-Net crops the skip to the size of the upsampled map)."),
    # 5xx: files and imports
    "E501": ("file not found", "Check the path; imports are relative to the importing file."),
    "E502": ("file cannot be read", "Check that it is a readable file, not a directory."),
    "E503": ("import cycle", "Move what both files need into a third file that both import."),
    "E504": ("import of a file that is not .arch", "Only `.arch` files can be imported."),
    "E505": ("file too large", "A spec file is at most 1 MiB, and with its imports at most 4 MiB and 100,000 "
             "tokens: bind repeated parts with `[...] * n`, blocks and functions."),
    "E506": ("imports nested too deep", "Imports nest at most 32 files deep and a program reads at most 256 "
             "files: import the shared files once, from the top."),
    # 6xx: limits
    "E601": ("repeat count too large", "Lower the count, or raise `--max-layers` if it is really meant."),
    "E602": ("too many layers", "Raise `--max-layers` (`max_layers=` in Python) if it is really meant."),
    "E603": ("recursion that does not end", "A block or function that calls itself needs a condition that "
             "stops it (`level(d - 1) ? d > 0`, `x if n == 0 else f(n - 1)`); aliases cannot name each other."),
    "E604": ("calls nested too deep", "Block calls nest at most 64 deep and function calls 256 deep: flatten the "
             "hierarchy."),
    "E605": ("value too large", "Values stay below 10^15; check exponents and repeats of lists."),
    "E606": ("too much elaboration work", "The spec evaluates too many expressions, elements and calls (a block "
             "or function calling another twice doubles the work at every level): build it with repeats, or raise "
             "the limit with `--max-steps` (or `--max-layers`, which raises it too)."),
    # 7xx: backends
    "E701": ("model too large", "Lower the sizes, build on `device=\"meta\"` to inspect, or raise `max_params`."),
    "E702": ("weights do not match", "The two models differ in structure at the named tensor; compare "
             "their summaries."),
    "E703": ("label cannot name a PyTorch module", "The label is a Python keyword or an attribute every "
             "module has (`forward`, `training`, ...): choose another label."),
    "E704": ("output file cannot be written", "Give -o a file name (not a folder) in a place you can write to; "
             "the message gives the system's reason (permission, free space)."),
    "E705": ("export option out of range", "Use a value the exporter supports; the hint gives the range."),
    "E711": ("graphviz `dot` not found", "Install graphviz (`apt-get install graphviz`, `brew install graphviz`); "
             ".dot and .json output need no graphviz."),
    "E712": ("diagram layout failed", "Draw a narrower view (--view overview, --expand PATH), write .svg instead "
             "of a bitmap, or raise ARCHLANG_DOT_TIMEOUT."),
    "E713": ("unknown diagram element or option", "Use the dotted names of `archlang summary` (`layer3`, "
             "`layer3.bottleneck2`), a fold's `first:last`, and a listed view, format or theme."),
    "E714": ("checkpoint cannot be read", "Pass a run directory of `archlang train` (its best.pt is used) or a "
             "checkpoint file it wrote; checkpoints are read with weights_only=True and never run code."),
    "E715": ("checkpoint does not fit the network", "Give the spec the run was trained from, with the same "
             "--set values and --input (the hint names them), or leave both out to use the run's own."),
    # 75x: the Python API and the summary's options (net["layer3"], --depth, --batch)
    "E750": ("no element at that path", "Use a dotted path of `archlang summary` (`layer3`, `layer3.bottleneck1`, "
             "`fc`) or a fold of `summary --depth` (`layer3.bottleneck2:bottleneck6`); the hint gives the closest."),
    "E751": ("summary depth out of range", "`--depth` (`summary(depth=...)`) is a whole number from 1: 1 gives one "
             "row per top-level element, 2 opens them one level."),
    "E752": ("batch size out of range", "`--batch` (`memory(batch=...)`) is a whole number from 1."),
    "E753": ("unknown optimizer or dtype for the memory estimate", "Use one the hint lists: the optimizer decides "
             "how many values of state each parameter has (sgd 1, adam and adamw 2, none 0)."),
    # 9xx: the playground (`archlang serve`)
    "E901": ("the spec took too long to check", "The playground stops a check that runs past its time limit "
             "(`archlang serve --timeout SECONDS`, default 10): lower a repeat count or `--max-layers`, or "
             "draw a narrower view than `expand all`."),
    "E902": ("cannot listen on the address", "Another program uses the port: pick another with `--port`, "
             "or `--port 0` for any free one."),
    "E903": ("cannot serve this file", "Give a `.arch` file (it may not exist yet: saving creates it) in a "
             "folder that exists."),
    "E904": ("the file changed on disk", "Another editor saved the file since the page loaded it: load the "
             "disk version, or overwrite it on purpose."),
    "E905": ("the checker stopped unexpectedly", "The process that checks specs ended (out of memory, or "
             "killed); it is restarted for the next edit. Lower the sizes if it happens again."),
    "E906": ("cannot save the file", "Check that the folder is writable and the disk is not full."),
    "E907": ("request refused", "The page sent something the server does not accept; reload the page "
             "(the server may have been restarted or upgraded)."),
    # 92x: editor tooling (archlang fmt, archlang lsp)
    "E920": ("the formatter would change the spec", "A bug in `archlang fmt`: the file is left as it was. "
             "Please report the spec."),
    "E921": ("analysis over the editor's time budget", "`archlang lsp` checks as you type within a time budget "
             "(10 s unless `archlang.timeBudget` says otherwise); run `archlang check` for a network that needs more."),
}


@dataclass(frozen=True, slots=True)  # one per AST node: slots halve its memory
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
            try:  # (only a regular file of a spec's size: a FIFO or a device would block or never end)
                path = Path(file)
                if not path.is_file() or path.stat().st_size > 1 << 20:
                    return []
                text = path.read_text(encoding="utf-8", errors="replace")
            except (OSError, ValueError):
                return []
        # Lines as the parser counts them: split at "\n" only (str.splitlines also splits at form
        # feeds and U+2028, which the grammar takes for white space or text).
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        return lines[:-1] if lines[-1] == "" else lines  # as splitlines: no line after a final newline


def did_you_mean(name: str, candidates, what: str = "") -> str | None:
    close = difflib.get_close_matches(name.lower(), sorted(set(candidates)), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
    if what and candidates:
        return f"{what}: " + ", ".join(sorted(set(candidates)))
    return None


SNIPPET_WIDTH = 160
# A quoted line is printed to a terminal: control characters (an escape sequence could rewrite the
# screen), bidirectional overrides and line separators are shown as visible stand-ins, one column each.
_VISIBLE = {c: 0x2400 + c for c in range(32)} | {0x7F: 0x2421} | \
    {c: 0xFFFD for c in [*range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def _snippet(span: Span, sources: SourceMap) -> list[str]:
    lines = sources.lines(span.file)
    if not 1 <= span.line <= len(lines):
        return []
    text = lines[span.line - 1].replace("\t", " ").translate(_VISIBLE)
    end = span.end_column if span.end_line == span.line else len(text) + 1
    width = max(1, min(end, len(text) + 1) - span.column)
    column = span.column
    if len(text) > SNIPPET_WIDTH:  # a very long line: show a window around the caret
        start = max(0, min(column - 1 - SNIPPET_WIDTH // 2, len(text) - SNIPPET_WIDTH))
        text = ("…" if start else "") + text[start:start + SNIPPET_WIDTH] + \
            ("…" if start + SNIPPET_WIDTH < len(text) else "")
        column = column - start + (1 if start else 0)
        width = min(width, SNIPPET_WIDTH)
    gutter = " " * len(str(span.line))
    return [
        f"    {span.line} | {text}",
        f"    {gutter} | {' ' * (column - 1)}{'^' * width}",
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
        calls = "block calls" if all(f.block for f in err.trace) else "calls"
        out.append(f"note: reached through these {calls} (innermost last):")
        frames = err.trace
        if len(frames) > 8:  # like a traceback of deep recursion: the ends tell the story
            out += _frames(frames[:3], sources)
            out.append(f"  ... {len(frames) - 6} more {calls} ...")
            frames = frames[-3:]
        out += _frames(frames, sources)
    if err.hint:
        out.append(f"hint: {err.hint}")
    return "\n".join(out)
