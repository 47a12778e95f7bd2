"""`Diagram`: a rendered picture of a network that saves to a file and shows
itself in Jupyter (`_repr_svg_`, `_repr_mimebundle_`).

The view is built at once (it is cheap and validates the options); graphviz
runs only when an image is asked for, and once per format.
"""

from __future__ import annotations

import json
from pathlib import Path

from archlang.backends.diagram.dot import to_dot
from archlang.backends.diagram.layout import layout
from archlang.backends.diagram.options import ViewOptions
from archlang.backends.diagram.style import fmt_shape, human
from archlang.backends.diagram.view import build_view
from archlang.backends.files import output_path, write_output
from archlang.errors import ArchError

FORMATS = ("svg", "png", "pdf", "dot", "json", "html")
EXTENSIONS = {"gv": "dot", "htm": "html", "svg": "svg", "png": "png", "pdf": "pdf", "dot": "dot",
              "json": "json", "html": "html"}


def format_of(path: str | Path, format: str | None = None) -> str:
    """The output format: `format` if given, else the file's extension."""
    if format:
        fmt = format.lower()
    else:
        fmt = EXTENSIONS.get(Path(path).suffix.lower().lstrip("."), "")
    if fmt not in FORMATS:
        raise ArchError("E713", f"cannot tell the picture format of {str(path)!r}", None,
                        hint=f"end the file name in one of .{', .'.join(FORMATS)} or pass --format")
    return fmt


def dump_json(data: dict) -> str:
    """JSON with one line per field and per list item: small files, readable diffs."""
    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows = ",\n".join("  " + json.dumps(v, ensure_ascii=False) for v in value)
            parts.append(f"{json.dumps(key)}: [\n{rows}\n ]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


class Picture:
    """What every picture shares: `data(fmt)` gives its bytes; `save` writes them."""

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the picture; the format comes from `format` or the extension. Returns the path."""
        path = output_path(path)
        return write_output(path, self.data(format_of(path, format)))


class Diagram(Picture):
    """One view of a network, drawn on demand in any format."""

    def __init__(self, net, options: ViewOptions, timeout: float | None = None):
        self.net, self.options, self.timeout = net, options, timeout
        self.view = build_view(net, options)
        self.notes: list[str] = []  # warnings met while drawing (a cheaper fallback layout)
        self._images: dict[str, bytes] = {}

    @property
    def title(self) -> str:
        net = self.net
        return (f"{net.name}  ·  {human(net.params)} params  ·  {human(net.macs)} MACs  ·  "
                f"input {fmt_shape(net.input_shape)}")

    @property
    def dot(self) -> str:
        return to_dot(self.view, self.title)

    def to_dict(self) -> dict:
        data = self.view.to_dict()
        data.update(params=self.net.params, macs=self.net.macs, input=list(self.net.input_shape),
                    output=list(self.net.output_shape))
        return data

    def to_json(self) -> str:
        return dump_json(self.to_dict())

    def image(self, fmt: str) -> bytes:
        """The picture as svg, png or pdf bytes (runs graphviz once per format)."""
        if fmt not in self._images:
            self._images[fmt] = layout(self.dot, lambda: to_dot(self.view, self.title, cheap=True), fmt,
                                       self.timeout, self.notes)
        return self._images[fmt]

    def svg(self) -> str:
        return self.image("svg").decode("utf-8")

    def data(self, fmt: str) -> bytes:
        """The file contents for a format."""
        if fmt == "dot":
            return self.dot.encode("utf-8")
        if fmt == "json":
            return self.to_json().encode("utf-8")
        if fmt == "html":
            from archlang.backends.diagram.html import html_page

            return html_page(self).encode("utf-8")
        return self.image(fmt)

    # ---- Jupyter
    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        text = repr(self)
        try:
            return {"image/svg+xml": self.svg(), "text/plain": text}
        except ArchError as e:  # no graphviz: say why in the notebook instead of failing
            return {"text/plain": f"{text}\n{e.format()}"}

    def __repr__(self) -> str:
        o = self.options
        return (f"<Diagram {self.net.name} view={o.view} style={o.style}: {len(self.view.boxes)} boxes, "
                f"{len(self.view.edges)} edges>")
