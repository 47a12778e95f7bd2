"""One document analysed: the spec and its imports loaded, the network elaborated and
analysed with the editor's settings, the names indexed. Runs on a worker thread; the
answers to the editor's requests are read from the result.

The work is bounded: by the language's own limits (layers, repeat iterations, list sizes),
and by a time budget that also stops an analysis overtaken by a newer edit.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from archlang.errors import ArchError, Span
from archlang.ir.build import pick_network
from archlang.ir.elaborate import MAX_LAYERS, Limits
from archlang.ir.loader import Program, load_program, normalize_newlines, read_source
from archlang.lsp.facts import LineStat, line_stats
from archlang.lsp.symbols import Index, build_index
from archlang.network import Network, build_network
from archlang.syntax import ast
from archlang.syntax.parser import parse


@dataclass
class Settings:
    """The editor's `archlang` settings: parameters as with `--set`, `network`, `input` (CxHxW),
    `maxLayers` and `timeBudget` (seconds)."""

    overrides: dict = field(default_factory=dict)
    network: str | None = None
    input_shape: str | None = None
    max_layers: int = MAX_LAYERS
    time_budget: float = 10.0

    @classmethod
    def from_client(cls, raw) -> "Settings":
        raw = raw if isinstance(raw, dict) else {}
        out = cls()
        if isinstance(raw.get("settings"), dict):
            out.overrides = {str(k): v for k, v in raw["settings"].items()}
        if isinstance(raw.get("network"), str) and raw["network"]:
            out.network = raw["network"]
        if isinstance(raw.get("input"), str) and raw["input"]:
            out.input_shape = raw["input"]
        if isinstance(raw.get("maxLayers"), int) and raw["maxLayers"] > 0:
            out.max_layers = raw["maxLayers"]
        if isinstance(raw.get("timeBudget"), (int, float)) and raw["timeBudget"] > 0:
            out.time_budget = float(raw["timeBudget"])
        return out


class Sources:
    """The texts the editor has open (an import reads the unsaved buffer) and the files parsed
    so far (an edit of one file re-parses that file only)."""

    CACHE = 256  # pieces: the definitions of the open files and their imports

    def __init__(self):
        self.open: dict[str, str] = {}  # resolved path -> text
        self._parsed: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def read(self, path: Path, span: Span | None) -> str:
        text = self.open.get(str(path.resolve()))
        return normalize_newlines(text.removeprefix("\ufeff")) if text is not None else read_source(path, span)

    def parse(self, text: str, file: str) -> ast.Module:
        """The file parsed definition by definition, each piece cached: typing in one block
        re-parses that block. Any error: the whole text is parsed, to report it as `parse` does."""
        pieces = _pieces(text)
        if len(pieces) < 2:
            return self._parse(text, file)
        items: list = []
        try:
            for piece in pieces:
                items += self._parse(piece, file).items
        except ArchError:
            return self._parse(text, file)
        return ast.Module.model_construct(span=Span(file, 1, 1, 1, 1), file=file, items=items)

    def _parse(self, text: str, file: str) -> ast.Module:
        key = (file, text)
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]
        module = parse(text, file)
        with self._lock:
            self._parsed[key] = module
            while len(self._parsed) > self.CACHE:
                self._parsed.popitem(last=False)
        return module


# A line that starts with one of these starts a definition: no expression can hold the keyword.
_ITEM = re.compile(r"^(?:import|block|network)\b", re.M)


def _pieces(text: str) -> list[str]:
    """The text cut before each definition, each piece led by newlines that keep its line numbers
    (a cut after a backslash continuation is not made: the line goes on)."""
    starts = [m.start() for m in _ITEM.finditer(text)][1:]  # (comments before the first go with it)
    bounds = [0, *[a for a in starts if not text[:a - 1].rstrip(" \t\f\r").endswith("\\")], len(text)]
    pieces, lines = [], 0
    for a, b in zip(bounds, bounds[1:]):
        pieces.append("\n" * lines + text[a:b])
        lines += text.count("\n", a, b)
    return pieces


class Cancelled(Exception):
    """A newer version of the document is waiting: this analysis is of no use any more."""


class _Checked:
    """An attribute each read of which checks the budget."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = "_" + name

    def __get__(self, budget, owner=None) -> int:
        budget.check()
        return getattr(budget, self.name)

    def __set__(self, budget, value: int) -> None:
        setattr(budget, self.name, value)


class Budget(Limits):
    """The language's limits, and a clock: elaboration reads `max_layers` at every layer it adds
    and `max_repeat` at every repeat iteration, so reading them is where the budget is checked."""

    max_layers = _Checked()
    max_repeat = _Checked()

    def __init__(self, max_layers: int, seconds: float, cancelled: threading.Event):
        self.seconds, self.cancelled = seconds, cancelled
        self.deadline = time.monotonic() + seconds
        super().__init__(max_layers)

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled()
        if time.monotonic() > self.deadline:
            raise ArchError("E921", f"the analysis stopped after {self.seconds:g} s", None,
                            hint="the network is too large to check as you type: raise `archlang.timeBudget` "
                                 "in the editor's settings, or run `archlang check`")


@dataclass
class Analysis:
    file: str  # the document as spans name it
    text: str
    version: int | None = None
    program: Program | None = None
    modules: dict[str, ast.Module] = field(default_factory=dict)
    index: Index | None = None
    net: Network | None = None
    error: ArchError | None = None
    lines: dict[int, LineStat] = field(default_factory=dict)  # of this document: what its lines make
    seconds: float = 0.0
    crash: str | None = None  # a bug in archlang met on this text (the server logs it and goes on)

    @property
    def source_lines(self) -> list[str]:
        return self.text.splitlines()


def analyse(path: Path, text: str, settings: Settings, sources: Sources, version: int | None = None,
            cancelled: threading.Event | None = None) -> Analysis:
    start = time.perf_counter()
    out = Analysis(str(path), text, version)
    if text.strip():
        try:
            _load(out, path, text, settings, sources, cancelled or threading.Event())
        except ArchError as e:
            out.error = e
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as e:  # a bug, not the spec's fault: no traceback in the editor, the server goes on
            out.crash = f"{type(e).__name__}: {e}"
    out.seconds = time.perf_counter() - start
    return out


def _load(out: Analysis, path: Path, text: str, settings: Settings, sources: Sources, cancelled) -> None:
    program = load_program(text, str(path), base=path.parent, read=sources.read, parse_text=sources.parse)
    out.program = program
    out.modules = {file: sources.parse(src, file) for file, src in program.sources.items()}
    out.index = build_index(out.modules)
    if not program.own_networks:  # a library of blocks: nothing to elaborate
        return
    network = settings.network if settings.network in program.networks else None
    _, net_def, _ = pick_network(program, network)
    known = {p.name for p in net_def.params} | program.switches
    overrides = {k: v for k, v in settings.overrides.items() if k in known}
    out.net = build_network(program, network=network, input_shape=settings.input_shape, overrides=overrides,
                            limits=Budget(settings.max_layers, settings.time_budget, cancelled))
    out.lines = line_stats(out.net, out.file)
