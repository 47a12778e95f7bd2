"""What every benchmark section shares: interleaved timing with medians and ratios,
whole-process measurement (wall, CPU, peak memory of the child alone), the
machine's description, and Markdown tables.

The machines this runs on are shared and noisy, so no figure stands alone:
each comparison runs its contenders in the same loop, one after the other,
alternating which goes first, and reports the ratio of their medians.
"""

from __future__ import annotations

import datetime
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PYTHON = sys.executable


class BenchError(RuntimeError):
    """A command or a measurement failed: the section reports it instead of a figure."""


# ---- configuration and results shared by the sections


@dataclass
class Config:
    quick: bool = False
    reps: int | None = None  # overrides each section's own number of repetitions
    warmup: int | None = None
    device: str | None = None  # the GPU section's device (tests run it on "cpu")
    compile: bool = True  # the torch.compile rows of the runtime sections (never in a quick run)
    verbose: bool = True

    def n(self, full: int, quick: int = 1) -> int:
        return self.reps if self.reps is not None else (quick if self.quick else full)

    def w(self, full: int = 1, quick: int = 0) -> int:
        return self.warmup if self.warmup is not None else (quick if self.quick else full)

    def log(self, *parts) -> None:
        if self.verbose:
            print("  ", *parts, flush=True)


@dataclass
class Goal:
    text: str  # "at least 20x faster than torchinfo"
    figure: str  # "worst 31x (densenet201)"
    met: bool | None  # None: reported, no goal


@dataclass
class Section:
    key: str
    title: str
    body: str = ""  # Markdown: tables and notes
    goals: list[Goal] = field(default_factory=list)
    seconds: float = 0.0


# ---- timing


@dataclass
class Sample:
    wall: float  # seconds
    cpu: float = float("nan")  # user + system seconds of the process (and its children)
    rss_mib: float = float("nan")  # peak resident memory of the process
    faults: float = float("nan")  # minor page faults during an in-process call

    def __float__(self) -> float:
        return self.wall


def child_env() -> dict:
    """The environment of a timed command: the user's, with Python's bytecode cache on.

    This sandbox sets PYTHONDONTWRITEBYTECODE=1, so archlang (installed in editable mode)
    would be compiled from source at every start, which an installed tool never is.
    The first (warm-up) run writes the cache; the timed runs read it, as torch's do."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_process(cmd: list[str], *, cwd: Path = ROOT, env: dict | None = None) -> Sample:
    """Run one command to completion; its wall time, CPU time and peak memory (via wait4).

    Linux counts in a child's peak memory its parent's resident size at the fork, so the
    driver runs the whole-process sections first, before any section imports torch."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or child_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # so that Popen does not wait again
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
            raise BenchError(f"`{' '.join(map(str, cmd))}` exited with {proc.returncode}: " + " / ".join(tail))
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def run_json_script(script: str, *args: str, env: dict | None = None, log: Callable | None = None):
    """Run bench/`script` in a fresh interpreter and return the JSON value of its last stdout line.

    Its stderr lines that start with three spaces are progress, passed to `log`."""
    done = subprocess.run([PYTHON, str(BENCH / script), *args], cwd=ROOT, env=env or child_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if log:
        for line in done.stderr.splitlines():
            if line.startswith("   "):
                log(line.strip())
    if done.returncode != 0:
        raise BenchError(f"{script} {' '.join(args)[:60]}: " + " / ".join(done.stderr.strip().splitlines()[-3:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(fn: Callable[[], object]) -> Sample:
    """One in-process call of `fn`, wall time; garbage is collected before, outside the timing."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return Sample(time.perf_counter() - start)


def interleaved(tasks: dict[str, Callable[[], Sample]], reps: int, warmup: int = 0,
                log: Callable | None = None) -> dict[str, list[Sample]]:
    """Run every task once per repetition, alternating the order (A B, B A, ...); warm-up
    rounds are discarded. Returns each task's samples, repetition by repetition."""
    names = list(tasks)
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    out: dict[str, list[Sample]] = {name: [] for name in names}
    for i in range(reps):
        for name in (names if i % 2 == 0 else names[::-1]):
            out[name].append(tasks[name]())
        if log:
            log(f"rep {i + 1}/{reps}: " + "  ".join(f"{n} {out[n][-1].wall:.3f}s" for n in names))
    return out


def _value(sample, attr: str) -> float:
    return getattr(sample, attr) if isinstance(sample, Sample) else float(sample)


def median(samples, attr: str = "wall") -> float:
    """The median of Samples (their `attr`) or of plain numbers."""
    values = [_value(s, attr) for s in samples]
    return statistics.median(values) if values else float("nan")


def ratio(a: list, b: list, attr: str = "wall") -> float:
    """median(a) / median(b)."""
    return median(a, attr) / median(b, attr)


def spread(a: list, b: list, attr: str = "wall") -> str:
    """The middle half of the per-repetition ratios a_i / b_i, e.g. `0.98–1.03`; `—` for fewer than 4."""
    pairs = [_value(x, attr) / _value(y, attr) for x, y in zip(a, b)]
    if len(pairs) < 4:
        return "—"
    q1, _, q3 = statistics.quantiles(pairs, n=4)
    return f"{q1:.3g}–{q3:.3g}"


# ---- the machine


def loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_for_quiet(threshold: float, max_wait: float, poll: float = 30.0) -> float | None:
    """Wait (up to `max_wait` seconds) for the 1-minute load average to drop below `threshold`."""
    deadline = time.monotonic() + max_wait
    load = loadavg()
    while load is not None and load >= threshold and time.monotonic() < deadline:
        print(f"load average {load:.2f} >= {threshold}: waiting {poll:.0f} s", flush=True)
        time.sleep(poll)
        load = loadavg()
    return load


def machine() -> dict:
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "ram_gib": None, "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gib"] = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    versions = {}
    for dist in ("torch", "torchvision", "torchinfo", "torchview", "lark", "pydantic"):
        # From the installed metadata, not by importing: the driver stays small while it spawns
        # the whole-process benchmarks (a child's peak memory counts its parent's at the fork).
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "—"
    info["versions"] = versions
    return info


def machine_line(info: dict) -> str:
    ram = f"{info['ram_gib']:.1f} GiB RAM" if info["ram_gib"] else "RAM unknown"
    v = info["versions"]
    return (f"{info['cpu']}, {info['cores']} cores ({info['usable']} usable), {ram}; {info['os']}; "
            f"Python {info['python']}; torch {v['torch']}, torchvision {v['torchvision']}, "
            f"torchinfo {v['torchinfo']}, torchview {v['torchview']}, lark {v['lark']}, pydantic {v['pydantic']}")


def now() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


# ---- Markdown


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A Markdown table; `align` has one letter per column, l or r (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def secs(x: float) -> str:
    if x != x:  # nan
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def ms(x: float) -> str:
    return "—" if x != x else f"{1000 * x:.1f}" if x < 1 else f"{1000 * x:.0f}"


def times(x: float) -> str:
    return "—" if x != x else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def verdict(met: bool | None) -> str:
    return "—" if met is None else "**met**" if met else "**not met**"
