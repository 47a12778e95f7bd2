"""A long-running graphviz `dot` for the live page.

Starting `dot` costs more than laying out an overview (it loads its plugins
and fonts: some 20-50 ms of a 40 ms layout here), and the page asks for a
picture on every edit. `dot` reads graph after graph from its input and
writes each SVG as soon as it is laid out, so one process serves them all.
A layout that overruns its time is killed with the process; the next
picture starts a fresh one.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import time

from archlang.backends.diagram.layout import find_dot

END = b"</svg>\n"


class DotProcess:
    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            # stderr is dropped: a full pipe would stall dot; a failure shows as a missing picture,
            # and the caller then draws through the diagram backend, which reports it properly.
            self.proc = subprocess.Popen([find_dot(), "-Tsvg"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, bufsize=0)
        return self.proc

    def send(self, source: str) -> bool:
        """Hand one DOT graph to `dot`; False when it cannot take it (it exited)."""
        try:
            self._start().stdin.write(source.encode("utf-8"))
            return True
        except (BrokenPipeError, OSError):
            self.close()
            return False

    def receive(self, timeout: float) -> str | None:
        """The SVG of the graph sent, or None when dot failed or overran `timeout` seconds."""
        proc, deadline, out = self.proc, time.monotonic() + timeout, bytearray()
        try:
            while not out.endswith(END):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                    self.close()
                    return None
                chunk = os.read(proc.stdout.fileno(), 1 << 16)
                if not chunk:  # dot exited
                    self.close()
                    return None
                out += chunk
        except OSError:
            self.close()
            return None
        return clean_svg(out.decode("utf-8", "replace"))

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def clean_svg(text: str) -> str:
    """The `<svg>` element alone: no XML prolog, doctype or comments (they would repeat graphviz's ids)."""
    start = text.find("<svg")
    return re.sub(r"<!--.*?-->\s*", "", text[start:] if start >= 0 else text, flags=re.S)
