"""Smoke test of the benchmark suite (bench/run.py): its cheap sections in --quick mode
(one summary-vs-torchinfo pair, one run each; `check` of 1,000 conv layers; ResNet-18
construction; the GPU section, which says so when there is no GPU), written to a
temporary RESULTS.md, and a second run that must keep the other sections and the
hand-written notes. The figures are not judged: this keeps the scripts from rotting.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "run.py"

pytest.importorskip("torchinfo")
pytest.importorskip("torchvision")


def bench(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(RUN), "--quick", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_quick_run_writes_results(tmp_path):
    import torch

    results = tmp_path / "RESULTS.md"
    done = bench("--only", "summary,scaling", "--only", "construction,gpu", "--results", str(results))
    text = results.read_text()
    assert "machine:" in text and "torch " in text
    for title in ("## 1. Analysis", "## 2. Scaling", "## 3. Construction", "## 8. GPU"):
        assert title in text, title
        assert title[3:] in done.stdout  # printed as it is measured
    assert "| resnet50 |" in text  # the summary-vs-torchinfo pair
    assert "| 1,000 | 2,006 |" in text  # the scaling row: 2N + 6 layers
    assert "| resnet18 | meta |" in text
    assert "_runtime: not measured yet._" in text
    assert "## Goals" in text and "| 1 | `archlang summary` at least 20x" in text
    if not torch.cuda.is_available():
        assert "Skipped: no CUDA device" in text
    assert "Failed:" not in text

    # A second run of one section replaces its block only, and keeps the hand-written notes.
    notes = "<!-- notes -->\n## What was changed\n\nhand-written text\n"
    results.write_text(text.replace("<!-- notes -->\n", notes))
    bench("--only", "scaling", "--results", str(results))
    again = results.read_text()
    assert again.endswith(notes)
    assert again.count("## 2. Scaling") == 1
    assert "| resnet18 | meta |" in again and "| resnet50 |" in again


def test_unknown_section_is_a_usage_error():
    done = subprocess.run([sys.executable, str(RUN), "--only", "nonsense", "--no-write"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown section nonsense" in done.stderr
