"""Training across machines, simulated on this one: two torchrun agents, each a
"node" with one worker (``--nnodes 2 --nproc_per_node 1``), as a user would
start them on two machines; and ``--nproc 2 --max-restarts N`` on one.

* every run ends with exit 0 on both nodes (the process group is shut down
  barrier-first, never torn down under a peer);
* a worker killed with SIGKILL makes the other stop with a clear message,
  not hang;
* under ``--max-restarts`` the restarted workers resume from the run's last
  checkpoint by themselves, and the finished run's figures equal an
  uninterrupted run's exactly;
* the validation figures are reduced over the ranks exactly.

Processes are bounded by counts (epochs, runs); the subprocess timeouts are
only a safety net against a hang, never what a test asserts.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from train_helpers import read_metrics

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(),
                                reason="finds the workers to kill through /proc (Linux)")

ROOT = Path(__file__).resolve().parents[1]
LENET = str(ROOT / "specs" / "lenet5.arch")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
ENV.pop("ARCHLANG_DEBUG", None)
COMPARED = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
SAFETY = 900  # seconds: a hung job fails the test instead of the whole suite
# The default suite runs the two-node job this many times; the slow test, 20.
RUNS = int(os.environ.get("ARCHLANG_MULTINODE_RUNS", "1"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def node(rank: int, port: int, out: Path, *argv: str, elastic: str = "",
         cwd: Path = ROOT) -> subprocess.Popen:
    """One simulated node: ``python -m torch.distributed.run`` with one worker.

    Static rendezvous (``--master_addr``) as in a plain two-machine command;
    ``elastic`` "c10d" uses the c10d rendezvous, "static" the static one, both
    with ``--max-restarts 1``.
    """
    if elastic == "c10d":
        where = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                 "--rdzv-id", "archlang-test"]
    else:
        where = ["--node_rank", str(rank), "--master_addr", "127.0.0.1", "--master_port", str(port)]
    if elastic:
        where += ["--max-restarts", "1"]
    log = open(Path(cwd, f"{out}.node{rank}.log"), "w")
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
               "--nproc_per_node", "1", *where, "-m", "archlang", "train", LENET,
               "--data", "digits", "--out", str(out), *argv]
    try:
        return subprocess.Popen(command, cwd=cwd, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def finish(procs: list[subprocess.Popen], out: Path) -> tuple[list[int], list[str]]:
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=SAFETY))
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            pytest.fail(f"the job hung (logs: {out}.node*.log)")
    return codes, [Path(f"{out}.node{rank}.log").read_text() for rank in range(len(procs))]



def two_nodes(out: Path, *argv: str, kill: int | None = None,
              elastic: str = "") -> tuple[list[int], list[str]]:
    """Run the two-node job; with ``kill``, SIGKILL that node's worker once epoch 1 is saved."""
    port = free_port()
    procs = [node(rank, port, out, *argv, elastic=elastic) for rank in (0, 1)]
    if kill is not None:
        kill_worker_after_first_epoch(procs[kill], out, procs)
    return finish(procs, out)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_worker_after_first_epoch(agent: subprocess.Popen, out: Path, procs, depth: int = 1) -> None:
    """SIGKILL one worker under ``agent`` once metrics.jsonl has epoch 1 (so mid-epoch 2)."""
    metrics = out / "metrics.jsonl"
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
        if any(p.poll() is not None for p in procs):
            pytest.fail(f"the job ended before its first epoch (logs: {out}.node*.log)")
        time.sleep(0.02)
    workers = [agent.pid]
    for _ in range(depth):
        workers = [child for pid in workers for child in children(pid)]
    assert workers, "no worker process to kill"
    os.kill(max(workers), signal.SIGKILL)


def figures(out: Path) -> list[dict]:
    return [{key: record[key] for key in COMPARED} for record in read_metrics(out)]


def assert_no_abort(logs: list[str]) -> None:
    for log in logs:
        assert "terminate called" not in log and "SIGABRT" not in log and "Signal 6" not in log
        assert "internal error" not in log and "Traceback" not in log, log


# ---------------------------------------------------------------- clean shutdown

@pytest.fixture(scope="module")
def two_node_runs(tmp_path_factory):
    """The issue's command (2 epochs of LeNet-5 on digits) run RUNS times."""
    folder = tmp_path_factory.mktemp("two-nodes")
    runs = []
    for index in range(RUNS):
        out = folder / f"run{index}"
        codes, logs = two_nodes(out, "--epochs", "2")
        runs.append((out, codes, logs))
    return runs


def test_both_nodes_exit_0_every_time(two_node_runs):
    for out, codes, logs in two_node_runs:
        assert codes == [0, 0], (out, logs)
        assert_no_abort(logs)
        assert "best val accuracy" in logs[0]
    reference = figures(two_node_runs[0][0])
    assert all(figures(out) == reference for out, _, _ in two_node_runs)


def test_only_global_rank_0_prints_and_writes(two_node_runs):
    out, _, logs = two_node_runs[0]
    assert logs[0].count("epoch 2/2  train loss") == 1 and "epoch 2/2" not in logs[1]
    config = json.loads((out / "config.json").read_text())
    assert config["processes"] == 2 and len(config["launch_id"]) == 16
    # rank 0's record, with its own timings, is the one logged
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2]


def test_validation_figures_are_reduced_exactly(two_node_runs):
    # Each rank validates its own shard; the sums over both must be the whole
    # validation split's figures, as one process computes them from best.pt.
    out, _, _ = two_node_runs[0]
    done = subprocess.run([sys.executable, "-m", "archlang", "eval", LENET, "--checkpoint",
                           str(out / "best.pt")], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=SAFETY)
    assert done.returncode == 0, done.stderr
    best = max(read_metrics(out), key=lambda r: r["val_acc"])
    assert f"accuracy: {100 * best['val_acc']:.2f}%" in done.stdout
    assert round(best["val_acc"] * 359) == pytest.approx(best["val_acc"] * 359, abs=1e-9)
    assert f"loss: {best['val_loss']:.4f}" in done.stdout


@pytest.mark.slow
def test_twenty_two_node_runs_all_exit_0(tmp_path):
    codes = []
    for index in range(20):
        out = tmp_path / f"run{index}"
        result, logs = two_nodes(out, "--epochs", "2")
        assert_no_abort(logs)
        codes.append(tuple(result))
    print(f"\n20 two-node runs: {codes.count((0, 0))} with exit 0 on both nodes")
    assert codes == [(0, 0)] * 20


# ---------------------------------------------------------------- a node dies

def test_a_killed_worker_stops_the_other_node_with_a_clear_message(tmp_path):
    out = tmp_path / "run"
    codes, logs = two_nodes(out, "--epochs", "3", kill=1)
    assert codes == [1, 1], logs
    assert "exitcode  : -9" in logs[1]  # torchrun names the killed worker
    message = [line for line in logs[0].splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "lost contact with the other processes of the training job " \
        "(rank 0 of 2)" in message[0], logs[0]
    assert "hint: another process of the job died" in logs[0]
    assert "internal error" not in logs[0]
    # the run directory keeps the last finished epoch, ready for --resume
    assert [r["epoch"] for r in read_metrics(out)][0] == 1


# ---------------------------------------------------------------- elastic restarts

@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Three epochs in two processes, never killed."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = subprocess.run([sys.executable, "-m", "archlang", "train", LENET, "--epochs", "3",
                           "--nproc", "2", "--out", str(out)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=SAFETY)
    assert done.returncode == 0, done.stderr
    return figures(out)


@pytest.mark.slow
def test_nproc_max_restarts_resumes_by_itself(tmp_path, uninterrupted):
    out = tmp_path / "run"
    log = open(f"{out}.node0.log", "w")
    with log:
        parent = subprocess.Popen([sys.executable, "-m", "archlang", "train", LENET,
                                   "--epochs", "3", "--nproc", "2", "--max-restarts", "1",
                                   "--out", str(out)], cwd=ROOT, env=ENV, stdout=log,
                                  stderr=subprocess.STDOUT)
    agent = None
    while agent is None:  # archlang → torch.distributed.run → the workers
        found = children(parent.pid)
        agent = found[0] if found else None
        time.sleep(0.02)
    kill_worker_after_first_epoch(type("Agent", (), {"pid": agent})(), out, [parent])
    codes, logs = finish([parent], out)
    assert codes == [0], logs
    assert "torchrun restarted the job: resuming" in logs[0], logs[0]
    assert "after epoch 1\n" in logs[0] or "after epoch 2\n" in logs[0]
    assert figures(out) == uninterrupted


def test_two_nodes_restart_and_resume_by_themselves(tmp_path, uninterrupted):
    check_restarted_run(tmp_path / "run", "c10d", uninterrupted)


@pytest.mark.slow
def test_static_rendezvous_restarts_and_resumes_too(tmp_path, uninterrupted):
    # each torchrun restarts its own worker: the killed one's at once, the
    # other's when its next collective fails; the two meet as a new group
    check_restarted_run(tmp_path / "run", "static", uninterrupted)


def check_restarted_run(out: Path, rendezvous: str, uninterrupted: list[dict]) -> None:
    codes, logs = two_nodes(out, "--epochs", "3", kill=1, elastic=rendezvous)
    assert codes == [0, 0], logs
    text = "\n".join(logs)
    assert "torchrun restarted the job: resuming" in text, text
    # two processes on two nodes make the same updates as two on one machine
    assert figures(out) == uninterrupted


# ---------------------------------------------------------------- separate disks

@pytest.mark.slow
def test_nodes_on_separate_disks_each_keep_the_whole_run(tmp_path):
    # A relative --out under two working directories: each node has a RUN_DIR
    # the other cannot see, as on two machines without shared storage.
    disks = [tmp_path / "node-a", tmp_path / "node-b"]
    for disk in disks:
        disk.mkdir()
    port = free_port()
    procs = [node(rank, port, Path("run"), "--epochs", "2", cwd=disks[rank]) for rank in (0, 1)]
    codes = [proc.wait(timeout=SAFETY) for proc in procs]
    logs = [(disk / f"run.node{rank}.log").read_text() for rank, disk in enumerate(disks)]
    assert codes == [0, 0], logs
    runs = [disk / "run" for disk in disks]
    for name in ("metrics.jsonl", "spec.arch"):  # rank 0's records on both disks
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    launch = [json.loads((run / "config.json").read_text())["launch_id"] for run in runs]
    assert launch[0] == launch[1]
    a, b = (torch.load(run / "checkpoint.pt", weights_only=True) for run in runs)
    assert a["epoch"] == b["epoch"] == 2 and a["history"] == b["history"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


# ---------------------------------------------------------------- Ctrl-C

@pytest.mark.slow
def test_ctrl_c_stops_every_process_once(tmp_path):
    out = tmp_path / "run"
    log = open(f"{out}.node0.log", "w")
    with log:  # a session of its own: Ctrl-C signals the terminal's whole process group
        parent = subprocess.Popen([sys.executable, "-m", "archlang", "train", LENET,
                                   "--epochs", "3", "--nproc", "2", "--out", str(out)],
                                  cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    metrics = out / "metrics.jsonl"
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
        assert parent.poll() is None, Path(f"{out}.node0.log").read_text()
        time.sleep(0.02)
    os.killpg(parent.pid, signal.SIGINT)
    codes, logs = finish([parent], out)
    assert codes == [130], logs
    assert logs[0].count("interrupted; ") == 1, logs[0]
    assert f"interrupted; {out} keeps the checkpoint of epoch 1 (--resume continues it)" in logs[0]
    assert "lost contact" not in logs[0] and "terminate called" not in logs[0]
    assert "Traceback" not in logs[0], logs[0]  # neither the workers nor torchrun print one
    assert read_metrics(out)[0]["epoch"] == 1


# ---------------------------------------------------------------- a loss that stops being finite

def test_nonfinite_loss_stops_every_process_cleanly(tmp_path):
    # every rank sees the sum of non-finite losses at the same step and stops
    # there; the group is shut down barrier-first, the message printed once
    spec = tmp_path / "small.arch"
    spec.write_text("network Small:\n    input(1, 8, 8)\n    -> flatten\n"
                    "    -> fc(64) -> relu\n    -> fc(10)\n")
    done = subprocess.run([sys.executable, "-m", "archlang", "train", str(spec), "--epochs", "2",
                           "--nproc", "2", "--optimizer", "sgd", "--lr", "1e38",
                           "--out", str(tmp_path / "run")], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=SAFETY)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("error: the loss became nan at epoch 1") == 1, done.stderr
    assert_no_abort([done.stdout + done.stderr])
    assert "ChildFailedError" not in done.stderr and "lost contact" not in done.stderr


# ---------------------------------------------------------------- an error in one rank

@pytest.mark.slow
def test_an_error_in_rank_0_alone_stops_the_others_quietly(tmp_path):
    # Only rank 0 writes: when its checkpoint write fails (here checkpoint.pt
    # has become a directory), rank 1 is already in the next epoch's
    # collective. It must stop too, without a second message.
    out = tmp_path / "run"
    log = open(f"{out}.node0.log", "w")
    with log:
        parent = subprocess.Popen([sys.executable, "-m", "archlang", "train", LENET,
                                   "--epochs", "3", "--nproc", "2", "--out", str(out)],
                                  cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    metrics = out / "metrics.jsonl"
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
        assert parent.poll() is None, Path(f"{out}.node0.log").read_text()
        time.sleep(0.02)
    (out / "checkpoint.pt").unlink()
    (out / "checkpoint.pt" / "blocker").mkdir(parents=True)
    codes, logs = finish([parent], out)
    assert codes == [1], logs
    assert logs[0].count("error: cannot write") == 1, logs[0]
    assert "lost contact" not in logs[0] and "ChildFailedError" not in logs[0]
    assert_no_abort(logs)
