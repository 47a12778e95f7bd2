"""One update of the page: spec text and settings in; errors, controls, the
folded table, totals, the picture and the changes since the last valid
version out. Runs in the worker process (`archlang.serve.worker`).

A spec is loaded exactly as `archlang.load` loads it, from the document's
folder so that imports resolve as on the command line. Settings that name no
parameter any more (the text changed under them) and a network that is gone
are dropped, not reported: the page offers what the text now has.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import archlang
from archlang.backends.diagram.options import ViewOptions, check_paths
from archlang.errors import ArchError, SourceMap, Span
from archlang.ir.build import pick_network
from archlang.ir.loader import load_program
from archlang.serve.controls import controls
from archlang.serve.digest import diff, digest
from archlang.serve.protocol import Update, error_body
from archlang.serve.table import table_rows

BUFFER = "<string>"  # the name `archlang.load` gives spec text; errors there are in the page's editor
DOT_TIMEOUT = 4.0  # seconds of layout before the diagram backend's cheaper layout takes over


class Session:
    """What the worker keeps between updates: the last network (a click on the diagram reuses it),
    the last picture per DOT source, and the long-running `dot`."""

    def __init__(self, dot):
        self.dot = dot
        self.key: tuple | None = None
        self.net = None
        self.stamps: dict = {}
        self.svgs: dict[str, str] = {}

    def load(self, req: Update, name: str, base: str, max_layers: int):
        key = (req.text, name, base, req.network, tuple(sorted(req.settings.items())), req.input, max_layers)
        if key != self.key or self.stamps != _stamps(self.net, base):  # an imported file may have changed
            self.key, self.net = None, None  # a failed load keeps nothing
            self.net = load_spec(req, name, base, max_layers)
            self.key, self.stamps = key, _stamps(self.net, base)
        return self.net

    def draw(self, diagram):
        """Start laying out the picture; the returned function waits for its SVG. `dot` runs in its own
        process, so the table is built meanwhile, on the other core."""
        source = diagram.dot
        if source in self.svgs:
            return lambda: self.svgs[source]
        sent = self.dot.send(source)

        def finish() -> str:
            svg = (sent and self.dot.receive(DOT_TIMEOUT)) or diagram.svg()
            self.svgs = {source: svg}  # the latest only: an edit rarely returns to an older picture
            return svg
        return finish


def _stamps(net, base: str) -> dict:
    """The imported files' modification times and sizes."""
    out = {}
    for file in net.sources if net is not None else ():
        if file != BUFFER:
            try:
                st = os.stat(os.path.join(base, file))
                out[file] = (st.st_mtime_ns, st.st_size)
            except OSError:
                out[file] = None
    return out


@contextlib.contextmanager
def in_folder(base: str):
    """Spec text's imports resolve from the current folder, as `archlang.load` reads them: be in `base`."""
    old = os.getcwd()
    os.chdir(base)
    try:
        yield
    finally:
        os.chdir(old)


def load_spec(req: Update, name: str, base: str, max_layers: int):
    """`archlang.load` of the page's text from `base`, dropping settings and a network the text no longer has;
    the network is named after the document (summaries, pictures and sources say where it came from)."""
    with in_folder(base):
        return _load(req, name, max_layers)


def _load(req: Update, name: str, max_layers: int):
    text = req.text if req.text.endswith("\n") else req.text + "\n"  # never mistaken for a file name
    settings, network = dict(req.settings), req.network
    while True:
        try:
            net = archlang.load(text, network=network, input_shape=req.input or None, max_layers=max_layers,
                                overrides=settings)
            net.file = name
            return net
        except ArchError as e:
            if e.span is not None or e.code not in ("E204", "E206"):
                raise
            program = load_program(text, BUFFER)
            chosen = network if network in program.networks else None
            _, net_def, _ = pick_network(program, chosen)
            known = {p.name for p in net_def.params} | program.switches
            kept = {k: v for k, v in settings.items() if k in known}
            if kept == settings and chosen == network:  # nothing stale: the error stands
                raise
            settings, network = kept, chosen


def update(session: Session, req: Update, name: str, base: str, max_layers: int) -> dict:
    clock = Clock()
    try:
        net = session.load(req, name, base, max_layers)
    except ArchError as e:
        clock.lap("check")
        return {"ok": False, "error": error_json(e, req.text, name), "controls": _controls_of_text(req, base),
                "timings": clock.laps}
    clock.lap("check")
    diagram, picture = _diagram(net, req)
    clock.lap("view")
    svg = session.draw(diagram)
    rows = table_rows(net)
    clock.lap("table")
    picture["svg"] = svg()
    clock.lap("layout")
    now = digest(net, rows)
    result = {"ok": True, "controls": controls(net.program, net.name, net.settings, net.switches),
              "totals": totals(net), "rows": rows, "diagram": picture, "digest": now,
              "diff": diff(req.baseline.model_dump() if req.baseline else None, now)}
    clock.lap("rest")
    result["timings"] = clock.laps
    return result


def _controls_of_text(req: Update, base: str) -> dict | None:
    """The controls of a text that does not load: its networks and defaults, when it parses."""
    try:
        with in_folder(base):
            program = load_program(req.text + "\n", BUFFER)
        network = req.network if req.network in program.networks else None
        return controls(program, network, {}, {})
    except ArchError:
        return None


def totals(net) -> dict:
    return {"network": net.name, "params": net.params, "trainable": net.trainable_params, "buffers": net.buffers,
            "macs": net.macs, "input": list(net.input_shape), "output": list(net.output_shape),
            "rf": list(net.receptive_field), "activation_bytes": net.activation_bytes, "layers": len(net.layers)}


def _diagram(net, req: Update):
    """The picture asked for (without the expansions an edit removed), and what the page needs to know of it."""
    expand = [p for p in req.expand if _known_path(net, p)]
    collapse = [p for p in req.collapse if _known_path(net, p)]
    diagram = net.render(view=req.view, expand=expand, collapse=collapse, timeout=DOT_TIMEOUT)
    view = diagram.view
    return diagram, {"view": req.view, "expand": expand, "collapse": collapse,
                     "expandable": [b.path for b in view.boxes if b.expandable],
                     "clusters": [c.path for c in view.clusters], "notes": diagram.notes}


def _known_path(net, path: str) -> bool:
    """Whether the diagram can open `path` (an expansion may outlive the element an edit removed)."""
    try:
        check_paths(net, ViewOptions.make(expand=[path]))
        return True
    except ArchError:
        return False


class Clock:
    """Milliseconds per stage, and in all: wall time, and the worker's own CPU time (`cpu`), which a
    machine busy with other work does not stretch."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.cpu = time.process_time()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self.last) * 1000, 2)
        self.laps["total"] = round((now - self.start) * 1000, 2)
        self.laps["cpu"] = round((time.process_time() - self.cpu) * 1000, 2)
        self.last = now


# ---- errors, placed in the editor's text


def error_json(err: ArchError, text: str, name: str) -> dict:
    """The error for the page, named after its document, with where to underline it in the editor."""
    body = error_body(_renamed(err, name))
    body["mark"], body["mark_at"] = _mark(err, text)
    return body


def _mark(err: ArchError, text: str) -> tuple[dict | None, str | None]:
    """Where the editor underlines an error: its span when it is in the editor's text, else the innermost
    block call from that text that led to it, else the import of the file it is in."""
    if err.span and err.span.file == BUFFER:
        return _range(text, err.span), "error"
    call = next((f.span for f in reversed(err.trace) if f.span.file == BUFFER), None)
    if call:
        return _range(text, call), "call"
    if err.span:
        wanted = os.path.basename(err.span.file)
        for number, line in enumerate(text.split("\n"), 1):
            if line.lstrip().startswith("import") and wanted in line:
                return _range(text, Span(BUFFER, number, 1, number, len(line) + 1)), "import"
    return None, None


def _renamed(err: ArchError, name: str) -> ArchError:
    """The error with the editor's text named as the document, for the compiler-style message."""
    def fix(span):
        return dataclasses.replace(span, file=name) if span is not None and span.file == BUFFER else span
    sources = SourceMap({(name if k == BUFFER else k): v for k, v in (err.sources or {}).items()})
    return dataclasses.replace(err, span=fix(err.span), sources=sources,
                               trace=[dataclasses.replace(f, span=fix(f.span)) for f in err.trace])


def _range(text: str, span) -> dict:
    """A span as the editor counts: UTF-16 offsets from the start of the text (lines and columns from 1)."""
    lines = text.split("\n")
    start = _offset(lines, span.line, span.column)
    end = _offset(lines, span.end_line, span.end_column) if span.end_line else start
    if end <= start:
        end = start + 1
    return {"from": start, "to": end, "line": span.line, "column": span.column}


def _offset(lines: list[str], line: int, column: int) -> int:
    line = min(max(line, 1), len(lines))
    before = sum(_units(s) + 1 for s in lines[:line - 1])
    return before + _units(lines[line - 1][:max(column - 1, 0)])


def _units(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-16-le")) // 2
