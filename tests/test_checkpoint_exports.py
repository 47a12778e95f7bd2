"""`archlang compile` and `archlang export` with `--checkpoint`: the generated source and the
ONNX file carry a run's trained weights and compute what the run's model computes; a
checkpoint that does not fit the network, or a file that is not one, is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from archlang.cli import main  # noqa: E402

LENET = str(Path(__file__).resolve().parent.parent / "specs" / "lenet5.arch")
INPUT = (1, 32, 32)  # not the spec's 1×28×28: compile and export must take the run's own


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A LeNet-5 run: one short epoch on the digits, at 1×32×32."""
    out = tmp_path_factory.mktemp("runs") / "lenet"
    assert main(["train", LENET, "--data", "digits", "--epochs", "1", "--batch-size", "64", "--input", "1x32x32",
                 "--out", str(out)]) == 0
    return out


def run_model(run: Path):
    """The run's model, rebuilt from the spec and its best.pt, loaded the safe way."""
    state = torch.load(run / "best.pt", weights_only=True)
    model = archlang.compile(LENET, input_shape=INPUT)
    model.load_state_dict(state["model"])
    return model.eval()


def batch():
    return torch.randn(4, *INPUT, generator=torch.Generator().manual_seed(1))


def test_compile_writes_source_that_loads_the_trained_weights(run, tmp_path, capsys):
    out = tmp_path / "lenet.py"
    assert main(["compile", LENET, "--checkpoint", str(run), "-o", str(out)]) == 0
    assert f"and {tmp_path / 'lenet.pt'}" in capsys.readouterr().out
    weights = torch.load(tmp_path / "lenet.pt", weights_only=True)  # a plain state_dict
    assert list(weights) == list(run_model(run).state_dict())
    namespace: dict = {"__name__": "generated", "__file__": str(out)}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    generated = namespace["LeNet5"]().eval()  # loads lenet.pt from beside the file
    x = batch()
    with torch.no_grad():
        expected = run_model(run)(x)
        torch.testing.assert_close(generated(x), expected, rtol=0, atol=0)
        assert not torch.allclose(namespace["LeNet5"](weights=None).eval()(x), expected)  # fresh weights
    # and the file runs on its own, from another folder
    done = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, cwd="/", check=True)
    assert done.stdout.rstrip().endswith("torch.Size([1, 10])")


def test_export_embeds_the_trained_weights(run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "lenet.onnx"
    assert main(["export", LENET, "--checkpoint", str(run / "best.pt"), "-o", str(out)]) == 0
    assert not list(tmp_path.glob("*.data"))  # one self-contained file
    x = batch()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), run_model(run)(x), rtol=1e-4, atol=1e-5)


def test_a_checkpoint_of_another_network_is_refused(run, tmp_path, capsys):
    out = tmp_path / "m.py"
    assert main(["compile", LENET, "--checkpoint", str(run), "--set", "classes=5", "--input", "1x32x32",
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error[E715]" in err and "`fc3.weight` is 10×84 in the checkpoint but 5×84 in the network" in err
    assert "input 1×32×32" in err  # the hint says how the run was trained
    assert not out.exists() and not (tmp_path / "m.pt").exists()
    assert main(["export", "specs/resnet18.arch", "--checkpoint", str(run), "-o", str(tmp_path / "r.onnx")]) == 1
    assert "error[E715]" in capsys.readouterr().err


def test_a_file_that_is_not_a_checkpoint_is_refused(run, tmp_path, capsys):
    for bad in (run / "metrics.jsonl", tmp_path / "missing"):
        assert main(["compile", LENET, "--checkpoint", str(bad), "-o", str(tmp_path / "m.py")]) == 1
        assert "error[E714]" in capsys.readouterr().err
    # a pickle that would run code is never unpickled
    evil = tmp_path / "evil.pt"
    torch.save({"format": "archlang-train/1", "model": {}, "x": Path("/")}, evil)
    assert main(["export", LENET, "--checkpoint", str(evil), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "error[E714]" in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()
