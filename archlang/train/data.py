"""Fitting a data source to the network: split, channels, size, normalization.

The raw images stay at their native resolution in memory; each batch is
adapted (grey↔RGB, bilinear resize, normalization) when it is loaded, in the
DataLoader workers when ``--workers`` > 0. That keeps CIFAR-sized data small
in memory even for a network that wants 224×224 input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .config import TrainError
from .sources import RawData, read_source

# The train/val split is seeded by this constant, not by --seed: runs with
# different seeds are then compared on the same validation images, and
# `archlang eval` (which has no --seed) sees exactly the split training used.
# numpy's legacy RandomState is used because its stream is frozen across
# numpy versions.
SPLIT_SEED = 20261123
VAL_FRACTION = 0.2
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma


@dataclass
class Normalization:
    mean: list[float]
    std: list[float]


@dataclass
class PreparedData:
    """Train and validation splits ready for DataLoaders, and what was done."""

    train: BatchDataset
    val: BatchDataset
    classes: list[str]
    description: str
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class Adapter:
    """Turns a raw batch (N×c×h×w, uint8 or float) into the network's input."""

    def __init__(self, raw_channels: int, input_shape: tuple[int, int, int], norm: Normalization):
        self.raw_channels = raw_channels
        self.channels, self.height, self.width = input_shape
        self.mean = torch.tensor(norm.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(norm.std, dtype=torch.float32).view(1, -1, 1, 1)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Scale to 0..1 and convert channels; no resizing, no normalization."""
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if self.raw_channels == 1 and self.channels == 3:
            return x.expand(-1, 3, -1, -1)
        if self.raw_channels == 3 and self.channels == 1:
            weights = torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
            return (x * weights).sum(dim=1, keepdim=True)
        return x

    def __call__(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        x = self.to_unit(x)
        if x.shape[-2:] != (self.height, self.width):
            x = F.interpolate(x, size=(self.height, self.width), mode="bilinear",
                              align_corners=False, antialias=False)
        return (x - self.mean) / self.std, y


class BatchDataset(torch.utils.data.Dataset):
    """Indexed by a list of indices, so a DataLoader fetches whole batches at once."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, adapter: Adapter):
        self.x, self.y, self.adapter = x, y, adapter

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, indices):
        return self.x[indices], self.y[indices]


def prepare(source: str, input_shape: tuple[int, ...],
            norm: Normalization | None = None) -> PreparedData:
    """Read ``source`` and fit it to ``input_shape``.

    ``norm`` overrides the statistics computed from the training split; eval
    passes the checkpoint's so the model sees what it was trained on.
    """
    target = _target_shape(input_shape)
    raw = read_source(source, target)
    raw_channels = raw.train_x.shape[1]
    _check_channels(raw_channels, target[0], source)
    train_x, train_y, val_x, val_y, split = _split(raw)
    adapter = Adapter(raw_channels, target, Normalization([0.0], [1.0]))
    norm = norm or _statistics(train_x, adapter, target[0])
    adapter = Adapter(raw_channels, target, norm)
    classes = _class_names(raw)
    info = _describe(raw, target, classes, split, norm, (len(train_y), len(val_y)))
    return PreparedData(BatchDataset(train_x, train_y, adapter), BatchDataset(val_x, val_y, adapter),
                        classes, info.pop("text"), info)


def _target_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise TrainError(f"the network's input shape {tuple(input_shape)} is not C×H×W",
                         "training works with image classifiers: input (channels, height, width)")
    return tuple(int(d) for d in input_shape)


def _check_channels(raw_channels: int, channels: int, source: str) -> None:
    if channels not in (1, 3) or raw_channels not in (1, 3):
        raise TrainError(f"the network expects {channels}-channel input and {source} has "
                         f"{raw_channels}-channel images",
                         "only grey (1 channel) and RGB (3 channels) convert into each other")


def _split(raw: RawData):
    """Use the source's own test split as validation, else a fixed stratified split."""
    if raw.val_x is not None:
        return raw.train_x, raw.train_y, raw.val_x, raw.val_y, "the source's test split"
    n = len(raw.train_y)
    if n < 2:
        raise TrainError(f"{raw.source}: {n} image(s) cannot be split into train and validation")
    val = torch.from_numpy(_stratified_val(raw.train_y.numpy()))
    keep = torch.ones(n, dtype=torch.bool)
    keep[val] = False
    train = torch.nonzero(keep).flatten()
    split = f"stratified {round(100 * (1 - VAL_FRACTION))}/{round(100 * VAL_FRACTION)} split"
    return raw.train_x[train], raw.train_y[train], raw.train_x[val], raw.train_y[val], split


def _stratified_val(labels: np.ndarray) -> np.ndarray:
    """Validation indices: VAL_FRACTION of every class, drawn with SPLIT_SEED.

    Stratifying keeps every class in the validation set in its true share,
    which makes accuracy on a few hundred images a steadier estimate.
    """
    rng = np.random.RandomState(SPLIT_SEED)
    parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        parts.append(members[:int(round(len(members) * VAL_FRACTION))])
    val = np.sort(np.concatenate(parts))
    if len(val) == 0:  # every class too small to give one up: take any image
        val = np.array([rng.randint(len(labels))])
    return val


def _statistics(x: torch.Tensor, adapter: Adapter, channels: int) -> Normalization:
    """Per-channel mean and std of the training images (0..1 scale, native size).

    Native size because resizing all of CIFAR to 224×224 just for two numbers
    would cost more than an epoch; bilinear resizing keeps the mean and only
    shrinks the std a little.
    """
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for start in range(0, len(x), 4096):  # chunks: CIFAR as float would be 600 MB
        chunk = adapter.to_unit(x[start:start + 4096]).double()
        total += chunk.sum(dim=(0, 2, 3))
        squares += (chunk * chunk).sum(dim=(0, 2, 3))
        count += chunk.numel() // channels
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    # A constant image set would divide by zero; leave its scale alone.
    std = torch.where(std < 1e-6, torch.ones_like(std), std)
    return Normalization([round(float(m), 6) for m in mean], [round(float(s), 6) for s in std])


def _class_names(raw: RawData) -> list[str]:
    labels = [raw.train_y] + ([raw.val_y] if raw.val_y is not None else [])
    count = max(int(y.max()) for y in labels) + 1
    names = list(raw.class_names)
    return names + [str(c) for c in range(len(names), count)]


def _describe(raw: RawData, target, classes, split, norm: Normalization, sizes) -> dict:
    images = len(raw.train_y) + (len(raw.val_y) if raw.val_y is not None else 0)
    native = tuple(raw.train_x.shape[1:])
    steps = list(raw.read_as)  # a folder's images are resized as they are read
    if native[0] != target[0]:
        steps.append("grey→RGB" if target[0] == 3 else "RGB→grey")
    if native[1:] != target[1:]:
        steps.append("resized")
    shape = "×".join(map(str, native))
    if steps and native == target:  # converted while read (a folder's images)
        shape += f" ({', '.join(steps)})"
    elif steps:
        shape += f" → {'×'.join(map(str, target))} ({', '.join(steps)})"
    text = (f"data: {raw.source}, {images} images {shape}, {len(classes)} classes, "
            f"train {sizes[0]} / val {sizes[1]} ({split}), "
            f"normalized mean {_fmt(norm.mean)} std {_fmt(norm.std)}")
    return {"text": text, "source": raw.source, "images": images, "native_shape": list(native),
            "input_shape": list(target), "conversions": steps, "classes": classes,
            "train_images": sizes[0], "val_images": sizes[1], "split": split,
            "split_seed": SPLIT_SEED if raw.val_x is None else None,
            "mean": norm.mean, "std": norm.std}


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return "(" + ", ".join(f"{v:.2f}" for v in values) + ")"


# ---------------------------------------------------------------- batches

def derived_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from (seed, epoch, stream...) for torch.Generator."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0]) >> 1


class EpochBatchSampler(torch.utils.data.Sampler):
    """Yields this rank's batches of indices, shuffled by (seed, epoch).

    Seeding each epoch's order from (seed, epoch) instead of a running RNG is
    what lets ``--resume`` reproduce an uninterrupted run. Under DDP every rank
    draws the same permutation and takes its own stride of it, truncated so all
    ranks take the same number of steps (DDP would hang otherwise).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int | None, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world, self.epoch = rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> list[int]:
        if self.seed is None:  # validation: contiguous shards, nothing dropped
            per_rank = -(-self.n // self.world)
            return list(range(self.rank * per_rank, min(self.n, (self.rank + 1) * per_rank)))
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch, 1))
        order = torch.randperm(self.n, generator=generator)
        usable = self.n - self.n % self.world
        indices = order[self.rank:usable:self.world].tolist()
        # A trailing batch of one image breaks BatchNorm in training mode.
        if len(indices) % self.batch_size == 1 and len(indices) > 1:
            indices = indices[:-1]
        return indices

    def __iter__(self):
        indices = self._indices()
        for start in range(0, len(indices), self.batch_size):
            yield indices[start:start + self.batch_size]

    def __len__(self) -> int:
        count = len(self._indices())
        return -(-count // self.batch_size)


def loader(dataset: BatchDataset, sampler: EpochBatchSampler, workers: int,
           pin_memory: bool = False) -> torch.utils.data.DataLoader:
    # The explicit generator keeps DataLoader from drawing its worker seed
    # from the global RNG, which would make results depend on --workers.
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=sampler, collate_fn=dataset.adapter,
        num_workers=workers, pin_memory=pin_memory, persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0))


def augment(x: torch.Tensor, generator: torch.Generator, fill: torch.Tensor) -> torch.Tensor:
    """Random crop with padding and random horizontal flip, per image.

    ``fill`` (per channel) is the normalized value of black, so the padding
    looks like the zero padding of the usual pre-normalization crop.
    """
    n, c, h, w = x.shape
    pad = max(1, min(h, w) // 8)
    padded = fill.to(x.device, x.dtype).view(1, c, 1, 1).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad:pad + h, pad:pad + w] = x
    dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = dy + torch.arange(h, device=x.device)
    cols = dx + torch.arange(w, device=x.device)
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    chans = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chans, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]
