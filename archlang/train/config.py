"""Settings, the model-source contract and the error type of the training subsystem."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda")
INIT_SCHEMES = ("auto", "pytorch", "resnet", "vgg", "densenet")

# Defaults measured on a 2-core CPU: LeNet-5 (sigmoid) on digits resized to
# 28x28 reaches 98-99 % validation accuracy within 10 epochs with these and
# the warm-up cosine schedule (see bench/train_results.md). Small batches
# matter: the sigmoid network needs many updates, and at 16 images per step
# an epoch of digits is 90 of them.
DEFAULT_OPTIMIZER = "adamw"
DEFAULT_BATCH_SIZE = 16
DEFAULT_EPOCHS = 10
DEFAULT_LR = {"sgd": 0.05, "adam": 8e-3, "adamw": 8e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 0.0, "adam": 0.0, "adamw": 0.05}
DEFAULT_MOMENTUM = 0.9


class TrainError(Exception):
    """A problem with the user's command, data or run directory.

    Like the core's errors it has ``format()``, so the CLI prints it without a
    traceback and exits 1.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def format(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


@runtime_checkable
class ModelSource(Protocol):
    """What training needs from a compiled spec (the core provides it).

    Optional, read with getattr: ``parameters`` (the network's parameters and their values,
    for the hint `--set classes=N`) and ``final_layer`` (the type of the last computing layer,
    to warn about a softmax under the cross-entropy loss).
    """

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    source_text: str
    overrides: dict

    def build(self, device: Any = None, dtype: Any = None) -> torch.nn.Module: ...

    def output_error(self, message: str, hint: str | None) -> Exception: ...


@dataclass
class TrainConfig:
    """Every setting of a training run; ``None`` means "the optimizer's default"."""

    data: str = "digits"
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    lr: float | None = None
    optimizer: str = DEFAULT_OPTIMIZER
    momentum: float | None = None
    weight_decay: float | None = None
    l1: float = 0.0
    scheduler: str = "cosine"
    augment: bool = False
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    workers: int = 0
    out: str | None = None
    resume: bool = False
    force: bool = False  # replace the run in RUN_DIR (kept until the new run's first checkpoint)
    init: str | None = None  # start from these weights (a run's checkpoint, a state_dict, a .pth)
    freeze: tuple = ()  # scopes whose parameters do not train (patterns; see init.py)
    unfreeze: tuple = ()  # scopes taken back out of `freeze`
    init_scheme: str = "auto"  # how fresh weights are drawn (see init.py)

    def resolved(self) -> TrainConfig:
        """A checked copy with the optimizer-dependent defaults filled in."""
        self._check_choices()
        self._check_numbers()
        if self.momentum is not None and self.optimizer != "sgd":
            raise TrainError(
                f"--momentum applies to --optimizer sgd only (this run uses {self.optimizer})",
                "drop --momentum, or add --optimizer sgd")
        if self.resume and (self.force or self.init):
            raise TrainError(f"--resume continues a run; it does not combine with --{'force' if self.force else 'init'}",
                             "drop --resume to start a new run")
        if self.init_scheme not in INIT_SCHEMES:
            raise TrainError(f"--init-scheme {self.init_scheme!r} is not one of: {', '.join(INIT_SCHEMES)}")
        return dataclasses.replace(
            self, freeze=tuple(self.freeze or ()), unfreeze=tuple(self.unfreeze or ()),
            lr=DEFAULT_LR[self.optimizer] if self.lr is None else self.lr,
            weight_decay=(DEFAULT_WEIGHT_DECAY[self.optimizer]
                          if self.weight_decay is None else self.weight_decay),
            momentum=(DEFAULT_MOMENTUM if self.optimizer == "sgd" and self.momentum is None
                      else self.momentum))

    def _check_choices(self) -> None:
        for field, value, choices in (("optimizer", self.optimizer, OPTIMIZERS),
                                      ("scheduler", self.scheduler, SCHEDULERS),
                                      ("device", self.device, DEVICES)):
            if value not in choices:
                raise TrainError(f"--{field} {value!r} is not one of: {', '.join(choices)}")

    def _check_numbers(self) -> None:
        positive = {"epochs": self.epochs, "batch-size": self.batch_size}
        if self.lr is not None:
            positive["lr"] = self.lr
        for name, value in positive.items():
            if not value > 0:
                raise TrainError(f"--{name} must be positive, got {value}")
        non_negative = {"l1": self.l1, "workers": self.workers,
                        "weight-decay": self.weight_decay or 0.0,
                        "momentum": self.momentum or 0.0}
        for name, value in non_negative.items():
            if value < 0:
                raise TrainError(f"--{name} must not be negative, got {value}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
