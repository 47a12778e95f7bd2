"""Hostile data files for `archlang train --data`: bombs, lies, damage and special files.

Each generator writes one data source into a folder and returns the `--data` string and a
short name of what it is. A reader must turn every one into a RawData or a TrainError,
within the data limit (ARCHLANG_MAX_DATA_BYTES) and without allocating from what a file
merely declares. Used by tests/test_hostile_data.py and by the data family of the fuzzer
(tests/fuzz_data.py, part of `make fuzz`).

- **MNIST (IDX, gzipped or not)**: headers declaring terabytes or products that overflow
  32 and 64 bits, a gzip whose stream holds far more than its header says (the 3 MB → 7 GB
  bomb is the same file with more zeros), truncated files, wrong magic, wrong number of
  dimensions, images and labels of different counts, data that is not gzip;
- **CIFAR-10 batches (pickles)**: `_reconstruct`, `numpy.ndarray` or a dtype that allocate
  from a declared shape, memo slots far beyond the file, byte strings longer than the file,
  a list shared a million times (a row of the data repeated by reference), nested shared
  lists as labels, calls to `os.system`/`eval`, extension and persistent-id opcodes,
  class labels of 10^12;
- **npz**: labels of 10^12 and NaN, `.npy` headers declaring huge shapes over a few bytes,
  zip bombs (a member that deflates 1000:1), zip directories that lie about sizes, object
  arrays, NaN and infinite images, float64 values beyond float32, the wrong dimensions;
- **folders**: PNGs whose header declares billions of pixels (Pillow's decompression bomb),
  damaged and truncated images, random bytes, too many images for the limit;
- **special files** where a data file goes: a FIFO (reading it would block forever),
  /dev/zero (endless), a loop of symbolic links, a folder.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import random
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

MNIST = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
         "val_x": "t10k-images-idx3-ubyte", "val_y": "t10k-labels-idx1-ubyte"}
FAMILIES = ["mnist", "cifar", "npz", "folder", "special"]
KINDS = {  # what each family writes; a generator picks one at random unless told
    "mnist": ["huge_header", "overflow", "gzip_bomb", "lying_small", "truncated", "magic", "ndim", "not_gzip",
        "count_mismatch", "extra"],
    "cifar": ["reconstruct", "ndarray", "dtype", "memo", "bytes8", "shared_rows", "nested_labels", "os_system",
        "eval", "ext", "persid", "newobj", "label_huge", "label_list_of_lists", "not_a_dict", "data_wrong",
        "truncated", "codecs", "frame", "setstate_shape", "many_objects"],
    "npz": ["label_huge", "label_nan", "label_float", "label_2d", "header_huge", "zip_bomb", "lying_directory",
        "object", "nan_images", "inf_images", "float64_overflow", "x_shape", "structured", "not_zip", "missing",
        "truncated"],
    "folder": ["bomb", "bomb_warning", "random_bytes", "truncated", "empty_file", "no_pixels", "too_many",
        "fifo_image", "bmp_huge"],
    "special": ["fifo", "devzero", "loop", "folder", "dangling"],
}


# ---------------------------------------------------------------- well-formed pieces

def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, rng: random.Random, gz: bool = True, replace: dict | None = None) -> None:
    """A small, valid MNIST folder (6 + 4 images), with `replace` {key: bytes} swapped in as is."""
    root.mkdir(parents=True, exist_ok=True)
    gen = np.random.default_rng(rng.randrange(2 ** 32))
    arrays = {"train_x": gen.integers(0, 256, (6, 28, 28)), "train_y": gen.integers(0, 10, 6),
              "val_x": gen.integers(0, 256, (4, 28, 28)), "val_y": gen.integers(0, 10, 4)}
    for key, name in MNIST.items():
        data = (replace or {}).get(key)
        if data is None:
            data = idx_bytes(arrays[key])
            data = gzip.compress(data) if gz else data
        (root / (name + (".gz" if gz else ""))).write_bytes(data)


def cifar_batch(n: int = 2, labels=None) -> dict:
    return {b"data": np.zeros((n, 3072), np.uint8), b"labels": list(range(n)) if labels is None else labels}


def write_cifar(root: Path, hostile: bytes | None = None, which: str = "test_batch") -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        blob = hostile if name == which and hostile is not None else pickle.dumps(cifar_batch(), protocol=2)
        (root / name).write_bytes(blob)


def npy_bytes(header: dict, data: bytes) -> bytes:
    """A .npy file with `header` as written (shape and dtype need not match `data`)."""
    text = repr(header).encode("latin-1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def npy(array: np.ndarray) -> bytes:
    f = io.BytesIO()
    np.save(f, array, allow_pickle=False)
    return f.getvalue()


def write_npz(path: Path, members: dict[str, bytes], deflate: bool = False) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, blob in members.items():
            z.writestr(name + ".npy", blob)


def png_bytes(width: int, height: int, idat: bytes | None = None, colour: int = 0) -> bytes:
    """A PNG whose header says width×height; its pixel data is `idat` (default: nothing at all)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(idat or b""))
            + chunk(b"IEND", b""))


def _small_png(rng: random.Random) -> bytes:
    from PIL import Image

    f = io.BytesIO()
    Image.new("L", (rng.randint(4, 16), rng.randint(4, 16)), rng.randint(0, 255)).save(f, "PNG")
    return f.getvalue()


# ---------------------------------------------------------------- hostile MNIST

def mnist(rng: random.Random, root: Path, kind: str | None = None) -> tuple[str, str]:
    gz = rng.random() < 0.7
    key = rng.choice(list(MNIST))
    ndim = 3 if key.endswith("x") else 1
    kind = kind or rng.choice(KINDS["mnist"])
    if kind == "huge_header":  # declares up to terabytes, holds a few bytes
        dims = [rng.choice([60000, 10 ** 6, 2 ** 31, 2 ** 32 - 1])] + [rng.choice([28, 1000, 65535])] * (ndim - 1)
        blob = bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *dims) + b"\x00" * rng.randint(0, 64)
    elif kind == "overflow":  # a product that wraps around in 32 or 64 bits
        dims = [2 ** 32 - 1] * 3 if ndim == 3 else [0]
        blob = bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *dims) + b"\x00" * 16
    elif kind == "gzip_bomb":  # the header is honest, the data is far beyond the limit; zeros compress 1000:1
        n = rng.randint(4000, 20000) if ndim == 3 else rng.randint(64, 128) << 20
        header = bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *([n, 28, 28] if ndim == 3 else [n]))
        size = n * (784 if ndim == 3 else 1)
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        body = compressor.compress(header) + b"".join(compressor.compress(bytes(1 << 20))
                                                      for _ in range(size >> 20))
        blob = body + compressor.compress(bytes(size & ((1 << 20) - 1))) + compressor.flush()
        gz = True
        root.mkdir(parents=True, exist_ok=True)
        write_mnist(root, rng, gz=True, replace={key: blob})
        return f"mnist:{root}", f"mnist/{kind}/{key}"
    elif kind == "lying_small":  # declares one image, the gzip stream goes on for megabytes
        dims = [1, 28, 28] if ndim == 3 else [1]
        blob = bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *dims) + bytes(rng.randint(1, 64) << 20)
    elif kind == "truncated":
        full = idx_bytes(np.zeros([5, 28, 28] if ndim == 3 else [5], np.uint8))
        blob = full[:rng.randint(0, len(full) - 1)]
    elif kind == "magic":
        blob = bytes([rng.randint(0, 255) for _ in range(4)]) + b"\x00" * 32
        if blob[:3] == b"\x00\x00\x08":
            blob = b"\x01" + blob[1:]
    elif kind == "ndim":
        wrong = rng.choice([0, 2, 4, 255]) if ndim == 3 else rng.choice([0, 2, 3, 255])
        blob = bytes([0, 0, 8, wrong]) + struct.pack(f">{min(wrong, 4)}I", *([1] * min(wrong, 4)))
    elif kind == "not_gzip":
        blob = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        gz = True
        root.mkdir(parents=True, exist_ok=True)
        write_mnist(root, rng, gz=True, replace={key: blob})
        return f"mnist:{root}", f"mnist/{kind}/{key}"
    elif kind == "count_mismatch":
        n = rng.choice([1, 3, 7, 200])
        blob = idx_bytes(np.zeros([n, 28, 28] if ndim == 3 else [n], np.uint8))
    else:  # honest header, then more bytes than it declares
        blob = idx_bytes(np.zeros([5, 28, 28] if ndim == 3 else [5], np.uint8)) + bytes(rng.randint(1, 5000))
    write_mnist(root, rng, gz=gz, replace={key: gzip.compress(blob, 1) if gz else blob})
    return f"mnist:{root}", f"mnist/{kind}/{key}"


# ---------------------------------------------------------------- hostile CIFAR pickles

def _reduce_pickle(module: str, name: str, args: bytes) -> bytes:
    """Protocol 2: call module.name with the already-pickled argument tuple `args`."""
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + args + b"R."


def _shared_rows(rows: int) -> bytes:
    """{b'data': [row] * rows, b'labels': [0] * rows}, the row (3072 zeros) pickled once, then referenced."""
    out = [b"\x80\x02}q\x00(C\x04dataq\x01]q\x02(]q\x03(" + b"K\x00" * 3072 + b"e"]
    out.append(b"h\x03" * (rows - 1) + b"eC\x06labelsq\x04]q\x05(" + b"K\x00" * rows + b"eu.")
    return b"".join(out)


def _nested_shared(levels: int) -> bytes:
    """Labels a list of two references to a list of two references ... 2**levels ints in 4*levels bytes."""
    out = b"\x80\x02}q\x00(C\x04dataq\x01cnumpy\nzeros\nq\x02C\x06labelsq\x03]q\x04K\x00a"
    for i in range(levels):
        out += b"]q" + bytes([5 + i]) + b"(h" + bytes([4 + i]) + b"h" + bytes([4 + i]) + b"e"
    return out + b"u."


def cifar(rng: random.Random, root: Path, kind: str | None = None) -> tuple[str, str]:
    kind = kind or rng.choice(KINDS["cifar"])
    big = rng.choice([2 ** 31, 5 * 10 ** 9, 2 ** 40, 10 ** 15])
    if kind == "reconstruct":  # an array of a declared shape: ~5 GB from 80 bytes
        blob = _reduce_pickle("numpy.core.multiarray", "_reconstruct",
                              b"cnumpy\nndarray\n\x8a\x08" + struct.pack("<q", big) + b"\x85U\x01b\x87")
    elif kind == "ndarray":
        blob = _reduce_pickle("numpy", "ndarray", b"\x8a\x08" + struct.pack("<q", big) + b"\x85\x85")
    elif kind == "dtype":  # a dtype whose one element is gigabytes
        blob = _reduce_pickle("numpy", "dtype", b"X\x0f\x00\x00\x00(2000000000,)u1\x85")
    elif kind == "memo":  # the C unpickler grows its memo to the slot's index
        blob = b"\x80\x02]r" + struct.pack("<I", rng.choice([2 ** 31 - 1, 2 ** 28, 10 ** 9])) + b"."
    elif kind == "bytes8":
        blob = b"\x80\x05\x8e" + struct.pack("<Q", big) + b"abc."
    elif kind == "shared_rows":  # the data as a list of one row shared (the 38 s / 5 GB pickle)
        blob = _shared_rows(rng.choice([10 ** 5, 3 * 10 ** 5]))
    elif kind == "nested_labels":
        blob = _nested_shared(rng.randint(20, 60))
    elif kind == "os_system":
        blob = b"cos\nsystem\n(S'touch /tmp/archlang-pwned'\ntR."
    elif kind == "eval":
        blob = b"\x80\x02c__builtin__\neval\nX\x08\x00\x00\x00[0]*10**9\x85R."
    elif kind == "ext":
        blob = b"\x80\x02\x82\x01."
    elif kind == "persid":
        blob = b"\x80\x02X\x01\x00\x00\x00xQ."
    elif kind == "newobj":
        blob = b"\x80\x02cnumpy\ndtype\n)\x81."
    elif kind == "label_huge":  # a valid batch whose label builds 10^12 class names
        blob = pickle.dumps(cifar_batch(2, [0, rng.choice([10 ** 12, 2 ** 62, 10 ** 6])]), protocol=2)
    elif kind == "label_list_of_lists":
        blob = pickle.dumps(cifar_batch(2, [[0] * 3, [1]]), protocol=2)
    elif kind == "not_a_dict":
        blob = pickle.dumps(rng.choice([[1, 2], "data", 7, None, (b"data",)]), protocol=2)
    elif kind == "data_wrong":
        data = rng.choice([np.zeros((2, 100), np.uint8), np.zeros((2, 3072), np.float32), [[0] * 3072] * 2,
                           np.zeros(3072, np.uint8)])
        blob = pickle.dumps({b"data": data, b"labels": [0, 1]}, protocol=2)
    elif kind == "truncated":
        full = pickle.dumps(cifar_batch(3), protocol=rng.choice([2, 4, 5]))
        blob = full[:rng.randint(0, len(full) - 1)]
    elif kind == "setstate_shape":  # an empty array whose state declares gigabytes over three bytes
        shape = struct.pack("<q", big)
        blob = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01"
                b"\x8a\x08" + shape + b"\x85cnumpy\ndtype\nX\x02\x00\x00\x00u1\x85R\x89C\x03abctb.")
    elif kind == "many_objects":  # labels as millions of small ints: 2 bytes of file, 8 of memory each
        count = rng.randint(4_000_001, 5_000_000)
        blob = b"\x80\x02}(C\x04data]C\x06labels](" + b"K\x00" * count + b"eu."
    elif kind == "codecs":  # encodings that expand (base64 of base64 of ...)
        blob = _reduce_pickle("_codecs", "encode", b"C\x04abcdX\x06\x00\x00\x00base64\x86")
    else:  # a protocol-4 frame declaring more bytes than the file holds
        blob = b"\x80\x04\x95" + struct.pack("<Q", big) + b"N."
    write_cifar(root, blob, rng.choice(["test_batch", "data_batch_1", "data_batch_5"]))
    return f"cifar10:{root}", f"cifar/{kind}"


# ---------------------------------------------------------------- hostile npz

def npz(rng: random.Random, root: Path, kind: str | None = None) -> tuple[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "data.npz"
    n = rng.randint(4, 12)
    x = np.zeros((n, 1, 8, 8), np.uint8)
    y = np.arange(n) % 2
    kind = kind or rng.choice(KINDS["npz"])
    members = {"x": npy(x), "y": npy(y)}
    deflate = False
    if kind == "label_huge":
        y = y.astype(np.int64)
        y[rng.randrange(n)] = rng.choice([10 ** 12, 2 ** 63 - 1, 10 ** 6])
        members["y"] = npy(y)
    elif kind == "label_nan":
        members["y"] = npy(np.array([0.0, float(rng.choice(["nan", "inf"]))] * (n // 2)))
    elif kind == "label_float":
        members["y"] = npy(np.array([0.0, 1e12] * (n // 2)))
    elif kind == "label_2d":
        members["y"] = npy(np.zeros((n, 2), np.int64))
    elif kind == "header_huge":  # a header declaring gigabytes over a few bytes of data
        shape = rng.choice([(10 ** 9, 3, 32, 32), (2 ** 40,), (10 ** 6, 1, 10 ** 4, 10 ** 4), (2 ** 62, 2 ** 62)])
        which = rng.choice(["x", "y"])
        members[which] = npy_bytes({"descr": "|u1" if which == "x" else "<i8", "fortran_order": False,
                                    "shape": shape}, b"\x00" * rng.randint(0, 4096))
    elif kind == "zip_bomb":  # honest header, gigabytes of zeros deflated 1000:1
        rows = rng.randint(80, 200) << 10  # 80-200 MiB: over the 64 MiB the tests and the fuzzer allow
        members["x"] = npy(np.zeros((rows, 1, 32, 32), np.uint8))
        members["y"] = npy(np.zeros(rows, np.int64))
        deflate = True
    elif kind == "lying_directory":  # the zip's directory says a small size, the stream is large
        write_npz(path, members)
        blob = bytearray(path.read_bytes())
        at = blob.rfind(b"PK\x01\x02")  # the last central directory entry: y.npy
        struct.pack_into("<II", blob, at + 20, rng.choice([1, 2 ** 32 - 1]), rng.choice([1, 2 ** 32 - 1]))
        path.write_bytes(bytes(blob))
        return f"npz:{path}", f"npz/{kind}"
    elif kind == "object":
        members["x"] = npy_bytes({"descr": "|O", "fortran_order": False, "shape": (n, 1, 8, 8)}, b"")
    elif kind in ("nan_images", "inf_images"):
        xf = np.random.default_rng(rng.randrange(2 ** 32)).random((n, 1, 8, 8)).astype(np.float32)
        xf[rng.randrange(n), 0, rng.randrange(8), rng.randrange(8)] = np.nan if kind == "nan_images" else -np.inf
        members["x"] = npy(xf)
    elif kind == "float64_overflow":
        xf = np.zeros((n, 1, 8, 8))
        xf[rng.randrange(n), 0, 0, 0] = 1e300
        members["x"] = npy(xf)
    elif kind == "x_shape":
        members["x"] = npy(np.zeros(rng.choice([(n,), (n, 5, 8, 8), (n, 0, 0), (n, 1, 8, 8, 1)]), np.uint8))
    elif kind == "structured":
        members["x"] = npy(np.zeros(n, dtype=[("a", "u1"), ("b", "f4")]))
    elif kind == "not_zip":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))))
        return f"npz:{path}", f"npz/{kind}"
    elif kind == "missing":
        members = {rng.choice(["images", "X", "labels"]): members["x"]}
    else:  # truncated archive
        write_npz(path, members)
        blob = path.read_bytes()
        path.write_bytes(blob[:rng.randint(0, len(blob) - 1)])
        return f"npz:{path}", f"npz/{kind}"
    write_npz(path, members, deflate)
    return f"npz:{path}", f"npz/{kind}"


# ---------------------------------------------------------------- hostile folders

def folder(rng: random.Random, root: Path, kind: str | None = None) -> tuple[str, str]:
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            (root / c / f"{i}.png").write_bytes(_small_png(rng))
    kind = kind or rng.choice(KINDS["folder"])
    target = root / rng.choice("ab") / f"hostile{rng.choice(['.png', '.jpg', '.gif', '.bmp'])}"
    if kind == "bomb":  # 2.5 billion pixels declared by a 60-byte file
        target.with_suffix(".png").write_bytes(png_bytes(50000, 50000))
    elif kind == "bomb_warning":  # above Pillow's warning (89 M pixels), below its error
        target.with_suffix(".png").write_bytes(png_bytes(10000, 10000))
    elif kind == "random_bytes":
        target.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(1, 500))))
    elif kind == "truncated":
        blob = _small_png(rng)
        target.with_suffix(".png").write_bytes(blob[:rng.randint(8, len(blob) - 20)])  # into the pixel data
    elif kind == "empty_file":
        target.write_bytes(b"")
    elif kind == "no_pixels":  # a valid header, no image data
        target.with_suffix(".png").write_bytes(png_bytes(rng.randint(1, 64), rng.randint(1, 64)))
    elif kind == "too_many":  # more images than the limit holds at the network's input size
        for i in range(rng.randint(300, 600)):
            (root / "a" / f"many{i}.png").write_bytes(b"")
    elif kind == "fifo_image":
        os.mkfifo(target.with_suffix(".png"))
    else:  # a BMP header declaring 60000×60000
        header = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 60000, 60000, 1, 24,
                                                                             0, 0, 0, 0, 0, 0)
        target.with_suffix(".bmp").write_bytes(header)
    return f"folder:{root}", f"folder/{kind}"


# ---------------------------------------------------------------- special files

def special(rng: random.Random, root: Path, kind: str | None = None) -> tuple[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    kind = kind or rng.choice(KINDS["special"])
    form = rng.choice(["npz", "mnist", "cifar"])

    def place(path: Path) -> None:
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "devzero":
            path.symlink_to("/dev/zero")
        elif kind == "loop":
            path.symlink_to(path.name)
        elif kind == "folder":
            path.mkdir()
        else:
            path.symlink_to(path.name + ".missing")

    if form == "npz":
        place(root / "data.npz")
        return f"npz:{root / 'data.npz'}", f"special/{kind}/npz"
    if form == "mnist":
        write_mnist(root, rng, gz=False)
        victim = root / rng.choice(list(MNIST.values()))
        victim.unlink()
        place(victim)
        return f"mnist:{root}", f"special/{kind}/mnist"
    write_cifar(root)
    victim = root / rng.choice(["test_batch", "data_batch_3"])
    victim.unlink()
    place(victim)
    return f"cifar10:{root}", f"special/{kind}/cifar"


GENERATORS = {"mnist": mnist, "cifar": cifar, "npz": npz, "folder": folder, "special": special}


def make_case(seed: int, index: int, root: Path) -> tuple[str, str]:
    """Case `index` of `seed`, written under `root` (a fresh folder): (--data source, what it is)."""
    rng = random.Random(f"archlang-data:{seed}:{index}")
    family = FAMILIES[index % len(FAMILIES)] if index < 50 else rng.choice(FAMILIES)
    return GENERATORS[family](rng, root)
