"""4a. Runtime: forward, and forward + backward, of the compiled spec (a tree of fx.GraphModules)
against torchvision's hand-written module, with the same weights (copied by
`archlang.transfer_weights`) and the same batch, eager (4b, sec_compile.py: under
`torch.compile`).

Forward runs in eval mode under `torch.no_grad()`; forward + backward in train mode
with a cross-entropy loss on random labels. Each repetition times one call of each
model, alternating which goes first.

Each model is measured in fresh processes (bench/runtime_child.py), not in the driver:
where a model's weights and activations land in memory depends on what the process
allocated before (the driver has built dozens of models by then). Above all, glibc's
malloc hands large freed blocks back to the system and page-faults them in again at the
next call, by an amount that changes from process to process (see ALLOCATORS). Eager
runs are measured twice: with malloc told to keep what it frees (the goal's figure; two
processes per model, each model built first in one) and with glibc's default (four
processes per model, to average the faults' luck). The GPU section calls `measure` in
its own process.
"""

from __future__ import annotations

import json
import os
import resource
import time

from benchlib import (ROOT, Config, Goal, Sample, Section, child_env, interleaved, median, ms, ratio,
                      run_json_script, secs, spread, table, timed)

KEY = "runtime"
TITLE = "4a. Runtime on the CPU, eager: compiled spec vs torchvision"
MODELS = ("resnet50", "densenet121", "vgg16", "googlenet")
TOLERANCE = 0.02  # the compiled spec may be at most 2% slower
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True}}
PASSES = ("forward", "forward + backward")


def models(name: str, device: str, archlang_first: bool = False):
    """(archlang's module, torchvision's), same weights, on `device`, built in the order asked."""
    import torch
    import torchvision

    import archlang

    def build_tv():
        with torch.device(device):
            return getattr(torchvision.models, name)(weights=None, **KWARGS.get(name, {}))

    def build_al():
        return archlang.compile(ROOT / "specs" / f"{name}.arch", device=device)

    if archlang_first:
        al = build_al()
        tv = build_tv()
    else:
        tv = build_tv()
        al = build_al()
    archlang.transfer_weights(tv, al)
    return al, tv


def _sync(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step(model, x, y, device: str, backward: bool):
    """One forward (no_grad) or one forward + backward of `model`, synchronised."""
    import torch
    import torch.nn.functional as F

    def forward():
        with torch.no_grad():
            model(x)
        _sync(device)

    def forward_backward():
        for p in model.parameters():
            p.grad = None
        F.cross_entropy(model(x), y).backward()
        _sync(device)

    return forward_backward if backward else forward


def cuda_timed(fn) -> Sample:
    """`timed` with the device synchronised before the clock starts; with the call's page faults."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    sample = timed(fn)
    sample.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return sample


def measure_model(name: str, device: str, batch: int, side: int, reps: int, warmup: int, compiled: bool,
                  archlang_first: bool = False, control: bool = False, log=None) -> dict:
    """Samples (seconds) of both models for both passes, the compile times, the eval outputs' difference.

    control: also time a copy of torchvision's model (an A/A comparison: what two identical
    models differ by here, from where their memory lies; the resolution of the ratio)."""
    import copy

    import torch

    if compiled:
        # Both models give the same graphs: with inductor's caches on, the second would load
        # the first one's compiled code, and a later run this run's.
        import torch._inductor.config

        torch._inductor.config.force_disable_caches = True
    al, tv = models(name, device, archlang_first)
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, side, side, generator=gen).to(device)
    y = torch.randint(0, 1000, (batch,), generator=gen).to(device)
    with torch.no_grad():
        diff = (al.eval()(x) - tv.eval()(x)).abs().max().item()
    run_al, run_tv = (torch.compile(al), torch.compile(tv)) if compiled else (al, tv)
    twin = copy.deepcopy(tv) if control else None
    run_twin = torch.compile(twin) if compiled and control else twin
    out = {"diff": diff, "passes": {}}
    for backward, what in zip((False, True), PASSES):
        for model in (al, tv, twin):
            if model is not None:
                model.train(backward)
        fns = {"archlang": step(run_al, x, y, device, backward), "torchvision": step(run_tv, x, y, device, backward)}
        if twin is not None:
            fns["control"] = step(run_twin, x, y, device, backward)
        first = {}
        if compiled:  # the first call compiles: timed apart, as the compile time (order alternating)
            # The control last: dynamo compiles a class's forward once for all its instances, so
            # after the copy torchvision's own first call would show no compiling.
            pair = ["archlang", "torchvision"] if not backward else ["torchvision", "archlang"]
            for key in pair + [k for k in fns if k not in pair]:
                start = time.perf_counter()
                fns[key]()
                first[key] = time.perf_counter() - start
        if log:
            log(f"{name} {what}{' compiled' if compiled else ''}: {reps} reps")
        s = interleaved({k: (lambda fn=fn: cuda_timed(fn)) for k, fn in fns.items()}, reps, warmup, log)
        out["passes"][what] = {key: [v.wall for v in values] for key, values in s.items()}
        out["passes"][what]["first"] = first
        out["passes"][what]["faults"] = {key: [v.faults for v in values] for key, values in s.items()}
    if compiled:
        torch._dynamo.reset()
    return out


def row(name: str, mode: str, what: str, a: list, t: list, first: dict, diff: float, c=None, faults=None) -> list:
    r = ratio(a, t)
    return [name, mode, what, ms(median(a)), ms(median(t)), f"**{r:.3f}**", spread(a, t),
            f"{min(a) / min(t):.3f}", f"{ratio(c, t):.3f}" if c else "—",
            f"{median(faults['archlang']):,.0f} / {median(faults['torchvision']):,.0f}" if faults else "—",
            f"{secs(first['archlang'])} / {secs(first['torchvision'])}" if first else "—",
            f"{diff:.1e}", "yes" if r <= 1 + TOLERANCE else "no"]


def measure(cfg: Config, names, device: str, batch: int, side: int, reps: int, warmup: int,
            compiled: bool) -> tuple[list[list], list[float]]:
    """Table rows and ratios, measured in this process (the GPU section's way)."""
    rows, ratios = [], []
    for name in names:
        m = measure_model(name, device, batch, side, reps, warmup, compiled, log=cfg.log)
        for what, p in m["passes"].items():
            rows.append(row(name, "torch.compile" if compiled else "eager", what, p["archlang"], p["torchvision"],
                            p["first"], m["diff"], faults=p["faults"]))
            ratios.append(ratio(p["archlang"], p["torchvision"]))
    return rows, ratios


# glibc's malloc gives large freed blocks back to the system (munmap, heap trimming) and
# takes them again at the next call, which page-faults every page anew; how often depends on
# where a process's memory happens to lie (tens of thousands of faults per forward or none,
# 294-420 ms for the same torchvision resnet50 in eight processes). Told to keep what it
# frees, as PyTorch's CPU tuning guide suggests (or jemalloc/tcmalloc), neither model
# page-faults after its warm-up and the ratio measures the modules themselves.
ALLOCATORS = {
    "malloc keeps memory": {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)},
    "glibc default": {},
}


def in_child(cfg: Config, allocator: str, **job) -> dict:
    """`measure_model(**job)` in a fresh interpreter (bench/runtime_child.py), malloc set as `allocator` says."""
    env = {k: v for k, v in child_env().items() if not k.startswith("MALLOC_")}
    env.update(ALLOCATORS[allocator])
    return run_json_script("runtime_child.py", json.dumps(job), env=env, log=cfg.log)


HEADERS = ["model", "mode: memory", "pass", "archlang (ms)", "torchvision (ms)", "ratio a/t", "spread",
           "ratio of minimums", "A/A: a copy of torchvision's / it",
           "page faults per call a / t", "first call a / t (s), compiling", "max abs diff (eval)",
           f"within {TOLERANCE:.0%}"]


def run(cfg: Config) -> Section:
    return run_cpu(cfg, compiled=False)


def run_cpu(cfg: Config, compiled: bool) -> Section:
    threads = min(2, os.cpu_count() or 1)
    names = MODELS[:1] if cfg.quick else MODELS
    batch, side = (2, 112) if cfg.quick else (8, 224)
    reps, warmup = cfg.n(10, 2), (cfg.w(1, 1) if compiled else cfg.w(2, 1))
    # Eager: with malloc keeping memory, two processes per model, each building one model
    # first, half the calls each (with the A/A control); with glibc's default, four processes
    # (one in quick runs) sharing half as many calls, as the faults vary from process to
    # process. Compiled: one process per model (compiling twice would double the section's
    # half hour), malloc keeping memory, the order alternating from model to model, with the
    # A/A control compiled too.
    # (allocator, processes, calls in all, A/A control); the first plan's ratios judge the goal.
    default_procs = 1 if cfg.quick else 4
    plans = ([("malloc keeps memory", 1, reps, True)] if compiled else
             [("malloc keeps memory", 2, reps, True),
              ("glibc default", default_procs, max(default_procs, reps // 2), False)])
    rows, ratios, default_ratios = [], [], []
    for i, name in enumerate(names):
        for allocator, procs, total, control in plans:
            parts = []
            for k in range(procs):
                archlang_first = (i + k) % 2 == 1
                n = max(1, total // procs + (1 if k < total % procs else 0))
                cfg.log(f"{name}, {allocator}: a fresh process, {'archlang' if archlang_first else 'torchvision'}'s "
                        f"model built first, {n} reps")
                parts.append(in_child(cfg, allocator, name=name, device="cpu", batch=batch, side=side, reps=n,
                                      warmup=warmup, compiled=compiled, archlang_first=archlang_first,
                                      control=control, threads=threads))
            mode = f"{'torch.compile' if compiled else 'eager'}: {allocator}"
            for what in PASSES:
                a, t, c = ([v for p in parts for v in p["passes"][what].get(key, [])]
                           for key in ("archlang", "torchvision", "control"))
                faults = {key: [v for p in parts for v in p["passes"][what]["faults"][key]]
                          for key in ("archlang", "torchvision")}
                first = parts[0]["passes"][what]["first"]
                rows.append(row(name, mode, what, a, t, first, max(p["diff"] for p in parts), c, faults))
                (ratios if allocator == plans[0][0] else default_ratios).append(ratio(a, t))
    what = "torch.compile: the compiled spec" if compiled else "eager: the compiled spec"
    figure = f"worst ratio {max(ratios):.3f}"
    if default_ratios:
        figure += f" (glibc's default malloc: {max(default_ratios):.3f})"
    goals = [Goal(f"{what} within {TOLERANCE:.0%} of torchvision's (ratio ≤ {1 + TOLERANCE})", figure,
                  max(ratios) <= 1 + TOLERANCE)]
    body = table(HEADERS, rows, "lll" + "r" * (len(HEADERS) - 3))
    body += (f"\n\nBatch {batch} at {side}×{side}, float32, {threads} threads (`torch.set_num_threads`). "
             f"Medians of {reps} calls each after {warmup} warm-up, interleaved; ratio < 1: archlang is faster. "
             "Every model is measured in fresh processes: "
             + ("one per model, malloc keeping memory. " if compiled else
                "with malloc keeping memory (`MALLOC_MMAP_THRESHOLD_=32MiB MALLOC_TRIM_THRESHOLD_=1TiB`), two "
                "processes per model, one building each model first, half the calls each, pooled; with glibc's "
                f"default, {default_procs} process{'es' if default_procs != 1 else ''} sharing half as many calls. "
                "The goal is judged with malloc keeping memory: with the default, large freed blocks go back "
                "to the system and are page-faulted anew at the next call, by an amount that depends on where "
                "a process's memory happens to lie, not on the module (both models run the same aten operators, "
                "in the same order, on the same strides: "
                "tests/test_torch_inplace.py checks it for resnet50, vgg16 and googlenet). ")
             + "Ratio of minimums: the same from the fastest call of each, a check on bursts of load from "
             "other processes (they slow single calls by 2-6x on this shared machine). A/A: a deep copy of "
             "torchvision's model timed in the same loop against the original, the resolution of the ratio. "
             "Page faults: the median of minor faults per call. Max abs diff: the two models' eval outputs on "
             "the batch, same weights.")
    if compiled:
        body += (" First call: the compilation, inductor's caches disabled (both models give the same graphs, "
                 "so the second would load the first one's code); indicative only.")
    return Section(KEY, TITLE, body, goals)
