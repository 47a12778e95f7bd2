"""``archlang train`` and ``archlang eval``: argparse wiring and exit codes.

The main CLI owns the spec arguments: it adds ``FILE`` (as ``args.file``),
``--set NAME=VALUE`` (as ``args.overrides``, a list of "NAME=VALUE" strings or
a dict) and ``--input`` to the sub-parsers returned here.
``model_source_factory(path, overrides)`` turns a spec file into a model
source.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from . import distributed
from .config import (DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_OPTIMIZER, DEVICES,
                     INIT_SCHEMES, OPTIMIZERS, SCHEDULERS, ModelSource, TrainConfig, TrainError)
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
config.json and spec.arch. A RUN_DIR that already holds a run is refused
unless --resume continues it or --force replaces it; a replacing run takes
the earlier one's place only once its own first epoch is saved.

--init WEIGHTS pairs entries by name, then the rest by position (both sides
in state_dict order, aligned on their shapes); entries that fit nothing (a
head for another number of classes) keep their fresh initialisation.
`archlang predict RUN_DIR IMAGE...` classifies images with the result."""


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
    parser.add_argument("--force", action="store_true",
                        help="replace the run already in RUN_DIR (without it, train refuses); the earlier "
                             "run stays until the new one has saved its first epoch")
    _init_options(parser)
    return parser


def _init_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--init", metavar="WEIGHTS",
                        help="start from these weights: a run directory or its checkpoint, a state_dict "
                             "file or a torchvision .pth (matched by name, then by position; entries "
                             "that do not fit, such as another number of classes, keep a fresh init)")
    parser.add_argument("--freeze", metavar="PATH", nargs="+", default=[],
                        help="scopes that do not train (state_dict prefixes, * and ? as in file names)")
    parser.add_argument("--unfreeze", metavar="PATH", nargs="+", default=[],
                        help="scopes taken back out of --freeze: --freeze '*' --unfreeze fc trains fc only")
    parser.add_argument("--init-scheme", choices=INIT_SCHEMES, default="auto",
                        help="fresh weights: auto follows the network's family by name (ResNet*, VGG*, "
                             "DenseNet* as torchvision initialises them; others PyTorch's defaults)")


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
    parser.add_argument("--max-restarts", metavar="N", type=int, default=0,
                        help="with --nproc: restart the processes up to N times when one "
                             "dies; the restarted run resumes from RUN_DIR's last checkpoint "
                             "(default: 0)")


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    text = "evaluate a training checkpoint on the validation split"
    parser = subparsers.add_parser(
        "eval", help=text, description=text,
        epilog="`archlang eval RUN_DIR` takes the run's spec.arch, best.pt, data source and input shape; "
               "with FILE --checkpoint RUN_DIR|CKPT, the data source, --set values and input shape "
               "come from the run's config.json unless given again.")
    parser.add_argument("--checkpoint", metavar="CKPT",
                        help="best.pt or checkpoint.pt, or a run directory (uses its best.pt); "
                             "default: FILE when it is a run directory")
    parser.add_argument("--data", metavar="SOURCE",
                        help="the data the model was trained on (default: the run's, else digits)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="(default: auto)")
    parser.add_argument("--batch-size", metavar="B", type=int, default=EVAL_BATCH,
                        help=f"(default: {EVAL_BATCH})")
    return parser


def eval_from_run(args: argparse.Namespace) -> argparse.Namespace:
    """Fill what ``archlang eval`` was not given from the run: spec, checkpoint, data, --set, input shape.

    FILE may be the run directory itself (its spec.arch already builds the trained network,
    values included); otherwise the run is the one --checkpoint names.
    """
    args = argparse.Namespace(**vars(args))
    given = Path(args.file)
    run_dir = None
    if given.is_dir():
        run_dir = given
        if not (given / "spec.arch").is_file():
            raise TrainError(f"{given} is a directory without spec.arch, not a run directory",
                             "pass a spec file and --checkpoint, or a directory written by `archlang train`")
        args.file = str(given / "spec.arch")
        args.checkpoint = args.checkpoint or str(given)
    elif args.checkpoint:
        where = Path(args.checkpoint)
        run_dir = where if where.is_dir() else where.parent
    if not args.checkpoint:
        raise TrainError("eval needs --checkpoint CKPT (or a run directory in place of FILE)",
                         "e.g. archlang eval runs/LeNet5, or archlang eval spec.arch --checkpoint runs/LeNet5")
    record = _run_config(run_dir) if run_dir is not None else {}
    if args.data is None:
        args.data = (record.get("settings") or {}).get("data") or "digits"
    if not getattr(args, "input_shape", None) and record.get("input_shape"):
        args.input_shape = "x".join(str(d) for d in record["input_shape"])
    if not getattr(args, "overrides", None) and record.get("overrides") and not given.is_dir():
        args.overrides = [f"{k}={v}" for k, v in record["overrides"].items()]
    return args


def _run_config(run_dir: Path) -> dict:
    try:
        record = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        data=args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, momentum=args.momentum, weight_decay=args.weight_decay,
        l1=args.l1, scheduler=args.scheduler, augment=args.augment, seed=args.seed,
        device=args.device, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, workers=args.workers, out=args.out, resume=args.resume, force=args.force,
        init=args.init, freeze=tuple(args.freeze), unfreeze=tuple(args.unfreeze), init_scheme=args.init_scheme)


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
        filled = eval_from_run(args)
        vars(args).update(vars(filled))  # the factory reads --set and --input from args
        source = model_source_factory(args.file, _overrides(args))
        result = evaluate(source, args.checkpoint, args.data, device=args.device,
                          batch_size=args.batch_size)
        print(result.description)
        print(format_report(result))
        return 0

    return _guarded(work, distributed.DistInfo())


def run_predict_command(args: argparse.Namespace) -> int:
    """``archlang predict``: a table or JSON lines; 1 if an image could not be read."""
    from .predict import run_predict

    return _guarded(lambda: run_predict(args), distributed.DistInfo())


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
    except KeyboardInterrupt as exc:
        if info.is_main:  # one line; train() says what RUN_DIR holds now
            print("\n" + getattr(exc, "message", "interrupted"), file=sys.stderr)
        return 130
    except Exception as exc:
        if not callable(getattr(exc, "format", None)):
            raise
        if info.is_main or getattr(exc, "every_rank", False):
            print(exc.format(), file=sys.stderr)
        if isinstance(exc, distributed.PeerLost):
            return 1  # a real failure: torchrun restarts the group when --max-restarts allows
        return distributed.report_exit(1, info)


def _relaunch(args: argparse.Namespace) -> int:
    if args.nproc < 1:
        raise TrainError(f"--nproc must be at least 1, got {args.nproc}")
    config_from_args(args).resolved()  # fail here, not once per worker
    if args.batch_size % args.nproc:
        raise TrainError(
            f"--batch-size {args.batch_size} does not divide among {args.nproc} processes",
            "--batch-size is global: each process takes B/P images a step")
    if args.max_restarts < 0:
        raise TrainError(f"--max-restarts must be at least 0, got {args.max_restarts}")
    return distributed.relaunch(args.nproc, worker_argv(args), args.max_restarts)


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
        if isinstance(value, (list, tuple)):
            line += [flag, *map(str, value)] if value else []
        else:
            line += [flag] if value is True else [flag, str(value)]
    for name, value in _overrides(args).items():
        line += ["--set", f"{name}={value}"]
    return line
