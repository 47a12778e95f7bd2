"""Data sources and their adaptation to the network's input."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from archlang.train import TrainError
from sklearn.datasets import load_digits

from archlang.train.data import Adapter, EpochBatchSampler, Normalization, augment, prepare
from train_helpers import cifar_dir, image_folder, mnist_dir


def batch(prepared, split="train", n=None):
    dataset = getattr(prepared, split)
    indices = list(range(n or len(dataset)))
    return dataset.adapter(dataset[indices])


def test_digits_are_resized_split_and_normalized():
    prepared = prepare("digits", (1, 28, 28))
    assert prepared.description.startswith(
        "data: digits, 1797 images 1×8×8 → 1×28×28 (resized), 10 classes, train 1438 / val 359 "
        "(stratified 80/20 split), normalized mean 0.30 std 0.38")
    x, y = batch(prepared)
    assert x.shape == (1438, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert abs(float(x.mean())) < 0.1  # normalized with the training split's statistics
    # statistics of exactly the training images, at their native 8×8 resolution
    assert prepared.info["mean"] == pytest.approx([float(prepared.train.x.mean())], abs=1e-5)
    assert prepared.info["std"] == pytest.approx([float(prepared.train.x.std())], abs=1e-4)


def test_split_is_fixed_stratified_and_disjoint():
    a, b = prepare("digits", (1, 8, 8)), prepare("digits", (1, 8, 8))
    assert torch.equal(a.val.y, b.val.y) and torch.equal(a.val.x, b.val.x)
    everything = torch.cat([a.train.x, a.val.x]).flatten(1)
    assert len(torch.unique(everything, dim=0)) == len(torch.unique(
        torch.from_numpy(load_digits().images).float().div(16).flatten(1), dim=0))
    per_class = torch.bincount(a.val.y)
    totals = per_class + torch.bincount(a.train.y)
    assert ((per_class - 0.2 * totals).abs() <= 0.5).all()


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_files_use_the_test_split_for_validation(tmp_path, gz):
    root = mnist_dir(tmp_path / "mnist", gz=gz)
    prepared = prepare(f"mnist:{root}", (1, 28, 28))
    assert "60 images 1×28×28, 10 classes, train 40 / val 20 (the source's test split)" \
        in prepared.description
    x, y = batch(prepared, "val")
    assert x.shape == (20, 1, 28, 28) and y.tolist() == [i % 10 for i in range(20)]


def test_mnist_in_torchvision_layout_and_resized_to_rgb(tmp_path):
    mnist_dir(tmp_path / "MNIST" / "raw")
    prepared = prepare(f"mnist:{tmp_path}", (3, 32, 32))
    assert "1×28×28 → 3×32×32 (grey→RGB, resized)" in prepared.description
    x, _ = batch(prepared, n=4)
    assert x.shape == (4, 3, 32, 32) and torch.equal(x[:, 0], x[:, 2])


def test_truncated_idx_file_is_reported(tmp_path):
    root = mnist_dir(tmp_path, gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(TrainError, match="truncated or corrupt"):
        prepare(f"mnist:{root}", (1, 28, 28))


def test_cifar10_batches_with_class_names(tmp_path):
    root = cifar_dir(tmp_path / "cifar")
    prepared = prepare(f"cifar10:{root}", (1, 16, 16))
    assert "36 images 3×32×32 → 1×16×16 (RGB→grey, resized)" in prepared.description
    assert "train 30 / val 6" in prepared.description
    assert prepared.classes[:3] == ["airplane", "automobile", "bird"]
    assert batch(prepared)[0].shape == (30, 1, 16, 16)


def test_cifar10_refuses_pickles_that_would_run_code(tmp_path):
    root = cifar_dir(tmp_path)
    with open(root / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1],
                     b"x": pickle.loads}, f)  # a global outside numpy
    with pytest.raises(TrainError, match="refusing to load"):
        prepare(f"cifar10:{root}", (3, 32, 32))


def test_image_folder_of_mixed_sizes(tmp_path):
    root = image_folder(tmp_path / "pets", per_class=5)
    prepared = prepare(f"folder:{root}", (3, 16, 16))
    assert prepared.classes == ["cat", "dog"]
    assert "10 images 3×16×16 (resized from " in prepared.description  # the folder's sizes vary
    assert ", 2 classes, train 8 / val 2" in prepared.description
    grey = prepare(f"folder:{root}", (1, 12, 12))
    assert batch(grey)[0].shape == (8, 1, 12, 12)


@pytest.mark.parametrize("layout, shape, expect", [
    ("nhw", (12, 6, 6), "1×6×6 → 3×6×6 (grey→RGB)"),
    ("nchw", (12, 3, 6, 6), "3×6×6,"),
    ("nhwc", (12, 6, 6, 3), "3×6×6,"),
])
def test_npz_layouts(tmp_path, layout, shape, expect):
    rng = np.random.RandomState(0)
    x = rng.rand(*shape).astype(np.float32) if layout == "nchw" else rng.randint(0, 256, shape).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(12) % 3)
    prepared = prepare(f"npz:{tmp_path / 'd.npz'}", (3, 6, 6))
    assert expect in prepared.description and prepared.num_classes == 3
    if layout == "nhwc":  # channels really moved: image 0's red plane is x[0, :, :, 0]
        stored = torch.cat([prepared.train.x, prepared.val.x])
        red = torch.from_numpy(x[0, :, :, 0])
        assert any(torch.equal(image[0], red) for image in stored)


@pytest.mark.parametrize("source, message", [
    ("imagenet", "unknown data source 'imagenet'"),
    ("mnist", "needs a path"),
    ("mnist:/no/such/dir", "does not exist"),
    ("digits:foo", "takes no path"),
])
def test_bad_source_names(source, message):
    with pytest.raises(TrainError, match=message) as info:
        prepare(source, (1, 28, 28))
    assert "error: " in info.value.format()


def test_bad_source_files(tmp_path):
    np.savez(tmp_path / "noy.npz", x=np.zeros((4, 5, 5), np.uint8))
    np.savez(tmp_path / "badx.npz", x=np.zeros((4, 5), np.uint8), y=np.zeros(4))
    np.savez(tmp_path / "len.npz", x=np.zeros((4, 5, 5), np.uint8), y=np.zeros(3))
    (tmp_path / "junk.npz").write_text("not a zip")
    (tmp_path / "empty").mkdir()
    (tmp_path / "mnist").mkdir()
    (tmp_path / "broken" / "cat").mkdir(parents=True)
    (tmp_path / "broken" / "cat" / "0.png").write_bytes(b"not a png")
    cases = {"npz:" + str(tmp_path / "noy.npz"): "not x and y",
             "npz:" + str(tmp_path / "badx.npz"): "expected N×H×W",
             "npz:" + str(tmp_path / "len.npz"): "4 training images but 3 labels",
             "npz:" + str(tmp_path / "junk.npz"): "cannot read",
             "folder:" + str(tmp_path / "empty"): "has no sub-folders",
             "folder:" + str(tmp_path / "broken"): "cannot read image",
             "mnist:" + str(tmp_path / "mnist"): "no MNIST files",
             "cifar10:" + str(tmp_path): "missing data_batch_1"}
    for source, message in cases.items():
        with pytest.raises(TrainError) as info:
            prepare(source, (1, 5, 5))
        assert message in info.value.format(), source


def test_network_inputs_that_cannot_take_images(tmp_path):
    with pytest.raises(TrainError, match="expects 4-channel input"):
        prepare("digits", (4, 8, 8))
    with pytest.raises(TrainError, match="is not C×H×W"):
        prepare("digits", (64,))


def test_rgb_to_grey_uses_luma_weights():
    adapter = Adapter(3, (1, 1, 1), Normalization([0.0], [1.0]))
    x = torch.tensor([[[[255]], [[0]], [[0]]], [[[0]], [[255]], [[0]]]], dtype=torch.uint8)
    out, _ = adapter((x, torch.zeros(2)))
    assert out.flatten().tolist() == pytest.approx([0.299, 0.587])


def test_sampler_shuffles_per_epoch_and_shards_ranks():
    sampler = EpochBatchSampler(103, 10, seed=7)
    sampler.set_epoch(1)
    first = [i for b in sampler for i in b]
    again = [i for b in sampler for i in b]
    sampler.set_epoch(2)
    second = [i for b in sampler for i in b]
    assert first == again and first != second and sorted(first) == list(range(103))
    ranks = [EpochBatchSampler(103, 4, seed=7, rank=r, world=2) for r in (0, 1)]
    shards = [[i for b in s for i in b] for s in ranks]
    assert len(shards[0]) == len(shards[1]) == 51 and not set(shards[0]) & set(shards[1])
    assert len(ranks[0]) == len(ranks[1]) == 13  # DDP needs equal step counts


def test_sampler_drops_a_final_batch_of_one():
    batches = list(EpochBatchSampler(21, 10, seed=0))
    assert [len(b) for b in batches] == [10, 10]


def test_augment_crops_and_flips_deterministically():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    fill = torch.tensor([-1.0, -2.0, -3.0])
    a = augment(x, torch.Generator().manual_seed(1), fill)
    b = augment(x, torch.Generator().manual_seed(1), fill)
    assert a.shape == x.shape and torch.equal(a, b)
    outputs = [augment(x, torch.Generator().manual_seed(s), fill) for s in range(20)]
    assert any(not torch.equal(o, x) for o in outputs)
    for out in outputs:  # every pixel is the image's (same channel) or the padding fill
        for c in range(3):
            allowed = set(x[:, c].flatten().tolist()) | {fill[c].item()}
            assert set(out[:, c].flatten().tolist()) <= allowed
    flipped = x.flip(3)
    assert any(torch.equal(o[i], flipped[i]) for o in outputs for i in range(2))
