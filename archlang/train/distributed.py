"""Multi-process training: torchrun-style relaunch and the worker side.

``archlang train --nproc P`` re-runs the same command under
``python -m torch.distributed.run --standalone --nproc_per_node P``. Each
worker finds RANK / WORLD_SIZE / LOCAL_RANK in its environment, exactly as
under a user's own ``torchrun`` (on one machine or several), and trains with
DistributedDataParallel.

Shutdown: a rank that finishes (or stops on a loss every rank agreed is not
finite) waits at a barrier for the others, then destroys the process group,
so no rank tears its connections down while a peer still uses them. A rank
that fails alone (or is interrupted) destroys the group at once; its peers'
next collective then fails and they stop with :class:`PeerLost` instead of
waiting forever. A rank whose failure is a handled error (a full disk, say)
leaves its message in the job's store first, so the peers stop quietly.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from .config import TrainError

# A relaunching parent sets this to a file; its workers write the exit code
# of a handled error there and exit 0, so torchrun does not print its
# "ChildFailedError" traceback over the clear message rank 0 already printed.
EXIT_FILE_ENV = "ARCHLANG_TRAIN_EXIT_FILE"

# How long a collective waits for a peer (seconds). A peer that dies is noticed
# at once when its machine closes the connections; a machine that vanishes
# (power, network) only after this long. It must exceed the longest pause
# between collectives: rank 0 writing a checkpoint while the others wait.
TIMEOUT_ENV = "ARCHLANG_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600.0

# The key under which a rank that stops on a handled error leaves its message.
_STOPPED_KEY = "archlang/stopped"


class PeerLost(TrainError):
    """Another rank died, was killed or stopped: this rank cannot go on.

    Every rank prints it (the main rank may be the one that died), and the
    process exits non-zero so that torchrun restarts the group when it may.
    """

    every_rank = True


class StoppedWithPeer(TrainError):
    """Another rank stopped on a handled error: the main rank prints it, once."""


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


def restart_count() -> int:
    """How many times torchrun has restarted this job's workers (0: first attempt)."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def timeout() -> timedelta:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise TrainError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds") from None
    if seconds <= 0:
        raise TrainError(f"{TIMEOUT_ENV}={text!r} must be positive")
    return timedelta(seconds=seconds)


@contextlib.contextmanager
def process_group(info: DistInfo, device: torch.device):
    """Join the job's process group (gloo on CPU, nccl on CUDA) for the block.

    Collective failures inside the block become :class:`PeerLost` (or
    :class:`StoppedWithPeer`); leaving it shuts the group down as the module
    docstring says.
    """
    if not info.active or dist.is_initialized():
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        _init(backend, info)
    except RuntimeError as exc:
        if not _from_the_group(exc):
            raise
        raise PeerLost(f"cannot join the training job (rank {info.rank} of {info.world}): "
                       f"{_first_line(exc)}", _PEER_HINT) from exc
    together = False
    try:
        yield
        together = True
    except (TrainError, KeyboardInterrupt) as exc:
        together = getattr(exc, "agreed", False)
        if isinstance(exc, KeyboardInterrupt):
            _leave_message(None)
        elif not together and not isinstance(exc, PeerLost):
            _leave_message(exc)
        raise
    except RuntimeError as exc:
        if not _from_the_group(exc):
            raise
        raise _lost(exc, info) from exc
    finally:
        _shutdown(together)


# How many times this job's group has formed before this one (see _init).
_generation = 0


def restarted() -> bool:
    """Whether torchrun restarted this job's workers (after a worker died, say)."""
    return _generation > 0 or restart_count() > 0


def _init(backend: str, info: DistInfo) -> None:
    """init_process_group on a key space of this group's own generation.

    torchrun keeps one store for the whole job, and restarted workers would
    find their predecessors' keys in it (addresses of dead processes): a
    restarted group then hangs or fails to connect. Each worker counts itself
    in once; the count tells every rank of a group the same generation, even
    when (as with torchrun's c10d rendezvous) their TORCHELASTIC_RESTART_COUNT
    differ. Outside torchrun (a plain env:// launch) it is generation 0.
    """
    global _generation
    env = os.environ
    agent_store = env.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    if not {"MASTER_ADDR", "MASTER_PORT"} <= set(env) or not agent_store:
        dist.init_process_group(backend=backend, timeout=timeout())
        return
    store = dist.TCPStore(env["MASTER_ADDR"], int(env["MASTER_PORT"]), info.world,
                          is_master=False, timeout=timeout())
    _generation = (store.add("archlang/joined", 1) - 1) // info.world
    dist.init_process_group(backend=backend, store=dist.PrefixStore(f"archlang/{_generation}", store),
                            rank=info.rank, world_size=info.world, timeout=timeout())


_PEER_HINT = ("another process of the job died, was killed or cannot be reached (its log or "
              "torchrun's says which); under torchrun --max-restarts N the job restarts and "
              "resumes from RUN_DIR's last checkpoint, otherwise rerun it with --resume")


# gloo reports a dead peer as a plain RuntimeError ("Connection closed by peer").
_GROUP_FAILURE = re.compile(r"gloo|nccl|connection (closed|reset|refused)|broken pipe|timed out",
                            re.IGNORECASE)


def _from_the_group(exc: RuntimeError) -> bool:
    return isinstance(exc, dist.DistError) or bool(_GROUP_FAILURE.search(str(exc)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _lost(exc: BaseException, info: DistInfo) -> BaseException:
    """The error for a failed collective: a peer's own message if it left one."""
    with contextlib.suppress(Exception):
        store = dist.distributed_c10d._get_default_store()
        if store.check([_STOPPED_KEY]):
            left = json.loads(store.get(_STOPPED_KEY).decode())
            # a peer interrupted (Ctrl-C reaches every process of the job): so is this one
            return StoppedWithPeer(*left) if left else KeyboardInterrupt()
    return PeerLost(f"lost contact with the other processes of the training job "
                    f"(rank {info.rank} of {info.world}): {_first_line(exc)}", _PEER_HINT)


def _leave_message(exc: TrainError | None) -> None:
    """Tell the peers why this rank stops (None: interrupted)."""
    left = [exc.message, exc.hint] if exc else None
    with contextlib.suppress(Exception):
        dist.distributed_c10d._get_default_store().set(_STOPPED_KEY, json.dumps(left))


def agreed(error: TrainError) -> TrainError:
    """Mark ``error`` as raised by every rank at the same point (a clean shutdown can wait)."""
    error.agreed = True
    return error


def _shutdown(together: bool) -> None:
    """Barrier (when every rank is here), then destroy: never a torn-down peer mid-call."""
    try:
        if together:
            dist.barrier()
    except Exception:  # noqa: BLE001 - a peer gone at the very end changes nothing
        pass
    finally:
        with contextlib.suppress(Exception):
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


def broadcast(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not info.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


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
        box = broadcast((error.message, error.hint) if error else None, info)
        error = agreed(TrainError(*box)) if box else None
    if error:
        raise error


def agree_any(error: TrainError | None, info: DistInfo) -> None:
    """Raise the first error of any rank on every rank (each node may write its files)."""
    for box in all_gather((error.message, error.hint) if error else None, info):
        if box:
            raise agreed(TrainError(*box))


def report_exit(code: int, info: DistInfo) -> int:
    """The exit code a worker should return for a handled error (see EXIT_FILE_ENV)."""
    target = os.environ.get(EXIT_FILE_ENV)
    if not target or not info.active:
        return code
    if info.is_main:
        Path(target).write_text(str(code))
    return 0


# torchrun itself, run so that Ctrl-C ends it with exit 130 and no Python traceback of its own
# (its workers print the one line that says what RUN_DIR holds).
_TORCHRUN = ("import sys\n"
             "from torch.distributed.elastic.multiprocessing.api import SignalException\n"
             "from torch.distributed.run import main\n"
             "try:\n"
             "    main(sys.argv[1:])\n"
             "except (SignalException, KeyboardInterrupt):\n"
             "    sys.exit(130)\n")


def relaunch_command(nproc: int, argv: list[str], max_restarts: int = 0) -> list[str]:
    """The torchrun command for ``argv`` (an ``archlang`` command line)."""
    return [sys.executable, "-c", _TORCHRUN, "--standalone",
            f"--nproc_per_node={nproc}", f"--max-restarts={max_restarts}",
            "-m", "archlang", *argv]


LAUNCH_OPTIONS = ("--nproc", "--max-restarts")
INTERRUPT_GRACE = 60  # seconds torchrun gets to stop its workers after Ctrl-C


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc P`` and ``--max-restarts N`` (the workers must not relaunch)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LAUNCH_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{name}=" for name in LAUNCH_OPTIONS)):
            out.append(arg)
    return out


def relaunch(nproc: int, argv: list[str], max_restarts: int = 0) -> int:
    """Run ``archlang <argv>`` in ``nproc`` processes; return their exit code."""
    env = dict(os.environ)
    # Set it ourselves: torchrun would force 1 and print a warning about it.
    env.setdefault("OMP_NUM_THREADS", str(cpu_threads(nproc)))
    with tempfile.TemporaryDirectory(prefix="archlang-ddp-") as tmp:
        exit_file = Path(tmp) / "exit"
        env[EXIT_FILE_ENV] = str(exit_file)
        try:
            proc = subprocess.Popen(relaunch_command(nproc, argv, max_restarts), env=env)
        except OSError as exc:
            raise TrainError(f"cannot start torch.distributed.run: {exc}") from exc
        try:
            returncode = proc.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached torchrun and its workers too: let them shut down (the workers
            # leave the group, torchrun reaps them) instead of killing torchrun under them.
            try:
                proc.wait(timeout=INTERRUPT_GRACE)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                proc.kill()
                proc.wait()
            return 130  # rank 0 has said what RUN_DIR holds
        if exit_file.is_file():
            return int(exit_file.read_text() or 1)
        return 0 if returncode == 0 else 1
