"""The server's side of the worker processes: one request at a time each, a
time limit that holds (a late worker is killed with its `dot`, and the next
request starts a fresh one), and superseding: while a page's request waits,
a newer one from the same page takes its place.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Callable

from archlang.errors import ArchError
from archlang.serve.protocol import refusal

SUPERSEDED = b'{"superseded":true}'
PATIENCE = 1.0  # seconds a superseded check may still run before it is stopped for the newer one
POLL = 0.1
STARTUP = 120.0  # seconds for a new worker to import archlang and warm up, on a loaded machine


def error_answer(code: str, message: str) -> bytes:
    return json.dumps(refusal(code, message)).encode("utf-8")


class Worker:
    """A `python -m archlang.serve.worker` process, started on first use."""

    def __init__(self, limit: float, warm: bool = True):
        self.limit, self.warm = limit, warm
        self.proc: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()

    async def _ensure(self) -> asyncio.subprocess.Process:
        """The running process; a new one once it says it is ready (its start does not count against a limit)."""
        if self.proc is None or self.proc.returncode is not None:
            env = {**os.environ, "ARCHLANG_WORKER_WARM": "1" if self.warm else "0"}
            # Its own process group, so that a kill takes its `dot` with it.
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "archlang.serve.worker", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, env=env, start_new_session=True, limit=1 << 30)
            try:
                await asyncio.wait_for(self.proc.stdout.readline(), STARTUP)
            except TimeoutError:
                await self.stop()
                raise ArchError("E905", f"the checking process did not start within {STARTUP:g} s", None) from None
        return self.proc

    async def start(self) -> None:
        """Start the process now, so the first edit does not wait for Python to import archlang."""
        async with self.lock:
            await self._ensure()

    async def call(self, message: dict, superseded: Callable[[], bool] = lambda: False,
                   limit: float | None = None) -> bytes:
        """The worker's answer line (JSON bytes); on a time-out, a crash or a newer request, an answer saying so."""
        limit = self.limit if limit is None else limit
        async with self.lock:
            if superseded():
                return SUPERSEDED
            try:
                proc = await self._ensure()
            except ArchError as e:
                return error_answer(e.code, e.message)
            try:
                proc.stdin.write(json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n")
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                return await self._died(proc)
            return await self._answer(proc, limit, superseded)

    async def _answer(self, proc, limit: float, superseded) -> bytes:
        loop = asyncio.get_running_loop()
        start = loop.time()
        read = asyncio.ensure_future(proc.stdout.readline())
        while True:
            done, _ = await asyncio.wait({read}, timeout=POLL)
            if done:
                line = read.result()
                return line.rstrip(b"\n") if line else await self._died(proc)
            ran = loop.time() - start
            if ran >= limit:
                await self.stop()
                return error_answer("E901", f"checking took longer than {limit:g} s, so it was stopped")
            if ran >= PATIENCE and superseded():
                await self.stop()
                return SUPERSEDED

    async def _died(self, proc) -> bytes:
        code = await proc.wait()
        self.proc = None
        why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return error_answer("E905", f"the checking process stopped ({why}); it restarts with the next edit")

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()


class Latest:
    """Per page: the number of its newest request; an older one is superseded."""

    def __init__(self):
        self.newest: dict[str, int] = {}

    def ticket(self, client: str) -> Callable[[], bool]:
        number = self.newest[client] = self.newest.get(client, 0) + 1
        return lambda: self.newest[client] != number
