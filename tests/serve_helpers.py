"""A real playground server for the tests: uvicorn on a free loopback port,
in a thread of the test process, with its worker processes; and a plain HTTP
client that sends exactly the path and headers given (no normalising of `..`).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from pathlib import Path

import uvicorn

from archlang.serve.app import Playground, build_app
from archlang.serve.server import listen

ROOT = Path(__file__).resolve().parents[1]


class Served:
    def __init__(self, file=None, zoo=None, limit: float = 20.0, max_layers: int = 100_000, token: str = "t0ken"):
        self.file, self.zoo, self.limit, self.max_layers, self.token = file, zoo, limit, max_layers, token

    def __enter__(self) -> "Served":
        sock = listen("127.0.0.1", 0, explicit=True)
        self.port = sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.pg = Playground(self.file, self.limit, self.max_layers, self.token, cookie=f"archlang-{self.port}",
                             zoo=self.zoo)
        config = uvicorn.Config(build_app(self.pg), log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[sock])), daemon=True)
        self.thread.start()
        for _ in range(500):  # bounded: the server starts in well under a second
            if self.server.started:
                break
            self.thread.join(0.01)
        assert self.server.started, "the test server did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.pg.stop_pages()
        self.server.should_exit = True
        self.thread.join(30)

    def request(self, method: str, path: str, body=None, headers=None, token: bool = True):
        """(status, headers, body bytes), without following redirects."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        sent = {"Host": self.host, **({"X-Archlang-Token": self.token} if token else {}), **(headers or {})}
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for key, value in sent.items():
            conn.putheader(key, value)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        out = (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        conn.close()
        return out

    def api(self, path: str, body: dict, **kw) -> tuple[int, dict]:
        status, _, data = self.request("POST", path, body, **kw)
        return status, json.loads(data)

    def update(self, text: str, **fields) -> dict:
        status, answer = self.api("/api/update", {"text": text, **fields})
        assert status == 200, answer
        return answer
