"""train(): run directory contents, resume, failures, options."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from archlang.train import TrainConfig, TrainError, train
from archlang.train import checkpoint as ckpt
from archlang.train import loop
from train_helpers import BlowUp, FakeSource, FakeSpecError, digits_npz, read_metrics, tiny_net, tiny_source

METRIC_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
               "images_per_s"}


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory):
    """300 digits at their native 8×8: a run of a few epochs takes a second."""
    return "npz:" + str(digits_npz(tmp_path_factory.mktemp("data") / "digits.npz", 300))


def config(tmp_path, data, **kw):
    return TrainConfig(data=data, out=str(tmp_path / "run"), **{"epochs": 2, **kw})


def test_run_directory_holds_every_artifact(tmp_path, small_digits, capsys):
    source = tiny_source(overrides={"width": 4})
    result = train(source, config(tmp_path, small_digits, epochs=3))
    run = tmp_path / "run"
    assert source.builds == 1
    assert sorted(p.name for p in run.iterdir()) == [
        "best.pt", "checkpoint.pt", "config.json", "curves.png", "metrics.jsonl", "spec.arch"]
    metrics = read_metrics(run)
    assert [m["epoch"] for m in metrics] == [1, 2, 3] and all(METRIC_KEYS <= set(m) for m in metrics)
    assert result.best_val_acc == max(m["val_acc"] for m in metrics)
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "spec.arch").read_text() == source.source_text
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["overrides"] == {"width": 4} and cfg["settings"]["lr"] == 8e-3
    assert cfg["data"]["train_images"] == 240 and cfg["data"]["mean"]
    out = capsys.readouterr()
    assert out.out.startswith("data: npz:") and "train 240 / val 60" in out.out
    assert out.err.count("\n") == 3 and "epoch 3/3  train loss" in out.err  # not a TTY


def test_checkpoints_load_with_weights_only(tmp_path, small_digits):
    train(tiny_source(), config(tmp_path, small_digits))
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert {"model", "optimizer", "scheduler", "rng", "best_val_acc", "config"} <= set(state)
    assert {"python", "numpy", "torch"} <= set(state["rng"][0])
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    model = tiny_net()
    model.load_state_dict(best["model"])
    assert best["val_acc"] == state["best_val_acc"]


def interrupt_after(monkeypatch, last_epoch):
    """Make training stop like a Ctrl-C once ``last_epoch`` is saved."""
    save = loop._save

    def save_then_stop(run, epoch, improved):
        save(run, epoch, improved)
        if epoch == last_epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_save", save_then_stop)


def test_resume_reproduces_an_uninterrupted_run(tmp_path, small_digits, monkeypatch):
    # Dropout (global RNG), augmentation and shuffling all have to line up.
    settings = dict(data=small_digits, epochs=4, augment=True, seed=3)
    train(tiny_source(), TrainConfig(out=str(tmp_path / "full"), **settings))
    with monkeypatch.context() as patch:
        interrupt_after(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_source(), TrainConfig(out=str(tmp_path / "part"), **settings))
    assert len(read_metrics(tmp_path / "part")) == 2
    train(tiny_source(), TrainConfig(out=str(tmp_path / "part"), resume=True, **settings))
    full, part = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "part")
    assert [m["epoch"] for m in part] == [1, 2, 3, 4]
    for a, b in zip(full, part):
        for key in ("train_loss", "val_loss", "train_acc", "val_acc", "lr"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), (a["epoch"], key)


def test_resume_refuses_changed_settings(tmp_path, small_digits):
    train(tiny_source(), config(tmp_path, small_digits, epochs=1))
    with pytest.raises(TrainError, match=r"epochs 1 → 2, lr 0\.008 → 0\.01, seed 0 → 1"):
        train(tiny_source(), config(tmp_path, small_digits, resume=True, lr=0.01, seed=1))
    with pytest.raises(TrainError, match="overrides"):
        train(tiny_source(overrides={"width": 8}), config(tmp_path, small_digits, resume=True))


def test_resume_needs_a_checkpoint(tmp_path, small_digits):
    with pytest.raises(TrainError, match="--resume: no checkpoint.pt"):
        train(tiny_source(), config(tmp_path, small_digits, resume=True))


def test_resume_of_a_finished_run_does_nothing(tmp_path, small_digits, capsys):
    train(tiny_source(), config(tmp_path, small_digits, epochs=1))
    # As after a kill between the checkpoint's write and the curves': the resume redraws them.
    (tmp_path / "run" / "curves.png").unlink()
    result = train(tiny_source(), config(tmp_path, small_digits, epochs=1, resume=True))
    assert "nothing to do" in capsys.readouterr().out and len(result.history) == 1
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nonfinite_loss_stops_with_the_last_good_checkpoint(tmp_path, small_digits):
    steps = 240 // 16  # batches per epoch
    source = tiny_source()
    source.factory = lambda: BlowUp(tiny_net(), after=steps + 3)
    with pytest.raises(TrainError) as info:
        train(source, config(tmp_path, small_digits, epochs=3))
    text = info.value.format()
    assert f"the loss became nan at epoch 2, step 3 of {steps}" in text
    assert "last good checkpoint (epoch 1)" in text
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert len(read_metrics(tmp_path / "run")) == 1


@pytest.mark.parametrize("output_shape, message", [
    ((1000,), "outputs 1000 classes, but npz:.* has 10 labels"),
    ((10, 2), r"outputs 10×2: a map"),
])
def test_output_that_does_not_fit_the_data_is_refused(tmp_path, small_digits, output_shape, message):
    source = tiny_source()
    source.output_shape = output_shape
    with pytest.raises(FakeSpecError, match=message) as info:
        train(source, config(tmp_path, small_digits))
    assert info.value.format().startswith("fake.arch:9:5: error:")
    assert source.builds == 0 and not (tmp_path / "run").exists()


def test_built_model_output_is_checked_too(tmp_path, small_digits):
    source = tiny_source()
    source.factory = lambda: tiny_net(classes=7)  # says (10,), builds 7
    with pytest.raises(FakeSpecError, match=r"output of shape \(7,\)"):
        train(source, config(tmp_path, small_digits))


def test_unwritable_run_dir_is_reported_before_training(tmp_path, small_digits):
    (tmp_path / "file").write_text("")
    cfg = TrainConfig(data=small_digits, out=str(tmp_path / "file" / "run"))
    with pytest.raises(TrainError, match="cannot write to run directory"):
        train(tiny_source(), cfg)


def test_full_disk_is_reported_before_training(tmp_path, small_digits, monkeypatch):
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    with pytest.raises(TrainError, match="not enough free space") as info:
        train(tiny_source(), config(tmp_path, small_digits))
    assert "the disk has 0.0 MiB free" in str(info.value)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_cuda_request_without_cuda(tmp_path, small_digits, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrainError, match="--device cuda: CUDA is not available"):
        train(tiny_source(), config(tmp_path, small_digits, device="cuda"))


def test_sgd_step_schedule_l1_amp_channels_last_and_workers(tmp_path, small_digits):
    cfg = config(tmp_path, small_digits, epochs=3, optimizer="sgd", scheduler="step", l1=1e-3,
                 amp=True, channels_last=True, workers=1, weight_decay=1e-4)
    train(tiny_source(), cfg)
    lrs = [m["lr"] for m in read_metrics(tmp_path / "run")]
    assert lrs == pytest.approx([0.05, 0.005, 0.0005])


def test_l1_penalty_shrinks_weights(tmp_path, small_digits):
    def weight_l1(run):
        state = torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)["model"]
        return sum(float(t.abs().sum()) for k, t in state.items() if k.endswith("weight") and t.ndim > 1)

    for run, l1 in (("plain", 0.0), ("l1", 0.1)):
        train(tiny_source(), TrainConfig(data=small_digits, epochs=1, l1=l1, out=str(tmp_path / run)))
    assert weight_l1("l1") < 0.8 * weight_l1("plain")


def test_progress_bar_on_a_terminal(tmp_path, small_digits, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    train(tiny_source(), config(tmp_path, small_digits, epochs=1))
    text = tty.getvalue()
    assert "\repoch 1/1 [" in text and "img/s" in text and "] 15/15 loss" in text
    assert text.endswith("\n") and "val loss" in text.splitlines()[-1]


def test_bad_settings_are_errors_not_asserts(tmp_path):
    for kw, message in (({"epochs": 0}, "--epochs must be positive"),
                        ({"lr": -1.0}, "--lr must be positive"),
                        ({"optimizer": "adam", "momentum": 0.5}, "--momentum applies to"),
                        ({"optimizer": "rmsprop"}, "not one of")):
        with pytest.raises(TrainError, match=message):
            train(FakeSource(), TrainConfig(out=str(tmp_path), **kw))


def _files(run_dir):
    return {p.name: p.read_bytes() for p in run_dir.iterdir()}


def test_a_run_directory_is_replaced_only_with_force(tmp_path, small_digits, capsys):
    run = tmp_path / "run"
    train(tiny_source(), config(tmp_path, small_digits, epochs=2))
    before = _files(run)
    with pytest.raises(TrainError, match=r"already holds a run \(epoch 2, best validation accuracy") as info:
        train(tiny_source(), config(tmp_path, small_digits, epochs=1))
    assert "--resume continues it, --force replaces it" in info.value.hint
    assert _files(run) == before
    train(tiny_source(), config(tmp_path, small_digits, epochs=1, force=True))
    assert len(read_metrics(run)) == 1
    assert "replacing the earlier run" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == sorted(ckpt.RUN_FILES)  # no temp, staging or old files
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_an_unfinished_run_without_a_checkpoint_is_replaced(tmp_path, small_digits, capsys):
    """A run killed while saving its first epoch leaves best.pt but no checkpoint: nothing to resume."""
    run = tmp_path / "run"
    train(tiny_source(), config(tmp_path, small_digits, epochs=2))
    (run / "checkpoint.pt").unlink()
    train(tiny_source(), config(tmp_path, small_digits, epochs=1))
    assert "removed the files of an unfinished run" in capsys.readouterr().err
    assert [m["epoch"] for m in read_metrics(run)] == [1]


@pytest.mark.parametrize("failure", ["ctrl-c", "diverges", "disk-full"])
def test_a_forced_run_that_fails_before_its_first_epoch_keeps_the_earlier_run(
        tmp_path, small_digits, monkeypatch, failure):
    run = tmp_path / "run"
    train(tiny_source(), config(tmp_path, small_digits, epochs=2))
    before = _files(run)
    source = tiny_source()
    if failure == "ctrl-c":
        def stop(*args):
            raise KeyboardInterrupt
        monkeypatch.setattr(loop, "_train_pass", stop)
        expected = (KeyboardInterrupt, "the earlier run in .* is unchanged")
    elif failure == "diverges":
        source.factory = lambda: BlowUp(tiny_net(), after=3)
        expected = (TrainError, "the loss became nan at epoch 1")
    else:
        def full(path, payload):
            raise ckpt._write_error(path, OSError(28, "No space left on device"))
        monkeypatch.setattr(ckpt, "write_atomic", full)
        expected = (TrainError, "No space left on device")
    with pytest.raises(expected[0], match=expected[1]):
        train(source, config(tmp_path, small_digits, epochs=1, force=True))
    assert _files(run) == before


@pytest.mark.parametrize("renames", range(13))
def test_a_forced_run_killed_during_its_swap_leaves_one_whole_run(tmp_path, small_digits, monkeypatch, renames):
    """Ctrl-C after any number of the swap's renames: the next start finds the old run or the new one."""
    run = tmp_path / "run"
    train(tiny_source(), config(tmp_path, small_digits, epochs=2))
    old = _files(run)
    real, calls = ckpt.os.replace, []

    def replace(src, dst):
        src, dst = Path(src), Path(dst)
        if src.parent.name == ckpt.STAGING and dst.parent == run or dst.parent.name == ckpt.PREVIOUS:
            calls.append(dst)
            if len(calls) > renames:
                raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", replace)
    try:
        train(tiny_source(), config(tmp_path, small_digits, epochs=1, force=True))
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    monkeypatch.setattr(ckpt.os, "replace", real)
    ckpt.recover_swap(run)
    now = _files(run)
    assert sorted(now) == sorted(ckpt.RUN_FILES)
    epochs = [m["epoch"] for m in read_metrics(run)]
    assert now == old if epochs == [1, 2] else epochs == [1]
    assert interrupted == (renames < 12)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert [r["epoch"] for r in state["history"]] == epochs


@pytest.mark.slow
def test_compiled_model_trains_and_saves_plain_weights(tmp_path, small_digits):
    # torch.compile on CPU builds C++ kernels: about 10 s on a 2-core machine.
    train(tiny_source(), config(tmp_path, small_digits, epochs=1, compile=True))
    state = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["model"]
    assert not any(key.startswith("_orig_mod.") for key in state)
    tiny_net().load_state_dict(state)
