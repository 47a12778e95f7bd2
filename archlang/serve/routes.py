"""The playground's request handlers: small functions over the `Playground`
the application holds (`request.app.state.pg`).

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
import json

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from archlang.errors import ArchError
from archlang.serve.page import errors_html, page_html
from archlang.serve.protocol import Export, Save, Update, error_body, parse

MIME = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}


def _pg(request: Request):
    return request.app.state.pg


def error_json(error: ArchError, status: int) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error_body(error)}, status_code=status)


async def index(request: Request) -> Response:
    pg = _pg(request)
    if "token" in request.query_params:  # the printed address: keep the token as a cookie, out of the address
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(pg.cookie, pg.token, httponly=True, samesite="strict")
        return response
    title = pg.file.name if pg.file else "scratch"
    return HTMLResponse(page_html(pg.boot(), title, pg.asset_version), headers={"cache-control": "no-store"})

async def static(request: Request) -> Response:
    pg = _pg(request)
    path = pg.static.get(request.path_params["name"])
    if path is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    return Response(path.read_bytes(), media_type=MIME[path.suffix], headers={"cache-control": "no-cache"})

async def errors(request: Request) -> Response:
    return HTMLResponse(errors_html())

async def vocab(request: Request) -> Response:
    pg = _pg(request)
    if pg.vocab is None:
        answer = await pg.checker.call({"kind": "vocab"})
        if b'"keywords"' not in answer:
            return Response(answer, status_code=503, media_type="application/json")
        pg.vocab = answer
    return Response(pg.vocab, media_type="application/json")

async def doc(request: Request) -> Response:
    pg = _pg(request)
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
    pg = _pg(request)
    req = parse(Update, await request.body())
    answer = await pg.checker.call(pg.message("update", req, req.doc), pg.latest.ticket(req.client))
    return Response(answer, media_type="application/json", headers={"cache-control": "no-store"})

async def export(request: Request) -> Response:
    pg = _pg(request)
    req = parse(Export, await request.body())
    answer = json.loads(await pg.exporter.call(pg.message("export", req, req.doc)))
    if not answer.get("ok"):
        return JSONResponse(answer, status_code=422)
    return Response(base64.b64decode(answer["data"]), media_type=answer["mime"],
                    headers={"content-disposition": f'attachment; filename="{answer["filename"]}"'})

async def save(request: Request) -> Response:
    pg = _pg(request)
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
    pg = _pg(request)
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

async def refused(request: Request, exc: ArchError) -> Response:  # a request the server refuses (E907)
    return error_json(exc, 400)


ROUTES = [Route("/", index), Route("/static/{name}", static), Route("/errors", errors),
          Route("/api/vocab", vocab), Route("/api/doc", doc), Route("/api/update", update, methods=["POST"]),
          Route("/api/export", export, methods=["POST"]), Route("/api/save", save, methods=["POST"]),
          Route("/api/events", events)]
