"""The data-file family of the fuzzer: hostile `--data` sources (tests/hostile_data.py) read
by archlang's readers under a memory limit.

A child process imports torch and the readers once, sets a data limit of 64 MiB
(ARCHLANG_MAX_DATA_BYTES) and an address-space limit of what the imports took plus 768 MiB
(RLIMIT_AS), then reads case after case. A case passes when reading gives images and labels
or a TrainError whose message is one clean line (plus a hint); anything else — another
exception, a MemoryError, the child killed or stuck — is a crash. CPU time per case is
counted, not limited by the clock (the machine may be busy), and a child that uses more
than `--time-limit` CPU seconds in one case is killed and reported.

    python -m tests.fuzz_data --cases 500              # part of `make fuzz`
    python -m tests.fuzz_data --seed 3 --case 17 --show
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

try:
    from tests import hostile_data
except ImportError:  # run as a script from tests/
    import hostile_data

DATA_LIMIT = 64 << 20
HEADROOM = 768 << 20
ROOT = Path(__file__).resolve().parent.parent


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def read_case(seed: int, index: int, folder: Path) -> dict:
    """Write case `index` into `folder` and read it; the outcome as a dict (in this process)."""
    from archlang.train.config import TrainError
    from archlang.train.sources import read_source

    source, what = hostile_data.make_case(seed, index, folder)
    started = time.process_time()
    try:
        raw = read_source(source, (1, 28, 28))
        outcome = {"kind": "ok", "detail": f"{len(raw.train_y)} images {tuple(raw.train_x.shape[1:])}"}
    except TrainError as exc:
        text = exc.format()
        bad = [c for c in text if ord(c) < 32 and c != "\n"]
        outcome = {"kind": "error" if not bad and "Traceback" not in text and len(text) < 2000 else "crash",
                   "detail": text}
    except BaseException as exc:  # noqa: BLE001 - anything else is what the fuzzer looks for
        outcome = {"kind": "crash", "detail": f"{type(exc).__name__}: {exc}"[:2000]}
    outcome.update(index=index, what=what, cpu=time.process_time() - started)
    return outcome


def child(seed: int, start: int, count: int, cpu_limit: float) -> None:
    """Read cases start..start+count-1, one JSON line each ('start' before, the outcome after)."""
    os.environ["ARCHLANG_MAX_DATA_BYTES"] = str(DATA_LIMIT)
    import torch  # noqa: F401 - what a training run has imported before it reads data
    import archlang.train.sources  # noqa: F401

    limit = _vm_size() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for index in range(start, start + count):
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        resource.setrlimit(resource.RLIMIT_CPU, (int(used + cpu_limit) + 1, resource.RLIM_INFINITY))
        print(json.dumps({"start": index}), flush=True)
        folder = Path(tempfile.mkdtemp(prefix="archlang-data-fuzz-"))
        try:
            print(json.dumps(read_case(seed, index, folder)), flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def run(seed: int, cases: int, cpu_limit: float = 20.0, first: int = 0) -> tuple[list[dict], list[dict]]:
    """Run cases first..first+cases-1 in child processes; (outcomes, failures)."""
    outcomes, failures = [], []
    index = first
    while index < first + cases:
        command = [sys.executable, "-m", "tests.fuzz_data", "--child", "--seed", str(seed), "--first", str(index),
                   "--cases", str(first + cases - index), "--time-limit", str(cpu_limit)]
        try:  # a guard far above any case (a blocked open() of a FIFO uses no CPU time)
            proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=120 + 30 * (first + cases - index))
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            proc = subprocess.CompletedProcess(command, -9, out, "stuck: killed after the wall-clock guard")
        started = None
        for line in proc.stdout.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
                continue
            started = None
            outcomes.append(record)
            if record["kind"] == "crash":
                failures.append(record)
        done = max((o["index"] for o in outcomes), default=index - 1) + 1
        if started is not None or proc.returncode != 0:  # the child died in a case
            at = started if started is not None else done
            failures.append({"index": at, "kind": "crash", "what": "?",
                             "detail": f"the reader's process ended with status {proc.returncode}: "
                                       f"{proc.stderr.strip()[-600:]}"})
            done = at + 1
        index = done
    return outcomes, failures


def _kinds(outcomes) -> str:
    counts = Counter(o["what"] for o in outcomes)
    return f" ({', '.join(f'{n} {what}' for what, n in sorted(counts.items()))})" if counts else ""


def report(seed: int, outcomes: list[dict], failures: list[dict], seconds: float) -> str:
    kinds = Counter(o["kind"] for o in outcomes)
    families = Counter(o["what"].split("/")[0] for o in outcomes)
    slowest = max(outcomes, key=lambda o: o["cpu"], default=None)
    lines = [f"archlang data fuzz: seed {seed}, {len(outcomes)} cases in {seconds:.1f} s "
             f"({', '.join(f'{n} {k}' for k, n in sorted(families.items()))})",
             f"  read:     {kinds['ok']}" + _kinds(o for o in outcomes if o["kind"] == "ok"),
             f"  refused:  {kinds['error']}",
             f"  crashes:  {len(failures)}"]
    if slowest:
        lines.append(f"  slowest:  {slowest['cpu']:.2f} s CPU, case {slowest['index']} ({slowest['what']})")
    for f in failures[:20]:
        lines.append(f"  CRASH case {f['index']} ({f['what']}): {f['detail'][:300]}")
        lines.append(f"    python -m tests.fuzz_data --seed {seed} --case {f['index']} --show")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--case", type=int, help="run one case and show it")
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--time-limit", type=float, default=20.0, help="CPU seconds per case")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.seed, args.first, args.cases, args.time_limit)
        return 0
    if args.case is not None:
        args.first, args.cases = args.case, 1
    started = time.monotonic()
    outcomes, failures = run(args.seed, args.cases, args.time_limit, args.first)
    if args.show:
        for o in outcomes + failures:
            print(f"case {o['index']} ({o['what']}): {o['kind']}\n{o['detail']}")
    print(report(args.seed, outcomes, failures, time.monotonic() - started))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
