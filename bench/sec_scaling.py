"""2. Scaling: `archlang check` of specs/pattern.arch with N conv layers, whole process:
wall time, CPU time and peak memory. With M=1 and no pooling the network is N conv and
N relu, then flatten, fc, relu, fc, relu, fc: 2N + 6 layers after the input. The sizes
run interleaved, round-robin, so noise hits all alike.

Linearity is judged on the marginal CPU cost per layer: from 10,000 to 100,000 conv
layers against from 1,000 to 10,000 (the fixed start-up cancels out of both).
"""

from __future__ import annotations

from benchlib import ROOT, Config, Goal, Section, interleaved, median, run_process, secs, table
from sec_summary import archlang_command

KEY = "scaling"
TITLE = "2. Scaling: `archlang check` of `pattern.arch` with 1,000 to 100,000 conv layers"
SIZES = (1_000, 10_000, 100_000)
MAX_LAYERS = 300_000  # 100,000 conv layers are 200,006 layers; the default limit is 100,000
LINEAR_SLACK = 1.3  # marginal cost per layer may grow this much from the small step to the large one
TARGET_10K = 1.0  # seconds, wall


def layers(n: int) -> int:
    return 2 * n + 6  # as `archlang check` counts them: every layer after the input


def command(n: int) -> list[str]:
    return [*archlang_command(), "check", "-q", str(ROOT / "specs" / "pattern.arch"), "--set", f"N={n}",
            "--set", "M=1", "--set", "pool=false", "--max-layers", str(MAX_LAYERS)]


def run(cfg: Config, sizes=None) -> Section:
    sizes = tuple(sizes or (SIZES[:1] if cfg.quick else SIZES))
    reps, warmup = cfg.n(5, 1), cfg.w(1, 0)
    cfg.log(f"sizes {sizes}: {reps} reps")
    samples = interleaved({str(n): (lambda n=n: run_process(command(n))) for n in sizes}, reps, warmup, cfg.log)
    med = {n: {a: median(samples[str(n)], a) for a in ("wall", "cpu", "rss_mib")} for n in sizes}
    rows, marginal = [], {}
    prev = None
    for n in sizes:
        m = med[n]
        if prev is None:
            per_layer, per_kib = "—", "—"
        else:
            dl = layers(n) - layers(prev)
            marginal[n] = (m["cpu"] - med[prev]["cpu"]) / dl
            per_layer = f"{1e6 * marginal[n]:.1f}"
            per_kib = f"{(m['rss_mib'] - med[prev]['rss_mib']) * 1024 / dl:.2f}"
        rows.append([f"{n:,}", f"{layers(n):,}", secs(m["wall"]), secs(m["cpu"]), per_layer,
                     f"{m['rss_mib']:.0f}", per_kib])
        prev = n
    body = table(["conv layers", "layers", "wall (s)", "CPU (s)", "marginal CPU per layer (µs)",
                  "peak RSS (MiB)", "marginal KiB per layer"], rows)
    body += (f"\n\nMedians of {reps} runs per size after {warmup} warm-up, each a new process "
             f"(`archlang check -q specs/pattern.arch --set N=… --set M=1 --set pool=false "
             f"--max-layers {MAX_LAYERS}`). Marginal figures are from the size above.")
    goals = []
    if 10_000 in sizes:
        t = med[10_000]["wall"]
        goals.append(Goal(f"10,000 conv layers checked in about a second (≤ {TARGET_10K:.1f} s wall)",
                          f"{secs(t)} s wall, {secs(med[10_000]['cpu'])} s CPU", t <= TARGET_10K))
    if 10_000 in marginal and 100_000 in marginal:
        growth = marginal[100_000] / marginal[10_000]
        goals.append(Goal(f"linear: marginal CPU per layer, 10k→100k over 1k→10k, at most {LINEAR_SLACK}",
                          f"{growth:.2f} ({1e6 * marginal[10_000]:.1f} → {1e6 * marginal[100_000]:.1f} µs/layer)",
                          growth <= LINEAR_SLACK))
    if not goals:
        goals.append(Goal("10,000 conv layers in about a second; linear", f"{secs(med[sizes[0]]['wall'])} s "
                          f"for {sizes[0]:,} (10,000 and 100,000 not measured: not judged)", None))
    return Section(KEY, TITLE, body, goals)
