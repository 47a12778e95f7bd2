"""The playground's web application (Starlette): the `Playground` (what the server
holds: the documents, the worker processes, the open pages), the application
around it, and the watch on the edited file. The handlers are in `routes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware

from archlang.errors import ArchError
from archlang.serve.files import PATTERN, EditedFile, zoo_specs
from archlang.serve.guard import Guard
from archlang.serve.jobs import Latest, Worker
from archlang.serve.routes import MIME, ROUTES, refused

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BODY = 4 * 1024 * 1024
EXPORT_LIMIT = 180.0  # seconds: the PyTorch source imports torch first
SEED = ("# The textbook pattern: INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC\n"
        "network Pattern(N = 2, M = 3, K = 2, width = 32, classes = 10):\n    INPUT(3, 32, 32)\n"
        "    -> [[CONV(width) -> RELU] * N -> POOL?] * M\n    -> [FC(128) -> RELU] * K\n    -> FC(classes)\n")


def static_files() -> dict[str, Path]:
    """The only files /static/ serves: regular files of the static folder, by name."""
    return {p.name: p for p in sorted(STATIC_DIR.iterdir())
            if p.suffix in MIME and p.is_file() and not p.is_symlink()}


class Playground:
    """What the server holds: the documents it may read and write, the workers, the open pages."""

    def __init__(self, file: str | None, limit: float, max_layers: int, token: str, cookie: str,
                 zoo: Path | None = None):
        self.file = EditedFile(file) if file else None
        self.zoo = zoo_specs(zoo) if zoo else zoo_specs()
        self.limit, self.max_layers, self.token, self.cookie = limit, max_layers, token, cookie
        self.checker, self.exporter = Worker(limit), Worker(EXPORT_LIMIT, warm=False)
        self.latest = Latest()
        self.scratch_base = os.getcwd()
        self.pages: set[asyncio.Queue] = set()
        self.disk_version: str | None = None
        self.vocab: bytes | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.static = static_files()
        self.asset_version = hashlib.sha256(b"".join(p.read_bytes() for p in self.static.values())).hexdigest()[:12]

    def document(self, doc: str) -> tuple[str, str]:
        """(name, folder its imports resolve from) of a document the page names."""
        if doc == "file" and self.file:
            return self.file.name, self.file.folder
        if doc == "scratch":
            return "scratch.arch", self.scratch_base
        if doc.startswith("zoo:") and doc[4:] in self.zoo:
            return doc[4:], str(self.zoo[doc[4:]].parent)
        raise ArchError("E907", f"no document {doc!r} here", None, hint="reload the page")

    def boot(self) -> dict:
        from archlang import __version__

        mode = "file" if self.file else "scratch"
        seed = self.zoo[PATTERN].read_text(encoding="utf-8") if PATTERN in self.zoo else SEED
        return {"mode": mode, "name": self.file.name if self.file else "scratch", "zoo": list(self.zoo),
                "seed": seed, "errors": "/errors", "version": __version__, "limit": self.limit}

    def message(self, kind: str, req, raw_doc: str) -> dict:
        name, base = self.document(raw_doc)
        return {"kind": kind, "req": req.model_dump_json(), "name": name, "base": base, "max_layers": self.max_layers}

    def broadcast(self, event: dict | None) -> None:
        """Send an event to every open page; None ends their streams."""
        for queue in list(self.pages):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def stop_pages(self) -> None:
        """End the pages' event streams (from any thread or a signal handler): the server is stopping."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.broadcast, None)


def build_app(pg: Playground, host: str = "127.0.0.1") -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers={ArchError: refused}, max_body_size=MAX_BODY,
                    lifespan=lambda app: lifespan(pg),
                    middleware=[Middleware(Guard, token=pg.token, bind_host=host, cookie=pg.cookie)])
    app.state.pg = pg
    return app


@contextlib.asynccontextmanager
async def lifespan(pg: Playground):
    pg.loop = asyncio.get_running_loop()
    # The worker starts beside the server: the first page does not wait for it; the first update does.
    tasks = [asyncio.create_task(pg.checker.start())] + ([asyncio.create_task(watch(pg))] if pg.file else [])
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await pg.checker.stop()
        await pg.exporter.stop()


async def watch(pg: Playground) -> None:
    """Tell the pages when the file changes on disk, or another .arch file beside it (an import may have)."""
    from watchfiles import awatch

    target = pg.file.path.resolve()
    folders = {str(pg.file.path.parent), str(target.parent)}
    async for changes in awatch(*folders, debounce=50, step=20, recursive=False,
                                watch_filter=lambda change, path: path.endswith(".arch")):
        paths = {Path(p) for _, p in changes}
        if pg.file.path in paths or target in paths:
            info = pg.file.read()
            if info["version"] != pg.disk_version:
                pg.disk_version = info["version"]
                pg.broadcast({"type": "file", **info})
        if paths - {pg.file.path, target}:
            pg.broadcast({"type": "deps"})
