"""`archlang serve` as a command: it prints the address it listens on, serves the
page, stops cleanly on Ctrl+C (its worker processes with it), warns when told to
listen beyond this machine, and refuses what it cannot serve with a coded error.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHLANG = [sys.executable, "-m", "archlang"]


def start(*args: str, cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([*ARCHLANG, "serve", *args, "--no-browser"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        match = re.search(r"open (http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise AssertionError("no address printed: " + proc.stderr.read())


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_it_serves_the_page_and_stops_with_its_workers_on_ctrl_c(tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text("network N:\n    input(4) -> fc(2)\n")
    proc, url = start(str(spec), "--port", "0")
    match = re.match(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)$", url)
    assert match, url
    conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=60)
    conn.request("POST", "/api/update", body=b'{"text": "network N:\\n    input(4) -> fc(3)\\n", "doc": "file"}',
                 headers={"X-Archlang-Token": match.group(2), "Content-Type": "application/json"})
    answer = conn.getresponse().read()
    assert b'"params":15' in answer
    workers = children(proc.pid)
    assert workers, "the checking process runs beside the server"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert not [pid for pid in workers if alive(pid)]
    assert "Traceback" not in proc.stderr.read()


def test_listening_beyond_this_machine_is_warned_about(tmp_path):
    proc, url = start("--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    err = proc.stderr.read()
    assert url.startswith("http://127.0.0.1:") and "warning: listening on 0.0.0.0" in err


@pytest.mark.parametrize("name,code", [("missing/x.arch", "E903"), ("notes.txt", "E903"), (".", "E903"),
                                       ("latin1.arch", "E903")])
def test_what_it_cannot_edit_is_refused(tmp_path, name, code):
    (tmp_path / "latin1.arch").write_bytes("# caf\xe9\nnetwork N:\n    input(4) -> fc(2)\n".encode("latin-1"))
    done = subprocess.run([*ARCHLANG, "serve", name, "--no-browser", "--port", "0"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"error[{code}]" in done.stderr and "Traceback" not in done.stderr


def test_a_busy_port_is_a_coded_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([*ARCHLANG, "serve", "--no-browser", "--port", str(port)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "error[E902]" in done.stderr and f":{port}" in done.stderr
    assert "hint: " in done.stderr


def test_a_file_that_does_not_exist_yet_is_created_by_the_first_save(tmp_path):
    proc, url = start("new.arch", "--port", "0", cwd=tmp_path)
    port, token = re.match(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)$", url).groups()
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    conn.request("GET", "/api/doc?doc=file", headers={"X-Archlang-Token": token})
    assert b'"exists": false' in conn.getresponse().read().replace(b'"exists":false', b'"exists": false')
    conn.request("POST", "/api/save", body=b'{"text": "network N:\\n    input(4) -> fc(2)\\n", "base": ""}',
                 headers={"X-Archlang-Token": token, "Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    assert (tmp_path / "new.arch").read_text() == "network N:\n    input(4) -> fc(2)\n"
    assert oct((tmp_path / "new.arch").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
