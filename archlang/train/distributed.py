"""Multi-process training: torchrun-style relaunch and the worker side.

``archlang train --nproc P`` re-runs the same command under
``python -m torch.distributed.run --standalone --nproc_per_node P``. Each
worker finds RANK / WORLD_SIZE / LOCAL_RANK in its environment, exactly as
under a user's own ``torchrun``, and trains with DistributedDataParallel.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from .config import TrainError

# A relaunching parent sets this to a file; its workers write the exit code
# of a handled error there and exit 0, so torchrun does not print its
# "ChildFailedError" traceback over the clear message rank 0 already printed.
EXIT_FILE_ENV = "ARCHLANG_TRAIN_EXIT_FILE"


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether this process is a torchrun worker (possibly the only one)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def detect() -> DistInfo:
    """This process's place in a torchrun job (a single process outside one)."""
    env = os.environ
    if not launched():
        return DistInfo()
    try:
        world = int(env["WORLD_SIZE"])
        return DistInfo(int(env["RANK"]), world, int(env.get("LOCAL_RANK", 0)),
                        int(env.get("LOCAL_WORLD_SIZE", world)))
    except ValueError as exc:
        raise TrainError(f"bad torchrun environment: {exc}") from exc


@contextlib.contextmanager
def process_group(info: DistInfo, device: torch.device):
    """Join the job's process group (gloo on CPU, nccl on CUDA) for the block."""
    if not info.active or dist.is_initialized():
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    try:
        yield
    finally:
        dist.destroy_process_group()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours taskset / container CPU sets
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_threads(processes: int) -> int:
    """Compute threads per process: this process's share of the cores, less one.

    The spare core runs the Python side (batch assembly, bookkeeping) and
    whatever else the machine does. On a busy 2-core box this matters a lot:
    10 epochs of LeNet-5 on digits took 6 s with one thread and 72-157 s
    with two, their barrier spinning against other work; on quiet cores two
    threads were only about 10 % faster (bench/train_results.md).
    """
    return max(1, usable_cores() // processes - 1)


def select_device(name: str, info: DistInfo) -> torch.device:
    """``--device auto|cpu|cuda``; under DDP each CUDA worker takes GPU LOCAL_RANK."""
    if name == "cuda" and not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        raise TrainError(f"--device cuda: CUDA is not available ({why})",
                         "use --device cpu, or --device auto to take a GPU when there is one")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    if info.local_rank >= torch.cuda.device_count():
        raise TrainError(f"worker {info.local_rank} has no GPU: {torch.cuda.device_count()} visible",
                         "use at most one process per GPU (--nproc)")
    return torch.device("cuda", info.local_rank)


def all_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather(obj, info: DistInfo) -> list:
    if not info.active:
        return [obj]
    gathered = [None] * info.world
    dist.all_gather_object(gathered, obj)
    return gathered


def agree(error: TrainError | None, info: DistInfo) -> None:
    """Raise rank 0's error on every rank.

    Only rank 0 touches RUN_DIR; if it fails there, the other ranks must stop
    too instead of waiting forever in the first collective.
    """
    if info.active:
        box = [(error.message, error.hint) if error else None]
        dist.broadcast_object_list(box, src=0)
        error = TrainError(*box[0]) if box[0] else None
    if error:
        raise error


def report_exit(code: int, info: DistInfo) -> int:
    """The exit code a worker should return for a handled error (see EXIT_FILE_ENV)."""
    target = os.environ.get(EXIT_FILE_ENV)
    if not target or not info.active:
        return code
    if info.is_main:
        Path(target).write_text(str(code))
    return 0


def relaunch_command(nproc: int, argv: list[str]) -> list[str]:
    """The torchrun command for ``argv`` (an ``archlang`` command line)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "archlang", *argv]


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc P`` / ``--nproc=P`` (the workers must not relaunch)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run ``archlang <argv>`` in ``nproc`` processes; return their exit code."""
    env = dict(os.environ)
    # Set it ourselves: torchrun would force 1 and print a warning about it.
    env.setdefault("OMP_NUM_THREADS", str(cpu_threads(nproc)))
    with tempfile.TemporaryDirectory(prefix="archlang-ddp-") as tmp:
        exit_file = Path(tmp) / "exit"
        env[EXIT_FILE_ENV] = str(exit_file)
        try:
            proc = subprocess.run(relaunch_command(nproc, argv), env=env, check=False)
        except OSError as exc:
            raise TrainError(f"cannot start torch.distributed.run: {exc}") from exc
        if exit_file.is_file():
            return int(exit_file.read_text() or 1)
        return 0 if proc.returncode == 0 else 1
