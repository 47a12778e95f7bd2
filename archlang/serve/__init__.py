"""`archlang serve`: a live playground in the browser. Edit a spec; the
diagram, the layer table and the errors follow as you type.

    archlang serve specs/resnet50.arch       # edit a file (saved atomically)
    archlang serve                           # a scratch buffer and the zoo's specs

Modules: `server` (listening, the address, the browser), `app` (the web
application and what it holds), `routes` (its handlers), `guard` (Host, Origin and token checks), `jobs` (the
worker processes and their time limit), `worker` (the process that loads
specs), `update` (one update: errors, controls, table, picture, diff),
`table`, `controls`, `digest`, `vocab`, `dotproc`, `files`, `protocol`
(what the page may send), `page` (the HTML). The page's script and styles are
in `static/`; its editor is CodeMirror, built from `frontend/` by
`make serve-assets`.
"""

from archlang.serve.server import serve

__all__ = ["serve"]
