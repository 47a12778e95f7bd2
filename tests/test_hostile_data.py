"""Hostile data files: every reader checks declared sizes before it allocates, refuses what a
data file never needs, and ends in a clean TrainError (tests/hostile_data.py writes them)."""
from __future__ import annotations

import gzip
import io
import pickle
import random
import tracemalloc

import numpy as np
import pytest

import hostile_data
from archlang.train import TrainError
from archlang.train import safe_pickle
from archlang.train.sources import MAX_CLASSES, read_idx, read_source

LIMIT = 64 << 20
CASES = [(family, kind) for family, kinds in hostile_data.KINDS.items() for kind in kinds]
ACCEPTED = {("folder", "fifo_image")}  # a FIFO among images is not an image file: skipped, the rest is read


@pytest.fixture(autouse=True)
def data_limit(monkeypatch):
    monkeypatch.setenv("ARCHLANG_MAX_DATA_BYTES", str(LIMIT))


def read_measured(source: str):
    """read_source under tracemalloc (numpy reports its arrays to it): (result or error, peak bytes)."""
    tracemalloc.start()
    try:
        try:
            result = read_source(source, (1, 28, 28))
        except TrainError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_clean(error: TrainError):
    text = error.format()
    assert text.startswith("error: ") and "Traceback" not in text
    assert not any(ord(c) < 32 and c != "\n" for c in text), text
    assert len(text.splitlines()) <= 2 and len(text) < 1500, text


@pytest.mark.parametrize("variant", [0, 1, 2])
@pytest.mark.parametrize("family, kind", CASES)
def test_each_hostile_kind_ends_in_a_clean_error_within_the_limit(tmp_path, family, kind, variant):
    rng = random.Random(f"test:{family}:{kind}:{variant}")
    source, what = hostile_data.GENERATORS[family](rng, tmp_path / "data", kind)
    result, peak = read_measured(source)
    if (family, kind) in ACCEPTED:
        assert not isinstance(result, TrainError), result
    else:
        assert isinstance(result, TrainError), f"{what} was read: {result}"
        assert_clean(result)
    # Nothing is allocated from what a file only declares: the peak stays near the
    # data the file holds (the limit here is 64 MiB; the bombs declare gigabytes).
    assert peak < LIMIT + (8 << 20), f"{what}: {peak / 2**20:.0f} MiB"


def test_the_family_reads_under_an_address_space_limit():
    """The fuzzer's data family in a child with RLIMIT_AS = its imports + 768 MiB: no crash, no MemoryError."""
    from tests.fuzz_data import run

    outcomes, failures = run(seed=7, cases=60)
    assert not failures, failures
    assert len(outcomes) == 60
    assert sum(o["kind"] == "error" for o in outcomes) >= 50


# ---------------------------------------------------------------- MNIST

def test_gzip_is_not_decompressed_past_its_header(tmp_path):
    """The 3 MB → 7 GB bomb, scaled: an honest header over the limit is refused before the data is read."""
    header = bytes([0, 0, 8, 3]) + (100_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    bomb = gzip.compress(header + bytes(78_400_000), 1)
    hostile_data.write_mnist(tmp_path, random.Random(1), replace={"train_x": bomb})
    result, peak = read_measured(f"mnist:{tmp_path}")
    assert isinstance(result, TrainError) and "over the limit of 64.0 MiB" in result.message
    assert peak < 1 << 20  # refused after 16 bytes


@pytest.mark.parametrize("extra", [0, 1])
def test_the_limit_is_exact(tmp_path, monkeypatch, extra):
    images = np.zeros((20, 28, 28), np.uint8)
    blob = hostile_data.idx_bytes(images)
    (tmp_path / "x").write_bytes(blob)
    from archlang.train.sources import Budget

    monkeypatch.setenv("ARCHLANG_MAX_DATA_BYTES", str(images.size - extra))
    if extra:
        with pytest.raises(TrainError, match="over the limit"):
            read_idx(tmp_path / "x", 3, Budget("x"))
    else:
        assert read_idx(tmp_path / "x", 3, Budget("x")).shape == (20, 28, 28)


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1e9"])
def test_a_bad_data_limit_is_a_clean_error(tmp_path, monkeypatch, value):
    hostile_data.write_mnist(tmp_path, random.Random(2))
    monkeypatch.setenv("ARCHLANG_MAX_DATA_BYTES", value)
    with pytest.raises(TrainError, match="ARCHLANG_MAX_DATA_BYTES"):
        read_source(f"mnist:{tmp_path}", (1, 28, 28))


@pytest.mark.parametrize("gz", [True, False])
def test_well_formed_mnist_still_reads(tmp_path, gz):
    hostile_data.write_mnist(tmp_path, random.Random(3), gz=gz)
    raw = read_source(f"mnist:{tmp_path}", (1, 28, 28))
    assert raw.train_x.shape == (6, 1, 28, 28) and raw.val_x.shape == (4, 1, 28, 28)


# ---------------------------------------------------------------- CIFAR pickles

@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_pickles_of_every_protocol_load(tmp_path, protocol):
    data = np.random.default_rng(protocol).integers(0, 256, (3, 3072), dtype=np.uint8)
    batch = {b"data": data, b"labels": np.array([0, 1, 2]), b"filenames": [b"a.png", b"b.png", b"c.png"]}
    hostile_data.write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    raw = read_source(f"cifar10:{tmp_path}", (3, 32, 32))
    assert np.array_equal(raw.val_x.reshape(3, -1).numpy(), data)
    assert raw.val_y.tolist() == [0, 1, 2]


@pytest.mark.parametrize("blob, reason", [
    (b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85\x85R.", "calls numpy.ndarray directly"),
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xe4\x0bT\x85U\x01b\x87R.", "shape"),
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncbuiltins\nlist\n)U\x01b\x87R.", "names builtins.list"),
    (b"\x80\x02cnumpy\ndtype\nX\x0f\x00\x00\x00(2000000000,)u1\x85R.", "dtype"),
    (b"\x80\x02cnumpy\ndtype\nU\x02O8\x85R.", "dtype"),
    (b"\x80\x02]r\xff\xff\xff\x7f.", "memo slot"),
    (b"\x80\x02]r\x00\x00\x00\x80.", "memo slot"),
    (b"\x80\x04\x95\x00\x00\x00\x00\x01\x00\x00\x00N.", "frame"),
    (b"\x80\x05\x8e\xff\xff\xff\xff\x00\x00\x00\x00ab.", "not a complete pickle"),
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.", "encodes"),
    (b"cposix\nsystem\n(S'true'\ntR.", "names posix.system"),
    (b"\x80\x02\x82\x01.", "EXT1"),
    (b"\x80\x02](" + b"K\x00" * 4_000_001 + b"e.", "more than 4,000,000 opcodes"),
])
def test_pickle_constructs_that_allocate_or_run_code_are_refused(blob, reason):
    with pytest.raises(safe_pickle.PickleRefused, match=reason):
        safe_pickle.loads(blob)


@pytest.mark.parametrize("rows", [1000, 100_000])
def test_a_shared_row_is_refused_before_it_is_expanded(tmp_path, rows):
    """The 38 s / 5 GB pickle: data as a list holding one row a hundred thousand times."""
    hostile_data.write_cifar(tmp_path, hostile_data._shared_rows(rows))
    result, peak = read_measured(f"cifar10:{tmp_path}")
    assert isinstance(result, TrainError) and "its data is list" in result.message
    assert peak < 32 << 20


def test_nested_shared_labels_are_refused(tmp_path):
    hostile_data.write_cifar(tmp_path, hostile_data._nested_shared(50))  # 2**50 labels by reference
    with pytest.raises(TrainError):
        read_source(f"cifar10:{tmp_path}", (3, 32, 32))


# ---------------------------------------------------------------- labels and classes

@pytest.mark.parametrize("label, ok", [(MAX_CLASSES - 1, True), (MAX_CLASSES, False), (10 ** 12, False),
                                       (2 ** 63 - 1, False)])
def test_class_counts_are_bounded(tmp_path, label, ok):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 0, label], dtype=np.int64))
    if ok:
        assert int(read_source(f"npz:{path}", (1, 8, 8)).train_y.max()) == label
    else:
        result, peak = read_measured(f"npz:{path}")
        assert isinstance(result, TrainError) and "class label" in result.message
        assert peak < 1 << 20


@pytest.mark.parametrize("labels", [[0, 10 ** 12], [0, 2 ** 70], [0, -1]])
def test_cifar_labels_are_bounded(tmp_path, labels):
    hostile_data.write_cifar(tmp_path, pickle.dumps(hostile_data.cifar_batch(2, labels), protocol=2))
    with pytest.raises(TrainError, match="label"):
        read_source(f"cifar10:{tmp_path}", (3, 32, 32))


# ---------------------------------------------------------------- images

@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e300])
def test_images_must_be_finite(tmp_path, value):
    x = np.random.default_rng(0).random((6, 8, 8))
    x[4, 2, 3] = value
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(6) % 2)
    with pytest.raises(TrainError, match="image 4 of x holds NaN or infinite values"):
        read_source(f"npz:{tmp_path / 'd.npz'}", (1, 8, 8))


def test_finite_float_images_read(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.full((6, 8, 8), 3e38), y=np.arange(6) % 2)
    assert float(read_source(f"npz:{tmp_path / 'd.npz'}", (1, 8, 8)).train_x.max()) == pytest.approx(3e38)


@pytest.mark.parametrize("size", [(50_000, 50_000), (10_000, 10_000), (60_000, 1)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, size):
    hostile_data.folder(random.Random(0), tmp_path, "empty_file")  # two classes of small images
    (tmp_path / "a" / "empty_file.jpg").unlink(missing_ok=True)
    for extra in tmp_path.glob("*/hostile.*"):
        extra.unlink()
    (tmp_path / "b" / "bomb.png").write_bytes(hostile_data.png_bytes(*size))
    result, peak = read_measured(f"folder:{tmp_path}")
    if size[0] * size[1] > 89_478_485:
        assert isinstance(result, TrainError) and "refusing image" in result.message
    else:
        assert isinstance(result, TrainError) and "cannot read image" in result.message
    assert peak < 8 << 20


def test_npz_zip_bomb_is_refused_from_its_header(tmp_path):
    rows = 200 << 10
    hostile_data.write_npz(tmp_path / "d.npz", {"x": hostile_data.npy(np.zeros((rows, 1, 32, 32), np.uint8)),
                                                "y": hostile_data.npy(np.zeros(rows, np.int64))}, deflate=True)
    assert (tmp_path / "d.npz").stat().st_size < 1 << 20  # 200 MiB of zeros in a few hundred KiB
    result, peak = read_measured(f"npz:{tmp_path / 'd.npz'}")
    assert isinstance(result, TrainError) and "over the limit" in result.message
    assert peak < 1 << 20


@pytest.mark.parametrize("shape", [(10 ** 9, 1, 28, 28), (2 ** 62, 2 ** 62), (10 ** 6,)])
def test_npy_headers_are_checked_against_the_archive(tmp_path, shape):
    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
    hostile_data.write_npz(tmp_path / "d.npz", {"x": hostile_data.npy_bytes(header, b"\x00" * 100),
                                                "y": hostile_data.npy(np.zeros(4, np.int64))})
    result, peak = read_measured(f"npz:{tmp_path / 'd.npz'}")
    assert isinstance(result, TrainError) and "declares shape" in result.message
    assert peak < 1 << 20


def test_an_npz_that_is_a_fifo_is_not_opened_for_reading(tmp_path):
    import os

    os.mkfifo(tmp_path / "d.npz")
    with pytest.raises(TrainError, match="not a regular file"):
        read_source(f"npz:{tmp_path / 'd.npz'}", (1, 8, 8))


def test_npz_of_every_layout_still_reads(tmp_path):
    for i, (x, deflate) in enumerate([(np.zeros((4, 8, 8), np.uint8), False),
                                      (np.asfortranarray(np.ones((4, 3, 8, 8), np.float32)), True),
                                      (np.zeros((4, 8, 8, 3), np.float64), False)]):
        f = io.BytesIO()
        (np.savez_compressed if deflate else np.savez)(f, x=x, y=np.array([0, 1, 1, 0]))
        (tmp_path / f"{i}.npz").write_bytes(f.getvalue())
        raw = read_source(f"npz:{tmp_path / f'{i}.npz'}", (1, 8, 8))
        assert raw.train_x.shape[0] == 4 and raw.train_y.tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize("path, message", [("x" * 5000, "File name too long"), ("a\x00b", "NUL"),
                                           ("/nonexistent/x.npz", "does not exist"), ("/dev/zero", "not a regular")])
def test_odd_data_paths_are_clean_errors(path, message):
    with pytest.raises(TrainError, match=message) as info:
        read_source(f"npz:{path}", (1, 8, 8))
    assert_clean(info.value)


def test_a_loop_of_links_as_data(tmp_path):
    (tmp_path / "loop.npz").symlink_to("loop.npz")
    with pytest.raises(TrainError, match="symbolic links"):
        read_source(f"npz:{tmp_path / 'loop.npz'}", (1, 8, 8))
