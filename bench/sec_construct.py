"""3. Construction: spec -> torch module (`archlang.load` + `Network.to_torch`, which is
`archlang.compile`) against torchvision's constructor, for every zoo model torchvision
also has, on the CPU and on the meta device (no memory, no initialisation: the cost
of the structure alone). In-process, interleaved, after a warm-up that pays the
one-time costs (imports, the grammar, pydantic validators).
"""

from __future__ import annotations

import os

from benchlib import ROOT, Config, Goal, Section, interleaved, median, ms, ratio, spread, table, timed

KEY = "construction"
TITLE = "3. Construction: spec → module vs torchvision's constructor"
ZOO = ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "googlenet", "resnet18", "resnet34", "resnet50",
       "resnet101", "resnet152", "densenet121", "densenet169", "densenet201")
# torchvision's arguments that give the zoo spec's network (as in tests/test_parity.py)
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True}}


def run(cfg: Config, models=None) -> Section:
    import torch
    import torchvision

    import archlang

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    models = models or (("resnet18",) if cfg.quick else ZOO)
    reps, warmup = cfg.n(5, 1), cfg.w(1, 1)
    rows = []
    for model in models:
        spec = ROOT / "specs" / f"{model}.arch"
        for device in ("cpu", "meta"):
            parts: dict[str, list[float]] = {"load": [], "to_torch": []}

            def spec_to_module():
                import time

                start = time.perf_counter()
                net = archlang.load(spec)
                mid = time.perf_counter()
                net.to_torch(device=device)
                end = time.perf_counter()
                parts["load"].append(mid - start)
                parts["to_torch"].append(end - mid)

            def torchvision_ctor():
                with torch.device(device):
                    getattr(torchvision.models, model)(weights=None, **KWARGS.get(model, {}))

            cfg.log(f"{model} on {device}: {reps} reps")
            s = interleaved({"archlang": lambda: timed(spec_to_module), "torchvision": lambda: timed(torchvision_ctor)},
                            reps, warmup, cfg.log)
            a, t = s["archlang"], s["torchvision"]
            load, build = parts["load"][warmup:], parts["to_torch"][warmup:]
            rows.append([model, device, ms(median(a)), ms(median(load)), ms(median(build)), ms(median(t)),
                         f"**{ratio(a, t):.2f}**", spread(a, t)])
    body = table(["model", "device", "archlang (ms)", "of which load", "of which to_torch", "torchvision (ms)",
                  "ratio a/t", "spread"], rows, "llrrrrrr")
    body += (f"\n\nMedians of {reps} in-process constructions each after {warmup} warm-up, interleaved. "
             "Ratio < 1: archlang is faster. On the CPU both allocate and initialise the weights; "
             "torchvision then re-initialises them (kaiming_normal_ and the like), archlang keeps PyTorch's "
             "default initialisation, so `meta` is the like-for-like comparison of the structure.")
    worst = max(rows, key=lambda r: float(r[6].strip("*")) if r[1] == "meta" else 0.0)
    return Section(KEY, TITLE, body, [Goal("construction (no goal set; reported)",
                                           f"meta: worst ratio {worst[6].strip('*')} ({worst[0]})", None)])
