"""1. Analysis vs torchinfo, whole process, from a cold start.

`archlang summary specs/M.arch` (parse, elaborate, shapes, params, MACs, receptive
field, the table) against `python bench/torchinfo_summary.py M` (import torch,
build the torchvision model, torchinfo.summary with a forward pass). Each run is a
fresh interpreter; bare `python -c pass` runs in the same loop as a baseline.
"""

from __future__ import annotations

from pathlib import Path

from benchlib import (BENCH, PYTHON, ROOT, Config, Goal, Section, interleaved, median, ms, ratio, run_json_script,
                      run_process, secs, spread, table, times)

KEY = "summary"
TITLE = "1. Analysis: `archlang summary` vs torchvision + `torchinfo.summary` (whole process)"
MODELS = ("resnet50", "resnet152", "densenet201", "vgg16")
GOAL = 20.0


def archlang_command() -> list[str]:
    """The `archlang` console script next to this Python, as a user types it; else `python -m archlang`."""
    exe = Path(PYTHON).with_name("archlang")
    return [str(exe)] if exe.exists() else [PYTHON, "-m", "archlang"]


def in_process(model: str, reps: int, warmup: int) -> dict[str, list[float]]:
    return run_json_script("inprocess_summary.py", model, str(reps), str(warmup))


def run(cfg: Config, models=None) -> Section:
    models = models or (MODELS[:1] if cfg.quick else MODELS)
    reps, warmup = cfg.n(5, 1), cfg.w(1, 0)
    rows, worst, inproc = [], None, []
    for model in models:
        cfg.log(f"{model}: {reps} reps")
        spec = str(ROOT / "specs" / f"{model}.arch")
        samples = interleaved({
            "archlang": lambda: run_process([*archlang_command(), "summary", spec]),
            "torchinfo": lambda: run_process([PYTHON, str(BENCH / "torchinfo_summary.py"), model]),
            "python": lambda: run_process([PYTHON, "-c", "pass"]),
        }, reps, warmup, cfg.log)
        a, t, p = samples["archlang"], samples["torchinfo"], samples["python"]
        speedup = ratio(t, a)
        cpu_speedup = ratio(t, a, "cpu")
        if worst is None or speedup < worst[0]:
            worst = (speedup, model)
        rows.append([model, secs(median(a)), secs(median(t)), f"**{times(speedup)}**", spread(t, a),
                     secs(median(a, "cpu")), secs(median(t, "cpu")), times(cpu_speedup),
                     f"{median(a, 'rss_mib'):.0f} / {median(t, 'rss_mib'):.0f}", secs(median(p))])
        cfg.log(f"{model}: in-process, {reps} reps")
        inproc.append((model, in_process(model, reps, cfg.w(1, 0))))
    body = table(["model", "archlang (s)", "torchinfo (s)", "speedup", "spread", "archlang CPU (s)",
                  "torchinfo CPU (s)", "CPU speedup", "peak RSS MiB (a / t)", "`python -c pass` (s)"], rows)
    body += (f"\n\nWhole process: medians of {reps} runs per command after {warmup} warm-up, each a new process, "
             "interleaved (archlang, torchinfo, bare python; the order alternates). Speedup = "
             "torchinfo's median / archlang's; spread = the middle half of the per-run ratios. "
             "CPU = user + system time of the process.\n\n")
    body += table(["model", "archlang load + summary (ms)", "torchinfo.summary (ms)", "speedup", "spread"],
                  [[m, ms(median(r["archlang"])), ms(median(r["torchinfo"])),
                    times(ratio(r["torchinfo"], r["archlang"])), spread(r["torchinfo"], r["archlang"])]
                   for m, r in inproc])
    body += ("\n\nIn process (bench/inprocess_summary.py, its own interpreter): the analysis alone, imports "
             "and the torchvision model's construction outside the timing; torchinfo's figure is its "
             "forward pass with hooks and the table.")
    goal = Goal(f"`archlang summary` at least {GOAL:.0f}x faster than torchvision + torchinfo",
                f"worst {times(worst[0])} ({worst[1]})", worst[0] >= GOAL)
    return Section(KEY, TITLE, body, [goal])
