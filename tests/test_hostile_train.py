"""Hostile training options and checkpoints: each is a clean TrainError, never an internal error."""
from __future__ import annotations

import contextlib
import copy
import io
import math
import shutil

import pytest
import torch

from archlang.cli import main
from archlang.train import TrainError
from archlang.train.config import TrainConfig
from archlang.train.evaluation import check_memory, evaluate
from archlang.train.loop import train
from train_helpers import tiny_source

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("field, values", [
    ("lr", [NAN, INF, -INF, 1e308, 1e4, 0.0, -1.0]),
    ("weight_decay", [NAN, INF, 1e308, -0.5]),
    ("l1", [NAN, INF, 1e300, -1e-9]),
    ("momentum", [NAN, INF, 1.5, -0.1]),
    ("seed", [10 ** 30, 2 ** 63, -1, -(10 ** 30)]),
    ("epochs", [0, -3, 10 ** 12]),
    ("batch_size", [0, 10 ** 12, 2 ** 64]),
    ("workers", [-1, 10 ** 6]),
])
def test_bad_numbers_are_refused_before_anything_runs(field, values):
    for value in values:
        optimizer = "sgd" if field == "momentum" else "adamw"
        with pytest.raises(TrainError) as info:
            TrainConfig(**{field: value}, optimizer=optimizer).resolved()
        text = info.value.format()
        assert f"--{field.replace('_', '-')}" in text and len(text) < 400, text


@pytest.mark.parametrize("field, value", [("lr", 1e3), ("lr", 1e-12), ("momentum", 0.0), ("momentum", 1.0),
                                          ("weight_decay", 0.0), ("seed", 2 ** 63 - 1), ("seed", 0),
                                          ("l1", 1e-5), ("workers", 0)])
def test_the_edges_of_the_ranges_are_accepted(field, value):
    optimizer = "sgd" if field == "momentum" else "adamw"
    assert getattr(TrainConfig(**{field: value}, optimizer=optimizer).resolved(), field) == value


@pytest.mark.parametrize("option, value", [("--weight-decay", "nan"), ("--lr", "1e308"), ("--lr", "inf"),
                                           ("--l1", "nan"), ("--seed", str(10 ** 40)), ("--momentum", "nan")])
def test_the_command_line_prints_one_clean_error(option, value, tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "specs/lenet5.arch", "--optimizer", "sgd", option, value, "--out", str(tmp_path)])
    assert code == 1
    text = err.getvalue()
    assert text.startswith("error: ") and option in text and "internal error" not in text, text
    assert not list(tmp_path.iterdir())  # refused before the run directory is touched


# ---------------------------------------------------------------- memory of a batch

@pytest.mark.parametrize("size, batch", [(60000, 1), (20000, 64), (4000, 10 ** 6)])
def test_a_batch_that_cannot_fit_is_refused_before_allocating(size, batch):
    source = tiny_source(size=8)
    source.input_shape = (1, size, size)
    source.activation_bytes = 4 * 4 * size * size  # four float32 channels at full size
    with pytest.raises(TrainError, match="needs about .* GiB of memory"):
        check_memory(source, batch, torch.device("cpu"))


def test_a_small_batch_passes_the_memory_check():
    source = tiny_source(size=8)
    source.activation_bytes = 4 * 4 * 64
    check_memory(source, 16, torch.device("cpu"))


def test_huge_input_through_the_cli_is_a_clean_error(tmp_path):
    spec = tmp_path / "gap.arch"
    spec.write_text("network GAP:\n    input(1, 28, 28) -> conv(4, 3) -> relu -> global_avgpool -> flatten "
                    "-> dense(10)\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", str(spec), "--input", "1x60000x60000", "--out", str(tmp_path / "run")])
    assert code == 1 and "GiB of memory" in err.getvalue() and "internal error" not in err.getvalue()


# ---------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(tiny_source(size=8), TrainConfig(data="digits", epochs=1, batch_size=64, out=str(out)).resolved())
    return out


def damage(run_dir, tmp_path, change):
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    state = torch.load(target / "checkpoint.pt", weights_only=True)
    state = copy.deepcopy(state)
    change(state)
    torch.save(state, target / "checkpoint.pt")
    (target / "best.pt").unlink()
    return target


def _set(key, value):
    return lambda s: s.__setitem__(key, value)


def _pop(key):
    return lambda s: s.pop(key)


EVAL_DAMAGE = {
    "no model": (_pop("model"), "has no 'model'"),
    "model a string": (_set("model", "weights"), "bad 'model'"),
    "model of lists": (_set("model", {"w": [1, 2]}), "bad 'model'"),
    "std 0": (lambda s: s["normalization"].update(std=[0.0]), "bad 'normalization'"),
    "std negative": (lambda s: s["normalization"].update(std=[-1.0]), "bad 'normalization'"),
    "std nan": (lambda s: s["normalization"].update(std=[NAN]), "bad 'normalization'"),
    "mean inf": (lambda s: s["normalization"].update(mean=[INF]), "bad 'normalization'"),
    "two channels": (lambda s: s["normalization"].update(mean=[0, 0], std=[1, 1]), "bad 'normalization'"),
    "three channels for one": (lambda s: s["normalization"].update(mean=[0] * 3, std=[1] * 3), "3 channel"),
    "normalization a list": (_set("normalization", [0.5, 0.2]), "bad 'normalization'"),
    "a weight missing": (lambda s: s["model"].pop(next(iter(s["model"]))), "does not fit"),
}
RESUME_DAMAGE = dict(EVAL_DAMAGE, **{
    "no history": (_pop("history"), "has no 'history'"),
    "history a string": (_set("history", "abc"), "bad 'history'"),
    "history without losses": (_set("history", [{"epoch": 1}]), "bad 'history'"),
    "no epoch": (_pop("epoch"), "has no 'epoch'"),
    "epoch a string": (_set("epoch", "1"), "bad 'epoch'"),
    "no optimizer": (_pop("optimizer"), "has no 'optimizer'"),
    "optimizer of no groups": (_set("optimizer", {"state": {}, "param_groups": []}), "damaged 'optimizer'"),
    "scheduler wrong": (_set("scheduler", {"x": 1}), "damaged 'scheduler'"),
    "rng wrong": (_set("rng", [{"python": 1}]), "damaged 'rng'"),
    "rng empty": (_set("rng", []), "bad 'rng'"),
    "no config": (_pop("config"), "has no 'config'"),
    "best accuracy nan": (_set("best_val_acc", NAN), "bad 'best_val_acc'"),
})
RESUME_DAMAGE.pop("three channels for one")  # resuming recomputes the statistics: nothing to refuse


@pytest.mark.parametrize("case", sorted(EVAL_DAMAGE))
def test_eval_of_a_checkpoint_lacking_fields(run_dir, tmp_path, case):
    change, message = EVAL_DAMAGE[case]
    target = damage(run_dir, tmp_path, change)
    with pytest.raises(TrainError, match=message):
        evaluate(tiny_source(size=8), str(target / "checkpoint.pt"), "digits", device="cpu")


@pytest.mark.parametrize("case", sorted(RESUME_DAMAGE))
def test_resume_from_a_checkpoint_lacking_fields(run_dir, tmp_path, case):
    change, message = RESUME_DAMAGE[case]
    target = damage(run_dir, tmp_path, change)
    config = TrainConfig(data="digits", epochs=1, batch_size=64, out=str(target), resume=True).resolved()
    with pytest.raises(TrainError, match=message):
        train(tiny_source(size=8), config)


def test_an_intact_checkpoint_still_evaluates_and_resumes(run_dir, tmp_path):
    target = damage(run_dir, tmp_path, lambda s: None)
    result = evaluate(tiny_source(size=8), str(target / "checkpoint.pt"), "digits", device="cpu")
    assert math.isfinite(result.loss) and result.images == 359
    config = TrainConfig(data="digits", epochs=1, batch_size=64, out=str(target), resume=True).resolved()
    assert len(train(tiny_source(size=8), config).history) == 1  # the run was complete: nothing left to train


@pytest.mark.parametrize("nproc", [10 ** 6, 0, -2])
def test_nproc_out_of_range_is_refused_before_any_process_starts(nproc, capsys):
    from archlang.train.command import run_train
    from train_helpers import parse

    assert run_train(parse(["train", "x.arch", "--nproc", str(nproc)]), None) == 1
    assert "--nproc" in capsys.readouterr().err


# ---------------------------------------------------------------- outputs

def test_fmt_of_a_file_it_cannot_write_is_a_clean_error(tmp_path, monkeypatch, capsys):
    import errno
    from pathlib import Path

    spec = tmp_path / "a.arch"
    spec.write_text("network N:\n    input(3, 8, 8)   ->   relu\n")

    def refuse(self, data):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    assert main(["fmt", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "error[E704]: cannot write" in err and "Read-only file system" in err and "internal error" not in err


@pytest.mark.parametrize("command", [["compile", "-o", "{d}"], ["compile", "-o", "{d}/file.txt/m.py"],
                                     ["render", "-o", "{d}"], ["export", "-o", "{d}"]])
def test_outputs_at_a_folder_or_under_a_file_are_clean_errors(tmp_path, command, capsys):
    (tmp_path / "file.txt").write_text("x")
    argv = [command[0], "specs/lenet5.arch"] + [a.format(d=tmp_path) for a in command[1:]]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error[E704]" in err and "internal error" not in err, err
