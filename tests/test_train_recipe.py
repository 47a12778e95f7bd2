"""The default recipe: LeNet-5 (sigmoid) on digits reaches 98 % within 10 epochs."""
from __future__ import annotations

import pytest

from archlang.train.command import run_train
from train_helpers import FakeSource, parse, read_metrics


@pytest.mark.slow
def test_default_recipe_reaches_98_percent_on_digits(tmp_path, capsys):
    # Only FILE and --out: every other setting is the default being tested.
    args = parse(["train", "lenet5.arch", "--out", str(tmp_path / "run")])
    assert run_train(args, lambda path, overrides: FakeSource()) == 0
    metrics = read_metrics(tmp_path / "run")
    assert len(metrics) == 10
    best = max(m["val_acc"] for m in metrics)
    assert best >= 0.98, [round(m["val_acc"], 4) for m in metrics]
    assert "resized" in capsys.readouterr().out
