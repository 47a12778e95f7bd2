"""Fakes and fixtures for the training tests: a model source around hand-written
networks (LeNet-5 as in Dive into Deep Learning) and tiny data files in every
supported format."""
from __future__ import annotations

import argparse
import gzip
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from archlang.train.command import add_eval_parser, add_train_parser


def lenet5(classes: int = 10) -> nn.Module:
    """LeNet-5 of Dive into Deep Learning (sigmoid, average pooling), 1×28×28 input."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, classes))


def tiny_net(channels: int = 1, size: int = 8, classes: int = 10, width: int = 4) -> nn.Module:
    """A small conv net with BatchNorm and dropout, fast enough for many tests."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(width * (size // 2) ** 2, classes))


class FakeSpecError(Exception):
    """Stands in for the core's ArchError: a message formatted with a location."""

    def __init__(self, message: str, hint: str | None):
        super().__init__(message)
        self.message, self.hint = message, hint

    def format(self) -> str:
        text = f"fake.arch:9:5: error: {self.message}"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")


@dataclass
class FakeSource:
    """A model source as the core will provide it, around a module factory."""

    factory: callable = lenet5
    name: str = "LeNet"
    input_shape: tuple = (1, 28, 28)
    output_shape: tuple = (10,)
    source_text: str = "network LeNet: conv(6, 5, pad=2) -> ...\n"
    overrides: dict = field(default_factory=dict)
    builds: int = 0

    def build(self, device=None, dtype=None) -> nn.Module:
        self.builds += 1
        return self.factory().to(device=device, dtype=dtype)

    def output_error(self, message: str, hint: str | None) -> Exception:
        return FakeSpecError(message, hint)


def tiny_source(channels: int = 1, size: int = 8, classes: int = 10, width: int = 4,
                **kw) -> FakeSource:
    return FakeSource(factory=lambda: tiny_net(channels, size, classes, width), name="Tiny",
                      input_shape=(channels, size, size), output_shape=(classes,), **kw)


class BlowUp(nn.Module):
    """Returns NaN scores from its ``after``-th training call on."""

    def __init__(self, inner: nn.Module, after: int):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                return out * float("nan")
        return out


def parse(argv: list[str], overrides: dict | None = None) -> argparse.Namespace:
    """Parse a train/eval command as the main CLI does: it adds FILE and --set."""
    parser = argparse.ArgumentParser(prog="archlang")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_train_parser, add_eval_parser):
        command = add(sub)
        command.add_argument("file", metavar="FILE")
        command.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    if overrides:
        args.overrides = overrides
    return args


# ---------------------------------------------------------------- data files

def digits_npz(path: Path, count: int | None = None) -> Path:
    """The sklearn digits (optionally the first ``count``) as an npz of uint8 N×H×W."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images * (255 / 16)).round().astype(np.uint8)
    np.savez(path, x=x[:count], y=bunch.target[:count])
    return path


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        blob = gzip.compress(blob)
    path.write_bytes(blob)


def mnist_dir(root: Path, n_train: int = 40, n_test: int = 20, gz: bool = True) -> Path:
    rng = np.random.RandomState(0)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte", rng.randint(0, 256, (n, 28, 28)), gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, gz)
    return root


def cifar_dir(root: Path, per_batch: int = 6) -> Path:
    rng = np.random.RandomState(0)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {b"data": rng.randint(0, 256, (per_batch, 3072)).astype(np.uint8),
                 b"labels": [int(v) for v in np.arange(per_batch) % 10]}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                      b"dog", b"frog", b"horse", b"ship", b"truck"]}, f)
    return root


def image_folder(root: Path, classes=("cat", "dog"), per_class: int = 3) -> Path:
    from PIL import Image

    rng = np.random.RandomState(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = (10 + i, 12 + c)  # deliberately different sizes
            pixels = rng.randint(0, 256, (size[1], size[0], 3)).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def read_metrics(run_dir: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
