"""The options of a picture, checked once: the view, what to open and close, the look."""

from __future__ import annotations

from dataclasses import dataclass

from archlang.errors import ArchError, did_you_mean

VIEWS = ("overview", "blocks", "layers")
STYLES = ("graph", "feature-maps")
THEMES = ("light", "dark")
RANKDIRS = ("TB", "LR")
LABELS = ("paper", "spec")  # `3×3 conv, 64, /2` or `conv(64, 3, stride=2)`


@dataclass(frozen=True)
class ViewOptions:
    view: str = "overview"
    expand: tuple[str, ...] = ()
    collapse: tuple[str, ...] = ()
    rankdir: str = "TB"
    theme: str = "light"
    style: str = "graph"
    labels: str = "paper"
    legend: bool = True  # draw each kind of unit the collapsed boxes hold, opened, beside the chain

    @classmethod
    def make(cls, view="overview", expand=(), collapse=(), rankdir="TB", theme="light", style="graph",
             labels="paper", legend=True):
        """Options from user input: `expand=["all"]` is the every-layer view; names are validated."""
        expand, collapse = _paths(expand), _paths(collapse)
        if "all" in expand:
            view, expand = "layers", tuple(e for e in expand if e != "all")
        for value, allowed, what in ((view, VIEWS, "view"), (style, STYLES, "style"),
                                     (theme, THEMES, "theme"), (rankdir, RANKDIRS, "rankdir"),
                                     (labels, LABELS, "label style")):
            if value not in allowed:
                raise ArchError("E713", f"unknown {what} {value!r}", None,
                                hint=f"choose one of: {', '.join(allowed)}")
        return cls(view, expand, collapse, rankdir, theme, style, labels, bool(legend))

    def opening(self, expand=(), collapse=()) -> "ViewOptions":
        """The same look with other elements opened and closed (what a click in the page asks for)."""
        return ViewOptions(self.view, tuple(expand), tuple(collapse), self.rankdir, self.theme, self.style,
                           self.labels, self.legend)

    def to_dict(self) -> dict:
        return {"view": self.view, "expand": list(self.expand), "collapse": list(self.collapse),
                "rankdir": self.rankdir, "theme": self.theme, "style": self.style,
                "labels": self.labels, "legend": self.legend}


def _paths(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    return tuple(dict.fromkeys(str(v).strip() for v in value or () if str(v).strip()))


def element_paths(net) -> set[str]:
    """Every dotted name a picture can open or close: layers and named scopes."""
    paths = {n.path for n in net.nodes if n.path}
    stack = [net.root]
    while stack:
        scope = stack.pop()
        if scope.path:
            paths.add(scope.path)
        stack += [c for c in scope.children if hasattr(c, "children")]
    return paths


def check_paths(net, options: ViewOptions) -> None:
    """Every --expand/--collapse name must exist; a `first:last` range needs both ends to."""
    known = element_paths(net)
    for path in options.expand + options.collapse:
        first, sep, last = path.partition(":")
        prefix = first.rpartition(".")[0]
        ends = [first] + ([f"{prefix}.{last}" if prefix else last] if sep else [])
        for end in ends:
            if end not in known:
                raise ArchError("E713", f"`{path}` names no element of {net.name}", None,
                                hint=did_you_mean(end, known) or "names are the dotted paths of "
                                "`archlang summary`, like `layer3` or `layer3.bottleneck2`")
