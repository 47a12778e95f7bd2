"""Running graphviz's `dot`: a subprocess with a time limit, a cheaper layout
when that limit is hit, and a clear error when `dot` is not installed.

Only svg, png and pdf need `dot`; DOT and JSON output are written without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from archlang.errors import ArchError

DEFAULT_TIMEOUT = 60.0  # seconds for one layout; ARCHLANG_DOT_TIMEOUT overrides it
GRAPHVIZ_FORMATS = {"svg": "svg", "png": "png", "pdf": "pdf"}
INSTALL_HINT = ("install graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS), `conda install graphviz`, or `make setup`; .dot and .json output work without it")


def find_dot() -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise ArchError("E711", "graphviz's `dot` program is not installed (or not on PATH); it is needed "
                                "to draw svg, png and pdf", None, hint=INSTALL_HINT)
    return dot


MAX_TIMEOUT = 86_400.0  # a day: beyond it, a number is a mistake (and overflows the subprocess timer)


def timeout_seconds(timeout: float | None) -> float:
    """The layout time limit: `timeout`, else ARCHLANG_DOT_TIMEOUT, else the default; a number
    of seconds above 0 and at most a day, or E713 naming the bad value."""
    raw = timeout if timeout is not None else os.environ.get("ARCHLANG_DOT_TIMEOUT") or DEFAULT_TIMEOUT
    where = "timeout" if timeout is not None else "ARCHLANG_DOT_TIMEOUT"
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not 0 < seconds <= MAX_TIMEOUT:  # (NaN fails every comparison)
        raise ArchError("E713", f"{where}={str(raw)[:40]!r} is not a number of seconds above 0 and at most "
                                f"{MAX_TIMEOUT:.0f}", None,
                        hint=f"e.g. ARCHLANG_DOT_TIMEOUT=120 (default {DEFAULT_TIMEOUT:.0f})")
    return seconds


def run_dot(source: str, fmt: str, timeout: float, engine_args: tuple[str, ...] = ()) -> bytes:
    """`dot -T<fmt>` on `source`; raises subprocess.TimeoutExpired past `timeout` seconds."""
    dot = find_dot()
    try:
        done = subprocess.run([dot, f"-T{GRAPHVIZ_FORMATS.get(fmt, fmt)}", *engine_args],
                              input=source.encode("utf-8"), capture_output=True, timeout=timeout, check=False)
    except OSError as e:
        raise ArchError("E711", f"graphviz's `dot` could not be run: {e}", None, hint=INSTALL_HINT) from None
    _refuse_shrunk_bitmap(done.stderr.decode("utf-8", "replace"), fmt)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ArchError("E712", f"graphviz's `dot` failed (exit {done.returncode})", None,
                        detail="\n".join(message[-5:]) or None,
                        hint="a DOT file (-o NAME.dot) shows what was passed to it")
    return done.stdout


def _refuse_shrunk_bitmap(stderr: str, fmt: str) -> None:
    """Graphviz shrinks a bitmap past 32767 px to fit; its text would fall below 8 pt, so refuse."""
    match = re.search(r"too large for cairo-renderer bitmaps\. Scaling by ([0-9.]+)", stderr)
    if match:
        raise ArchError("E712", f"this view is too big for a {fmt} image: graphviz would shrink it to "
                                f"{float(match.group(1)):.0%} (bitmaps stop at 32767 px), making its text unreadable",
                        None, hint="write .svg, .pdf or .html for this view, or draw a narrower one "
                                   "(--view overview or blocks, --expand PATH)")


def layout(normal: str, cheap, fmt: str, timeout: float | None = None, notes: list | None = None) -> bytes:
    """Lay out `normal` DOT source; past the time limit, warn and lay out `cheap()` instead."""
    limit = timeout_seconds(timeout)
    try:
        return run_dot(normal, fmt, limit)
    except subprocess.TimeoutExpired:
        pass
    note = (f"graphviz took over {limit:g} s to lay out the diagram; drawing it with a cheaper layout "
            "(flat, straight edges). A narrower view (--view overview, --expand PATH) lays out properly.")
    print(f"archlang: warning: {note}", file=sys.stderr)
    if notes is not None:
        notes.append(note)
    try:
        return run_dot(cheap(), fmt, limit)
    except subprocess.TimeoutExpired:
        raise ArchError("E712", f"graphviz could not lay out the diagram within {limit:g} s, even with a "
                                "cheap layout", None,
                        hint="draw a smaller view (--view overview or blocks), write .dot/.json instead, "
                             "or raise the limit with ARCHLANG_DOT_TIMEOUT=seconds") from None
