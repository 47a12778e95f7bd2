"""Bad output paths and option values end in a located error, never an internal error:
`-o` naming a folder or a place that cannot hold a file, an ONNX opset the exporter cannot
write, a layout time limit that is not a number of seconds, an input too large for PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlang.cli import main

LENET = str(Path(__file__).resolve().parents[1] / "specs" / "lenet5.arch")
COMMANDS = [["render", LENET], ["compile", LENET], ["export", LENET]]


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "Traceback" not in captured.err
    return code, captured.err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_output_that_is_a_folder(command, tmp_path, capsys):
    code, err = run(capsys, *command, "-o", tmp_path)
    assert code == 1 and "error[E704]" in err and "is a directory" in err and "hint: name a file in it" in err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_output_under_a_file(command, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run(capsys, *command, "-o", blocker / "out.any")
    assert code == 1 and "error[E704]" in err and "cannot write" in err
    assert blocker.read_text() == "x"


def test_output_in_a_new_folder_is_written_whole(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "model.py"
    code, _ = run(capsys, "compile", LENET, "-o", out)
    assert code == 0 and out.read_text().startswith('"""LeNet5')
    assert [p.name for p in out.parent.iterdir()] == ["model.py"]  # no temporary file left


@pytest.mark.parametrize("opset", [0, -3, 6, 99, 10**6])
def test_onnx_opset_out_of_range(opset, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    out = tmp_path / "m.onnx"
    code, err = run(capsys, "export", LENET, "-o", out, "--opset", opset)
    assert code == 1 and "error[E705]" in err and not out.exists()


def test_an_opset_the_exporter_falls_back_from_is_refused(tmp_path, capsys):
    pytest.importorskip("onnxscript")
    out = tmp_path / "m.onnx"
    code, err = run(capsys, "export", LENET, "-o", out, "--opset", 14)
    assert code == 1 and "error[E705]" in err and "fell back to opset 18" in err and not out.exists()


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf", "1e400", "1e6"])
def test_layout_time_limit_must_be_seconds(value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARCHLANG_DOT_TIMEOUT", value)
    code, err = run(capsys, "render", LENET, "-o", tmp_path / "x.svg")
    assert code == 1 and "error[E713]" in err and "ARCHLANG_DOT_TIMEOUT" in err


@pytest.mark.parametrize("command", [["compile", LENET, "-o", "m.py"], ["export", LENET, "-o", "m.onnx"],
                                     ["train", LENET, "--epochs", "1"]], ids=lambda c: c[0])
def test_an_input_too_large_for_pytorch(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, *command, "--input", "1x1000000000000x1000000000000")
    # compile and export refuse the tensor sizes; train refuses the batch's memory before building
    assert code == 1 and ("error[E701]" in err and "2^63" in err or "needs about" in err and "--input" in err), err
