"""A shorter run of section 4a (eager runtime on the CPU, compiled spec vs torchvision) for a
busy machine: one fresh process per model, malloc keeping memory, with the A/A control; both
models (and the control) in the same process, interleaved, ratio of medians.

    .venv/bin/python bench/check_runtime.py                         # the four models, batch 8 at 224
    .venv/bin/python bench/check_runtime.py --models resnet50 --reps 6 --batch 4 --side 160

Prints the rows of section 4a's table (bench/sec_runtime.py); `make bench` runs the full section.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Config, machine, machine_line, now, table  # noqa: E402
from sec_runtime import HEADERS, MODELS, PASSES, in_child, row  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    cfg = Config(quick=False)
    print(f"machine: {machine_line(machine())}\nstarted {now()}", flush=True)
    rows, start = [], time.time()
    for i, name in enumerate(args.models.split(",")):
        part = in_child(cfg, "malloc keeps memory", name=name, device="cpu", batch=args.batch, side=args.side,
                        reps=args.reps, warmup=args.warmup, compiled=False, archlang_first=i % 2 == 1,
                        control=True, threads=args.threads)
        for what in PASSES:
            p = part["passes"][what]
            rows.append(row(name, "eager: malloc keeps memory", what, p["archlang"], p["torchvision"], {},
                            part["diff"], p["control"], p["faults"]))
        print(table(HEADERS, rows[-2:], "lll" + "r" * (len(HEADERS) - 3)), flush=True)
    print(f"\nbatch {args.batch} at {args.side}×{args.side}, {args.threads} thread{'s' if args.threads != 1 else ''}, medians of {args.reps} calls "
          f"after {args.warmup} warm-up; {time.time() - start:.0f} s; finished {now()}\n")
    print(table(HEADERS, rows, "lll" + "r" * (len(HEADERS) - 3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
