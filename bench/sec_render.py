"""5. Diagrams: `archlang render` of resnet152 and densenet201, default (overview) and
fully expanded, against torchview's `draw_graph` + graphviz render of the same
torchvision models (depth 3, its default, and fully expanded).

The measurements are the diagram engineer's, in bench/render_bench.py (run it alone
for its own report); this section calls them interleaved, so that each comparison
is a ratio taken in one loop. archlang's figure is the whole `archlang render`
process (Python's start and imports included); torchview's is in-process, torch
already imported and the model already built: the comparison favours torchview.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchlib import Config, Goal, Sample, Section, interleaved, median, ratio, secs, spread, table

KEY = "render"
TITLE = "5. Diagrams: `archlang render` vs torchview `draw_graph` + render"


def run(cfg: Config) -> Section:
    try:
        import render_bench as rb

        networks, views = list(rb.NETWORKS), list(rb.VIEWS)
        fns = (rb.archlang_process, rb.archlang_inprocess, rb.torchview_run)
    except (ImportError, AttributeError) as e:
        return Section(KEY, TITLE, f"Skipped: bench/render_bench.py is not usable here ({e}).",
                       [Goal("diagrams", "skipped", None)])
    archlang_process, archlang_inprocess, torchview_run = fns
    torchview_view = {"overview": ("depth 3", False), "layers": ("full", True)}
    if cfg.quick:
        networks, views = networks[:1], views[:1]
    reps, warmup = cfg.n(3, 1), cfg.w(0, 0)
    import torchview  # noqa: F401  (its import, once, outside the timings)
    import torchvision  # noqa: F401

    rows, speedups = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "diagram.svg"
        for net, spec in networks:
            for view, options, flags in views:
                tv_view, full = torchview_view.get(view, ("depth 3", False))
                sizes, parts = {}, {"own": [], "dot": []}

                def own() -> Sample:
                    r = archlang_inprocess(spec, options)
                    sizes["archlang"] = (r["boxes"], r["edges"])
                    parts["own"].append(r["own"])
                    parts["dot"].append(r["dot"])
                    return Sample(r["own"] + r["dot"])

                def process() -> Sample:
                    r = archlang_process(spec, flags, out)
                    return Sample(r["process"], r["cpu"])

                def other() -> Sample:
                    r = torchview_run(net, full)
                    sizes["torchview"] = (r["boxes"], r["edges"])
                    return Sample(r["total"])

                cfg.log(f"{net} {view} vs torchview {tv_view}: {reps} reps")
                s = interleaved({"archlang": process, "in-process": own, "torchview": other}, reps, warmup, cfg.log)
                a, t = s["archlang"], s["torchview"]
                speedup = ratio(t, a)
                speedups.append((speedup, f"{net} {view}"))
                rows.append([net, f"{view} / {tv_view}", secs(median(a)), secs(median(a, "cpu")),
                             f"{secs(median(parts['own'][warmup:]))} + {secs(median(parts['dot'][warmup:]))}",
                             secs(median(t)), f"**{speedup:.1f}x**", spread(t, a),
                             "{} / {}".format(*sizes["archlang"]), "{} / {}".format(*sizes["torchview"])])
    body = table(["network", "view: archlang / torchview", "archlang process (s)", "its CPU (s)",
                  "in-process: archlang + dot (s)", "torchview (s)", "speedup t/a", "spread",
                  "boxes / edges (archlang)", "boxes / edges (torchview)"], rows, "llrrrrrrrr")
    body += (f"\n\nMedians of {reps} runs each, interleaved (archlang process, archlang in-process, torchview). "
             "archlang process: `archlang render SPEC [--expand all] -o X.svg`, a new interpreter each time. "
             "In-process: load + view + DOT, then graphviz's `dot -Tsvg`. torchview: `draw_graph(model, "
             "input_size=(1, 3, 224, 224))` and `visual_graph.pipe('svg')`, in this process.")
    worst = min(speedups)
    return Section(KEY, TITLE, body, [Goal("diagrams (no goal set; reported)",
                                           f"worst speedup {worst[0]:.1f}x ({worst[1]})", None)])


def own_figures(reps: int = 3) -> str:
    """archlang alone (no torchview): process wall and CPU time, view + DOT in-process and `dot`'s
    wall and CPU time, for the overview and the every-layer view of ResNet-152 and DenseNet-201.
    `python bench/sec_render.py` prints it (CPU times stay comparable on a loaded machine)."""
    import os
    import statistics
    import subprocess
    import sys
    import time

    import archlang

    root = Path(__file__).resolve().parents[1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in ("resnet152", "densenet201"):
            for view, flags in (("overview", []), ("layers (`--expand all`)", ["--expand", "all"])):
                wall, cpu = [], []
                for _ in range(reps):
                    t, r0 = time.perf_counter(), os.times()
                    subprocess.run([sys.executable, "-m", "archlang", "render", str(root / "specs" / f"{spec}.arch"),
                                    *flags, "-o", str(Path(tmp) / "d.svg")], check=True, capture_output=True)
                    r1 = os.times()
                    wall.append(time.perf_counter() - t)
                    cpu.append(r1.children_user + r1.children_system - r0.children_user - r0.children_system)
                net = archlang.load(root / "specs" / f"{spec}.arch")
                t = time.perf_counter()
                d = net.render(expand=["all"] if flags else [])
                dot = d.dot
                own = time.perf_counter() - t
                t, r0 = time.perf_counter(), os.times()
                subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
                r1 = os.times()
                layout = (time.perf_counter() - t,
                          r1.children_user + r1.children_system - r0.children_user - r0.children_system)
                rows.append([spec, view, secs(statistics.median(wall)), secs(statistics.median(cpu)), secs(own),
                             f"{secs(layout[0])} / {secs(layout[1])}", str(len(d.view.boxes)), str(len(d.view.legend))])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return table(["network", "view", "process wall (s)", "process CPU (s)", "view + DOT in-process (s)",
                  "`dot` wall / CPU (s)", "boxes", "legend units"], rows, "llrrrrrr") + f"\n\nLoad average: {load}."


if __name__ == "__main__":
    print(own_figures())
