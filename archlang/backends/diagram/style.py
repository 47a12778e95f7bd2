"""How things look: the one place that maps a layer family or scope kind to
colours and shapes, per theme.

A layer type gets its style by declaring its `family` on its class (conv,
norm, act, pool, linear, merge, shape, input, reg); a family not listed here
falls back to "other". Scopes (collapsed blocks, groups, branches, folds)
are styled by kind. Every format (DOT, feature maps, HTML) asks here.
"""

from __future__ import annotations

from dataclasses import dataclass

FONT = "Helvetica,Arial,sans-serif"  # graphviz measures with the first installed match
FONT_SIZE = 11  # points at the picture's natural size; never below MIN_POINTS
SMALL_SIZE = 9
MIN_POINTS = 8

# family: (light fill, light border, dark fill, dark border)
FAMILIES: dict[str, tuple[str, str, str, str]] = {
    "conv": ("#dbe8fb", "#3b6fb6", "#1f3a5f", "#7fa8e0"),
    "norm": ("#e4f4e1", "#4b8f44", "#22402a", "#84c27c"),
    "act": ("#fdeccd", "#c07f16", "#4a3614", "#e0aa4c"),
    "pool": ("#f3e1f5", "#8c4a9a", "#3d2743", "#c18bcd"),
    "linear": ("#fbdcdc", "#b34747", "#4d2424", "#e08585"),
    "merge": ("#ffffff", "#555555", "#2b2b2b", "#bbbbbb"),
    "shape": ("#eeeeee", "#888888", "#333333", "#999999"),
    "reg": ("#f1f1e3", "#8a8a50", "#38382a", "#b5b57a"),
    "input": ("#e6e6e6", "#555555", "#3a3a3a", "#bbbbbb"),
    "output": ("#e6e6e6", "#555555", "#3a3a3a", "#bbbbbb"),
    "other": ("#f5f5f5", "#777777", "#303030", "#aaaaaa"),
    # scopes: a collapsed box is an element one can open
    "block": ("#f3f6fa", "#2f4f6f", "#243140", "#9fb8d0"),
    "group": ("#f6f6f1", "#5f5f3f", "#2f2f28", "#c0c09a"),
    "branch": ("#f6f6f6", "#666666", "#2c2c2c", "#aaaaaa"),
    "fold": ("#f3f6fa", "#2f4f6f", "#243140", "#9fb8d0"),
}

# merge type: the symbol in its circle
MERGE_SYMBOLS = {"add": "+", "concat": "‖", "mul": "×"}


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    text: str
    muted: str
    edge: str
    cluster_fill: str
    cluster_border: str
    highlight: str

    def colours(self, family: str) -> tuple[str, str]:
        """(fill, border) of a family or scope kind."""
        light_fill, light_border, dark_fill, dark_border = FAMILIES.get(family, FAMILIES["other"])
        return (light_fill, light_border) if self.name == "light" else (dark_fill, dark_border)


THEMES = {
    "light": Theme("light", "#ffffff", "#1d1d1d", "#5c5c5c", "#4d4d4d", "#f7f9fc", "#9aa9ba", "#e8590c"),
    "dark": Theme("dark", "#1b1d21", "#e8e8e8", "#a9a9a9", "#9a9a9a", "#22262c", "#56606c", "#ff922b"),
}


def node_attrs(kind: str, family: str, theme: Theme) -> dict[str, str]:
    """Graphviz attributes of a box, by what it stands for."""
    fill, border = theme.colours(family)
    if kind == "merge":
        return {"shape": "circle", "fixedsize": "true", "width": "0.34", "fontsize": "15",
                "style": "filled", "fillcolor": fill, "color": border}
    if kind == "output":
        return {"shape": "box", "style": "rounded,filled,dashed", "fillcolor": fill, "color": border}
    if kind == "fold":  # a stack of identical units
        return {"shape": "box3d", "style": "filled", "fillcolor": fill, "color": border, "penwidth": "1.4",
                "margin": "0.16,0.1"}
    if kind in ("block", "group", "branch"):
        return {"shape": "box", "style": "rounded,filled,bold", "fillcolor": fill, "color": border}
    return {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "color": border}


def cluster_attrs(kind: str, theme: Theme) -> dict[str, str]:
    if kind == "branch":  # a branch's layers, grouped lightly: the merge says what happens
        return {"style": "dashed,rounded", "color": theme.cluster_border, "fontcolor": theme.muted,
                "bgcolor": "transparent"}
    return {"style": "rounded,filled", "color": theme.cluster_border, "fillcolor": theme.cluster_fill,
            "fontcolor": theme.text}


def human(n: int) -> str:
    """1234 -> 1.2K, 25557032 -> 25.6M: counts as people read them in a box."""
    for size, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def fmt_shape(shape) -> str:
    return "×".join(map(str, shape))
