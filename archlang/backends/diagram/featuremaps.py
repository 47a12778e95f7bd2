"""The textbook feature-map picture (LeNet, AlexNet): one box per feature map,
its thickness following the channels and its face the spatial size,
labelled C×H×W, with each convolution's or pooling's kernel drawn on the
map it reads. Plain SVG written here (png/pdf through matplotlib).

It is meant for chains. A branching network is drawn along its main path
(at every merge, the branch with the most layers), and the picture says so;
a residual addition is drawn as an arc over the maps it bypasses, and a
concatenation's map as the stack of its branches' maps, one slice each.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from archlang.backends.diagram.canvas import Canvas
from archlang.backends.diagram.diagram import Picture, dump_json
from archlang.backends.diagram.fmdraw import draw
from archlang.backends.diagram.skips import main_inputs
from archlang.backends.diagram.style import FONT, THEMES
from archlang.errors import ArchError

NEW_MAP = ("input", "conv", "pool", "linear")  # layer families whose output is drawn as a new map
SAME_MAP = ("act", "norm", "reg", "shape")  # families drawn as part of the map before them


@dataclass
class FeatureMap:
    layers: list = field(default_factory=list)  # the layer making the map, then those that keep its shape
    shape: tuple = ()
    count: int = 1  # maps of one shape made by the same op in a row (VGG's 3×3 convs), drawn once

    @property
    def maker(self):
        return self.layers[0]

    def caption(self) -> str:
        """What made the map, by a name a reader finds: `conv1`, or `layer2.basic1` inside a block;
        a fold names its first and last maker (`conv3 … conv4`)."""
        first = _name(self.maker)
        if self.parts:  # a concatenation ends the block it closes: name the block (`inception3a`)
            scope = self.maker.path.split(".")[:-1]
            return ".".join(scope[:2]) if scope else first
        if self.count == 1:
            return first
        return f"{first} … {_name(self.layers[(self.count - 1) * self.per_map])}"

    def op_text(self) -> str:
        """`conv 5×5`, `maxpool 3×3 /2`, `fc`: the maker, then what follows it (`+ relu`), then `×N`."""
        return self.base_op() + (f" ×{self.count}" if self.count > 1 else "")

    def base_op(self) -> str:
        node = self.maker
        window = node.layer.window(node.in_shapes) if node.inputs else None
        text = node.layer.name
        if window:
            kh, kw, sh, sw = window
            text += f" {kh}×{kw}" + (_step(sh) if sh == sw else f" /{sh}×{sw}")
        rest = [n.layer.name for n in self.layers[1:self.per_map] if n.layer.family != "shape"]
        if self.parts:
            text += " " + "+".join(str(c) for c in self.parts)
        return text + "".join(f" + {r}" for r in rest)

    @property
    def parts(self) -> list[int]:
        """The channels each input brings to a map made by joining maps along the channels (a
        concatenation of branches), in input order; empty for every other map."""
        node = self.maker
        ins = node.in_shapes if node.layer.family == "merge" else []
        if (len(ins) > 1 and len(self.shape) == 3 and all(len(s) == 3 and tuple(s[1:]) == self.shape[1:] for s in ins)
                and sum(s[0] for s in ins) == self.shape[0]):
            return [s[0] for s in ins]
        return []

    @property
    def per_map(self) -> int:
        return len(self.layers) // self.count


def _name(node) -> str:
    parts = node.path.split(".") if node.path else [node.name]
    return ".".join(parts[:2]) if len(parts) > 2 else node.name


def _step(step) -> str:
    """` /2` for a stride, ` ×2` for an upsampling (a step of half an input position)."""
    if step == 1 or step == 0:  # 0: a reshape, whose positions have no step
        return ""
    return f" /{step}" if step > 1 else f" ×{1 / step}"


def main_path(net) -> tuple[list, int]:
    """The layers from input to output along the main path, and how many merges it passed."""
    mains = main_inputs(net)
    chain, node, merged = [], net.nodes[net.output], 0
    while True:
        chain.append(node)
        if not node.inputs:
            break
        if len(node.inputs) > 1:
            merged += 1
        node = net.nodes[mains.get(node.id, node.inputs[0])]
    return chain[::-1], merged


def feature_maps(chain) -> list[FeatureMap]:
    maps: list[FeatureMap] = []
    for node in chain:
        family = node.layer.family
        # A flatten keeps its map (the picture shows the C×H×W that the fc reads); a merge that
        # changes the shape (concat) makes a new one.
        if not maps or family in NEW_MAP or (family not in SAME_MAP and node.shape != maps[-1].shape):
            maps.append(FeatureMap([node], tuple(node.shape)))
        else:
            maps[-1].layers.append(node)
    return _fold(maps)


def _fold(maps: list[FeatureMap]) -> list[FeatureMap]:
    """Consecutive maps of one shape made by the same op (a VGG stage's convolutions): one box, ×N."""
    out: list[FeatureMap] = []
    for m in maps:
        prev = out[-1] if out else None
        if (prev and prev.maker.layer.family == "conv" and m.shape == prev.shape and m.base_op() == prev.base_op()
                and len(m.layers) == prev.per_map):
            prev.layers += m.layers
            prev.count += 1
        else:
            out.append(m)
    return out


def skip_arcs(net, chain, maps: list[FeatureMap]) -> list[tuple[int, int]]:
    """(map index, map index) for each merge on the main path: from the map its other input forks
    off (an identity, or a projection's input) to the map the merge ends in; drawn as arcs."""
    where = {n.id: k for k, m in enumerate(maps) for n in m.layers}
    on_chain, mains = {n.id for n in chain}, main_inputs(net)
    arcs = []
    for node in chain:
        for i in node.inputs[1:] if node.id not in mains else [i for i in node.inputs if i != mains[node.id]]:
            while i not in on_chain and net.nodes[i].inputs:
                i = net.nodes[i].inputs[0]
            if i in where and where[i] != where[node.id]:
                arcs.append((where[i], where[node.id]))
    return sorted(set(arcs))


class FeatureMaps(Picture):
    """The feature-map picture of a network: saves as svg, png, pdf, json or html."""

    def __init__(self, net, options):
        self.net, self.options = net, options
        self.theme = THEMES[options.theme]
        chain, merged = main_path(net)
        self.maps = feature_maps(chain)
        self.skips = skip_arcs(net, chain, self.maps)
        self.notes: list[str] = []
        if merged:
            note = (f"{net.name} branches: this picture draws its main path only (the branch with the most "
                    f"layers at each of its {merged} merges), {len(chain)} of {len(net.nodes)} layers")
            if any(m.parts for m in self.maps):
                note += "; a concatenation's map is the stack of its branches' maps, one slice each"
            self.notes.append(note)
            print(f"archlang: note: {note}", file=sys.stderr)
        self._canvas: Canvas | None = None

    @property
    def title(self) -> str:
        return f"{self.net.name}: feature maps"

    def canvas(self) -> Canvas:
        if self._canvas is None:
            self._canvas = draw(self.maps, self.theme, self.title, self.notes, self.skips)
        return self._canvas

    def svg(self) -> str:
        return self.canvas().svg(FONT, self.title)

    def to_dict(self) -> dict:
        return {"network": self.net.name, "options": self.options.to_dict(), "notes": self.notes,
                "maps": [{"layers": [n.path for n in m.layers], "shape": list(m.shape), "op": m.op_text(),
                          "family": m.maker.layer.family, "caption": m.caption(), "count": m.count,
                          **({"parts": m.parts} if m.parts else {})}
                         for m in self.maps], "skips": [list(a) for a in self.skips]}

    def data(self, fmt: str) -> bytes:
        if fmt == "svg":
            return self.svg().encode("utf-8")
        if fmt in ("png", "pdf"):
            return self.canvas().raster(fmt)
        if fmt == "json":
            return dump_json(self.to_dict()).encode("utf-8")
        if fmt == "html":
            return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{self.title}</title>'
                    f'</head><body style="margin:0;background:{self.theme.background};overflow:auto">'
                    f"{self.svg()}</body></html>\n").encode("utf-8")
        raise ArchError("E713", "the feature-map picture has no DOT form", None,
                        hint="write .svg, .png, .pdf, .json or .html; DOT is the graph style's (--style graph)")

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"image/svg+xml": self.svg(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"<FeatureMaps {self.net.name}: {len(self.maps)} maps>"
