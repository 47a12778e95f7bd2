"""The geometry of the drawn pictures, read back from the SVG that graphviz's
`dot` writes: no edge passes through a box (other than its own ends) or
through a cluster's title, no text overlaps other text, the main path's
edges are straight, and a merge's branches stand left to right in the
order of the spec.

Every spec is drawn in its overview, with one unit expanded (the legend's
first example, so a cluster inside a cluster), and fully expanded (every
network up to `ALL_MAX` layers: ResNet-50, GoogLeNet, DenseNet-121 and the
rest). Each picture is drawn once per module (`picture`).

Text boxes are estimated from the font size and the number of characters
(Helvetica's average width), so the text checks allow a point of slack.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import archlang
from archlang.backends.diagram.fold import has_layers
from archlang.backends.diagram.layout import find_dot
from archlang.backends.diagram.skips import merges

SPECS = Path(__file__).resolve().parents[1] / "specs"
SPEC_NAMES = sorted(p.stem for p in SPECS.glob("*.arch"))
ALL_MAX = 450  # layers: networks up to this size are checked fully expanded too
CHAR_WIDTH = 0.5  # average character width, in font sizes (Helvetica, mixed case and digits)
SLACK = 1.0  # points that two boxes may touch by before they count as overlapping
STRAIGHT = 2.0  # points an edge of the main path may drift sideways (graphviz rounds to whole points)

try:
    find_dot()
except Exception:  # noqa: BLE001 - no graphviz: the geometry cannot be read
    pytest.skip("graphviz's dot is not installed", allow_module_level=True)


# ---- reading the SVG --------------------------------------------------------------------------

NUM = r"-?\d+(?:\.\d+)?"


class Rect:
    __slots__ = ("x0", "y0", "x1", "y1", "what")

    def __init__(self, x0, y0, x1, y1, what=""):
        self.x0, self.y0, self.x1, self.y1, self.what = x0, y0, x1, y1, what

    def contains(self, x, y, inset=SLACK) -> bool:
        return self.x0 + inset < x < self.x1 - inset and self.y0 + inset < y < self.y1 - inset

    def overlaps(self, other, inset=SLACK) -> bool:
        return (min(self.x1, other.x1) - max(self.x0, other.x0) > inset
                and min(self.y1, other.y1) - max(self.y0, other.y0) > inset)

    def __repr__(self):
        return f"{self.what!r}@({self.x0:.0f},{self.y0:.0f})-({self.x1:.0f},{self.y1:.0f})"


def _points(text: str) -> list[tuple[float, float]]:
    nums = [float(v) for v in re.findall(NUM, text)]
    return list(zip(nums[0::2], nums[1::2]))


SVG = "{http://www.w3.org/2000/svg}"


def _shape_rect(group, what: str) -> Rect | None:
    pts = []
    for el in group.iter():
        tag = el.tag.replace(SVG, "")
        if tag == "polygon":
            pts += _points(el.get("points"))
        elif tag == "path":
            pts += _points(el.get("d"))
        elif tag == "ellipse":
            cx, cy, rx, ry = (float(el.get(k)) for k in ("cx", "cy", "rx", "ry"))
            pts += [(cx - rx, cy - ry), (cx + rx, cy + ry)]
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return Rect(min(xs), min(ys), max(xs), max(ys), what)


def _texts(group, what: str) -> list[Rect]:
    out = []
    for el in group.iter(f"{SVG}text"):
        content = "".join(el.itertext()).replace("\xa0", " ").strip()
        if not content:
            continue
        x, y, size = float(el.get("x")), float(el.get("y")), float(el.get("font-size"))
        bold = el.get("font-weight") == "bold" or any(c.get("font-weight") == "bold" for c in el)
        width = len(content) * size * CHAR_WIDTH * (1.08 if bold else 1.0)
        x0 = {"start": x, "middle": x - width / 2, "end": x - width}[el.get("text-anchor", "start")]
        out.append(Rect(x0, y - 0.75 * size, x0 + width, y + 0.22 * size, f"{what}: {content}"))
    return out


def _bezier(d: str, per_segment: int = 12) -> list[tuple[float, float]]:
    pts = _points(d)
    if not pts:
        return []
    out = [pts[0]]
    for k in range(1, len(pts) - 2, 3):
        p0, p1, p2, p3 = pts[k - 1], pts[k], pts[k + 1], pts[k + 2]
        for i in range(1, per_segment + 1):
            t = i / per_segment
            a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]))
    return out


def _title_box(texts: list[Rect]) -> Rect:
    return Rect(min(t.x0 for t in texts), min(t.y0 for t in texts), max(t.x1 for t in texts),
                max(t.y1 for t in texts), " ".join(t.what for t in texts))


class Picture:
    """Nodes, clusters, edges and texts of one SVG, in the SVG's own coordinates."""

    def __init__(self, svg: str, diagram):
        self.diagram, self.svg = diagram, svg
        self.nodes: dict[str, Rect] = {}
        self.node_texts: dict[str, list[Rect]] = {}
        self.cluster_titles: list[list[Rect]] = []  # per cluster, the texts of its title
        self.edges: list[tuple[str, str, list, list[Rect]]] = []
        root = ET.fromstring(svg)
        for g in root.iter(f"{SVG}g"):
            kind = g.get("class")
            if kind not in ("node", "edge", "cluster"):
                continue
            title = g.find(f"{SVG}title").text or ""
            if kind == "node":
                shapes = ET.Element("g")
                shapes.extend(el for el in g.iter() if el.tag.replace(SVG, "") in ("polygon", "path", "ellipse"))
                shape = _shape_rect(shapes, title)
                if shape is not None:
                    self.nodes[title] = shape
                self.node_texts[title] = _texts(g, title)
            elif kind == "cluster":
                self.cluster_titles.append(_texts(g, f"cluster {title}"))
            else:
                src, _, dst = title.partition("->")
                path = next((el for el in g.iter(f"{SVG}path")), None)
                self.edges.append((src, dst, _bezier(path.get("d")) if path is not None else [],
                                   _texts(g, f"edge {title}")))


@functools.lru_cache(maxsize=None)
def network(name: str):
    return archlang.load(SPECS / f"{name}.arch")


def _one_unit(name: str) -> str:
    d = network(name).render()
    if d.view.legend:
        return d.view.legend[0].example
    boxes = [b for b in d.view.boxes if b.expandable]
    return max(boxes, key=lambda b: b.layers).path if boxes else ""


@functools.lru_cache(maxsize=None)
def picture(name: str, which: str) -> Picture:
    expand = {"overview": [], "unit": [_one_unit(name)], "all": ["all"]}[which]
    d = network(name).render(expand=[e for e in expand if e])
    return Picture(d.svg(), d)


CASES = [(n, w) for n in SPEC_NAMES for w in ("overview", "unit", "all")
         if w != "all" or len(network(n).nodes) <= ALL_MAX]


# ---- the checks -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, which", CASES)
def test_no_edge_passes_through_a_box_or_a_cluster_title(name, which):
    pic = picture(name, which)
    bad = []
    for src, dst, points, _ in pic.edges:
        for node, rect in pic.nodes.items():
            if node in (src, dst):
                continue
            hit = next((p for p in points if rect.contains(*p)), None)
            if hit:
                bad.append(f"{src}->{dst} through box {rect}")
        for label in [_title_box(t) for t in pic.cluster_titles if t]:
            if any(label.contains(*p) for p in points):
                bad.append(f"{src}->{dst} through {label}")
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("name, which", CASES)
def test_no_text_overlaps_other_text(name, which):
    pic = picture(name, which)
    groups = [texts for texts in pic.node_texts.values()] + [e[3] for e in pic.edges] + pic.cluster_titles
    flat = [(k, t) for k, texts in enumerate(groups) for t in texts]
    bad = [f"{a} overlaps {b}" for i, (ka, a) in enumerate(flat) for kb, b in flat[i + 1:]
           if ka != kb and a.overlaps(b)]
    # ... and no box covers the text of an edge or a cluster title
    for texts in [e[3] for e in pic.edges] + pic.cluster_titles:
        for t in texts:
            bad += [f"{t} under box {r}" for r in pic.nodes.values() if r.overlaps(t)]
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("name, which", CASES)
def test_the_main_path_is_straight(name, which):
    """A chain (one edge out of one box, into a box with one edge in) is a vertical line in TB."""
    pic = picture(name, which)
    view = pic.diagram.view
    outs, ins = {}, {}
    for e in view.edges:
        outs[e.src] = outs.get(e.src, 0) + 1
        ins[e.dst] = ins.get(e.dst, 0) + 1
    chain = {(e.src, e.dst) for e in view.edges if outs[e.src] == 1 and ins[e.dst] == 1}
    bad = []
    for src, dst, points, _ in pic.edges:
        if (src, dst) in chain and points:
            xs = [p[0] for p in points]
            if max(xs) - min(xs) > STRAIGHT:
                bad.append(f"{src}->{dst} bends by {max(xs) - min(xs):.1f} pt")
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("name, which", CASES)
def test_branches_stand_left_to_right_in_spec_order(name, which):
    pic = picture(name, which)
    d = pic.diagram
    rep = d.view.represent
    bad = []
    for node, branches, _ in merges(d.net):
        if rep.get(node.id) not in pic.nodes:
            continue
        xs = []
        for i, branch in zip(node.inputs, branches):
            src = rep[i]
            if not has_layers(branch):  # an identity: an edge from upstream, wherever that stands
                continue
            if src == rep[node.id] or src not in pic.nodes:
                continue
            xs.append((pic.nodes[src].x0 + pic.nodes[src].x1) / 2)
        if len(set(xs)) == len(xs) and xs != sorted(xs):
            bad.append(f"{node.path}: branch ends at x = {[round(x) for x in xs]}")
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "densenet121", "resnet18"])
def test_the_legend_stands_beside_the_chain_in_letter_order(name):
    svg = picture(name, "overview").svg
    lefts = dict((m.group(1), _points(re.search(r'(?:d|points)="([^"]+)"', m.group(2)).group(1))[0][0])
                 for m in re.finditer(r'<g id="u:([A-Z])" class="cluster">(.*?)</g>', svg, re.S))
    lefts = [lefts[k] for k in sorted(lefts)]
    pic = picture(name, "overview")
    chain_right = max(r.x1 for n, r in pic.nodes.items() if n.startswith("n"))
    assert len(lefts) == 2 and lefts == sorted(lefts) and min(lefts) > chain_right
