"""``train()``: set a run up, resume it if asked, and run its epochs."""
from __future__ import annotations

import json
import math
import os
import random
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from . import distributed
from .config import ModelSource, TrainConfig, TrainError
from .data import EpochBatchSampler, PreparedData, augment, derived_seed, loader, prepare
from .distributed import DistInfo
from . import init
from .evaluation import (EVAL_BATCH, autocast, check_built_output, check_fit, check_task, loss_warnings,
                         to_device, validate)
from .plot import draw_curves
from .progress import Reporter
from .schedule import make_scheduler

# Settings that must match to continue a run. --epochs is one: the lr
# schedule is laid out over the run's length, so a longer run is a new run.
RESUME_KEYS = ("data", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay",
               "l1", "scheduler", "augment", "seed", "freeze", "unfreeze")
# Keys added after the first checkpoints were written: an older checkpoint has the default.
RESUME_DEFAULTS = {"freeze": [], "unfreeze": []}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during ``train``, with what the run directory holds now."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class TrainResult:
    run_dir: Path
    best_val_acc: float
    best_epoch: int
    history: list[dict]


@dataclass
class Run:
    """Everything the epochs need, built once by ``_setup``."""

    cfg: TrainConfig
    source: ModelSource
    info: DistInfo
    device: torch.device
    reporter: Reporter
    data: PreparedData
    run_dir: Path
    raw_model: torch.nn.Module
    write_dir: Path = None  # run_dir, or its staging folder while a --force run replaces an earlier one
    model: torch.nn.Module = None
    optimizer: torch.optim.Optimizer = None
    scheduler: object = None
    scaler: torch.amp.GradScaler = None
    sampler: EpochBatchSampler = None
    train_loader: torch.utils.data.DataLoader = None
    val_loader: torch.utils.data.DataLoader = None
    writer: bool = False  # writes RUN_DIR: global rank 0, and a node's first rank on its own disk
    launch_id: str = ""  # rank 0's token in config.json: who else sees it shares its storage
    history: list[dict] = field(default_factory=list)
    best_acc: float = -1.0
    best_epoch: int = 0
    start_epoch: int = 1


def train(source: ModelSource, config: TrainConfig) -> TrainResult:
    """Train ``source``'s network as ``config`` says; rank 0 writes RUN_DIR.

    Raises :class:`TrainError` for bad settings, data, RUN_DIR, or a loss
    that stops being finite. Under torchrun, every rank calls this.
    """
    cfg = config.resolved()
    info = distributed.detect()
    device = distributed.select_device(cfg.device, info)
    threads = torch.get_num_threads()
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # the user's choice wins
        torch.set_num_threads(distributed.cpu_threads(info.local_world))
    run = None
    try:
        with distributed.process_group(info, device):
            run = _setup(source, cfg, info, device)
            return _run_epochs(run)
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):
            raise
        raise Interrupted(_interrupted(run, cfg, source)) from None
    finally:
        torch.set_num_threads(threads)  # train() may be one call in a longer program
        run_dir = Path(cfg.out) if cfg.out else default_run_dir(source.name)
        if info.is_main and not cfg.resume and (run_dir / ckpt.STAGING).exists():
            # a replacing run that did not finish its first epoch (or its swap): one whole run stays
            ckpt.recover_swap(run_dir)


def _interrupted(run: Run | None, cfg: TrainConfig, source: ModelSource) -> str:
    """What an interrupted ``train`` leaves in RUN_DIR, in one line."""
    run_dir = run.run_dir if run is not None else Path(cfg.out) if cfg.out else default_run_dir(source.name)
    if run is not None and run.history and run.write_dir == run.run_dir:
        return (f"interrupted; {run_dir} keeps the checkpoint of epoch {run.history[-1]['epoch']} "
                "(--resume continues it)")
    if run is not None and run.write_dir != run.run_dir or ckpt.holds_run(run_dir):
        return f"interrupted before this run saved an epoch; the earlier run in {run_dir} is unchanged"
    return f"interrupted before the first epoch was saved; {run_dir} holds no checkpoint"


def default_run_dir(name: str) -> Path:
    return Path("runs") / (re.sub(r"[^\w.-]+", "_", name).strip("._") or "network")


# ---------------------------------------------------------------- setup

def _setup(source: ModelSource, cfg: TrainConfig, info: DistInfo, device: torch.device) -> Run:
    reporter = Reporter(enabled=info.is_main)
    _check_settings(cfg, info, device)
    check_task(source)  # a segmentation map or an image out is refused before any data is read
    run_dir = Path(cfg.out) if cfg.out else default_run_dir(source.name)
    if info.is_main and run_dir.is_dir():
        ckpt.recover_swap(run_dir)  # a swap a kill interrupted: one whole run again
    if not (cfg.resume or cfg.force or distributed.restarted()) and ckpt.holds_run(run_dir):
        raise _taken(run_dir)  # (a restarted job may resume its run: _restarted_same_run)  # before the data is read: that can take minutes
    data = prepare(cfg.data, tuple(source.input_shape))
    check_fit(source, data.num_classes, cfg.data)
    reporter.info(data.description)
    for warning in loss_warnings(source):
        reporter.note(warning)
    _seed_everything(cfg.seed)  # the same initial weights on every rank
    raw_model = source.build(device=device)
    check_built_output(source, raw_model, device, data.num_classes)
    if not cfg.resume:
        scheme = init.apply_scheme(raw_model, cfg.init_scheme, source.name)
        if cfg.init:
            reporter.info(init.load_initial(raw_model, cfg.init).describe())
        elif scheme != "pytorch":
            reporter.info(f"init: {init.SCHEME_TEXT[scheme]} (--init-scheme {scheme})")
    frozen = init.freeze(raw_model, cfg.freeze, cfg.unfreeze)
    if frozen:
        reporter.info(frozen)
    _seed_everything(derived_seed(cfg.seed, info.rank, 2))  # per-rank dropout streams
    run = Run(cfg, source, info, device, reporter, data, run_dir, raw_model)
    run.write_dir = run.run_dir
    _loaders(run)
    run.optimizer = _optimizer(cfg, raw_model)
    run.scheduler = make_scheduler(cfg.scheduler, run.optimizer, len(run.train_loader), cfg.epochs)
    run.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
    slots = 1 if cfg.optimizer == "sgd" else 2
    _run_files(run, ckpt.space_needed(raw_model, slots))
    if run.cfg.resume:
        _resume(run)
    run.model = _wrap(cfg, raw_model, info, device)
    return run


def _run_files(run: Run, need_bytes: int) -> None:
    """Decide who writes RUN_DIR and whether the run resumes; prepare RUN_DIR.

    Global rank 0 decides and writes. Every other node's first rank then looks
    for rank 0's config.json: if it sees it, RUN_DIR is shared storage and
    rank 0's files serve all; if not, the node has a disk of its own and keeps
    its own copy of the run there, so that any node can resume it.
    """
    info, error = run.info, None
    if info.is_main:
        run.writer, run.launch_id = True, secrets.token_hex(8)
        try:
            if not run.cfg.resume and _restarted_same_run(run):
                run.cfg = replace(run.cfg, resume=True)
            _prepare_files(run, need_bytes)
        except TrainError as exc:
            error = exc
    distributed.agree(error, info)
    if not info.active:
        return
    resume, run.launch_id, staged = distributed.broadcast(
        (run.cfg.resume, run.launch_id, run.write_dir != run.run_dir), info)
    run.cfg = replace(run.cfg, resume=resume)
    error = None
    if not info.is_main and info.local_rank == 0 and not _sees_launch(run, staged):
        run.writer = True
        try:
            _prepare_files(run, need_bytes)
        except TrainError as exc:
            error = exc
    distributed.agree_any(error, info)


def _sees_launch(run: Run, staged: bool, tries: int = 5) -> bool:
    """Whether this node sees rank 0's config.json (allowing a network file system to catch up).

    ``staged``: rank 0 writes a replacing run into RUN_DIR's staging folder.
    """
    folder = run.run_dir / ckpt.STAGING if staged else run.run_dir
    for attempt in range(tries):
        try:
            os.listdir(folder)  # refreshes an NFS client's view of the directory
            record = json.loads((folder / "config.json").read_text())
            if record.get("launch_id") == run.launch_id:
                return True
        except (OSError, ValueError):
            pass
        if attempt + 1 < tries:
            time.sleep(0.2 * (attempt + 1))
    return False


def _restarted_same_run(run: Run) -> bool:
    """Whether torchrun restarted this job and RUN_DIR holds its earlier attempt's checkpoint.

    The same run means the same network, spec text, overrides, data and
    settings (RESUME_KEYS) as config.json and spec.arch record; anything else
    starts over, as the first attempt did.
    """
    if not distributed.restarted() or not (run.run_dir / ckpt.CHECKPOINT).is_file():
        return False
    try:
        before = json.loads((run.run_dir / "config.json").read_text())
        spec = (run.run_dir / "spec.arch").read_text()
    except (OSError, ValueError):
        return False
    now = _plain(_config_record(run))
    same = (isinstance(before, dict) and spec == run.source.source_text
            and all(before.get(key) == now[key]
                    for key in ("network", "input_shape", "output_shape", "overrides", "data"))
            and all((before.get("settings") or {}).get(key) == now["settings"][key]
                    for key in RESUME_KEYS))
    if same:
        run.reporter.note(f"torchrun restarted the job: resuming {run.run_dir} from its last "
                          "checkpoint")
    return same


def _check_settings(cfg: TrainConfig, info: DistInfo, device: torch.device) -> None:
    if cfg.batch_size % info.world:
        raise TrainError(f"--batch-size {cfg.batch_size} does not divide among {info.world} "
                         "processes", "--batch-size is global: each process takes B/P images a step")
    if cfg.compile and device.type == "cpu" and not (
            os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")):
        raise TrainError("--compile on CPU needs a C++ compiler and none was found",
                         "install g++ (or set CXX), or drop --compile")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]  # --freeze leaves some out
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    kind = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _loaders(run: Run) -> None:
    """This rank's loaders; --batch-size is global, so each rank takes B/P."""
    cfg, info = run.cfg, run.info
    run.sampler = EpochBatchSampler(len(run.data.train), cfg.batch_size // info.world,
                                    seed=cfg.seed, rank=info.rank, world=info.world)
    val_sampler = EpochBatchSampler(len(run.data.val), EVAL_BATCH, seed=None,
                                    rank=info.rank, world=info.world)
    pin = run.device.type == "cuda"
    run.train_loader = loader(run.data.train, run.sampler, cfg.workers, pin)
    run.val_loader = loader(run.data.val, val_sampler, cfg.workers, pin)


def _prepare_files(run: Run, need_bytes: int) -> None:
    """A writer (rank 0, see _run_files): check RUN_DIR and write config and spec.

    An earlier run in RUN_DIR is continued (--resume), replaced (--force) or refused. A
    replacing run writes into RUN_DIR/.new-run until its first epoch is saved there, and only
    then takes the earlier run's place (checkpoint.swap_in): until that moment a crash, a
    Ctrl-C, a loss that diverges or a full disk leaves the earlier run as it was.
    """
    ckpt.prepare_run_dir(run.run_dir, need_bytes)
    ckpt.recover_swap(run.run_dir)
    if run.cfg.resume:
        if run.info.is_main and not (run.run_dir / ckpt.CHECKPOINT).is_file():
            raise TrainError(f"--resume: no {ckpt.CHECKPOINT} in {run.run_dir}",
                             "train without --resume first, or point --out at an earlier run")
    elif ckpt.holds_run(run.run_dir):
        if not run.cfg.force:
            raise _taken(run.run_dir)
        run.reporter.note(f"replacing the earlier run in {run.run_dir} once this one has saved its first epoch")
        run.write_dir = run.run_dir / ckpt.STAGING
        try:
            run.write_dir.mkdir()
        except OSError as exc:
            raise TrainError(f"cannot write to run directory {run.run_dir}: {exc.strerror or exc}",
                             "choose another --out") from exc
    elif ckpt.remove_unfinished(run.run_dir):
        run.reporter.note(f"removed the files of an unfinished run in {run.run_dir} (it saved no checkpoint)")
    ckpt.write_json(run.write_dir / "config.json", _config_record(run))
    ckpt.write_atomic(run.write_dir / "spec.arch", run.source.source_text.encode())


def _taken(run_dir: Path) -> TrainError:
    return TrainError(f"{run_dir} already holds a run ({ckpt.describe_run(run_dir)})",
                      "--resume continues it, --force replaces it (the earlier run stays until the "
                      "new one has saved its first epoch), or choose another --out")


def _config_record(run: Run) -> dict:
    return {"network": run.source.name, "input_shape": list(run.source.input_shape),
            "output_shape": list(run.source.output_shape),
            "overrides": _plain(run.source.overrides), "settings": run.cfg.to_dict(),
            "run_dir": str(run.run_dir), "data": run.data.info, "device": str(run.device),
            "processes": run.info.world, "torch": torch.__version__, "launch_id": run.launch_id}


def _plain(value):
    """Overrides as JSON-able plain values (also what weights_only can load)."""
    return json.loads(json.dumps(value or {}, default=str))


def _wrap(cfg: TrainConfig, model: torch.nn.Module, info: DistInfo, device: torch.device):
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if info.active:
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.compile:
        model = torch.compile(model)
    return model


# ---------------------------------------------------------------- resume

def _resume(run: Run) -> None:
    # Rank 0 reads and checks the checkpoint and hands it to every rank, so the
    # ranks resume from one state whatever the other nodes' disks hold.
    # CPU first: RNG states must stay CPU tensors; the optimizer moves its
    # own state to its parameters' device when loading.
    state, error = None, None
    if run.info.is_main:
        try:
            state = ckpt.load(run.run_dir / ckpt.CHECKPOINT, map_location="cpu")
            _check_same_run(run, state)
        except TrainError as exc:
            error = exc
    distributed.agree(error, run.info)
    state = distributed.broadcast(state, run.info)
    try:
        run.raw_model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise TrainError(f"{state['path']} does not fit network '{run.source.name}': "
                         f"{str(exc).splitlines()[0]}", "resume with the same spec") from exc
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None:
        run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    run.history = state["history"]
    run.best_acc, run.best_epoch = state["best_val_acc"], state["best_epoch"]
    run.start_epoch = state["epoch"] + 1
    rng = state["rng"]
    if len(rng) == run.info.world:
        ckpt.set_rng_state(rng[run.info.rank])
    else:
        run.reporter.note(f"the run used {len(rng)} process(es), this one {run.info.world}: "
                          "random streams restart from the seed")
    if run.writer:
        # metrics.jsonl and curves.png as of the checkpoint: a kill after the checkpoint's
        # write may have left them an epoch behind, and a run already complete trains no
        # epoch that would redraw them.
        ckpt.rewrite_metrics(run.run_dir / ckpt.METRICS, run.history)
        _draw_curves(run)
    run.reporter.info(f"resuming {run.run_dir} after epoch {state['epoch']}")


def _check_same_run(run: Run, state: dict) -> None:
    before = dict(RESUME_DEFAULTS, **state["config"], overrides=state.get("overrides"))
    now = dict(run.cfg.to_dict(), overrides=_plain(run.source.overrides))
    changed = [f"{key} {before.get(key)!r} → {now[key]!r}"
               for key in (*RESUME_KEYS, "overrides") if before.get(key) != now[key]]
    if state.get("network") != run.source.name:
        changed.insert(0, f"network {state.get('network')!r} → {run.source.name!r}")
    if changed:
        raise TrainError(f"cannot resume {run.run_dir}: this command differs from its run: "
                         + ", ".join(changed),
                         "resume with the same settings, or start a new run with another --out")


# ---------------------------------------------------------------- epochs

def _run_epochs(run: Run) -> TrainResult:
    cfg = run.cfg
    if run.start_epoch > cfg.epochs:
        run.reporter.info(f"nothing to do: {run.run_dir} already has {run.start_epoch - 1} "
                          f"epochs (--epochs {cfg.epochs})")
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        run.sampler.set_epoch(epoch)
        # rank 0's figures (its timings) go into every writer's history
        record = distributed.broadcast(_epoch(run, epoch), run.info)
        improved = record["val_acc"] > run.best_acc
        if improved:
            run.best_acc, run.best_epoch = record["val_acc"], epoch
        run.history.append(record)
        _save(run, epoch, improved)
    if run.history:
        run.reporter.info(f"best val accuracy {100 * run.best_acc:.2f}% at epoch "
                          f"{run.best_epoch}; run saved in {run.run_dir}")
    return TrainResult(run.run_dir, run.best_acc, run.best_epoch, run.history)


def _epoch(run: Run, epoch: int) -> dict:
    started = time.perf_counter()
    bar = run.reporter.bar(f"epoch {epoch}/{run.cfg.epochs}", len(run.train_loader))
    try:
        loss, acc, images, lr = _train_pass(run, epoch, bar)
    except TrainError:
        bar.abandon()
        raise
    train_seconds = time.perf_counter() - started
    val_loss, confusion = validate(run.model, run.val_loader, run.device, run.data.num_classes,
                                   amp=run.cfg.amp, channels_last=run.cfg.channels_last,
                                   info=run.info)
    val_acc = int(confusion.trace()) / max(1, int(confusion.sum()))
    record = {"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": val_loss,
              "val_acc": val_acc, "lr": lr, "seconds": round(time.perf_counter() - started, 3),
              "images_per_s": round(images / max(train_seconds, 1e-9), 1)}
    best = " *" if val_acc > run.best_acc else ""
    bar.close(f"epoch {epoch}/{run.cfg.epochs}  train loss {loss:.4f} acc {100 * acc:.2f}%  "
              f"val loss {val_loss:.4f} acc {100 * val_acc:.2f}%  lr {lr:.2e}  "
              f"{record['seconds']:.1f} s  {record['images_per_s']:,.0f} img/s{best}")
    return record


def _train_pass(run: Run, epoch: int, bar) -> tuple[float, float, int, float]:
    """One pass over the training split.

    Returns mean loss, accuracy and image count over all ranks, and the
    learning rate of the last step.
    """
    run.model.train()
    # Seeded by (seed, epoch, rank), like the shuffling, so --resume repeats it.
    generator = torch.Generator().manual_seed(derived_seed(run.cfg.seed, epoch, run.info.rank, 3))
    l1_params = [p for p in run.raw_model.parameters() if p.ndim > 1] if run.cfg.l1 else []
    totals = torch.zeros(3, dtype=torch.float64)
    lr = run.optimizer.param_groups[0]["lr"]
    started = time.perf_counter()
    for step, (x, y) in enumerate(run.train_loader, 1):
        lr = run.optimizer.param_groups[0]["lr"]
        stats = _step(run, x, y, generator, l1_params)
        if stats[3] > 0:
            raise _nonfinite(run, epoch, step, len(run.train_loader), float(stats[4]))
        totals += stats[:3]
        loss_sum, correct, count = totals.tolist()
        bar.update(step, loss_sum / count, correct / count,
                   count / max(time.perf_counter() - started, 1e-9))
    count = max(1.0, float(totals[2]))
    return float(totals[0]) / count, float(totals[1]) / count, int(totals[2]), lr


def _step(run: Run, x, y, generator: torch.Generator, l1_params: list) -> torch.Tensor:
    """One optimizer step, skipped when the loss is not finite on any rank.

    Returns [loss × images, correct, images, ranks with a non-finite loss,
    this rank's loss], the first four summed over all ranks. The sum doubles
    as the agreement that keeps every rank stopping at the same step.
    """
    cfg, device = run.cfg, run.device
    x, y = to_device(x, y, device, cfg.channels_last)
    if cfg.augment:
        adapter = run.data.train.adapter
        x = augment(x, generator, (-adapter.mean / adapter.std).flatten())  # pad with black
    with autocast(device, cfg.amp):
        out = run.model(x)
    loss = F.cross_entropy(out.float(), y)
    total = loss + cfg.l1 * sum(p.abs().sum() for p in l1_params) if l1_params else loss
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(total).backward()
    value = total.item()
    stats = torch.tensor([loss.item() * len(y), (out.argmax(1) == y).sum().item(), len(y),
                          0.0 if math.isfinite(value) else 1.0], dtype=torch.float64)
    distributed.all_sum(stats, run.info)
    if stats[3] == 0:
        run.scaler.step(run.optimizer)
        run.scaler.update()
        if run.scheduler is not None:
            run.scheduler.step()
    return torch.cat([stats, torch.tensor([value], dtype=torch.float64)])


def _nonfinite(run: Run, epoch: int, step: int, steps: int, value: float) -> TrainError:
    kept = (f"the last good checkpoint (epoch {epoch - 1}) is {run.run_dir / ckpt.CHECKPOINT}"
            if epoch > 1 else "no checkpoint was written")
    what = f"the loss became {value}" if not math.isfinite(value) else "the loss stopped being finite"
    # every rank stops at this step (the non-finite count is summed over ranks)
    return distributed.agreed(TrainError(
        f"{what} at epoch {epoch}, step {step} of {steps}; training stopped ({kept})",
        "a lower --lr usually helps; a resumed run with the same settings would diverge again"))


def _save(run: Run, epoch: int, improved: bool) -> None:
    """Checkpoint, best model, metrics line and curves after ``epoch`` (rank 0 writes)."""
    rng = distributed.all_gather(ckpt.rng_state(), run.info)  # a collective: every rank
    if not run.writer:
        return
    meta = {"format": ckpt.FORMAT, "network": run.source.name,
            "overrides": _plain(run.source.overrides), "input_shape": list(run.source.input_shape),
            "classes": run.data.classes,
            "normalization": {"mean": run.data.info["mean"], "std": run.data.info["std"]},
            # what `archlang predict` needs to rebuild the network and prepare images as training did
            "spec": run.source.source_text,
            "data": {k: run.data.info[k] for k in ("source", "native_shape", "input_shape", "conversions")}}
    state = dict(meta, epoch=epoch, model=run.raw_model.state_dict(),
                 optimizer=run.optimizer.state_dict(),
                 scheduler=run.scheduler.state_dict() if run.scheduler else None,
                 scaler=run.scaler.state_dict(), rng=rng, history=run.history,
                 best_val_acc=run.best_acc, best_epoch=run.best_epoch, config=run.cfg.to_dict())
    # best.pt first: a kill between the two writes then leaves the checkpoint one epoch behind,
    # and the resumed epoch rewrites best.pt; the other order could leave best.pt behind for good.
    if improved:
        ckpt.save(dict(meta, epoch=epoch, model=run.raw_model.state_dict(),
                       val_acc=run.best_acc), run.write_dir / ckpt.BEST)
    ckpt.save(state, run.write_dir / ckpt.CHECKPOINT)
    ckpt.append_metrics(run.write_dir / ckpt.METRICS, run.history[-1])
    if not _draw_curves(run) and epoch == run.start_epoch:
        run.reporter.note("matplotlib is not installed: no curves.png")
    if run.write_dir != run.run_dir:  # --force: the new run is complete, the earlier one goes
        ckpt.swap_in(run.write_dir, run.run_dir)
        run.write_dir = run.run_dir


def _draw_curves(run: Run) -> bool:
    """curves.png from the history so far; False without matplotlib."""
    return draw_curves(run.history, run.write_dir / "curves.png", f"{run.source.name} on {run.cfg.data}")
