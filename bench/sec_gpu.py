"""8. GPU, when one is at hand: the runtime comparison of section 4 on CUDA, and training
throughput (images per second through SGD steps) of the compiled spec against
torchvision's model. Without CUDA the section says so and measures nothing.
"""

from __future__ import annotations

import time

from benchlib import Config, Goal, Sample, Section, interleaved, median, ratio, spread, table
from sec_runtime import HEADERS, MODELS, TOLERANCE, models, measure

KEY = "gpu"
TITLE = "8. GPU: runtime and training throughput on CUDA"


def run(cfg: Config) -> Section:
    import torch

    device = cfg.device or ("cuda" if torch.cuda.is_available() else None)
    if device is None:
        return Section(KEY, TITLE, "Skipped: no CUDA device on this machine (`torch.cuda.is_available()` is "
                       "False). `make bench` measures this section wherever a GPU is present.",
                       [Goal("GPU runtime and training throughput", "skipped: no CUDA device", None)])
    name = torch.cuda.get_device_name() if device.startswith("cuda") else device
    names = MODELS[:1] if cfg.quick else MODELS
    batch, side = (4, 112) if cfg.quick else (64, 224)
    reps = cfg.n(10, 2)
    rows, ratios = measure(cfg, names, device, batch, side, reps, cfg.w(3, 1), compiled=False)
    if not cfg.quick and cfg.compile:
        crows, cratios = measure(cfg, names, device, batch, side, reps, cfg.w(1, 1), compiled=True)
        rows, ratios = rows + crows, ratios + cratios
    body = (f"Device: {name}. Batch {batch} at {side}×{side}, float32.\n\n"
            + table(HEADERS, rows, "lll" + "r" * (len(HEADERS) - 3)))

    # Training throughput: SGD steps (forward, backward, update), several steps per timed sample.
    steps = 2 if cfg.quick else 10
    trows, tratios = [], []
    for model in names:
        al, tv = models(model, device)
        gen = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randn(batch, 3, side, side, generator=gen).to(device)
        y = torch.randint(0, 1000, (batch,), generator=gen).to(device)

        def trainer(m):
            m.train()
            opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

            def run_steps() -> Sample:
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(steps):
                    opt.zero_grad(set_to_none=True)
                    torch.nn.functional.cross_entropy(m(x), y).backward()
                    opt.step()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                return Sample(time.perf_counter() - start)
            return run_steps

        cfg.log(f"{model} training: {reps} x {steps} steps")
        s = interleaved({"archlang": trainer(al), "torchvision": trainer(tv)}, reps, 1, cfg.log)
        a, t = s["archlang"], s["torchvision"]
        ips_a, ips_t = batch * steps / median(a), batch * steps / median(t)
        r = ratio(a, t)
        tratios.append(r)
        trows.append([model, f"{ips_a:,.0f}", f"{ips_t:,.0f}", f"**{ips_a / ips_t:.3f}**", spread(t, a),
                      "yes" if r <= 1 + TOLERANCE else "no"])
        del al, tv
    body += ("\n\nTraining throughput (SGD with momentum, cross-entropy, float32):\n\n" +
             table(["model", "archlang (img/s)", "torchvision (img/s)", "throughput a/t", "spread",
                    f"within {TOLERANCE:.0%}"], trows))
    body += f"\n\nMedians of {reps} samples after warm-up, interleaved; each training sample is {steps} steps."
    return Section(KEY, TITLE, body, [
        Goal(f"GPU runtime within {TOLERANCE:.0%} of torchvision", f"worst ratio {max(ratios):.3f}",
             max(ratios) <= 1 + TOLERANCE),
        Goal(f"GPU training throughput within {TOLERANCE:.0%}", f"worst time ratio {max(tratios):.3f}",
             max(tratios) <= 1 + TOLERANCE)])
