"""The playground's web application (Starlette): small handlers over the
documents, the worker processes and the page's event stream.

    GET  /                 the page (with ?token=: sets the token cookie, then redirects to /)
    GET  /static/NAME      the page's script, styles and editor (a fixed list of files)
    GET  /errors           the error reference the page links to
    GET  /api/vocab        keywords, layers and functions, for highlighting and completion
    GET  /api/doc?doc=D    a document's text: `file`, `scratch` or `zoo:NAME`
    POST /api/update       spec text and settings -> errors, controls, table, picture, diff
    POST /api/export       the same -> a file (svg, png, html, json, py, arch)
    POST /api/save         the edited text -> the file on disk (atomically)
    GET  /api/events       server-sent events: the file changed on disk, or a file it imports
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from archlang.errors import ArchError
from archlang.serve.files import PATTERN, EditedFile, zoo_specs
from archlang.serve.guard import Guard
from archlang.serve.jobs import Latest, Worker
from archlang.serve.page import errors_html, page_html
from archlang.serve.protocol import Export, Save, Update, error_body, parse

STATIC_DIR = Path(__file__).resolve().parent / "static"
MIME = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}
MAX_BODY = 4 * 1024 * 1024
EXPORT_LIMIT = 180.0  # seconds: the PyTorch source imports torch first
SEED = ("# The textbook pattern: INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC\n"
        "network Pattern(N = 2, M = 3, K = 2, width = 32, classes = 10):\n    INPUT(3, 32, 32)\n"
        "    -> [[CONV(width) -> RELU] * N -> POOL?] * M\n    -> [FC(128) -> RELU] * K\n    -> FC(classes)\n")


def static_files() -> dict[str, Path]:
    """The only files /static/ serves: regular files of the static folder, by name."""
    return {p.name: p for p in sorted(STATIC_DIR.iterdir())
            if p.suffix in MIME and p.is_file() and not p.is_symlink()}


def error_json(error: ArchError, status: int) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error_body(error)}, status_code=status)


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
    async def index(request: Request) -> Response:
        if "token" in request.query_params:  # the printed address: keep the token as a cookie, out of the address
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(pg.cookie, pg.token, httponly=True, samesite="strict")
            return response
        title = pg.file.name if pg.file else "scratch"
        return HTMLResponse(page_html(pg.boot(), title, pg.asset_version), headers={"cache-control": "no-store"})

    async def static(request: Request) -> Response:
        path = pg.static.get(request.path_params["name"])
        if path is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return Response(path.read_bytes(), media_type=MIME[path.suffix], headers={"cache-control": "no-cache"})

    async def errors(request: Request) -> Response:
        return HTMLResponse(errors_html())

    async def vocab(request: Request) -> Response:
        if pg.vocab is None:
            answer = await pg.checker.call({"kind": "vocab"})
            if b'"keywords"' not in answer:
                return Response(answer, status_code=503, media_type="application/json")
            pg.vocab = answer
        return Response(pg.vocab, media_type="application/json")

    async def doc(request: Request) -> Response:
        name = request.query_params.get("doc", "")
        if name == "file" and pg.file:
            info = pg.file.read()
            pg.disk_version = info["version"]
            return JSONResponse({**info, "saveable": True})
        if name.startswith("zoo:") and name[4:] in pg.zoo:
            return JSONResponse({"name": name[4:], "text": pg.zoo[name[4:]].read_text(encoding="utf-8"),
                                 "saveable": False})
        return error_json(ArchError("E907", f"no document {name!r} here", None), 404)

    async def update(request: Request) -> Response:
        req = parse(Update, await request.body())
        answer = await pg.checker.call(pg.message("update", req, req.doc), pg.latest.ticket(req.client))
        return Response(answer, media_type="application/json", headers={"cache-control": "no-store"})

    async def export(request: Request) -> Response:
        req = parse(Export, await request.body())
        answer = json.loads(await pg.exporter.call(pg.message("export", req, req.doc)))
        if not answer.get("ok"):
            return JSONResponse(answer, status_code=422)
        return Response(base64.b64decode(answer["data"]), media_type=answer["mime"],
                        headers={"content-disposition": f'attachment; filename="{answer["filename"]}"'})

    async def save(request: Request) -> Response:
        if pg.file is None:
            return error_json(ArchError("E907", "there is no file to save: the playground runs on a scratch buffer",
                                        None, hint="start it as `archlang serve FILE`"), 404)
        req = parse(Save, await request.body())
        try:
            saved = pg.file.save(req.text, req.base, req.force)
        except ArchError as e:
            if e.code != "E904":
                return error_json(e, 500)
            info = pg.file.read()
            return JSONResponse({**json.loads(error_json(e, 409).body), "disk": info}, status_code=409)
        pg.disk_version = saved["version"]
        return JSONResponse({"ok": True, **saved})

    async def events(request: Request) -> Response:
        queue: asyncio.Queue = asyncio.Queue(maxsize=64)
        pg.pages.add(queue)

        async def stream():
            try:
                yield "retry: 1000\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event is None:
                        return
                    yield f"data: {json.dumps(event)}\n\n"
            finally:
                pg.pages.discard(queue)
        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    async def refused(request: Request, exc: ArchError) -> Response:
        return error_json(exc, 400)

    routes = [Route("/", index), Route("/static/{name}", static), Route("/errors", errors),
              Route("/api/vocab", vocab), Route("/api/doc", doc), Route("/api/update", update, methods=["POST"]),
              Route("/api/export", export, methods=["POST"]), Route("/api/save", save, methods=["POST"]),
              Route("/api/events", events)]
    return Starlette(routes=routes, exception_handlers={ArchError: refused}, max_body_size=MAX_BODY,
                     lifespan=lambda app: lifespan(pg),
                     middleware=[Middleware(Guard, token=pg.token, bind_host=host, cookie=pg.cookie)])


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
