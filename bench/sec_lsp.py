"""7. The language server (`archlang lsp`), driven by a scripted editor (pygls's client over
stdio, tests/lsp_client.py), as a user's editor drives it:

- start-up: from starting the server process to the first diagnostics of resnet152.arch
  (initialize, initialized, didOpen, publishDiagnostics), a fresh process each time;
- edits: from sending an edit to having both the diagnostics and the inlay hints of the new
  text, for resnet152.arch (an alias of resnet.arch) and for resnet.arch itself built at
  depth 152 from the workspace settings (an edit there re-parses the family file).

Times are seen from the client, so they include the JSON-RPC round trip: an upper bound of
the server's own time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from benchlib import ROOT, Config, Goal, Section, child_env, median, ms, table

sys.path.insert(0, str(ROOT))
from tests.lsp_client import Editor  # noqa: E402

KEY = "lsp"
TITLE = "7. Language server: start-up and edits of ResNet-152"
STARTUP_GOAL = 1.0  # seconds, start to first diagnostics
EDIT_GOAL = 0.100  # seconds, median, edit to diagnostics and inlay hints
SPECS = ROOT / "specs"


def cpu_seconds(pid: int) -> float:
    """User + system time of a live process so far (Linux), which a busy machine does not inflate
    as much as the wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def startup() -> tuple[float, float]:
    """Wall and server CPU seconds from starting the server to the first diagnostics."""
    start = time.perf_counter()
    editor = Editor(cwd=ROOT, env=child_env())
    try:
        uri = editor.open(SPECS / "resnet152.arch")
        if editor.diagnostics(uri, 0):
            raise RuntimeError("resnet152.arch has errors")
        wall = time.perf_counter() - start
        return wall, cpu_seconds(editor.client._server.pid)
    finally:
        editor.close()


def edits(name: str, settings: dict, reps: int, warmup: int) -> list[float]:
    editor = Editor(settings=settings, cwd=ROOT, env=child_env())
    try:
        uri = editor.open(SPECS / name)
        editor.diagnostics(uri, 0)
        text, times = editor.texts[uri], []
        for i in range(warmup + reps):
            before = editor.seen(uri)
            start = time.perf_counter()
            editor.change(uri, text + f"# edit {i}\n")
            hints = editor.inlay_hints(uri)
            diagnostics = editor.diagnostics(uri, before)
            elapsed = time.perf_counter() - start
            if diagnostics or not hints:
                raise RuntimeError(f"{name}: diagnostics {diagnostics}, {len(hints)} hints after an edit")
            if i >= warmup:
                times.append(elapsed)
        return times
    finally:
        editor.close()


def run(cfg: Config) -> Section:
    reps, warmup = cfg.n(20, 3), cfg.w(3, 1)
    both = [startup() for _ in range(cfg.n(5, 1))]
    starts, cpus = [w for w, _ in both], [c for _, c in both]
    cfg.log(f"start-up: {[round(s, 3) for s in starts]}, server CPU {[round(c, 3) for c in cpus]}")
    cases = {"resnet152.arch": ("resnet152.arch", {}),
             "resnet.arch at depth 152": ("resnet.arch", {"settings": {"depth": 152}})}
    timed = {label: edits(name, settings, reps, warmup) for label, (name, settings) in cases.items()}
    rows = [["start-up to first diagnostics (resnet152.arch)", ms(median(starts)), ms(min(starts)),
             ms(max(starts)), len(starts)],
            ["the same, CPU time of the server process", ms(median(cpus)), ms(min(cpus)), ms(max(cpus)), len(cpus)]]
    rows += [[f"edit to diagnostics + inlay hints: {label}", ms(median(t)), ms(min(t)), ms(max(t)), len(t)]
             for label, t in timed.items()]
    body = table(["what", "median (ms)", "min (ms)", "max (ms)", "runs"], rows)
    body += ("\n\nWall time seen by the client (pygls's LanguageClient over stdio): each start-up a fresh "
             "`archlang lsp` process with Python's bytecode cache on; each edit appends a comment line, so "
             "every edit is a new analysis (the edited definition parsed again, the whole network elaborated, analysed and indexed: 516 layers).")
    worst = max(median(t) for t in timed.values())
    goals = [Goal(f"server start-up to first diagnostics ≤ {STARTUP_GOAL:.0f} s", f"{median(starts):.2f} s median",
                  median(starts) <= STARTUP_GOAL),
             Goal(f"diagnostics and inlay hints of resnet152 ≤ {EDIT_GOAL * 1000:.0f} ms after an edit (median)",
                  f"{worst * 1000:.0f} ms (worse of the two cases)", worst <= EDIT_GOAL)]
    return Section(KEY, TITLE, body, goals)
