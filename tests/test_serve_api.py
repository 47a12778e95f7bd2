"""The playground server over HTTP, as a browser or an attacker would talk to it:
what it serves and refuses (traversal, other hosts and origins, no token,
malformed requests), its answers, its time limit and recovery, exports,
saving, and the events of a file changed on disk.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import stat
import time

import pytest

import archlang
from archlang.serve.files import zoo_specs
from serve_helpers import ROOT, Served

RESNET50 = (ROOT / "specs" / "resnet50.arch").read_text()
# Some 99,000 layers: far more work than the time limits below allow, yet within --max-layers.
HEAVY = "network Heavy:\n    input(3, 8, 8) -> [conv(4, 1) -> relu -> bn] * 33000\n"


@pytest.fixture(scope="module")
def scratch():
    with Served() as served:
        yield served


@pytest.fixture
def edited(tmp_path):
    path = tmp_path / "net.arch"
    path.write_text(RESNET50.replace('"resnet.arch"', f'"{ROOT / "specs" / "resnet.arch"}"'))
    path.chmod(0o640)
    with Served(file=str(path)) as served:
        yield served, path


def test_the_page_needs_the_token_which_becomes_a_strict_cookie(scratch):
    status, _, body = scratch.request("GET", "/", token=False)
    assert status == 403 and b"archlang serve" in body
    status, headers, _ = scratch.request("GET", f"/?token={scratch.token}", token=False)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"archlang-{scratch.port}={scratch.token}") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    status, headers, body = scratch.request("GET", "/", token=False,
                                            headers={"Cookie": f"archlang-{scratch.port}={scratch.token}"})
    assert status == 200 and b'id="editor"' in body
    assert "script-src 'self'" in headers["content-security-policy"] and "connect-src 'self'" in \
        headers["content-security-policy"]
    assert scratch.request("GET", "/api/vocab", token=False, headers={"X-Archlang-Token": "wrong"})[0] == 403


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e%2fapp.py", "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/..%5c..%5cpyproject.toml", "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/etc/passwd",
    "/static/app.py", "/static/../../../../etc/passwd", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
    "/static/frontend/package.json", "/static/%00app.js", "/etc/passwd",
])
def test_no_path_reaches_a_file_outside_the_static_list(scratch, path):
    status, _, body = scratch.request("GET", path)
    assert status in (400, 403, 404) and b"root:" not in body and b"import" not in body


@pytest.mark.parametrize("doc", ["zoo:../pyproject.toml", "zoo:../../etc/passwd", "zoo:/etc/passwd", "../x",
                                 "/etc/passwd", "zoo:%2e%2e/pyproject.toml", "file"])
def test_documents_are_names_never_paths(scratch, doc):
    status, _, body = scratch.request("GET", f"/api/doc?doc={doc}")
    assert status == 404 and b"root:" not in body
    status, answer = scratch.api("/api/update", {"text": RESNET50, "doc": doc})
    assert status == 400 and answer["error"]["code"] == "E907"


def test_the_zoo_lists_plain_files_only(tmp_path):
    (tmp_path / "a.arch").write_text("network A:\n    input(4) -> fc(2)\n")
    (tmp_path / "outside.arch").symlink_to(ROOT / "specs" / "lenet5.arch")
    (tmp_path / "sub.arch").mkdir()
    assert list(zoo_specs(tmp_path)) == ["a.arch"]
    with Served(zoo=tmp_path) as served:
        assert served.request("GET", "/api/doc?doc=zoo:outside.arch")[0] == 404
        status, _, body = served.request("GET", "/api/doc?doc=zoo:a.arch")
        assert status == 200 and json.loads(body)["text"].startswith("network A")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil",
                                  "", "10.0.0.1"])
def test_a_foreign_host_name_is_refused(scratch, host):
    status, _, _ = scratch.request("GET", "/api/vocab", headers={"Host": host})
    assert status == 421


def test_a_request_from_another_site_is_refused(scratch):
    status, _ = scratch.api("/api/update", {"text": RESNET50}, headers={"Origin": "http://evil.example"})
    assert status == 403
    status, _ = scratch.api("/api/update", {"text": RESNET50}, headers={"Origin": scratch.url})
    assert status == 200


@pytest.mark.parametrize("body", [{"text": 5}, {"text": "x", "evil": 1}, {"text": "x", "settings": {"a": 1}},
                                  {"text": "x", "view": "everything"}, {"text": "x" * 1_000_001}, [1], "not json"])
def test_malformed_requests_are_refused_with_e907(scratch, body):
    status, _, data = scratch.request("POST", "/api/update", body if not isinstance(body, str) else body.encode())
    assert status == 400 and json.loads(data)["error"]["code"] == "E907"


def test_an_update_over_http_matches_the_summary(scratch):
    answer = scratch.update(RESNET50, doc="zoo:resnet50.arch")
    net = archlang.load(ROOT / "specs" / "resnet50.arch")
    assert answer["totals"]["params"] == net.params and answer["totals"]["macs"] == net.macs
    error = scratch.update("network N:\n    input(1, 8, 8) -> cnov(4)\n")["error"]
    assert error["code"] == "E201" and error["hint"] == "did you mean `conv` or `conv2d`?"


def test_a_check_past_the_time_limit_is_stopped_and_the_next_one_runs():
    with Served(limit=0.5) as served:
        served.update("network N:\n    input(4) -> fc(2)\n")  # the worker is up
        error = served.update(HEAVY)["error"]
        assert error["code"] == "E901" and "0.5 s" in error["message"]
        assert served.update("network N:\n    input(4) -> fc(2)\n")["totals"]["params"] == 10


def test_a_newer_edit_supersedes_a_long_check(scratch):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(scratch.api, "/api/update", {"text": HEAVY, "client": "page1"})
        for _ in range(200):  # until the heavy request is in the worker (bounded)
            if scratch.pg.latest.newest.get("page1"):
                break
            time.sleep(0.01)
        fast = pool.submit(scratch.api, "/api/update", {"text": RESNET50, "client": "page1",
                                                        "doc": "zoo:resnet50.arch"})
        assert fast.result()[1]["ok"] and slow.result()[1] == {"superseded": True}


def test_a_crashed_worker_is_reported_and_replaced(scratch):
    scratch.update("network N:\n    input(4) -> fc(2)\n")
    os.kill(scratch.pg.checker.proc.pid, 9)
    error = scratch.update("network N:\n    input(4) -> fc(3)\n")["error"]
    assert error["code"] == "E905" and "signal 9" in error["message"]
    assert scratch.update("network N:\n    input(4) -> fc(3)\n")["totals"]["params"] == 15


@pytest.mark.parametrize("fmt", ["svg", "png", "html", "json", "arch", "py"])
def test_exports(scratch, fmt):
    status, headers, data = scratch.request("POST", "/api/export", {"text": RESNET50, "doc": "zoo:resnet50.arch",
                                                                   "format": fmt, "expand": ["layer2"]})
    assert status == 200 and headers["content-disposition"] == f'attachment; filename="resnet50.{fmt}"'
    net = archlang.load(ROOT / "specs" / "resnet50.arch")
    if fmt == "svg":
        assert b"<svg" in data and b'id="c:layer2"' in data
    elif fmt == "png":
        assert data.startswith(b"\x89PNG")
    elif fmt == "html":
        assert data.startswith(b"<!DOCTYPE html>") and b"archlang-data" in data
    elif fmt == "json":
        assert json.loads(data) == {**json.loads(json.dumps(net.to_dict())), "file": "resnet50.arch"}
    elif fmt == "arch":
        assert archlang.load(data.decode()).params == net.params
    else:
        tree = ast.parse(data.decode())
        classes = [c.name for c in tree.body if isinstance(c, ast.ClassDef)]
        assert classes[-1] == "ResNet50" and len(set(classes)) == len(classes)  # scope classes first, the network last
        assert {"stage", "bottleneck"} <= {name.lower() for name in classes}


def test_saving_is_atomic_keeps_the_mode_and_refuses_a_stale_version(edited):
    served, path = edited
    status, _, body = served.request("GET", "/api/doc?doc=file")
    info = json.loads(body)
    assert status == 200 and info["text"] == path.read_text() and info["exists"]
    text = info["text"] + "# saved from the page\n"
    status, answer = served.api("/api/save", {"text": text, "base": info["version"]})
    assert status == 200 and path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".net.arch.")]  # no temporary file left
    path.write_text(text + "# another editor\n")
    status, answer = served.api("/api/save", {"text": text + "# mine\n", "base": answer["version"]})
    assert status == 409 and answer["error"]["code"] == "E904" and answer["disk"]["text"].endswith("# another editor\n")
    assert path.read_text().endswith("# another editor\n")  # nothing lost
    status, _ = served.api("/api/save", {"text": text + "# mine\n", "base": answer["disk"]["version"]})
    assert status == 200 and path.read_text().endswith("# mine\n")
    path.write_text("# a third editor\n")
    status, _ = served.api("/api/save", {"text": text, "base": answer["disk"]["version"], "force": True})
    assert status == 200 and path.read_text() == text  # overwriting on purpose


def test_saving_keeps_crlf_and_writes_through_a_link(tmp_path):
    real = tmp_path / "real.arch"
    real.write_bytes(b"network N:\r\n    input(4) -> fc(2)\r\n")
    link = tmp_path / "link.arch"
    link.symlink_to(real)
    with Served(file=str(link)) as served:
        info = json.loads(served.request("GET", "/api/doc?doc=file")[2])
        assert info["text"] == "network N:\n    input(4) -> fc(2)\n"
        status, _ = served.api("/api/save", {"text": info["text"].replace("fc(2)", "fc(3)"), "base": info["version"]})
        assert status == 200 and link.is_symlink()
        assert real.read_bytes() == b"network N:\r\n    input(4) -> fc(3)\r\n"


def test_a_scratch_buffer_has_no_file_to_save(scratch):
    status, answer = scratch.api("/api/save", {"text": "x"})
    assert status == 404 and answer["error"]["code"] == "E907"


def test_an_edit_on_disk_is_announced(edited):
    served, path = edited
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: {served.host}\r\nX-Archlang-Token: {served.token}\r\n\r\n"
                 .encode())
    got = b""
    while b"retry:" not in got:
        got += sock.recv(4096)
    path.write_text(path.read_text() + "# from another editor\n")
    events = []
    while not events:
        chunk = sock.recv(65536)
        assert chunk, "the event stream closed"
        got += chunk
        events = [json.loads(line[6:]) for line in got.decode().splitlines()
                  if line.startswith('data: {"type": "file"')]
    sock.close()
    assert events[0]["text"].endswith("# from another editor\n") and events[0]["exists"]
