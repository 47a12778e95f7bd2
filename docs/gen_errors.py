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


def training_examples() -> list[tuple[str, str]]:
    """Errors of `archlang train` and `eval` about data files, options and checkpoints (TrainError: no code),
    raised by the readers on small hostile files."""
    import gzip
    import os
    import pickle
    import tempfile

    import numpy as np
    import torch

    from archlang.train import TrainError
    from archlang.train.config import TrainConfig
    from archlang.train.sources import read_source
    from archlang.train.checkpoint import load

    def mnist(folder: str, images: bytes) -> None:
        os.makedirs(folder)
        labels = bytes([0, 0, 8, 1, 0, 0, 0, 1, 0])
        for name, blob in (("train-images-idx3-ubyte", images), ("t10k-images-idx3-ubyte", images),
                           ("train-labels-idx1-ubyte", labels), ("t10k-labels-idx1-ubyte", labels)):
            Path(folder, name + ".gz").write_bytes(gzip.compress(blob))

    def cifar(folder: str, hostile: bytes) -> None:
        os.makedirs(folder)
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            ok = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}, protocol=2)
            Path(folder, name).write_bytes(hostile if name == "test_batch" else ok)

    def png(width: int, height: int) -> bytes:
        import struct
        import zlib

        def chunk(tag, data):
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + chunk(b"IEND", b""))

    header = bytes([0, 0, 8, 3]) + (10 ** 6).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    cases = [
        ("a gzip'd MNIST whose header declares a million images in a few bytes", "--data mnist:bomb",
         lambda: mnist("bomb", header)),
        ("a CIFAR batch that allocates from a declared shape", "--data cifar10:shape",
         lambda: cifar("shape", b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85\x85R.")),
        ("an npz label of 10^12", "--data npz:labels.npz",
         lambda: np.savez("labels.npz", x=np.zeros((2, 8, 8), np.uint8), y=np.array([0, 10 ** 12]))),
        ("an npz image holding NaN", "--data npz:nan.npz",
         lambda: np.savez("nan.npz", x=np.array([[[0.5]], [[float("nan")]]]), y=np.array([0, 1]))),
        ("a PNG declaring 2.5 billion pixels", "--data folder:photos",
         lambda: [os.makedirs("photos/cat"), Path("photos/cat/big.png").write_bytes(png(50000, 50000))]),
        ("a FIFO given as data", "--data npz:pipe.npz", lambda: os.mkfifo("pipe.npz")),
    ]
    out, cwd = [], os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        os.environ["ARCHLANG_MAX_DATA_BYTES"] = str(64 << 20)
        try:
            for what, option, make in cases:
                make()
                try:
                    read_source(option.split()[1], (1, 28, 28))
                except TrainError as e:
                    out.append((f"{what}: `archlang train spec.arch {option}`, data limit 64 MiB", e.format()))
            options = (("a learning rate of 1e308", "--lr 1e308", TrainConfig(lr=1e308)),
                       ("weight decay NaN", "--weight-decay nan", TrainConfig(weight_decay=float("nan"))))
            for what, option, config in options:
                try:
                    config.resolved()
                except TrainError as e:
                    out.append((f"{what}: `archlang train spec.arch {option}`", e.format()))
            torch.save({"format": "archlang-train/1", "model": {}, "normalization": {"mean": [0.5], "std": [0.0]}},
                       "best.pt")
            try:
                load("best.pt")
            except TrainError as e:
                out.append(("a checkpoint whose normalization std is 0: `archlang eval --checkpoint best.pt`",
                            e.format()))
        finally:
            os.environ.pop("ARCHLANG_MAX_DATA_BYTES", None)
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
    lines += ["## Training and data errors", "",
              "`archlang train` and `archlang eval` report problems with data files, options and checkpoints",
              "as `error:` and a `hint:` (no code: they are not about a place in the spec) and exit 1. Every data",
              "file is checked before it is trusted: headers are read first and the sizes they declare checked",
              "against the data limit (`ARCHLANG_MAX_DATA_BYTES`, default 4 GiB or a quarter of the memory) and",
              "the file's own size; compressed data is read in bounded chunks; pickles are read by a checked",
              "reader; class labels are at most 99,999. The limits are listed in `docs/robustness.md`.", ""]
    for where, output in training_examples():
        lines += [f"Example ({where}):", "", "```text", output.rstrip("\n"), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    (ROOT / "docs" / "errors.md").write_text(render(), encoding="utf-8")
    print("wrote docs/errors.md")
