"""4b. Runtime under `torch.compile` (inductor): the comparison of section 4a with both
models compiled. Compiling takes some 30-60 s per model and pass on 2 cores, so a quick
run, and --no-compile, skip it.
"""

from __future__ import annotations

from benchlib import Config, Goal, Section
from sec_runtime import run_cpu

KEY = "compile"
TITLE = "4b. Runtime on the CPU under `torch.compile`: compiled spec vs torchvision"


def run(cfg: Config) -> Section:
    if cfg.quick or not cfg.compile:
        why = "a quick run" if cfg.quick else "--no-compile"
        return Section(KEY, TITLE, f"Skipped ({why}).", [Goal("torch.compile runtime", f"skipped ({why})", None)])
    section = run_cpu(cfg, compiled=True)
    section.key, section.title = KEY, TITLE
    return section
