"""Diagrams of networks (`archlang render`, `Network.render`).

    >>> import archlang
    >>> d = archlang.load("specs/resnet50.arch").render(expand=["layer3"])
    >>> d.save("resnet50.svg")          # or .png .pdf .dot .json .html
    PosixPath('resnet50.svg')

Modules: `fold` (items and runs of identical items), `view` (the boxes,
clusters and edges a picture shows), `labels` (paper or spec wording, the
fold notation), `legend` (each kind of unit drawn once beside the chain),
`style` (colours and shapes per layer
family), `dot` (DOT text), `layout` (running graphviz), `diagram` (the
object that saves and shows itself), `html` (the interactive page),
`featuremaps` (the textbook stacked-boxes picture), `docs` (the README's
pictures).
"""

from __future__ import annotations

from archlang.backends.diagram.diagram import FORMATS, Diagram
from archlang.backends.diagram.options import ViewOptions

__all__ = ["Diagram", "FORMATS", "ViewOptions", "render"]


def render(net, view: str = "overview", expand=(), collapse=(), rankdir: str = "TB", theme: str = "light",
           style: str = "graph", timeout: float | None = None, labels: str = "paper",
           legend: bool = True):
    """A picture of `net`: a `Diagram`, or with style="feature-maps" a `FeatureMaps` picture.

    view: overview (one box per top-level element), blocks (one level deeper) or layers (every layer);
    expand / collapse: dotted paths to open or close (`"all"` opens everything);
    timeout: seconds graphviz may take before a cheaper layout is used;
    labels: "paper" (`3×3 conv, 64, /2`, the default) or "spec" (`conv(64, 3, stride=2)`);
    legend: draw each kind of unit the collapsed boxes hold, opened, in a panel beside the chain.
    """
    options = ViewOptions.make(view, expand, collapse, rankdir, theme, style, labels, legend)
    if options.style == "feature-maps":
        from archlang.backends.diagram.featuremaps import FeatureMaps

        return FeatureMaps(net, options)
    return Diagram(net, options, timeout)
