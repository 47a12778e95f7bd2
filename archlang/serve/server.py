"""`archlang serve`: listen, say where, open the browser, serve until Ctrl+C.

The socket is bound here (not by uvicorn) so that `--port 0` can pick a free
port and the printed address is the real one, and so that a busy default
port moves on to the next instead of failing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import sys
import webbrowser

import uvicorn

from archlang.errors import ArchError
from archlang.serve.app import Playground, build_app

DEFAULT_PORT = 8040
TRIES = 20  # ports tried after a busy default one


def listen(host: str, port: int, explicit: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last = None
    for candidate in [port] if explicit or port == 0 else range(port, port + TRIES):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
            sock.listen(128)
            sock.setblocking(False)
            return sock
        except OSError as e:
            sock.close()
            last = e
    raise ArchError("E902", f"cannot listen on {host}:{port}: {last.strerror if last else 'no port'}", None,
                    hint="pick another port with --port, or --port 0 for any free one")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address(host: str, port: int) -> str:
    """The address a browser on this machine opens."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else \
        f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(file: str | None = None, host: str = "127.0.0.1", port: int | None = None, open_browser: bool = True,
          limit: float = 10.0, max_layers: int = 100_000) -> int:

    sock = listen(host, DEFAULT_PORT if port is None else port, explicit=port is not None)
    real_port = sock.getsockname()[1]
    token = secrets.token_urlsafe(18)
    pg = Playground(file, limit, max_layers, token, cookie=f"archlang-{real_port}")
    url = f"{address(host, real_port)}/?token={token}"
    if not _is_loopback(host):
        print(f"archlang: warning: listening on {host}, not on this machine's loopback address only: anyone who "
              f"can reach port {real_port} and learns the address below can read and change "
              f"{file or 'what the page shows'}", file=sys.stderr, flush=True)
    what = f"editing {file}" if file else "a scratch buffer (and the specs of the zoo)"
    print(f"archlang playground: {what}\n  open {url}\n  Ctrl+C stops it", flush=True)
    config = uvicorn.Config(build_app(pg, host), log_level="warning", access_log=False, proxy_headers=False,
                            server_header=False, timeout_graceful_shutdown=1, lifespan="on")
    server = Server(config, pg)
    try:
        asyncio.run(_serve_and_open(server, sock, url) if open_browser else server.serve(sockets=[sock]))
    except KeyboardInterrupt:  # uvicorn stops, then passes Ctrl+C on: the end asked for
        pass
    print("archlang playground: stopped", flush=True)
    return 0


class Server(uvicorn.Server):
    """uvicorn's server, which first ends the pages' event streams when asked to stop (Ctrl+C): it waits
    for open connections to close, and an event stream never would by itself."""

    def __init__(self, config, playground):
        super().__init__(config)
        self.playground = playground

    def handle_exit(self, sig, frame) -> None:
        self.playground.stop_pages()
        super().handle_exit(sig, frame)


async def _serve_and_open(server, sock, url: str) -> None:
    async def opener():
        while not server.started:
            await asyncio.sleep(0.02)
        await asyncio.get_running_loop().run_in_executor(None, webbrowser.open, url)
    task = asyncio.create_task(opener())
    try:
        await server.serve(sockets=[sock])
    finally:
        task.cancel()
