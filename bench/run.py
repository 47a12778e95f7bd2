"""The benchmark suite (`make bench`): runs the sections, prints their tables, and
updates bench/RESULTS.md with the machine, the date and the figures.

    .venv/bin/python bench/run.py                      # everything (some 40 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick              # a smoke run: small sizes, 1-2 repetitions
    .venv/bin/python bench/run.py --only summary,scaling
    .venv/bin/python bench/run.py --wait-load 2.5      # first wait for a quiet machine

Sections: summary (archlang summary vs torchinfo), scaling (check of 1k-100k conv layers),
construction (spec -> module vs torchvision), runtime (CPU forward/backward, eager), compile
(the same under torch.compile), render (diagrams vs torchview), serve (the playground: keystroke
to updated page, in headless Chromium; start-up), lsp (the language server's start-up and edits,
with a scripted editor), gpu (CUDA runtime and training; skipped without a GPU).

Every comparison runs its contenders interleaved in one loop and reports the ratio of
medians: the machines are shared and noisy, and absolute times alone mean little.

RESULTS.md: each section's block (between `<!-- bench:NAME -->` markers) is replaced
when the section runs and kept otherwise; the goals table on top is rebuilt from the
blocks; everything after `<!-- notes -->` is hand-written and kept as it is. A quick run
writes build/bench/RESULTS-quick.md unless --results says otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (ROOT, Config, Goal, Section, loadavg, machine, machine_line, now,  # noqa: E402
                      table, verdict, wait_for_quiet)

SECTIONS = {"summary": "sec_summary", "scaling": "sec_scaling", "construction": "sec_construct",
            "runtime": "sec_runtime", "compile": "sec_compile", "render": "sec_render", "serve": "sec_serve",
            "lsp": "sec_lsp", "gpu": "sec_gpu"}
RESULTS = ROOT / "bench" / "RESULTS.md"
QUICK_RESULTS = ROOT / "build" / "bench" / "RESULTS-quick.md"
NOTES = "<!-- notes -->"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and 1-2 repetitions: a smoke run")
    parser.add_argument("--only", action="append", default=[], metavar="SECTION[,SECTION]",
                        help=f"run these sections only: {', '.join(SECTIONS)}")
    parser.add_argument("--skip", action="append", default=[], metavar="SECTION[,SECTION]")
    parser.add_argument("--results", type=Path, help="the Markdown file to update (default "
                        f"{RESULTS.relative_to(ROOT)}; with --quick, {QUICK_RESULTS.relative_to(ROOT)})")
    parser.add_argument("--no-write", action="store_true", help="print the tables only")
    parser.add_argument("--reps", type=int, help="repetitions for every section (default: each section's own)")
    parser.add_argument("--warmup", type=int, help="warm-up rounds for every section")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurements (minutes of compiling)")
    parser.add_argument("--device", help="the GPU section's device (default cuda when available)")
    parser.add_argument("--wait-load", type=float, metavar="LOAD",
                        help="first wait until the 1-minute load average is below LOAD")
    parser.add_argument("--wait-max", type=float, default=1200, metavar="SECONDS",
                        help="the longest --wait-load waits (default 1200)")
    args = parser.parse_args(argv)

    chosen = _names(args.only) or list(SECTIONS)
    chosen = [s for s in chosen if s not in set(_names(args.skip))]
    # In their order: the whole-process sections come before those that import torch here.
    chosen = sorted(chosen, key=lambda s: list(SECTIONS).index(s) if s in SECTIONS else -1)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; the sections are {', '.join(SECTIONS)}")
    cfg = Config(quick=args.quick, reps=args.reps, warmup=args.warmup, device=args.device,
                 compile=not args.no_compile)
    results = args.results or (QUICK_RESULTS if args.quick else RESULTS)
    if args.wait_load is not None:
        wait_for_quiet(args.wait_load, args.wait_max)

    info = machine()
    print(f"machine: {machine_line(info)}\nmode: {'quick' if args.quick else 'full'}; sections: {', '.join(chosen)}",
          flush=True)
    done: list[Section] = []
    failed = False
    for key in chosen:
        module = importlib.import_module(SECTIONS[key])
        print(f"\n== {module.TITLE}", flush=True)
        load_before, start = loadavg(), time.perf_counter()
        try:
            section = module.run(cfg)
        except Exception as e:  # one broken section (a BenchError, a bug) must not lose the others' figures
            failed = True
            traceback.print_exc()
            section = Section(key, module.TITLE, f"Failed: `{type(e).__name__}: {e}`",
                              [Goal(module.TITLE.split(":")[0], "failed", False)])
        section.seconds = time.perf_counter() - start
        stamp = (f"_Measured {now()} ({'quick' if args.quick else 'full'} run, {section.seconds:.0f} s); "
                 f"load average {_load(load_before)} before, {_load(loadavg())} after._")
        section.body = stamp + "\n\n" + _goals_table(section.goals) + "\n\n" + section.body
        print("\n" + section.body, flush=True)
        done.append(section)
        if not args.no_write:  # after every section: an interrupted run keeps what it measured
            write(results, done, info, args.quick)
    if not args.no_write:
        print(f"\nwrote {results}")
    return 1 if failed else 0


def _names(values: list[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _load(value) -> str:
    return "?" if value is None else f"{value:.2f}"


def _goals_table(goals: list[Goal]) -> str:
    return "<!-- goals -->\n" + table(["goal", "figure", "result"],
                                      [[g.text, g.figure, verdict(g.met)] for g in goals], "lll") + "\n<!-- /goals -->"


# ---- RESULTS.md


def _blocks(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r"<!-- bench:(\w+) -->.*?<!-- /bench:\1 -->", text, re.S)}


def write(path: Path, sections: list[Section], info: dict, quick: bool) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    blocks = _blocks(old)
    for s in sections:
        blocks[s.key] = f"<!-- bench:{s.key} -->\n## {s.title}\n\n{s.body}\n<!-- /bench:{s.key} -->"
    notes = old[old.index(NOTES):] if NOTES in old else ""
    goals = []
    for key in SECTIONS:
        block = blocks.get(key, "")
        m = re.search(r"<!-- goals -->\n(.*?)\n<!-- /goals -->", block, re.S)
        if m:
            title = re.search(r"^## (\d+[a-z]?)\.", block, re.M)
            for line in m.group(1).splitlines()[2:]:
                goals.append(f"| {title.group(1) if title else '?'} " + line)
    head = ("# Benchmark results\n\n"
            "Written by `bench/run.py` (`make bench`); each section's block is replaced when that section "
            "runs. Comparisons are ratios of medians measured interleaved in one run: these machines are "
            "shared and noisy, so read the ratios, not the absolute times.\n\n"
            f"- machine: {machine_line(info)}\n"
            f"- last run: {now()} ({'quick' if quick else 'full'}: {', '.join(s.key for s in sections)})\n\n"
            "## Goals\n\n| § | goal | figure | result |\n|---|---|---|---|\n" + "\n".join(goals) + "\n")
    body = "\n\n".join(blocks.get(key, f"<!-- bench:{key} -->\n_{key}: not measured yet._\n<!-- /bench:{key} -->")
                       for key in SECTIONS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + "\n" + body + "\n\n" + (notes or NOTES + "\n") , encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
