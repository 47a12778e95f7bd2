"""The interactive page: one self-contained HTML file (no network access to
open it) where a reader pans, zooms, clicks a collapsed box to open it (and
an open cluster's title to close it again), and searches layers by name.

There is no layout engine in the page. Instead the page carries pre-drawn
*states*: the diagram's own view, then breadth-first the view with each
box it shows opened (`--expand PATH`) and each cluster closed, up to
`MAX_STATES`. Each state is an SVG drawn by graphviz (all in one `dot` run)
plus a table from every box and cluster to the state a click leads to.
Opening a box keeps what holds it open and closes the rest, exactly like
`archlang render --expand PATH`, so the page and the command agree.

The data (states, search index) is JSON made safe for a `<script>` element
(`script_json`), then gzipped and base64-encoded: the states repeat one
another, so GoogLeNet's page shrinks from ~5 MB to under 1 MB; the page
inflates it with the browser's DecompressionStream and opens fitted to the
window. Edges show their tensor shape on hover.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from html import escape

from archlang.backends.diagram.dot import to_dot
from archlang.backends.diagram.html_assets import PAGE_CSS, PAGE_JS
from archlang.backends.diagram.layout import find_dot, layout
from archlang.backends.diagram.options import ViewOptions
from archlang.backends.diagram.style import THEMES
from archlang.backends.diagram.view import build_view

MAX_STATES = 64  # pre-drawn views in one page; deeper boxes say which command draws them


def _key(options: ViewOptions) -> tuple:
    return options.expand, options.collapse


def collect_states(diagram, limit: int | None = None) -> list:
    """[(options, view)], breadth-first from the diagram's own view."""
    limit = limit or MAX_STATES
    base = diagram.options
    states = [(base, diagram.view)]
    seen = {_key(base)}
    k = 0
    while k < len(states) and len(states) < limit:
        for target in _targets(base, states[k][1]).values():
            if _key(target) not in seen and len(states) < limit:
                seen.add(_key(target))
                states.append((target, build_view(diagram.net, target)))
        k += 1
    return states


def _targets(base: ViewOptions, view) -> dict:
    """Element id in the SVG -> the options a click on it asks for."""
    out = {}
    for b in view.boxes:
        if b.expandable:
            out[f"p:{b.path}"] = base.opening((b.path,), ())
    paths = {c.id: c.path for c in view.clusters}
    for c in view.clusters:
        keep = (paths[c.parent],) if c.parent else ()
        out[f"c:{c.path}"] = out[f"t:{c.path}"] = base.opening(keep, (c.path,))
    return out


# Inside <script>, the HTML parser ends the data at `</script` and enters odd states at `<!--`;
# JSON allows every character escaped as \uXXXX, so none of these reaches the page as markup.
# U+2028/2029 are escaped too, for the JavaScript engines that read them as line ends.
_SCRIPT_UNSAFE = str.maketrans({c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})


def script_json(data) -> str:
    """`data` as JSON that is safe inside an HTML `<script>` element (script-data context)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_UNSAFE)


def html_page(diagram, limit: int | None = None) -> str:
    states = collect_states(diagram, limit)
    index = {_key(o): k for k, (o, _) in enumerate(states)}
    svgs = _draw_all(diagram, [v for _, v in states])
    data = {
        "title": diagram.title,
        "states": [_state_data(o, v, svg, index) for (o, v), svg in zip(states, svgs)],
        "search": _search_index(diagram.net, states),
        "command": f"archlang render {diagram.net.file}",
    }
    theme = THEMES[diagram.options.theme]
    # The states' SVGs repeat one another (the legend, the unopened boxes): gzip makes GoogLeNet's
    # page ~10x smaller; the page inflates it with the browser's own DecompressionStream.
    payload = base64.b64encode(gzip.compress(script_json(data).encode("utf-8"), 9, mtime=0)).decode("ascii")
    css = PAGE_CSS.replace("$BG", theme.background).replace("$TEXT", theme.text).replace(
        "$MUTED", theme.muted).replace("$HIGHLIGHT", theme.highlight).replace("$PANEL", theme.cluster_fill)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(diagram.net.name)} — archlang</title>\n<style>{css}</style>\n</head>\n<body>\n"
            f'<div id="bar"><span id="title">{escape(diagram.title)}</span>'
            '<button id="back" title="back (Esc)">◀ back</button><button id="fit">fit</button>'
            '<button id="actual">100%</button><input id="search" type="search" placeholder="find a layer… (/)" '
            'list="names" autocomplete="off"><datalist id="names"></datalist><span id="note"></span></div>\n'
            '<div id="stage"><div id="canvas"></div></div>\n<pre id="archlang-state" hidden></pre>\n'
            f'<script type="application/octet-stream" id="archlang-data" data-encoding="gzip+base64">'
            f"{payload}</script>\n"
            f"<script>{PAGE_JS}</script>\n</body>\n</html>\n")


def _draw_all(diagram, views) -> list[str]:
    """Every state's SVG from one `dot` run (graphviz lays out each graph of its input in turn)."""
    find_dot()
    source = "".join(to_dot(v, diagram.title) for v in views)
    cheap = "".join(to_dot(v, diagram.title, cheap=True) for v in views)
    out = layout(source, lambda: cheap, "svg", diagram.timeout, diagram.notes).decode("utf-8")
    svgs = re.findall(r"<svg\b.*?</svg>", out, flags=re.S)
    # graphviz titles every element with its DOT id ("n0->n1"), which a browser shows on hover; the
    # tooltips (<a xlink:title>: a box's path and sizes, an edge's tensor shape) say it instead
    return [re.sub(r"<!--.*?-->\s*|<title>[^<]*</title>\s*", "", s, flags=re.S) for s in svgs]


def _state_data(options: ViewOptions, view, svg: str, index: dict) -> dict:
    links = {}
    for element, target in _targets(options, view).items():
        links[element] = index.get(_key(target), -1)
    return {"expand": list(options.expand), "collapse": list(options.collapse), "svg": svg, "links": links,
            "boxes": len(view.boxes)}


def _search_index(net, states) -> list:
    """[path, type, state, element id]: for each layer and named scope, the state that shows it best."""
    best: dict[int, tuple] = {}  # layer id -> (box size, state, box path)
    for k, (_, view) in enumerate(states):
        boxes = {b.id: b for b in view.boxes}
        for layer_id, box_id in view.represent.items():
            b = boxes[box_id]
            if layer_id not in best or b.layers < best[layer_id][0]:
                best[layer_id] = (b.layers, k, b.path)
    entries = [[n.path, n.layer.describe(), best[n.id][1], "p:" + best[n.id][2]] for n in net.nodes if n.path]
    scopes = {}
    for n in net.nodes:
        scope = n.scope
        while scope is not None:
            if scope.path and not scope.transparent and scope.path not in scopes:
                scopes[scope.path] = [scope.path, scope.info.get("call") or scope.kind, best[n.id][1],
                                      _scope_element(states[best[n.id][1]][1], scope.path, best[n.id][2])]
            scope = scope.parent
    return entries + sorted(scopes.values())


def _scope_element(view, path: str, fallback: str) -> str:
    """The scope's own box or cluster in a view, or the box of its first layer."""
    for b in view.boxes:
        if b.path == path:
            return "p:" + path
    for c in view.clusters:
        if c.path == path:
            return "c:" + path
    return "p:" + fallback
