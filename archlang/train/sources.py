"""Readers for the ``--data SOURCE`` formats.

Each reader returns a :class:`RawData`: images as an N×C×H×W tensor at their
native resolution (uint8 0..255 or float32 in the source's own scale) plus
integer labels. Adapting them to the network's input happens in ``data.py``.
"""
from __future__ import annotations

import errno
import gzip
import importlib.util
import math
import os
import stat
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import safe_pickle
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
    if "\x00" in where:
        raise TrainError(f"{kind}: the path holds a NUL character", f"expected {SOURCE_FORMS}")
    try:
        path.stat()
    except OSError as exc:
        shown = where if len(where) <= 120 else where[:80] + "..." + where[-37:]
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise TrainError(f"{kind}:{shown} does not exist", f"expected {SOURCE_FORMS}") from None
        raise TrainError(f"{kind}:{shown}: cannot read it: {exc.strerror or exc}", f"expected {SOURCE_FORMS}") from None
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


# ---------------------------------------------------------------- limits

# Every reader checks what a file declares (an IDX header's dimensions, an .npy
# header's shape, a zip member's size, a pickle's lengths) against these before
# it allocates anything, and reads compressed data in bounded chunks.
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
DEFLATE_RATIO = 1032  # the most that deflate (gzip, zip) can expand: 1,032 bytes out per byte in
CHUNK = 1 << 20
DATA_LIMIT_ENV = "ARCHLANG_MAX_DATA_BYTES"


def max_data_bytes() -> int:
    """The bytes a data set may take in memory: $ARCHLANG_MAX_DATA_BYTES, else 4 GiB or a quarter of the RAM."""
    given = os.environ.get(DATA_LIMIT_ENV)
    if given is not None:
        try:
            value = int(given)
            if value > 0:
                return value
        except ValueError:
            pass
        raise TrainError(f"{DATA_LIMIT_ENV}={given[:40]!r} is not a positive number of bytes",
                         f"e.g. {DATA_LIMIT_ENV}={8 << 30} for 8 GiB")
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 16 << 30
    return min(4 << 30, ram // 4)


class Budget:
    """What is left of max_data_bytes() while one source is read."""

    def __init__(self, source: str):
        self.source, self.limit = source, max_data_bytes()
        self.left = self.limit

    def take(self, nbytes: int, what: str) -> None:
        if nbytes > self.left:
            raise TrainError(f"{self.source}: {what} would take {_size(nbytes)} in memory, over the limit of "
                             f"{_size(self.limit)} for a data set" + (
                                 f" ({_size(self.limit - self.left)} already read)" if self.left < self.limit else ""),
                             f"set {DATA_LIMIT_ENV} to allow more, if the file is really that large")
        self.left -= nbytes


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _open_regular(source: str, path: Path):
    """Open `path` for reading if it is a regular file (not a FIFO, a device, a folder); returns (file, size)."""
    try:  # non-blocking: opening a FIFO would wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise TrainError(f"{source}: cannot read {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise TrainError(f"{source}: {path} is not a regular file", "data files are read from regular files, "
                         "not from FIFOs, devices or folders")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), info.st_size


def _read_exactly(stream, count: int) -> np.ndarray | None:
    """`count` bytes from `stream` into a new uint8 array, chunk by chunk; None when the stream ends first."""
    data = np.empty(count, dtype=np.uint8)
    view = memoryview(data)
    done = 0
    while done < count:
        n = stream.readinto(view[done:done + CHUNK])
        if not n:
            return None
        done += n
    return data


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
    budget = Budget(source)
    arrays = {key: read_idx(path, 3 if key.endswith("x") else 1, budget) for key, path in found.items()}
    for split in ("train", "val"):
        if len(arrays[f"{split}_x"]) != len(arrays[f"{split}_y"]):
            raise TrainError(f"{source}: {found[split + '_x']} holds {len(arrays[split + '_x'])} images but "
                             f"{found[split + '_y']} {len(arrays[split + '_y'])} labels")
    images = {k: torch.from_numpy(arrays[k]).unsqueeze(1) for k in ("train_x", "val_x")}
    labels = {k: torch.from_numpy(arrays[k].astype(np.int64)) for k in ("train_y", "val_y")}
    raw = RawData(source, images["train_x"], labels["train_y"], images["val_x"],
                  labels["val_y"], [])
    return _checked(raw)


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz", folder / name.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, ndim: int | None = None, budget: Budget | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, as a uint8 array.

    The header is read first; the size it declares is checked against the
    budget and the file's size (a gzip expands at most DEFLATE_RATIO times)
    before the data is read, in chunks, into an array of exactly that size.
    """
    budget = budget or Budget(str(path))
    raw, size = _open_regular(budget.source, path)
    try:
        with raw:
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw
            head = stream.read(4)
            if len(head) < 4 or head[:3] != b"\x00\x00\x08":
                raise TrainError(f"{path} is not an unsigned-byte IDX file",
                                 "MNIST files start with the bytes 00 00 08 and the number of dimensions")
            if ndim is not None and head[3] != ndim:
                raise TrainError(f"{path} has {head[3]} dimensions, expected {ndim}",
                                 "MNIST images are N×28×28 (3 dimensions), labels N (1 dimension)")
            header = stream.read(4 * head[3])
            if len(header) < 4 * head[3]:
                raise TrainError(f"{path} is truncated: its header ends early")
            dims = struct.unpack(f">{head[3]}I", header)
            count = math.prod(dims)
            stored = size - 4 - len(header)
            if path.suffix == ".gz" and count > size * DEFLATE_RATIO:
                raise TrainError(f"{path} declares {dims} = {count:,} bytes of data, more than its {size:,} "
                                 f"compressed bytes can hold", "the file is damaged or crafted")
            if path.suffix != ".gz" and count != stored:
                raise TrainError(f"{path} is truncated or corrupt: header says {dims}, file has {stored} data bytes")
            budget.take(count, f"{path} ({'×'.join(map(str, dims))})")
            data = _read_exactly(stream, count)
            if data is None:
                raise TrainError(f"{path} is truncated or corrupt: header says {dims}, the file holds fewer bytes")
            if stream.read(1):
                raise TrainError(f"{path} is corrupt: it holds more data than its header's {dims}")
    except (OSError, EOFError, zlib.error) as exc:
        raise TrainError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}",
                         "the file is damaged, or not gzip though it ends in .gz") from None
    return data.reshape(dims)


# ---------------------------------------------------------------- CIFAR-10

def _read_cifar_batch(path: Path, budget: Budget) -> tuple[torch.Tensor, torch.Tensor]:
    expected = "expected a pickled dict with b'data' (N×3072 uint8) and b'labels' (N integers)"
    f, size = _open_regular(budget.source, path)
    with f:
        budget.take(size, str(path))  # the pickle's bytes; the arrays are views of them or no larger
        try:
            blob = f.read()
        except OSError as exc:
            raise TrainError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        batch = safe_pickle.loads(blob)
    except safe_pickle.PickleRefused as exc:
        raise TrainError(f"refusing to load {path}: {exc}", expected) from None
    if not isinstance(batch, dict):
        raise TrainError(f"{path} is not a CIFAR-10 python batch: it holds a {type(batch).__name__}", expected)
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim not in (2, 4) or \
            data.shape[1:] not in ((3072,), (3, 32, 32)):
        what = (f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise TrainError(f"{path} is not a CIFAR-10 python batch: its data is {what}", expected)
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu":
        labels = labels.astype(np.int64)
    elif isinstance(labels, list) and all(type(v) is int for v in labels):  # flat: a list holding lists is refused
        if labels and (max(labels) >= 2 ** 63 or min(labels) < -2 ** 63):
            raise TrainError(f"{path}: a label is out of range", f"expected labels 0..{MAX_CLASSES - 1}")
        labels = np.array(labels, dtype=np.int64)
    else:
        raise TrainError(f"{path} is not a CIFAR-10 python batch: its labels are not a list of integers", expected)
    budget.take(labels.nbytes, f"{path}'s labels")
    return torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, 32, 32)), torch.from_numpy(labels)


def _read_cifar10(source: str, root: Path) -> RawData:
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise TrainError(f"{source}: missing {', '.join(missing)} in {root}",
                         "expected the python version of CIFAR-10: data_batch_1..5 and test_batch")
    budget = Budget(source)
    parts = [_read_cifar_batch(root / n, budget) for n in names]
    for (x, y), name in zip(parts, names):
        if len(x) != len(y):
            raise TrainError(f"{source}: {root / name} holds {len(x)} images but {len(y)} labels")
    train_x = torch.cat([x for x, _ in parts[:5]])
    train_y = torch.cat([y for _, y in parts[:5]])
    raw = RawData(source, train_x, train_y, parts[5][0], parts[5][1], _cifar_names(root, budget))
    return _checked(raw)


def _cifar_names(root: Path, budget: Budget) -> list[str]:
    meta = root / "batches.meta"
    if not meta.is_file() or meta.stat().st_size > 1 << 20:
        return []
    try:
        f, _ = _open_regular(budget.source, meta)
        with f:
            names = safe_pickle.loads(f.read())
        names = names.get(b"label_names", names.get("label_names"))
    except (TrainError, OSError, AttributeError, safe_pickle.PickleRefused):
        return []  # names are cosmetic; numbers will do
    if not isinstance(names, list) or len(names) > MAX_CLASSES:
        return []
    return [_class_name(n) for n in names]


def _class_name(name) -> str:
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return text if len(text) <= 100 else text[:100] + "…"


# ---------------------------------------------------------------- folder

def _read_folder(source: str, root: Path, input_shape: tuple[int, ...]) -> RawData:
    try:
        import PIL  # noqa: F401
    except ImportError as exc:
        raise TrainError("folder: data sources need Pillow to read images",
                         "pip install pillow") from exc
    try:
        classes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        files = [sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
                 for folder in classes[:MAX_CLASSES + 1]]
    except OSError as exc:
        raise TrainError(f"{source}: cannot list {exc.filename or root}: {exc.strerror or exc}") from None
    if not classes:
        raise TrainError(f"{source}: {root} has no sub-folders",
                         "expected one sub-folder per class, each holding that class's images")
    if len(classes) > MAX_CLASSES:
        raise TrainError(f"{source}: {root} has {len(classes):,} sub-folders, more than {MAX_CLASSES:,} classes",
                         "expected one sub-folder per class")
    # Images in a folder differ in size, so they are resized to the network's
    # input here (PIL, bilinear) and stored at that size.
    channels, height, width = _chw(input_shape)
    Budget(source).take(sum(map(len, files)) * channels * height * width,
                        f"{sum(map(len, files)):,} images of {channels}×{height}×{width}")
    mode = "RGB" if channels == 3 else "L"
    images, labels, native = [], [], {}
    for label, (folder, members) in enumerate(zip(classes, files)):
        if not members:
            raise TrainError(f"{source}: class folder {folder.name!r} has no images",
                             f"image files end in {', '.join(sorted(IMAGE_SUFFIXES))}")
        images += [_load_image(source, file, mode, (width, height), native) for file in members]
        labels += [label] * len(members)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(labels, dtype=torch.int64)
    return RawData(source, x, y, None, None, [_class_name(p.name) for p in classes],
                   _read_as(native, mode, (width, height)))


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
    return read_image(file, mode, size, f"{source}: ", native)


def read_image(file: Path, mode: str, size: tuple[int, int] | None = None, where: str = "",
               native: dict | None = None,
               unreadable: str = "the file is damaged or not an image; remove it from the folder") -> np.ndarray:
    """One image file as H×W×C uint8 in Pillow's `mode`, resized to `size` (width, height) when given;
    `native` counts the files by their own mode and size. Errors start with `where` (the source)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns above Image.MAX_IMAGE_PIXELS (89 M pixels) and refuses twice that:
            # a small compressed file can declare a picture of gigabytes. Refuse from the warning on.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as img:
                if native is not None:
                    key = ("L" if img.mode in ("L", "1", "LA", "I", "I;16", "F") else "RGB", img.size)
                    native[key] = native.get(key, 0) + 1
                pixels = img.convert(mode)
                if size is not None:
                    pixels = pixels.resize(size, Image.BILINEAR)
                pixels = np.asarray(pixels, dtype=np.uint8)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise TrainError(f"{where}refusing image {file}: {exc}",
                         "an image this large is refused before it is decoded; shrink it") from None
    except Exception as exc:  # Pillow's decoders raise many types for damaged files
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise TrainError(f"{where}cannot read image {file}: {reason}", unreadable) from None
    return pixels.reshape(pixels.shape[0], pixels.shape[1], -1)


def _chw(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise TrainError(f"the network's input shape {tuple(input_shape)} is not C×H×W",
                         "training works with image classifiers: input (channels, height, width)")
    return tuple(int(d) for d in input_shape)


# ---------------------------------------------------------------- npz

def _read_npz(source: str, path: Path) -> RawData:
    expected = "expected a NumPy .npz archive with arrays x and y"
    f, size = _open_regular(source, path)
    budget = Budget(source)
    try:
        with f, zipfile.ZipFile(f) as archive:
            names = archive.namelist()
            if "x.npy" not in names or "y.npy" not in names:
                found = sorted(n[:-4] for n in names if n.endswith(".npy"))[:10]
                raise TrainError(f"{source}: {path} has arrays {found}, not x and y",
                                 "save it with numpy.savez(FILE, x=images, y=labels)")
            arrays = {key: _npz_member(source, archive, f"{key}.npy", size, budget) for key in ("x", "y")}
    except TrainError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error,
            NotImplementedError, RuntimeError) as exc:
        raise TrainError(f"{source}: cannot read {path} as .npz ({exc})", expected) from None
    x = _npz_images(source, arrays["x"])
    y = _int_labels(source, arrays["y"])
    return _checked(RawData(source, x, y, None, None, []))


def _npz_member(source: str, archive: zipfile.ZipFile, name: str, size: int, budget: Budget) -> np.ndarray:
    """One .npy of an .npz: header first, its declared size checked, then the data in chunks."""
    info = archive.getinfo(name)
    where = f"{source}: {name[:-4]}"
    if info.file_size > max(info.compress_size, 1) * DEFLATE_RATIO or info.compress_size > size:
        raise TrainError(f"{where} declares {info.file_size:,} bytes from {info.compress_size:,} compressed",
                         "the archive is damaged or crafted")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in reader:
            raise TrainError(f"{where} is in .npy format {version}, which archlang does not read")
        shape, fortran, dtype = reader[version](member, max_header_size=10_000)
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
            raise TrainError(f"{where} has dtype {dtype}", "expected plain numbers: integer labels, "
                             "uint8 or float images")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            raise TrainError(f"{where} declares shape {shape} ({nbytes:,} bytes), more than its "
                             f"{info.file_size:,} bytes in the archive", "the archive is damaged or crafted")
        budget.take(nbytes, f"{name[:-4]} {shape}")
        data = _read_exactly(member, nbytes)
        if data is None:
            raise TrainError(f"{where} is truncated: shape {shape} needs {nbytes:,} bytes")
    return data.view(dtype).reshape(shape, order="F" if fortran else "C")


def _npz_images(source: str, x: np.ndarray) -> torch.Tensor:
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # N,H,W,C -> N,C,H,W
    if x.ndim != 4 or x.shape[1] not in (1, 3) or 0 in x.shape[2:]:
        raise TrainError(f"{source}: x has shape {x.shape}",
                         "expected N×H×W, N×C×H×W or N×H×W×C with 1 or 3 channels")
    if x.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(x))
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TrainError(f"{source}: x has dtype {x.dtype}", "expected uint8 or float images")
    with np.errstate(over="ignore"):  # values beyond float32 become infinities, refused below
        images = np.ascontiguousarray(x, dtype=np.float32)
    for start in range(0, len(images), 4096):  # chunks: a mask of the whole set would double it
        chunk = images[start:start + 4096]
        bad = ~np.isfinite(chunk)
        if bad.any():
            index = start + int(np.argwhere(bad)[0][0])
            raise TrainError(f"{source}: image {index} of x holds NaN or infinite values"
                             + (" (or values beyond float32's range)" if np.isfinite(x[index]).all() else ""),
                             "images must hold finite numbers; replace or drop the broken ones")
    return torch.from_numpy(images)


def _int_labels(source: str, y: np.ndarray) -> torch.Tensor:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.number):
        raise TrainError(f"{source}: y has shape {y.shape} and dtype {y.dtype}",
                         "expected a 1-D array of integer class labels 0..K-1")
    if np.issubdtype(y.dtype, np.floating) and not (np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0)):
        raise TrainError(f"{source}: y holds non-integer values",
                         "expected integer class labels 0..K-1")
    if len(y) and (y.max() >= MAX_CLASSES or y.min() < 0):
        bad = y.max() if y.max() >= MAX_CLASSES else y.min()
        raise TrainError(f"{source}: y holds the class label {bad:g}" if y.dtype.kind == "f"
                         else f"{source}: y holds the class label {bad}",
                         f"expected integer class labels 0..K-1, with K at most {MAX_CLASSES:,}")
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
        if int(y.max()) >= MAX_CLASSES:
            raise TrainError(f"{raw.source}: the {split} split has the class label {int(y.max())}",
                             f"expected integer class labels 0..K-1, with K at most {MAX_CLASSES:,}")
    return raw
