"""Untrusted text never reaches the terminal as an escape sequence: spec lines, file names,
strings and data folder names are printed with their control characters made visible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archlang.terminal import SafeStream, visible

ROOT = Path(__file__).resolve().parents[1]
ESCAPES = ["\x1b]0;owned\x07", "\x1b[2J", "\x9b31m", "\x9d0;x\x9c", "\x07", "\x08\x08", "\u202e", "\x7f"]


def run(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlang", *map(str, args)], capture_output=True, cwd=cwd,
                          timeout=600)


def raw_controls(data: bytes) -> set[str]:
    text = data.decode("utf-8")
    return {c for c in text if c not in "\n\t" and not c.isprintable() and c != "\r"}


@pytest.mark.parametrize("escape", ESCAPES)
def test_visible_shows_every_control_character(escape):
    shown = visible(f"a{escape}b\nc\td")
    assert shown.startswith("a") and shown.endswith("b\nc\td")
    assert all(c.isprintable() or c in "\n\t" for c in shown)


def test_a_stream_keeps_a_leading_carriage_return_only():
    written = []

    class Sink:
        def write(self, text):
            written.append(text)

    stream = SafeStream(Sink())
    stream.write("\r 42% |###")
    stream.write("cat\rdog\x1b[2J")
    assert written == ["\r 42% |###", "cat\\rdog\\x1b[2J"]


def test_errors_quote_spec_lines_and_file_names_visibly(tmp_path):
    name = "net\x1b]0;owned\x07.arch"
    spec = tmp_path / name
    spec.write_text('network N:  # \x1b[2J\x9b31m\n    input(3, 8, 8) -> cnov(4)  # \x1b]0;x\x07\n', encoding="utf-8")
    done = run("check", spec)
    assert done.returncode == 1
    assert not raw_controls(done.stderr) and not raw_controls(done.stdout)
    # the quoted line shows the control characters as escapes or as their Unicode pictures (␛, ␇)
    assert (b"\\x1b]0;x\\x07" in done.stderr or "\u241b]0;x\u2407".encode() in done.stderr) and b"cnov" in done.stderr


def test_summary_of_a_spec_with_hostile_strings(tmp_path):
    spec = tmp_path / "s.arch"
    spec.write_text('block b(tag) = conv(4)\nnetwork N(tag = "x"):\n    input(3, 8, 8) -> b(tag)\n', encoding="utf-8")
    done = run("summary", spec, "--set", "tag=\"\x1b]0;owned\x07\"")
    # strings hold printable text only: refused, and the refusal shows the character escaped
    assert done.returncode == 1 and b"E309" in done.stderr
    assert not raw_controls(done.stderr) and not raw_controls(done.stdout) and b"\\x1b" in done.stderr


def test_folder_class_names_are_printed_visibly(tmp_path):
    pytest.importorskip("torch")
    from train_helpers import image_folder

    data = image_folder(tmp_path / "data", classes=("cat\x1b]0;owned\x07", "dog\x1b[2J"), per_class=4)
    spec = tmp_path / "tiny.arch"
    spec.write_text("network Tiny:\n    input(3, 8, 8) -> conv(4) -> relu -> fc(2)\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    trained = run("train", spec, "--data", f"folder:{data}", "--epochs", "1", "--out", run_dir)
    assert trained.returncode == 0, trained.stderr.decode()[-2000:]
    evaluated = run("eval", spec, "--data", f"folder:{data}", "--checkpoint", run_dir / "best.pt")
    assert evaluated.returncode == 0, evaluated.stderr.decode()[-2000:]
    for done in (trained, evaluated):
        assert not raw_controls(done.stdout) and not raw_controls(done.stderr)
    assert b"cat\\x1b]0;owned\\x07" in evaluated.stdout
