"""Readers for the ``--data SOURCE`` formats.

Each reader returns a :class:`RawData`: images as an N×C×H×W tensor at their
native resolution (uint8 0..255 or float32 in the source's own scale) plus
integer labels. Adapting them to the network's input happens in ``data.py``.
"""
from __future__ import annotations

import gzip
import importlib.util
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import TrainError

SOURCE_FORMS = "digits, mnist:DIR, cifar10:DIR, folder:DIR or npz:FILE"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


@dataclass
class RawData:
    """Images and labels as read; ``val_x is None`` when the source has no test split."""

    source: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    class_names: list[str]
    read_as: list[str] = field(default_factory=list)  # conversions done while reading (folder: resizing)


def read_source(source: str, input_shape: tuple[int, ...]) -> RawData:
    """Read ``--data SOURCE``; ``input_shape`` (C, H, W) only guides ``folder:``."""
    kind, _, where = source.partition(":")
    if kind not in ("digits", "mnist", "cifar10", "folder", "npz"):
        raise TrainError(f"unknown data source {source!r}", f"expected {SOURCE_FORMS}")
    if kind == "digits":
        if where:
            raise TrainError(f"data source 'digits' takes no path (got {source!r})",
                             "digits is bundled with scikit-learn; write --data digits")
        return _read_digits(source)
    if not where:
        raise TrainError(f"data source {kind!r} needs a path: --data {kind}:PATH",
                         f"expected {SOURCE_FORMS}")
    path = Path(where).expanduser()
    if not path.exists():
        raise TrainError(f"{source}: {path} does not exist", f"expected {SOURCE_FORMS}")
    if kind == "folder":
        return _read_folder(source, path, input_shape)
    return {"mnist": _read_mnist, "cifar10": _read_cifar10, "npz": _read_npz}[kind](source, path)


def _read_digits(source: str) -> RawData:
    """scikit-learn's bundled 8×8 digits (1797 images, pixel values 0..16)."""
    table = _digits_table()
    images = torch.tensor(table[:, :64], dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    labels = torch.tensor(table[:, 64], dtype=torch.int64)
    return RawData(source, images, labels, None, None, [str(c) for c in range(10)])


def _digits_table() -> np.ndarray:
    """The digits as rows of 64 pixels and a label.

    Read straight from scikit-learn's data file when it is where scikit-learn
    keeps it: importing sklearn.datasets takes about 2 s, longer than a
    LeNet-5 epoch on digits.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise TrainError("the digits data set needs scikit-learn", "pip install scikit-learn")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    try:
        table = np.loadtxt(path, delimiter=",")
        if table.shape == (1797, 65):
            return table
    except (OSError, ValueError):
        pass  # a different layout: let scikit-learn read it
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.column_stack([bunch.data, bunch.target])


# ---------------------------------------------------------------- MNIST (IDX)

MNIST_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
               "val_x": "t10k-images-idx3-ubyte", "val_y": "t10k-labels-idx1-ubyte"}


def _read_mnist(source: str, root: Path) -> RawData:
    # torchvision keeps the same files under MNIST/raw; accept that layout too.
    for folder in (root, root / "raw", root / "MNIST" / "raw"):
        found = {key: _find_idx(folder, name) for key, name in MNIST_FILES.items()}
        if all(found.values()):
            break
    else:
        missing = ", ".join(MNIST_FILES.values())
        raise TrainError(f"{source}: no MNIST files in {root}",
                         f"expected {missing} (each optionally .gz) in that directory")
    arrays = {key: read_idx(path) for key, path in found.items()}
    images = {k: torch.from_numpy(arrays[k].copy()).unsqueeze(1) for k in ("train_x", "val_x")}
    labels = {k: torch.from_numpy(arrays[k].astype(np.int64)) for k in ("train_y", "val_y")}
    raw = RawData(source, images["train_x"], labels["train_y"], images["val_x"],
                  labels["val_y"], [])
    return _checked(raw)


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz", folder / name.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, as a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            blob = f.read()
    except (OSError, EOFError) as exc:
        raise TrainError(f"cannot read {path}: {exc}") from exc
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08:
        raise TrainError(f"{path} is not an unsigned-byte IDX file",
                         "MNIST files start with the bytes 00 00 08 and the number of dimensions")
    ndim = blob[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", blob[4:header]) if len(blob) >= header else ()
    if len(dims) != ndim or len(blob) - header != int(np.prod(dims)):
        raise TrainError(f"{path} is truncated or corrupt: header says {dims}, "
                         f"file has {max(0, len(blob) - header)} data bytes")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(dims)


# ---------------------------------------------------------------- CIFAR-10

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else, so a crafted file cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as exc:
        raise TrainError(f"{path} is not a CIFAR-10 python batch ({exc})",
                         "expected a pickled dict with b'data' (N×3072 uint8) and b'labels'") from exc
    return torch.from_numpy(data.copy()), torch.from_numpy(labels)


def _read_cifar10(source: str, root: Path) -> RawData:
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise TrainError(f"{source}: missing {', '.join(missing)} in {root}",
                         "expected the python version of CIFAR-10: data_batch_1..5 and test_batch")
    parts = [_read_cifar_batch(root / n) for n in names]
    train_x = torch.cat([x for x, _ in parts[:5]])
    train_y = torch.cat([y for _, y in parts[:5]])
    raw = RawData(source, train_x, train_y, parts[5][0], parts[5][1], _cifar_names(root))
    return _checked(raw)


def _cifar_names(root: Path) -> list[str]:
    meta = root / "batches.meta"
    if not meta.is_file():
        return []
    try:
        with open(meta, "rb") as f:
            names = _ArrayUnpickler(f, encoding="bytes").load()[b"label_names"]
        return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    except (OSError, EOFError, KeyError, TypeError, pickle.UnpicklingError):
        return []  # names are cosmetic; numbers will do


# ---------------------------------------------------------------- folder

def _read_folder(source: str, root: Path, input_shape: tuple[int, ...]) -> RawData:
    try:
        import PIL  # noqa: F401
    except ImportError as exc:
        raise TrainError("folder: data sources need Pillow to read images",
                         "pip install pillow") from exc
    classes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not classes:
        raise TrainError(f"{source}: {root} has no sub-folders",
                         "expected one sub-folder per class, each holding that class's images")
    # Images in a folder differ in size, so they are resized to the network's
    # input here (PIL, bilinear) and stored at that size.
    channels, height, width = _chw(input_shape)
    mode = "RGB" if channels == 3 else "L"
    images, labels, native = [], [], {}
    for label, folder in enumerate(classes):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise TrainError(f"{source}: class folder {folder.name!r} has no images",
                             f"image files end in {', '.join(sorted(IMAGE_SUFFIXES))}")
        images += [_load_image(source, file, mode, (width, height), native) for file in files]
        labels += [label] * len(files)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(labels, dtype=torch.int64)
    return RawData(source, x, y, None, None, [p.name for p in classes], _read_as(native, mode, (width, height)))


def _read_as(native: dict, mode: str, size: tuple[int, int]) -> list[str]:
    """What reading did to a folder's images: "RGB→grey", "resized from 640×480, 500×375 ..."."""
    steps = []
    modes = sorted({m for m, _ in native} - {mode})
    if modes:
        steps.append(f"{'/'.join('grey' if m == 'L' else m for m in modes)}→{'grey' if mode == 'L' else mode}")
    by_size: dict = {}
    for (_, s), n in native.items():
        if s != size:
            by_size[s] = by_size.get(s, 0) + n
    if by_size:
        common = sorted(by_size, key=lambda s: -by_size[s])
        steps.append("resized from " + ", ".join(f"{w}×{h}" for w, h in common[:3]) + (" ..." if len(common) > 3 else ""))
    return steps


def _load_image(source: str, file: Path, mode: str, size: tuple[int, int], native: dict | None = None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            if native is not None:
                key = ("L" if img.mode in ("L", "1", "LA", "I", "I;16", "F") else "RGB", img.size)
                native[key] = native.get(key, 0) + 1
            pixels = img.convert(mode).resize(size, Image.BILINEAR)
    except (OSError, UnidentifiedImageError) as exc:
        raise TrainError(f"{source}: cannot read image {file}: {exc}") from exc
    return np.asarray(pixels, dtype=np.uint8).reshape(size[1], size[0], -1)


def _chw(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise TrainError(f"the network's input shape {tuple(input_shape)} is not C×H×W",
                         "training works with image classifiers: input (channels, height, width)")
    return tuple(int(d) for d in input_shape)


# ---------------------------------------------------------------- npz

def _read_npz(source: str, path: Path) -> RawData:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise TrainError(f"{source}: cannot read {path} as .npz ({exc})",
                         "expected a NumPy .npz archive with arrays x and y") from exc
    if "x" not in arrays or "y" not in arrays:
        raise TrainError(f"{source}: {path} has arrays {sorted(arrays)}, not x and y",
                         "save it with numpy.savez(FILE, x=images, y=labels)")
    x = _npz_images(source, arrays["x"])
    y = _int_labels(source, arrays["y"])
    return _checked(RawData(source, x, y, None, None, []))


def _npz_images(source: str, x: np.ndarray) -> torch.Tensor:
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # N,H,W,C -> N,C,H,W
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise TrainError(f"{source}: x has shape {x.shape}",
                         "expected N×H×W, N×C×H×W or N×H×W×C with 1 or 3 channels")
    if x.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(x))
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TrainError(f"{source}: x has dtype {x.dtype}", "expected uint8 or float images")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _int_labels(source: str, y: np.ndarray) -> torch.Tensor:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.number):
        raise TrainError(f"{source}: y has shape {y.shape} and dtype {y.dtype}",
                         "expected a 1-D array of integer class labels 0..K-1")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y, 1) == 0):
        raise TrainError(f"{source}: y holds non-integer values",
                         "expected integer class labels 0..K-1")
    return torch.from_numpy(y.astype(np.int64))


def _checked(raw: RawData) -> RawData:
    """Check that images and labels agree and labels are 0..K-1."""
    pairs = [("training", raw.train_x, raw.train_y)]
    if raw.val_x is not None:
        pairs.append(("test", raw.val_x, raw.val_y))
    for split, x, y in pairs:
        if len(x) != len(y):
            raise TrainError(f"{raw.source}: {len(x)} {split} images but {len(y)} labels")
        if len(y) == 0:
            raise TrainError(f"{raw.source}: the {split} split is empty")
        if int(y.min()) < 0:
            raise TrainError(f"{raw.source}: negative class label {int(y.min())}",
                             "expected integer class labels 0..K-1")
    return raw
