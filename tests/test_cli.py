"""The command line: exit codes, output forms, and that analysis stays light."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archlang.cli import main

ROOT = Path(__file__).parents[1]
SPECS = ROOT / "specs"


def run(*args):
    return subprocess.run([sys.executable, "-m", "archlang", *args], capture_output=True, text=True, cwd=ROOT)


def test_check_valid_files_exit_0(capsys):
    assert main(["check", str(SPECS / "lenet5.arch"), str(SPECS / "pattern.arch")]) == 0
    out = capsys.readouterr().out
    assert "LeNet5" in out and "61,706 params" in out


def test_check_any_error_exits_1_and_reports_every_file(tmp_path, capsys):
    bad = tmp_path / "bad.arch"
    bad.write_text("network N:\n  input(1, 8, 8) -> cnov(2)\n")
    assert main(["check", str(SPECS / "lenet5.arch"), str(bad), str(tmp_path / "missing.arch")]) == 1
    err = capsys.readouterr().err
    assert "error[E201]" in err and "error[E501]" in err


def test_usage_error_exits_2():
    result = run("check")
    assert result.returncode == 2 and "usage:" in result.stderr
    assert run("summary", str(SPECS / "lenet5.arch"), "--bogus").returncode == 2


def test_summary_json(capsys):
    assert main(["summary", str(SPECS / "lenet5.arch"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 61706 and data["macs"] == 416520
    assert data["input_shape"] == [1, 28, 28] and data["output_shape"] == [10]
    assert data["layers"][1] | {} == data["layers"][1] and data["layers"][1]["name"] == "conv1"


def test_set_and_input_change_the_summary(capsys):
    assert main(["summary", str(SPECS / "pattern.arch"), "--set", "N=1", "--set", "pool=false",
                 "--input", "3x16x16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_shape"] == [3, 16, 16]
    assert not any(layer["type"] == "maxpool" for layer in data["layers"])


def test_bad_set_value_is_an_error_not_a_traceback():
    result = run("summary", str(SPECS / "pattern.arch"), "--set", "N=[1,")
    assert result.returncode == 1 and "Traceback" not in result.stderr and "error[E309]" in result.stderr
    result = run("summary", str(SPECS / "pattern.arch"), "--set", "noequals")
    assert result.returncode == 1 and "error[E309]" in result.stderr
    result = run("summary", str(SPECS / "pattern.arch"), "--input", "3x0x4")
    assert result.returncode == 1 and "error[E309]" in result.stderr


def test_python_m_and_console_script_agree():
    result = run("check", "-q", str(SPECS / "resnet50.arch"))
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize("command", ["check", "summary"])
def test_analysis_never_imports_torch_or_graphviz(command):
    code = ("import sys; from archlang.cli import main; "
            f"rc = main(['{command}', '{SPECS / 'resnet50.arch'}']); "
            "assert 'torch' not in sys.modules and 'graphviz' not in sys.modules, 'heavy import'; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ten_thousand_conv_layers_check_by_default():
    # The benchmark of the analyzer issue: 20,004 layers must be within the default limits.
    result = run("check", "-q", str(SPECS / "pattern.arch"), "--set", "N=10000", "--set", "M=1",
                 "--set", "pool=false")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("setting", "looked_up"), [(None, False), ("some_plugin", True)])
def test_start_up_does_not_look_for_pydantic_plugins(setting, looked_up):
    """The command turns pydantic's plugins off (its PYDANTIC_DISABLE_PLUGINS switch), so the
    first validator it builds does not import importlib.metadata to scan for them, unless the
    user set the switch otherwise. torch is never imported by `summary`."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    code = ("import sys; sys.argv = ['archlang', 'summary', 'specs/resnet50.arch']; from archlang.cli import main; "
            "code = main(); print(code, 'importlib.metadata' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == ["0", str(looked_up), "False"]
