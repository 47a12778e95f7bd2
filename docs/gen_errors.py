"""Writes docs/errors.md: every error code with its fix and a real example.

Examples are the error fixtures of tests/errors/ (spec and exact output);
the backend's codes are produced by running the backend. Run from the
repository root: python docs/gen_errors.py (a test checks the file is current).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "errors"


def fixture_examples() -> dict[str, tuple[str, str, str]]:
    """code -> (fixture name, spec text, output) for the shortest fixture raising it."""
    found: dict[str, tuple[str, str, str]] = {}
    for txt in sorted(FIXTURES.glob("*.txt"), key=lambda p: (len(p.read_bytes()), p.name)):
        out = txt.read_text(encoding="utf-8")
        code = out.split("error[", 1)[1][:4] if "error[" in out else None
        spec = txt.with_suffix(".arch")
        if code and code not in found and spec.is_file():
            text = spec.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")
            if len(text) < 600:
                found[code] = (spec.name, text, out)
    return found


def backend_examples() -> dict[str, tuple[str, str, str]]:
    import torch

    import archlang
    from archlang import ArchError

    out = {}
    spec = "network Wide:\n    input(3, 224, 224) -> conv(4096, 11) -> fc(10)\n"
    try:
        archlang.compile(spec, max_params=1e6)
    except ArchError as e:
        out["E701"] = ("archlang.compile(spec, max_params=1e6)", spec, e.format() + "\n")
    try:
        archlang.transfer_weights(torch.nn.Linear(4, 2), archlang.compile("network N:\n  input(4) -> fc(3)\n"))
    except ArchError as e:
        out["E702"] = ("archlang.transfer_weights(nn.Linear(4, 2), compiled fc(3))",
                       "network N:\n  input(4) -> fc(3)\n", e.format() + "\n")
    net = archlang.load("network N:\n  input(1, 8, 8) -> conv(2)\n")
    try:
        net.render().save(".")
    except ArchError as e:
        out["E704"] = ("archlang render spec.arch -o .", "network N:\n  input(1, 8, 8) -> conv(2)\n", e.format() + "\n")
    try:
        from archlang.backends.onnx_export import export_onnx

        export_onnx(net, "model.onnx", opset=99)
    except ArchError as e:
        out["E705"] = ("archlang export spec.arch -o model.onnx --opset 99", "network N:\n  input(1, 8, 8) -> conv(2)\n",
                       e.format() + "\n")
    return out


def serve_examples() -> dict[str, tuple[str, str | None, str]]:
    """The playground's refusals that do not depend on a port or a clock, raised by its own code."""
    import tempfile

    from archlang import ArchError
    from archlang.serve.files import EditedFile
    from archlang.serve.protocol import Update, parse

    out = {}
    attempts = {
        "E903": ("archlang serve notes.txt", None, lambda folder: EditedFile("notes.txt")),
        "E904": ("saving net.arch from the page after another editor saved it", "network N:\n  input(4) -> fc(2)\n",
                 lambda folder: EditedFile(folder / "net.arch").save("network N:\n  input(4) -> fc(3)\n", "old", False)),
        "E907": ("a request whose text is a number", None, lambda folder: parse(Update, b'{"text": 5}')),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "net.arch").write_text("network N:\n  input(4) -> fc(2)\n")
        for code, (where, spec, act) in attempts.items():
            try:
                act(folder)
            except ArchError as e:
                out[code] = (where, spec, e.format() + "\n")
    return out


def file_examples() -> dict[str, tuple[str, str, str]]:
    """Limits on files that a fixture would need megabytes or dozens of files to show."""
    import os
    import tempfile

    import archlang
    from archlang import ArchError

    files = {"main.arch": 'import "huge.arch"\nnetwork N:\n    input(1, 8, 8)\n',
             "huge.arch": "# " + "x" * (1 << 20) + "\n",
             "c0.arch": 'import "c1.arch"\nnetwork N:\n    input(1, 8, 8)\n'}
    files.update({f"c{i}.arch": f'import "c{i + 1}.arch"\n' for i in range(1, 40)})
    out, cwd = {}, os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            for name, text in files.items():
                Path(name).write_text(text, encoding="utf-8")
            for code, entry, shown in (("E505", "main.arch", files["main.arch"]),
                                       ("E506", "c0.arch", files["c0.arch"] + "# c1.arch imports c2.arch, ...\n")):
                try:
                    archlang.load(entry)
                except ArchError as e:
                    assert e.code == code, e.format()
                    out[code] = (f"{entry}, importing a chain of files" if code == "E506" else entry, shown,
                                 e.format() + "\n")
        finally:
            os.chdir(cwd)
    return out


def api_examples() -> dict[str, tuple[str, str, str]]:
    """The Python API's and the summary options' errors (E75x), raised by their own code."""
    import archlang
    from archlang import ArchError

    spec = "network N:\n    input(3, 32, 32) -> stem: conv(16) -> relu -> fc(10)\n"
    net = archlang.load(spec)
    out = {}
    for code, where, act in (("E750", 'net["stme"]', lambda: net["stme"]),
                             ("E751", "archlang summary spec.arch --depth 0", lambda: net.summary(depth=0)),
                             ("E752", "archlang summary spec.arch --batch 0", lambda: net.memory(batch=0)),
                             ("E753", "archlang summary spec.arch --batch 8 --optimizer rmsprop",
                              lambda: net.memory(batch=8, optimizer="rmsprop"))):
        try:
            act()
        except ArchError as e:
            out[code] = (where, spec, e.format() + "\n")
    return out


def render() -> str:
    from archlang.errors import CODES

    examples = {**fixture_examples(), **file_examples(), **backend_examples(), **serve_examples(), **api_examples()}
    lines = ["# archlang error codes", "",
             "Every error archlang reports has a stable code. The message names the file, line and column,",
             "underlines the offending part, and most carry a `hint:` line. Below: each code, how to fix it,",
             "and a real example (the examples are the test fixtures in `tests/errors/`, so they stay true).",
             "This file is generated by `docs/gen_errors.py`.", ""]
    for code, (title, fix) in CODES.items():
        lines += [f"## {code}: {title}", "", fix, ""]
        if code in examples:
            where, spec, output = examples[code]
            lines += [f"Example (`{where}`):", ""]
            lines += ["```text", spec.rstrip("\n"), "```", ""] if spec is not None else []
            lines += ["```text", output.rstrip("\n"), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    (ROOT / "docs" / "errors.md").write_text(render(), encoding="utf-8")
    print("wrote docs/errors.md")
