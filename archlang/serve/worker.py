"""The worker process: `python -m archlang.serve.worker` reads one JSON request
per line on its input and writes one JSON answer per line.

Loading a spec runs here, away from the server's event loop: the server
kills this process when an answer is late (a thread could not be stopped)
and starts another. Nothing a request holds is executed; spec text goes
through the parser, values through the language's value parser.

Its first line says it is ready. Requests: {"kind": "update" | "export", "req": JSON TEXT, "name", "base",
"max_layers"} and {"kind": "vocab"}; `req` is the page's request as the server validated it.
"""

from __future__ import annotations

import base64
import json
import os
import sys

from archlang.errors import ArchError
from archlang.serve.dotproc import DotProcess
from archlang.serve.protocol import Export, Update
from archlang.serve.update import Session, error_json, load_spec, update

MIME = {"svg": "image/svg+xml", "png": "image/png", "json": "application/json", "py": "text/x-python",
        "html": "text/html", "arch": "text/plain"}


def export(req: Export, name: str, base: str, max_layers: int) -> dict:
    """A file of the current spec: a picture, the summary JSON, PyTorch source, or the spec with imports inlined."""
    net = load_spec(req, name, base, max_layers)
    fmt = req.format
    if fmt == "json":
        data = json.dumps(net.to_dict(), indent=2).encode("utf-8")
    elif fmt == "py":
        from archlang.backends.pysource import python_source  # imports torch: only this download pays for it

        data = python_source(net).encode("utf-8")
    elif fmt == "arch":
        data = net.bundled_source().encode("utf-8")
    else:
        data = net.render(view=req.view, expand=req.expand, collapse=req.collapse).data(fmt)
    return {"ok": True, "filename": f"{net.name.lower()}.{fmt}", "mime": MIME[fmt],
            "data": base64.b64encode(data).decode("ascii")}


def handle(message: dict, session: Session) -> dict:
    kind = message.get("kind")
    if kind == "vocab":
        from archlang.serve.vocab import vocabulary

        return vocabulary()
    args = (message["name"], message["base"], message["max_layers"])
    if kind == "update":
        return update(session, Update.model_validate_json(message["req"]), *args)
    req = Export.model_validate_json(message["req"])
    try:
        return export(req, *args)
    except ArchError as e:
        return {"ok": False, "error": error_json(e, req.text, message["name"])}


WARM_UP = ("network Warm(pool = true):\n"
           "    input(3, 32, 32) -> [conv(8) -> bn -> relu -> maxpool? -> dropout] * 2 -> fc(10)\n")


def warm_up(session: Session) -> None:
    """Build the validators, caches and the `dot` process before the first edit needs them."""
    req = Update(text=WARM_UP)
    update(session, req, "warm-up", os.getcwd(), 1000)
    update(session, req.model_copy(update={"view": "layers"}), "warm-up", os.getcwd(), 1000)


def main() -> None:
    # Answers go to a copy of stdout; stdout itself becomes stderr, so a stray print cannot break a line.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    session = Session(DotProcess())
    if os.environ.get("ARCHLANG_WORKER_WARM") == "1":
        warm_up(session)
    answers.write(b'{"ready":true}\n')
    answers.flush()
    for line in sys.stdin.buffer:
        try:
            reply = handle(json.loads(line), session)
        except Exception as e:  # a bug in archlang, not in the spec: say so and stay up
            reply = {"ok": False, "error": {"code": None, "title": "internal error", "mark": None,
                                            "message": f"{type(e).__name__}: {e}",
                                            "hint": "this is a bug in archlang: please report it with the spec",
                                            "text": f"archlang: internal error: {type(e).__name__}: {e}"}}
        answers.write(json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
        answers.flush()
    session.dot.close()


if __name__ == "__main__":
    main()
