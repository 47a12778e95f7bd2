"""4a. Runtime: forward, and forward + backward, of the compiled spec (an fx.GraphModule)
against torchvision's hand-written module, with the same weights (copied by
`archlang.transfer_weights`) and the same batch, eager (4b, sec_compile.py: under
`torch.compile`).

Forward runs in eval mode under `torch.no_grad()`; forward + backward in train mode
with a cross-entropy loss on random labels. Each repetition times one call of each
model, alternating which goes first. The GPU section reuses `measure` on CUDA.
"""

from __future__ import annotations

import os
import time

from benchlib import (ROOT, Config, Goal, Sample, Section, interleaved, median, ms, ratio, secs, spread, table,
                      timed)

KEY = "runtime"
TITLE = "4a. Runtime on the CPU, eager: compiled spec vs torchvision"
MODELS = ("resnet50", "densenet121", "vgg16")
TOLERANCE = 0.02  # the compiled spec may be at most 2% slower
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True}}


def models(name: str, device: str):
    """(archlang's module, torchvision's), same weights, on `device`."""
    import torch
    import torchvision

    import archlang

    with torch.device(device):
        tv = getattr(torchvision.models, name)(weights=None, **KWARGS.get(name, {}))
    al = archlang.compile(ROOT / "specs" / f"{name}.arch", device=device)
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
    """`timed` with the device synchronised before the clock starts."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return timed(fn)


def measure(cfg: Config, names, device: str, batch: int, side: int, reps: int, warmup: int,
            compiled: bool) -> tuple[list[list], list[float]]:
    """Table rows and the ratios, for every model in `names` and both passes."""
    import torch

    rows, ratios = [], []
    if compiled:
        # Both models give the same graphs: with inductor's caches on, the second would load
        # the first one's compiled code, and a later run this run's.
        import torch._inductor.config

        torch._inductor.config.force_disable_caches = True
    for name in names:
        al, tv = models(name, device)
        gen = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randn(batch, 3, side, side, generator=gen).to(device)
        y = torch.randint(0, 1000, (batch,), generator=gen).to(device)
        with torch.no_grad():
            diff = (al.eval()(x) - tv.eval()(x)).abs().max().item()
        run_al, run_tv = (torch.compile(al), torch.compile(tv)) if compiled else (al, tv)
        for backward in (False, True):
            al.train(backward)
            tv.train(backward)
            first = {}
            fns = {"archlang": step(run_al, x, y, device, backward),
                   "torchvision": step(run_tv, x, y, device, backward)}
            if compiled:  # the first call compiles: timed apart, as the compile time (order alternating)
                for key in (list(fns) if not backward else list(fns)[::-1]):
                    start = time.perf_counter()
                    fns[key]()
                    first[key] = time.perf_counter() - start
            what = f"{name} {'fwd+bwd' if backward else 'forward'}{' compiled' if compiled else ''}"
            cfg.log(f"{what}: {reps} reps")
            s = interleaved({k: (lambda fn=fn: cuda_timed(fn)) for k, fn in fns.items()}, reps, warmup, cfg.log)
            a, t = s["archlang"], s["torchvision"]
            r = ratio(a, t)
            ratios.append(r)
            rows.append([name, "torch.compile" if compiled else "eager",
                         "forward + backward" if backward else "forward",
                         ms(median(a)), ms(median(t)), f"**{r:.3f}**", spread(a, t),
                         f"{min(x.wall for x in a) / min(x.wall for x in t):.3f}",
                         f"{secs(first['archlang'])} / {secs(first['torchvision'])}" if compiled else "—",
                         f"{diff:.1e}", "yes" if r <= 1 + TOLERANCE else "no"])
        del al, tv, run_al, run_tv
        if compiled:
            torch._dynamo.reset()
    return rows, ratios


HEADERS = ["model", "mode", "pass", "archlang (ms)", "torchvision (ms)", "ratio a/t", "spread", "ratio of minimums",
           "first call a / t (s), compiling", "max abs diff (eval)", f"within {TOLERANCE:.0%}"]


def run(cfg: Config) -> Section:
    return run_cpu(cfg, compiled=False)


def run_cpu(cfg: Config, compiled: bool) -> Section:
    import torch

    threads = min(2, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    names = MODELS[:1] if cfg.quick else MODELS
    batch, side = (2, 112) if cfg.quick else (8, 224)
    reps, warmup = cfg.n(10, 2), (cfg.w(1, 1) if compiled else cfg.w(2, 1))
    rows, ratios = measure(cfg, names, "cpu", batch, side, reps, warmup, compiled=compiled)
    what = "torch.compile: the compiled spec" if compiled else "eager: the compiled spec"
    goals = [Goal(f"{what} within {TOLERANCE:.0%} of torchvision's (ratio ≤ {1 + TOLERANCE})",
                  f"worst ratio {max(ratios):.3f}", max(ratios) <= 1 + TOLERANCE)]
    body = table(HEADERS, rows, "lllrrrrrrrr")
    body += (f"\n\nBatch {batch} at {side}×{side}, float32, {threads} threads (`torch.set_num_threads`). "
             f"Medians of {reps} calls each after {warmup} warm-up, interleaved; ratio < 1: archlang is faster. "
             "Ratio of minimums: the same from the fastest call of each, a check on bursts of load from "
             "other processes (they slow single calls by 2-6x on this shared machine). Max abs diff: "
             "the two models' eval outputs on the batch, same weights.")
    if compiled:
        body += (" First call: the compilation, inductor's caches disabled (both models give the same graphs, "
                 "so the second would load the first one's code); indicative only.")
    return Section(KEY, TITLE, body, goals)
