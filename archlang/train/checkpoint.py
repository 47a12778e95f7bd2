"""Run-directory files: atomic writes, checkpoints, RNG states, space checks.

Everything in a checkpoint is a tensor or a plain Python value, so it loads
with ``torch.load(..., weights_only=True)`` and loading one never runs code.
"""
from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from .config import TrainError

FORMAT = "archlang-train/1"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
TEMP_SUFFIX = ".tmp"

# mkstemp creates files readable by the owner only; run files should get the
# usual permissions, as open() would give them.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_atomic(path: Path, payload: bytes) -> None:
    """Write via a temp file in the same directory, fsync, then rename over.

    A reader (or a crash) sees the old file or the new one, never half of one.
    """
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a disk that filled up during the run, say
            raise _write_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)


def _write_error(path: Path, exc: OSError) -> TrainError:
    return TrainError(f"cannot write {path}: {exc.strerror or exc}",
                      "free some space (or fix the directory); `--resume` continues from the last checkpoint, "
                      "which is intact")


def remove_stale_temps(run_dir: Path) -> None:
    """Temp files left by a run killed while writing: never a checkpoint, only wasted space."""
    for name in (CHECKPOINT, BEST, METRICS, "curves.png", "config.json"):
        for temp in run_dir.glob(f".{name}.*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the directory entry is synced.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the data is synced
    finally:
        os.close(fd)


def save(obj: dict, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


def write_json(path: Path, obj) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())


def load(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint written by training, safely (weights_only=True)."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST if (path / BEST).is_file() else path / CHECKPOINT
    if not path.is_file():
        raise TrainError(f"checkpoint {path} does not exist",
                         f"pass a run directory or its {BEST} / {CHECKPOINT}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise _load_error(path, exc) from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise TrainError(f"{path} is not an archlang training checkpoint")
    obj["path"] = str(path)
    return obj


def _load_error(path: Path, exc: Exception) -> TrainError:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    unsafe = re.search(r"Unsupported global: ([^\n]*?)(?: was not an allowed global|\n|$)", text)
    if unsafe or "Weights only load failed" in text:
        what = unsafe.group(1).strip() if unsafe else "objects that are not tensors"
        return TrainError(f"refusing to load checkpoint {path}: it holds Python code ({what}), and loading it could run "
                          "that code", "archlang loads checkpoints with weights_only=True; use a checkpoint "
                          "written by `archlang train`, from a source you trust")
    return TrainError(f"cannot load checkpoint {path}: {text.strip().splitlines()[0] if text.strip() else exc!r}",
                      "the file is damaged or not a checkpoint")


# ---------------------------------------------------------------- RNG states

def rng_state() -> dict:
    """The global RNG states of python, numpy and torch as tensors/plain values."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(words, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(w) for w in py["state"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------- run directory

def prepare_run_dir(run_dir: Path, need_bytes: int) -> None:
    """Create RUN_DIR and prove it is writable with room for the checkpoints."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(run_dir)
        fd, probe = tempfile.mkstemp(dir=run_dir, prefix=".probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainError(f"cannot write to run directory {run_dir}: {exc.strerror or exc}",
                         "choose another --out") from exc
    free = shutil.disk_usage(run_dir).free
    if free < need_bytes:
        raise TrainError(
            f"not enough free space for {run_dir}: the checkpoints need about "
            f"{_mib(need_bytes)}, the disk has {_mib(free)} free",
            "free some space or choose another --out")


def space_needed(model: torch.nn.Module, optimizer_slots: int) -> int:
    """Bytes the run will need at peak: checkpoint + its temp copy + best.pt + margin."""
    tensors = list(model.parameters()) + list(model.buffers())
    model_bytes = sum(t.numel() * t.element_size() for t in tensors)
    checkpoint = model_bytes * (1 + optimizer_slots)
    return 2 * checkpoint + 2 * model_bytes + (4 << 20)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def append_metrics(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def rewrite_metrics(path: Path, history: list[dict]) -> None:
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in history).encode())


# ---------------------------------------------------------------- replacing a run (--force)

RUN_FILES = (CHECKPOINT, BEST, METRICS, "curves.png", "config.json", "spec.arch")
STAGING = ".new-run"      # a replacing run's files until its first checkpoint is complete
PREVIOUS = ".previous-run"  # the replaced run's files during the swap, then deleted
MOVED = ".all-moved"  # in PREVIOUS once every file of the replaced run is there


def holds_run(run_dir: Path) -> bool:
    """True when RUN_DIR holds a run that finished an epoch (it has a checkpoint to resume).

    A best.pt without checkpoint.pt is what a run killed while saving its first epoch leaves:
    nothing to resume, and a new run replaces it without --force.
    """
    return (run_dir / CHECKPOINT).exists()


def remove_unfinished(run_dir: Path) -> bool:
    """Delete what a run that never wrote its checkpoint left (best.pt, metrics, curves); True if any."""
    found = False
    for name in (BEST, METRICS, "curves.png"):
        if (run_dir / name).exists():
            (run_dir / name).unlink()
            found = True
    return found


def describe_run(run_dir: Path) -> str:
    """'epoch 3, best 97.1 %' for the run in RUN_DIR, as far as its checkpoint says."""
    try:
        state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
        return f"epoch {int(state['epoch'])}, best validation accuracy {100 * float(state['best_val_acc']):.2f}%"
    except Exception:  # damaged or absent: the refusal stands, only its detail is lost
        return "an earlier run"


def recover_swap(run_dir: Path) -> None:
    """Finish or undo a swap that a kill interrupted, and drop a replacing run that never finished an epoch.

    The swap moves the old run's files into PREVIOUS, then the new ones out of STAGING, then deletes
    PREVIOUS. If STAGING still holds a checkpoint, the new files were not all moved: the old run comes
    back. Otherwise the move was complete and PREVIOUS only needs deleting.
    """
    staging, previous = run_dir / STAGING, run_dir / PREVIOUS
    if previous.is_dir():
        if (staging / CHECKPOINT).exists():
            if (previous / MOVED).exists():  # every old file is in PREVIOUS: the rest are new ones
                for name in RUN_FILES:
                    if not (previous / name).exists():
                        (run_dir / name).unlink(missing_ok=True)
            for path in previous.iterdir():
                if path.name in RUN_FILES:
                    os.replace(path, run_dir / path.name)
        else:
            for path in staging.iterdir() if staging.is_dir() else ():
                os.replace(path, run_dir / path.name)
        shutil.rmtree(previous, ignore_errors=True)
    if staging.is_dir():
        shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(run_dir)


def swap_in(staging: Path, run_dir: Path) -> None:
    """Make the replacing run's files (complete, in STAGING) the run of RUN_DIR.

    Every step is a rename in one directory tree; a kill at any point leaves one whole run,
    which `recover_swap` puts in place at the next start.
    """
    previous = run_dir / PREVIOUS
    try:
        previous.mkdir(exist_ok=True)
        for name in RUN_FILES:
            if (run_dir / name).exists():
                os.replace(run_dir / name, previous / name)
        (previous / MOVED).touch()
        _fsync_dir(previous)
        _fsync_dir(run_dir)
        for path in sorted(staging.iterdir(), key=lambda p: p.name == CHECKPOINT):  # the checkpoint last
            os.replace(path, run_dir / path.name)
        _fsync_dir(run_dir)
        staging.rmdir()
        shutil.rmtree(previous)
    except OSError as exc:
        raise _write_error(run_dir, exc) from exc
