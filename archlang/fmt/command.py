"""`archlang fmt [FILES...] [--check] [--diff]`: format specs in place, or check them for CI.

Folders are searched for `*.arch` files; no FILES (or `-`) formats standard input to standard
output. Exit codes: 0 done (or, with --check, every file already formatted), 1 a file would
be reformatted (--check) or could not be read or parsed.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from archlang.errors import ArchError, SourceMap
from archlang.fmt import format_text
from archlang.ir.loader import read_source


def spec_files(names: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = Path(name)
        found += sorted(path.rglob("*.arch")) if path.is_dir() else [path]
    return found


def read_text(path: Path) -> str:
    """The file as it is (byte-order mark and line endings kept); errors as `read_source` gives them."""
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        read_source(path)  # raises the spanned error: not found, unreadable, not UTF-8
        raise


def run_fmt(args) -> int:
    if not args.files or args.files == ["-"]:
        return _stdin(args)
    changed = failed = 0
    paths = spec_files(args.files)
    for path in paths:
        try:
            old = read_text(path)
            new = format_text(old, str(path))
        except ArchError as e:
            failed += 1
            print(e.format(), file=sys.stderr)
            continue
        if new == old:
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(_diff(old, new, str(path)))
        if args.check or args.diff:
            print(f"would reformat {path}", file=sys.stderr)
        else:
            try:
                path.write_bytes(new.encode("utf-8"))
            except OSError as e:  # a read-only file or folder, a full disk: say so, go on with the others
                failed += 1
                changed -= 1
                print(ArchError("E704", f"cannot write {path}: {e.strerror or e}", None,
                                hint="check the file's permissions and the free space").format(), file=sys.stderr)
                continue
            print(f"reformatted {path}", file=sys.stderr)
    verb = "would be reformatted" if args.check or args.diff else "reformatted"
    print(f"{_files(changed)} {verb}, {_files(len(paths) - changed - failed)} left unchanged"
          + (f", {_files(failed)} failed" if failed else ""), file=sys.stderr)
    return 1 if failed or (args.check and changed) else 0


def _stdin(args) -> int:
    old = sys.stdin.read()
    try:
        new = format_text(old, "<stdin>")
    except ArchError as e:
        e.sources = SourceMap({"<stdin>": old})
        raise
    if args.diff:
        sys.stdout.writelines(_diff(old, new, "<stdin>"))
    elif not args.check:
        sys.stdout.write(new)
    return 1 if args.check and new != old else 0


def _diff(old: str, new: str, name: str):
    return difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                f"{name} (original)", f"{name} (formatted)")


def _files(n: int) -> str:
    return f"{n} file{'s' * (n != 1)}"
