"""``archlang train`` and ``archlang eval``: argparse wiring and exit codes.

The main CLI owns the spec arguments: it adds ``FILE`` (as ``args.file``),
``--set NAME=VALUE`` (as ``args.overrides``, a list of "NAME=VALUE" strings or
a dict) and ``--input`` to the sub-parsers returned here.
``model_source_factory(path, overrides)`` turns a spec file into a model
source.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from . import distributed
from .config import (DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_OPTIMIZER, DEVICES,
                     OPTIMIZERS, SCHEDULERS, ModelSource, TrainConfig, TrainError)
from .evaluation import EVAL_BATCH, evaluate, format_report
from .loop import train

Factory = Callable[[str, dict], ModelSource]

TRAIN_HELP = "train a network on an image data set"
TRAIN_EPILOG = """\
data sources: digits (scikit-learn's 8x8 digits, the default), mnist:DIR (IDX
files), cifar10:DIR (python batches), folder:DIR (one sub-folder per class),
npz:FILE (arrays x and y). Images are resized and converted grey<->RGB to the
network's input and normalized with the training split's mean and std.
Sources without a test split are split 80/20 within each class, with a fixed
seed (the same for every --seed, so runs and `archlang eval` share one
validation set).

RUN_DIR receives metrics.jsonl, checkpoint.pt, best.pt, curves.png,
config.json and spec.arch."""


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("train", help=TRAIN_HELP, description=TRAIN_HELP,
                                   epilog=TRAIN_EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    _data_options(parser)
    _optimization_options(parser)
    _execution_options(parser)
    parser.add_argument("--out", metavar="RUN_DIR",
                        help="where the run's files go (default: runs/<network name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in RUN_DIR from its checkpoint.pt")
    return parser


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="SOURCE", default="digits",
                        help="digits | mnist:DIR | cifar10:DIR | folder:DIR | npz:FILE "
                             "(default: digits)")
    parser.add_argument("--augment", action="store_true",
                        help="random crop with padding and horizontal flip (flips suit "
                             "photos, not digits)")
    parser.add_argument("--workers", metavar="W", type=int, default=0,
                        help="DataLoader worker processes (default: 0, load in the main process)")


def _optimization_options(parser: argparse.ArgumentParser) -> None:
    lrs = ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
    parser.add_argument("--epochs", metavar="N", type=int, default=DEFAULT_EPOCHS,
                        help=f"passes over the training split (default: {DEFAULT_EPOCHS})")
    parser.add_argument("--batch-size", metavar="B", type=int, default=DEFAULT_BATCH_SIZE,
                        help="images per optimizer step, over all processes: with --nproc P "
                             f"each process takes B/P (default: {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--lr", metavar="LR", type=float, help=f"learning rate (default: {lrs})")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULT_OPTIMIZER,
                        help=f"(default: {DEFAULT_OPTIMIZER})")
    parser.add_argument("--momentum", metavar="M", type=float,
                        help="SGD momentum (default: 0.9; sgd only)")
    parser.add_argument("--weight-decay", metavar="WD", type=float,
                        help="weight decay (default: 0.05 for adamw, 0 otherwise)")
    parser.add_argument("--l1", metavar="L1", type=float, default=0.0,
                        help="L1 penalty on the weights (not biases), added to the loss")
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="cosine",
                        help="per-epoch lr schedule: cosine to 0, or step (x0.1 every "
                             "epochs/3) (default: cosine)")
    parser.add_argument("--seed", metavar="S", type=int, default=0,
                        help="seed of weights, shuffling and augmentation (default: 0)")


def _execution_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto takes a GPU when there is one (default: auto)")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: bfloat16 on CPU, float16 with loss scaling on CUDA")
    parser.add_argument("--channels-last", action="store_true",
                        help="NHWC memory layout for model and batches")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--nproc", metavar="P", type=int,
                        help="train in P processes with DistributedDataParallel (gloo on CPU, "
                             "nccl on CUDA), relaunched through torch.distributed.run; "
                             "--batch-size stays the global batch; ignored under torchrun")


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    text = "evaluate a training checkpoint on the validation split"
    parser = subparsers.add_parser("eval", help=text, description=text)
    parser.add_argument("--checkpoint", metavar="CKPT", required=True,
                        help="best.pt or checkpoint.pt, or a run directory (uses its best.pt)")
    parser.add_argument("--data", metavar="SOURCE", default="digits",
                        help="the data the model was trained on (default: digits)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="(default: auto)")
    parser.add_argument("--batch-size", metavar="B", type=int, default=EVAL_BATCH,
                        help=f"(default: {EVAL_BATCH})")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        data=args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, momentum=args.momentum, weight_decay=args.weight_decay,
        l1=args.l1, scheduler=args.scheduler, augment=args.augment, seed=args.seed,
        device=args.device, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, workers=args.workers, out=args.out, resume=args.resume)


def run_train(args: argparse.Namespace, model_source_factory: Factory) -> int:
    """``archlang train``; returns the exit code."""
    info = distributed.detect()

    def work() -> int:
        if args.nproc is not None and not distributed.launched():
            return _relaunch(args)
        config = config_from_args(args).resolved()  # bad options fail before the spec loads
        train(model_source_factory(args.file, _overrides(args)), config)
        return 0

    return _guarded(work, info)


def run_eval(args: argparse.Namespace, model_source_factory: Factory) -> int:
    """``archlang eval``; prints loss, accuracy and the confusion matrix."""
    def work() -> int:
        source = model_source_factory(args.file, _overrides(args))
        result = evaluate(source, args.checkpoint, args.data, device=args.device,
                          batch_size=args.batch_size)
        print(result.description)
        print(format_report(result))
        return 0

    return _guarded(work, distributed.DistInfo())


def _overrides(args: argparse.Namespace) -> dict:
    """``--set`` values as a dict, whether the CLI passed a dict or NAME=VALUE strings."""
    given = getattr(args, "overrides", None) or {}
    if isinstance(given, dict):
        return dict(given)
    return dict(item.partition("=")[::2] for item in given)


def _guarded(work: Callable[[], int], info: distributed.DistInfo) -> int:
    """Run ``work``; a user-facing error (anything with ``.format()``) becomes exit 1."""
    try:
        return work()
    except KeyboardInterrupt:
        if info.is_main:
            print("\ninterrupted; RUN_DIR keeps the last finished epoch's checkpoint",
                  file=sys.stderr)
        return 130
    except Exception as exc:
        if _out_of_memory(exc):
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "MemoryError"
            exc = TrainError(f"out of memory: {first}",
                             "use a smaller --batch-size, a smaller --input or a smaller network")
        if not callable(getattr(exc, "format", None)):
            raise
        if info.is_main:
            print(exc.format(), file=sys.stderr)
        return distributed.report_exit(1, info)


def _out_of_memory(exc: Exception) -> bool:
    """An allocation that failed: Python's MemoryError, torch's OutOfMemoryError or CPU allocator error."""
    import torch

    return (isinstance(exc, (MemoryError, torch.OutOfMemoryError))
            or isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def _relaunch(args: argparse.Namespace) -> int:
    if args.nproc < 1:
        raise TrainError(f"--nproc must be at least 1, got {args.nproc}")
    most = max(64, os.cpu_count() or 1)
    if args.nproc > most:
        raise TrainError(f"--nproc {args.nproc} is out of range: at most {most}",
                         "one process per GPU, or a few per machine on CPU")
    config_from_args(args).resolved()  # fail here, not once per worker
    if args.batch_size % args.nproc:
        raise TrainError(
            f"--batch-size {args.batch_size} does not divide among {args.nproc} processes",
            "--batch-size is global: each process takes B/P images a step")
    return distributed.relaunch(args.nproc, worker_argv(args))


def worker_argv(args: argparse.Namespace, argv: list[str] | None = None) -> list[str]:
    """The ``archlang`` arguments the workers run: this command without ``--nproc``.

    The process's own command line is reused when it is a ``train`` command, so
    options the main CLI added (``--set``, ``--input``) travel unchanged;
    otherwise (``run_train`` called from Python) the line is rebuilt from ``args``.
    """
    argv = sys.argv[1:] if argv is None else argv
    if "train" in argv and args.file in argv:
        return distributed.strip_nproc(argv)
    line = ["train", args.file]
    for name, value in sorted(vars(config_from_args(args)).items()):
        default = getattr(TrainConfig, name, None)
        if value is None or value == default:
            continue
        flag = "--" + name.replace("_", "-")
        line += [flag] if value is True else [flag, str(value)]
    for name, value in _overrides(args).items():
        line += ["--set", f"{name}={value}"]
    return line
