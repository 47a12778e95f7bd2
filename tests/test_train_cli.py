"""``python -m archlang train/eval`` end to end: main CLI, the core's model source,
the trainer, and ``--nproc`` relaunching the same command under torchrun."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from train_helpers import read_metrics

LENET = str(Path(__file__).resolve().parents[1] / "specs" / "lenet5.arch")


def archlang(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlang", *argv], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """One epoch of LeNet-5 on digits in a single process."""
    out = tmp_path_factory.mktemp("one") / "run"
    done = archlang("train", LENET, "--epochs", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out, done


def test_train_writes_the_run(one_process):
    out, done = one_process
    assert "data: digits, 1797 images" in done.stdout and "epoch 1/1" in done.stderr
    assert "LeNet5" in (out / "spec.arch").read_text()
    assert json.loads((out / "config.json").read_text())["network"] == "LeNet5"


def test_eval_reports_the_best_checkpoint(one_process):
    out, _ = one_process
    done = archlang("eval", LENET, "--checkpoint", str(out))
    assert done.returncode == 0, done.stderr
    accuracy = read_metrics(out)[0]["val_acc"]
    assert f"accuracy: {100 * accuracy:.2f}%" in done.stdout and "confusion matrix" in done.stdout


def test_output_that_does_not_fit_points_at_the_last_layer(tmp_path):
    done = archlang("train", LENET, "--set", "classes=1000", "--out", str(tmp_path / "run"))
    assert done.returncode == 1
    assert "lenet5.arch:" in done.stderr and "outputs 1000 classes" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def test_two_processes_train_like_one(one_process, tmp_path):
    # LeNet-5 has no BatchNorm or dropout, so a global batch of 16 split 8 + 8
    # over two gloo processes makes the same updates as 16 in one.
    out = tmp_path / "run"
    done = archlang("train", LENET, "--epochs", "1", "--nproc", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("data: digits") == 1  # only rank 0 prints
    assert json.loads((out / "config.json").read_text())["processes"] == 2
    two, one = read_metrics(out)[0], read_metrics(one_process[0])[0]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert two[key] == pytest.approx(one[key], abs=1e-5), key


@pytest.mark.slow
def test_worker_errors_are_reported_once_without_torchrun_noise(tmp_path):
    done = archlang("train", LENET, "--nproc", "2", "--set", "classes=7",
                    "--out", str(tmp_path / "run"))
    assert done.returncode == 1
    assert done.stderr.count("outputs 7 classes") == 1
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr
