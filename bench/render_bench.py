"""Diagram speed: archlang's render against torchview, on ResNet-152 and DenseNet-201.

    .venv/bin/python bench/render_bench.py [--repeat 3] [--json OUT]

For each network and view (the default overview, and every layer):
  own      archlang's own time in-process: load the spec, build the view, write DOT
  dot      graphviz's layout and SVG rendering of that DOT (a `dot -Tsvg` process)
  process  the whole `python -m archlang render SPEC [--expand all] -o X.svg`, wall clock
  cpu      that process's user+sys CPU time, children (dot) included: steadier than
           wall time on a busy machine
  boxes, edges, edges/boxes  the size of the drawn graph
torchview (installed in the venv) draws the same torchvision models to SVG:
its time covers tracing the model and graphviz, at depth 3 (its default) and
fully expanded, one run each (it takes minutes on DenseNet-201). Each archlang figure is the
median of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NETWORKS = [("resnet152", "specs/resnet152.arch"), ("densenet201", "specs/densenet201.arch")]
VIEWS = [("overview", {}, []), ("layers", {"view": "layers"}, ["--expand", "all"])]


def median_of(repeat: int, fn):
    results = [fn() for _ in range(repeat)]
    keys = results[0].keys()
    return {k: statistics.median(r[k] for r in results) if isinstance(results[0][k], float) else results[0][k]
            for k in keys}


def archlang_inprocess(spec: str, options: dict) -> dict:
    import archlang  # imported before timing: `process` below counts Python's start and imports
    import archlang.backends.diagram  # noqa: F401

    t0 = time.perf_counter()
    net = archlang.load(REPO / spec)
    diagram = net.render(**options)
    source = diagram.dot
    t1 = time.perf_counter()
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=True)
    t2 = time.perf_counter()
    boxes, edges = len(diagram.view.boxes), len(diagram.view.edges)
    return {"own": t1 - t0, "dot": t2 - t1, "boxes": boxes, "edges": edges, "svg_bytes": len(done.stdout)}


def archlang_process(spec: str, flags: list[str], out: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "archlang", "render", str(REPO / spec), *flags, "-o", str(out)],
                   check=True, capture_output=True, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"process": wall, "cpu": cpu}


def torchview_run(name: str, full: bool) -> dict:
    import torch
    import torchvision
    from torchview import draw_graph

    model = getattr(torchvision.models, name)(weights=None).eval()
    t0 = time.perf_counter()
    graph = draw_graph(model, input_size=(1, 3, 224, 224), depth=1_000 if full else 3, expand_nested=full,
                       device="cpu")
    source = graph.visual_graph.source
    svg = graph.visual_graph.pipe(format="svg")
    wall = time.perf_counter() - t0
    edges = sum(1 for line in source.splitlines() if "->" in line)
    boxes = sum(1 for line in source.splitlines() if line.strip()[:1].isdigit() and "->" not in line
                and "[" in line)
    del torch
    return {"total": wall, "boxes": boxes, "edges": edges, "svg_bytes": len(svg)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-torchview", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for net, spec in NETWORKS:
            for view, options, flags in VIEWS:
                figures = median_of(args.repeat, lambda: archlang_inprocess(spec, options))
                figures.update(median_of(args.repeat, lambda: archlang_process(spec, flags, Path(tmp) / "x.svg")))
                rows.append({"tool": "archlang", "network": net, "view": view, **figures})
                print(_line(rows[-1]), flush=True)
            if not args.no_torchview:
                for view, full in (("depth 3", False), ("full", True)):
                    figures = torchview_run(net, full)
                    rows.append({"tool": "torchview", "network": net, "view": view, **figures})
                    print(_line(rows[-1]), flush=True)
    print()
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=1) + "\n")
    return 0


def _line(row: dict) -> str:
    return "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def _table(rows: list[dict]) -> str:
    head = ("| tool | network | view | own (s) | dot (s) | process (s) | cpu (s) | boxes | edges | edges/boxes |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        own = f"{r['own']:.3f}" if "own" in r else "—"
        dot = f"{r['dot']:.3f}" if "dot" in r else "—"
        process = f"{r.get('process', r.get('total', 0)):.3f}"
        cpu = f"{r['cpu']:.3f}" if "cpu" in r else "—"
        lines.append(f"| {r['tool']} | {r['network']} | {r['view']} | {own} | {dot} | {process} | {cpu} | "
                     f"{r['boxes']} | {r['edges']} | {r['edges'] / max(r['boxes'], 1):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
