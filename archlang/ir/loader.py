"""Files and imports: a spec file and everything it imports become a Program,
one namespace of blocks and networks.

Imports are relative to the importing file, load `.arch` files only, are read
once each, and a cycle is an error that names the chain. Only regular files are
read (a FIFO would block, /dev/zero never end), each checked for its size before
it is read, and imports are bounded in depth, count and bytes.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archlang.errors import ArchError, SourceMap, Span
from archlang.ir.values import BlockRef, Env, FuncRef
from archlang.syntax import ast
from archlang.syntax.parser import MAX_TOKENS, parse

# Checked before a file is read; what parsing costs is bounded by its tokens (parser.MAX_TOKENS).
MAX_FILE_BYTES = 1 << 20  # one spec file; the zoo's largest is 3 KB
MAX_PROGRAM_BYTES = 4 << 20  # a file and everything it imports
MAX_IMPORT_DEPTH = 32  # files importing files
MAX_FILES = 256
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Program:
    file: str
    sources: SourceMap
    globals: Env
    blocks: dict[str, BlockRef] = field(default_factory=dict)
    networks: dict[str, ast.Node] = field(default_factory=dict)  # NetworkDef | NetworkAlias
    own_networks: list[str] = field(default_factory=list)  # defined in the entry file, in order
    switches: set[str] = field(default_factory=set)
    # How imports are read and parsed: an editor reads unsaved buffers and reuses parsed files.
    read: Callable[[Path, Span | None], str] | None = field(default=None, repr=False)  # default: read_source
    parse: Callable[[str, str], ast.Module] | None = field(default=None, repr=False)  # default: parse
    values: dict[str, ast.Node] = field(default_factory=dict)  # the file-level `let`s and functions
    lets: list[ast.Let] = field(default_factory=list)  # file-level values, evaluated by build() in order
    bytes_read: int = 0
    tokens_left: list = field(default_factory=lambda: [MAX_TOKENS])  # for all its files (see parse)


def read_source(path: Path, span: Span | None = None) -> str:
    where = span or Span(str(path), 1, 1, 1, 1)
    data = _read_bytes(path, span)
    shown = _display(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ArchError("E106", f"{shown} is not UTF-8 text (byte 0x{data[e.start]:02x})",
                        Span(str(path), line, col, line, col + 1) if span is None else where,
                        hint="save the file as UTF-8") from None
    return normalize_newlines(text.removeprefix("\ufeff"))


def _read_bytes(path: Path, span: Span | None) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES, checked on the open file (so that it
    cannot be swapped for a FIFO in between), read no further than the limit."""
    shown = _short(_display(path))
    try:
        fd = os.open(path, _OPEN_FLAGS)  # non-blocking: opening a FIFO does not wait for a writer
    except FileNotFoundError:
        raise ArchError("E501", f"file not found: {shown}", span, hint="check the path; imports are relative "
                        "to the importing file" if span else None) from None
    except (OSError, ValueError) as e:  # a name too long, a NUL byte, a loop of symbolic links
        raise ArchError("E502", f"cannot read {shown}: {getattr(e, 'strerror', None) or e}", span) from None
    try:
        mode = os.fstat(fd)
        kind = next((what for test, what in _KINDS if test(mode.st_mode)), None)
        if kind is not None:
            raise ArchError("E502", f"{shown} is {kind}, not a regular file", span,
                            hint="a spec is a regular .arch file")
        if mode.st_size > MAX_FILE_BYTES:
            raise _too_large(shown, mode.st_size, span)
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:  # the file may grow while it is read
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise _too_large(shown, size, span)
        return b"".join(chunks)
    except OSError as e:
        raise ArchError("E502", f"cannot read {shown}: {e.strerror or e}", span) from None
    finally:
        os.close(fd)


def _too_large(shown: str, size: int, span: Span | None) -> ArchError:
    return ArchError("E505", f"{shown} is {size:,} bytes; a spec file is at most {MAX_FILE_BYTES:,}", span,
                     hint="bind repeated parts with `[...] * n`, blocks and functions")


def normalize_newlines(text: str) -> str:
    """Old Mac files end lines with a lone CR; the grammar knows LF and CRLF."""
    return re.sub(r"\r(?!\n)", "\n", text) if "\r" in text else text


def load_program(source: str | Path, file: str | None = None, *, base: Path | None = None,
                 read=None, parse_text=None) -> Program:
    """`source` is a path, or spec text when `file` names it (e.g. "<string>"); the imports of
    spec text are relative to `base` (default: the working directory). `read(path, span)` and
    `parse_text(text, file)` replace how imported files are read and parsed."""
    sources = SourceMap()
    if file is None:
        path = Path(source)
        text = read_source(path)
        file, base = str(path), path.resolve().parent
    else:
        text = normalize_newlines(str(source).removeprefix("\ufeff"))  # a byte-order mark, as from a file
        base = base or Path.cwd()
        if len(text) > MAX_FILE_BYTES:
            raise ArchError("E505", f"the spec text is {len(text):,} characters; a spec is at most "
                            f"{MAX_FILE_BYTES:,}", Span(file, 1, 1, 1, 1))
    program = Program(file, sources, Env({}), read=read, parse=parse_text, bytes_read=len(text))
    try:
        _load_file(program, text, file, base, stack=[], own=True, seen=set())
    except ArchError as e:  # a syntax or import error: the message quotes the text read so far
        e.sources = e.sources or sources
        raise
    return program


def _load_file(program: Program, text: str, file: str, base: Path, stack: list, own: bool, seen: set) -> None:
    program.sources[file] = text
    module = program.parse(text, file) if program.parse else parse(text, file, program.tokens_left)
    for item in module.items:
        if isinstance(item, ast.Import):
            _import(program, item, base, stack + [file], seen)
    for item in module.items:
        if isinstance(item, ast.BlockDef):
            _define(program, item.name, item)
            program.blocks[item.name] = BlockRef(item, program.globals)
            program.globals.vars[item.name] = program.blocks[item.name]
        elif isinstance(item, (ast.NetworkDef, ast.NetworkAlias)):
            _define(program, item.name, item)
            program.networks[item.name] = item
            if own:
                program.own_networks.append(item.name)
        elif isinstance(item, (ast.Let, ast.FuncDef)):
            _define_value(program, item)
        if not isinstance(item, ast.Import):
            program.switches |= set(switch_names(item))


def _define_value(program: Program, item) -> None:
    """A file-level `let`: a function now, a value when a network is built (in file order)."""
    from archlang.layers import lookup

    _define(program, item.name, item)
    if isinstance(item, ast.FuncDef) and lookup(item.name):
        raise ArchError("E203", f"`{item.name}` is a layer; a function needs a name of its own", item.span,
                        hint=f"rename it, e.g. `{item.name}_value`")
    program.values[item.name] = item
    if isinstance(item, ast.FuncDef):
        program.globals.vars[item.name] = FuncRef(item, program.globals)
    else:
        program.lets.append(item)


def _import(program: Program, item: ast.Import, base: Path, stack: list, seen: set) -> None:
    if not item.path.endswith(".arch"):
        raise ArchError("E504", f"can only import .arch files, not `{item.path}`", item.span,
                        hint='write `import "other.arch"`')
    try:
        path = (base / item.path).resolve()
    except RuntimeError:  # Python's word for a loop of symbolic links
        raise ArchError("E502", f"cannot read {_short(item.path)}: a loop of symbolic links", item.span) from None
    except (OSError, ValueError) as e:  # e.g. a NUL byte in the name
        raise ArchError("E502", f"cannot read {_short(item.path)}: {e}", item.span) from None
    name = str(path)
    if name in stack or any(Path(s).resolve() == path for s in stack if not s.startswith("<")):
        chain = " -> ".join(Path(s).name for s in stack + [name])
        raise ArchError("E503", f"import cycle: {chain}", item.span, hint="move the shared blocks into a third file")
    if name in seen:
        return
    if len(stack) > MAX_IMPORT_DEPTH or len(seen) >= MAX_FILES:
        many = f"imports nest more than {MAX_IMPORT_DEPTH} files deep ({Path(stack[0]).name} -> ... -> " \
            f"{Path(name).name})" if len(stack) > MAX_IMPORT_DEPTH else f"the program imports more than {MAX_FILES} files"
        raise ArchError("E506", many, item.span, hint="import shared files once, from the top file")
    seen.add(name)
    text = (program.read or read_source)(path, item.span)
    program.bytes_read += len(text)
    if program.bytes_read > MAX_PROGRAM_BYTES:
        raise ArchError("E505", f"the imports hold more than {MAX_PROGRAM_BYTES:,} bytes of specs in all",
                        item.span, hint=f"a file with all its imports holds at most {MAX_PROGRAM_BYTES:,} bytes")
    rel = _display(path)
    _load_file(program, text, rel, path.parent, stack, own=False, seen=seen)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _short(name: str) -> str:
    """A file name fit for a message: at most 80 characters, control characters escaped."""
    if not name.isprintable():
        name = name.encode("unicode_escape").decode("ascii")
    return name if len(name) <= 80 else name[:60] + "..." + name[-17:]


def _define(program: Program, name: str, item) -> None:
    old = program.blocks.get(name)
    old_span = old.defn.span if old else getattr(program.networks.get(name, program.values.get(name)), "span", None)
    if old_span is not None:
        raise ArchError("E203", f"`{name}` is defined twice", item.span,
                        hint=f"the first definition is at {old_span}; rename one of them")


def switch_names(node) -> list[str]:
    """Names of the `X?` switches in a definition: labels, else the element's name."""
    found: list[str] = []

    def walk(n, label=None):
        if isinstance(n, ast.Labelled):
            return walk(n.item, n.label)
        if isinstance(n, ast.Arg) and n.label:
            return walk(n.value, n.label)
        if isinstance(n, ast.Switch):
            name = label or element_name(n.item)
            if name:
                found.append(name)
        if isinstance(n, ast.Node):
            for value in n.__dict__.values():
                walk_any(value)

    def walk_any(value):
        if isinstance(value, ast.Node):
            walk(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk_any(v)

    walk(node)
    return found


def element_name(node) -> str | None:
    """The name a bare `X?` switch takes: the layer (lower case) or block called."""
    from archlang.layers import lookup

    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id.lower() if lookup(node.id) else node.id
    return None
