"""`archlang check` of pattern.arch with N conv layers: whole-process time and peak memory.

Now section 2 of the benchmark suite (bench/sec_scaling.py, run by bench/run.py);
this prints its table alone. Usage: python bench/check_scaling.py [--runs R] [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Config  # noqa: E402
from sec_scaling import SIZES, run  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    section = run(Config(reps=args.runs), sizes=[int(n) for n in args.sizes.split(",")])
    print(section.body)
    for goal in section.goals:
        print(f"- {goal.text}: {goal.figure} ({'met' if goal.met else 'not met' if goal.met is False else '—'})")
