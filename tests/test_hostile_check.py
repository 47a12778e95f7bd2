"""`archlang check` of generated hostile specs (the fuzzer's bombs and special imports, at the
default limits) stays within 1 GiB of address space and ends in one clean error or a graph.

Each file runs in a process of its own under RLIMIT_AS = 1 GiB (so `check` must not import
torch: it does not) and a CPU-time guard far above what any case takes (the budget of a
check is counted work, not time); the CPU each took is checked against 10 s."""
from __future__ import annotations

import random
import re
import resource
import subprocess
import sys

import pytest

from tests import fuzz_hostile

MEMORY = 1 << 30
CPU_GUARD = 60  # seconds of CPU: only keeps a runaway from stalling the suite
CPU_GOAL = 10.0


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_GUARD, CPU_GUARD))


def check(path, cwd) -> tuple[subprocess.CompletedProcess, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-m", "archlang", "check", str(path)], cwd=cwd, capture_output=True,
                            text=True, preexec_fn=_limits)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "dir.arch").mkdir()
    fuzz_hostile.make_special_files(folder)
    return folder


@pytest.mark.parametrize("seed", range(8))
def test_generated_bombs_stay_within_a_gibibyte(sandbox, seed):
    rng = random.Random(f"check-bomb:{seed}")
    source = fuzz_hostile.bomb(rng)
    path = sandbox / f"bomb{seed}.arch"
    path.write_text(source, encoding="utf-8")
    result, cpu = check(path, sandbox)
    assert result.returncode in (0, 1), result.stderr
    text = result.stderr
    assert "Traceback" not in text and "internal error" not in text and "MemoryError" not in text, text
    if result.returncode:
        assert len(re.findall(r"error\[E\d+\]", text)) == 1, text
    assert cpu < CPU_GOAL, f"{cpu:.1f} s of CPU for\n{source[:500]}"


@pytest.mark.parametrize("name", fuzz_hostile.SPECIAL_IMPORTS)
def test_imports_of_special_files_stay_within_a_gibibyte(sandbox, name):
    path = sandbox / f"imports_{name}"
    path.write_text(f'import "{name}"\nnetwork N:\n    input(3, 8, 8) -> relu\n', encoding="utf-8")
    result, _ = check(path, sandbox)
    assert result.returncode == 1 and re.search(r"error\[E50\d\]", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
