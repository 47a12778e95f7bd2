"""archlang train / eval as the CLI runs them: parsing, exit codes, messages."""
from __future__ import annotations

import argparse

import pytest

from archlang.train.command import _overrides, add_train_parser, run_eval, run_train, worker_argv
from train_helpers import FakeSpecError, digits_npz, parse, read_metrics, tiny_source


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory):
    return "npz:" + str(digits_npz(tmp_path_factory.mktemp("data") / "digits.npz", 300))


def factory_for(source_kw=None):
    calls = []

    def factory(path, overrides):
        calls.append((path, overrides))
        return tiny_source(overrides=overrides, **(source_kw or {}))

    factory.calls = calls
    return factory


def test_train_then_eval_reports_the_best_epoch(tmp_path, small_digits, capsys):
    out = tmp_path / "run"
    factory = factory_for()
    args = parse(["train", "net.arch", "--data", small_digits, "--epochs", "2", "--out", str(out)],
                 overrides={"width": 4})
    assert run_train(args, factory) == 0
    assert factory.calls == [("net.arch", {"width": 4})]
    best = max(m["val_acc"] for m in read_metrics(out))
    capsys.readouterr()
    args = parse(["eval", "net.arch", "--checkpoint", str(out), "--data", small_digits],
                 overrides={"width": 4})
    assert run_eval(args, factory) == 0
    text = capsys.readouterr().out
    assert f"accuracy: {100 * best:.2f}%" in text  # same split, same normalization
    assert "confusion matrix (rows: true class, columns: predicted class)" in text
    table = text.split("true\\pred")[1].splitlines()
    assert len(table) == 11 and table[0].split()[:10] == [str(i) for i in range(10)]
    counts = [int(v) for row in table[1:] for v in row.split()[1:11]]
    assert sum(counts) == 60  # every validation image once


def test_eval_of_a_checkpoint_from_another_network(tmp_path, small_digits, capsys):
    out = tmp_path / "run"
    run_train(parse(["train", "a.arch", "--data", small_digits, "--epochs", "1", "--out", str(out)]),
              factory_for())
    capsys.readouterr()
    code = run_eval(parse(["eval", "b.arch", "--checkpoint", str(out / "best.pt"),
                           "--data", small_digits]), factory_for({"width": 8}))
    err = capsys.readouterr().err
    assert code == 1 and "does not fit network 'Tiny'" in err and "Traceback" not in err


def test_eval_of_a_missing_checkpoint(tmp_path, capsys):
    code = run_eval(parse(["eval", "b.arch", "--checkpoint", str(tmp_path / "nope.pt")]), factory_for())
    assert code == 1 and "checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--data", "imagenet"], "error: unknown data source 'imagenet'"),
    (["--data", "npz:/nowhere.npz"], "does not exist"),
    (["--optimizer", "adam", "--momentum", "0.5"], "--momentum applies to --optimizer sgd only"),
    (["--epochs", "0"], "--epochs must be positive"),
    (["--device", "cuda"], "CUDA is not available"),
])
def test_user_errors_exit_1_with_a_message(tmp_path, capsys, argv, message, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    args = parse(["train", "net.arch", "--out", str(tmp_path / "run"), *argv])
    assert run_train(args, factory_for()) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_spec_errors_from_the_core_are_printed_as_formatted(tmp_path, small_digits, capsys):
    def broken(path, overrides):
        raise FakeSpecError("unknown layer 'convv'", "did you mean 'conv'?")

    assert run_train(parse(["train", "x.arch", "--data", small_digits]), broken) == 1
    err = capsys.readouterr().err
    assert err.startswith("fake.arch:9:5: error: unknown layer 'convv'") and "did you mean" in err


def test_output_mismatch_is_refused_before_training(tmp_path, small_digits, capsys):
    args = parse(["train", "x.arch", "--data", small_digits, "--out", str(tmp_path / "run")])
    assert run_train(args, factory_for({"classes": 1000})) == 1
    err = capsys.readouterr().err
    assert "fake.arch:9:5: error: network 'Tiny' outputs 1000 classes" in err
    assert "make the last layer output 10 units" in err and not (tmp_path / "run").exists()


def test_batch_size_must_divide_among_processes(capsys):
    args = parse(["train", "x.arch", "--nproc", "3", "--batch-size", "16"])
    assert run_train(args, factory_for()) == 1
    assert "--batch-size 16 does not divide among 3 processes" in capsys.readouterr().err


def test_help_documents_the_global_batch_size():
    parser = argparse.ArgumentParser(prog="archlang")
    train_parser = add_train_parser(parser.add_subparsers())
    text = " ".join(train_parser.format_help().split())
    assert "over all processes: with --nproc P each process takes B/P" in text
    # the main CLI adds FILE, --set and --input itself; they must not clash
    train_parser.add_argument("file", metavar="FILE")
    train_parser.add_argument("--set", dest="overrides", action="append", default=[])
    train_parser.add_argument("--input")
    args = parser.parse_args(["train", "n.arch", "--set", "w=4", "--set", "x=a=b"])
    assert _overrides(args) == {"w": "4", "x": "a=b"}


def test_worker_command_line_drops_nproc():
    args = parse(["train", "n.arch", "--nproc", "2", "--epochs", "3"])
    argv = ["train", "n.arch", "--set", "w=4", "--nproc", "2", "--epochs", "3", "--nproc=2"]
    assert worker_argv(args, argv) == ["train", "n.arch", "--set", "w=4", "--epochs", "3"]


def test_worker_command_line_drops_max_restarts_and_torchrun_gets_it():
    from archlang.train.distributed import relaunch_command
    args = parse(["train", "n.arch", "--nproc", "2", "--max-restarts", "3"])
    argv = ["train", "n.arch", "--max-restarts", "3", "--nproc", "2", "--max-restarts=3"]
    assert worker_argv(args, argv) == ["train", "n.arch"]
    assert "--max-restarts=3" in relaunch_command(2, ["train", "n.arch"], 3)


def test_negative_max_restarts_is_refused(capsys):
    args = parse(["train", "x.arch", "--nproc", "2", "--max-restarts", "-1"])
    assert run_train(args, factory_for()) == 1
    assert "--max-restarts must be at least 0" in capsys.readouterr().err


def test_worker_command_line_rebuilt_when_called_from_python():
    args = parse(["train", "n.arch", "--nproc", "2", "--epochs", "3", "--amp", "--lr", "0.01"],
                 overrides={"width": 8})
    assert worker_argv(args, ["pytest", "-q"]) == [
        "train", "n.arch", "--amp", "--epochs", "3", "--lr", "0.01", "--set", "width=8"]
