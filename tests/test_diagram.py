"""Diagrams: what each view shows (boxes, folds, clusters, edges), how options
change it, and the API (`Network.render`, `Diagram`, Jupyter display).

Formats, golden files and the missing-`dot` error are in test_diagram_formats.py;
the HTML page in a real browser in test_diagram_html.py.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

import archlang
from archlang.backends.diagram.style import FAMILIES, MIN_POINTS
from archlang.errors import ArchError
from archlang.layers import REGISTRY

SPECS = Path(__file__).resolve().parents[1] / "specs"
SPEC_FILES = sorted(SPECS.glob("*.arch"))
TORCHVISION = [p for p in SPEC_FILES if p.stem.rstrip("0123456789") in ("alexnet", "vgg", "resnet", "densenet",
                                                                         "googlenet")]

# A small DenseNet-like network: dense layers concatenate their input with new channels.
DENSE = """
block dense_layer(k) = concat(identity, bn -> relu -> conv(4 * k, 1) -> bn -> relu -> conv(k, 3))
network Dense(n = 12):
    input(3, 32, 32) -> conv(16) -> block1: [dense_layer(8)] * n -> bn -> global_avgpool -> fc(10)
"""


@functools.lru_cache(maxsize=None)
def load(name: str, **params):
    return archlang.load(SPECS / f"{name}.arch", **params)


def boxes(diagram, kind=None):
    return [b for b in diagram.view.boxes if kind is None or b.kind == kind]


def by_path(diagram, path):
    matches = [b for b in diagram.view.boxes if b.path == path]
    assert matches, f"no box {path}; boxes: {[b.path for b in diagram.view.boxes]}"
    return matches[0]


# ---- the default view ----------------------------------------------------------------------

def test_overview_is_one_box_per_top_level_element():
    d = load("resnet50").render()
    assert [b.path for b in d.view.boxes] == ["input", "conv1", "bn1", "relu1", "maxpool1", "layer1", "layer2",
                                              "layer3", "layer4", "global_avgpool1", "flatten1", "fc", "output"]
    assert not d.view.clusters
    layer3 = by_path(d, "layer3")
    assert layer3.type == "stage(bottleneck, 256, 6, 2)" and layer3.params == 7_098_368
    assert layer3.summary == "bottleneck ×6 (first /2)"  # the first unit differs: projection and stride
    assert layer3.label == "stage(unit=bottleneck, c=256, blocks=6, stride=2)"  # parameters by name
    assert by_path(d, "layer1").summary == "bottleneck ×3 (first widens)"
    assert [by_path(d, p).label for p in ("conv1", "maxpool1", "global_avgpool1", "fc")] == [
        "7×7 conv, 64, /2", "3×3 max pool, /2", "global avg pool", "fc 1000"]
    spec = load("resnet50").render(labels="spec")
    assert by_path(spec, "conv1").label == "conv(64, 7, stride=2, padding=3, bias=false)"
    assert by_path(spec, "layer3").label == "stage(bottleneck, 256, 6, 2)"
    assert [e.shape for e in d.view.edges][:2] == [(3, 224, 224), (64, 112, 112)]


@pytest.mark.parametrize("name", ["resnet152", "densenet201"])
def test_deep_networks_fit_in_twenty_boxes(name):
    assert len(load(name).render().view.boxes) <= 20


@pytest.mark.parametrize("path", TORCHVISION, ids=[p.stem for p in TORCHVISION])
def test_every_torchvision_classifier_fits_in_forty_boxes(path):
    assert len(archlang.load(path).render().view.boxes) <= 40


def test_a_features_trunk_is_opened_in_the_overview():
    d = load("densenet121").render()
    assert [c.path for c in d.view.clusters] == ["features"]
    assert [b.path for b in d.view.boxes if b.cluster][4:6] == ["features.denseblock1", "features.transition1"]
    # ... unless the reader closes it
    closed = load("densenet121").render(collapse=["features"])
    assert not closed.view.clusters and by_path(closed, "features").kind in ("block", "group")


@pytest.mark.parametrize("name, counts", [
    ("lenet5", {"overview": (14, 13, 0), "blocks": (14, 13, 0), "layers": (14, 13, 0)}),
    ("resnet50", {"overview": (13, 12, 0), "blocks": (17, 16, 4), "layers": (177, 192, 92)}),
    ("densenet121", {"overview": (18, 17, 1), "blocks": (27, 26, 8), "layers": (429, 486, 124)}),
    ("googlenet", {"overview": (22, 21, 0), "blocks": (64, 90, 12), "layers": (199, 225, 102)}),
])
def test_box_edge_and_cluster_counts_per_view(name, counts):
    for view, expected in counts.items():
        v = load(name).render(view=view).view
        assert (len(v.boxes), len(v.edges), len(v.clusters)) == expected, view


# ---- folding repeats -----------------------------------------------------------------------

def test_identical_repetitions_fold_into_one_box():
    d = load("resnet18").render(expand=["layer1"])
    inside = [b for b in d.view.boxes if b.cluster]
    assert len(inside) == 1
    fold = inside[0]
    assert (fold.kind, fold.count, fold.name, fold.path) == ("fold", 2, "basic1 … basic2", "layer1.basic1:basic2")
    assert fold.type == "basic(64, 1, 1)" and fold.unit_params == fold.params // 2
    assert by_path(d, "layer2").summary == "basic ×2 (first /2)" and by_path(d, "layer2").type == "stage(basic, 128, 2, 2)"


def test_a_different_first_unit_is_one_plus_n_minus_one():
    d = load("resnet152").render(expand=["layer3"])
    inside = [b for b in d.view.boxes if b.cluster]
    assert [(b.path, b.kind, b.count) for b in inside] == [
        ("layer3.bottleneck1", "block", 1), ("layer3.bottleneck2:bottleneck36", "fold", 35)]
    assert inside[1].name == "bottleneck2 … bottleneck36" and inside[1].type == "bottleneck(256, 1, 1)"
    assert by_path(load("resnet152").render(), "layer3").summary == "bottleneck ×36 (first /2)"


def test_folding_compares_structure_not_input_widths():
    d = archlang.load(DENSE).render(expand=["block1"])
    (fold,) = [b for b in d.view.boxes if b.cluster]
    assert (fold.kind, fold.count, fold.type) == ("fold", 12, "dense_layer(8)")
    assert fold.unit_params == 0  # growing inputs: the units weigh differently, so no "each"
    # the textbook INPUT -> [[CONV -> RELU]*N -> POOL?]*M reads as such
    pattern = load("pattern").render()
    assert [(b.type, b.count) for b in boxes(pattern, "fold")] == [("[[conv(32, 3) → relu] ×2 → maxpool(2)]", 3)]


def test_expanding_inside_a_fold_splits_it_around_the_opened_unit():
    d = load("resnet50").render(expand=["layer3.bottleneck4"])
    inside = [(b.path, b.kind) for b in d.view.boxes if b.cluster and b.kind in ("block", "fold")]
    assert inside == [("layer3.bottleneck1", "block"), ("layer3.bottleneck2:bottleneck3", "fold"),
                      ("layer3.bottleneck5:bottleneck6", "fold")]
    assert [c.path for c in d.view.clusters] == ["layer3", "layer3.bottleneck4"]
    unfolded = load("resnet50").render(expand=["layer3.bottleneck2:bottleneck6"])
    assert [b.path for b in unfolded.view.boxes if b.cluster] == [f"layer3.bottleneck{i}" for i in range(1, 7)]


def test_a_fold_opens_by_its_range_and_nested_folds_stay_folded():
    outer = load("pattern").render(expand=["conv1:maxpool3"])
    assert [(b.path, b.kind) for b in outer.view.boxes][1:7] == [
        ("conv1:relu2", "fold"), ("maxpool1", "layer"), ("conv3:relu4", "fold"), ("maxpool2", "layer"),
        ("conv5:relu6", "fold"), ("maxpool3", "layer")]
    inner = load("pattern").render(expand=["conv3:relu4"])  # opens the middle unit of the outer fold only
    assert [b.path for b in inner.view.boxes][1:8] == ["conv1:relu2", "maxpool1", "conv3", "relu3", "conv4",
                                                       "relu4", "maxpool2"]
    assert [b.path for b in inner.view.boxes][8:10] == ["conv5:relu6", "maxpool3"]  # a unit split off alone


# ---- expand and collapse -------------------------------------------------------------------

def test_expand_opens_one_path_and_leaves_the_rest_collapsed():
    d = load("resnet50").render(expand=["layer2"])
    assert [c.path for c in d.view.clusters] == ["layer2"]
    assert {"layer1", "layer3", "layer4"} <= {b.path for b in d.view.boxes if b.kind == "block"}
    deep = load("resnet50").render(expand=["layer2.bottleneck1.skip"])
    assert [c.path for c in deep.view.clusters] == ["layer2", "layer2.bottleneck1", "layer2.bottleneck1.skip"]


def test_expand_all_shows_every_layer_and_collapse_closes_one():
    net = load("resnet50")
    everything = net.render(expand=["all"])
    assert everything.options.view == "layers"
    assert len(boxes(everything)) == len(net.nodes) + 1  # every layer, and the output
    assert {b.kind for b in everything.view.boxes} == {"input", "layer", "merge", "output"}
    closed = net.render(view="layers", collapse=["layer2"])
    assert by_path(closed, "layer2").kind == "block"
    assert len(closed.view.boxes) == len(everything.view.boxes) - sum(
        1 for n in net.nodes if n.path.startswith("layer2.")) + 1


def test_unknown_path_is_a_clear_error():
    with pytest.raises(ArchError) as e:
        load("resnet50").render(expand=["layer5"])
    assert e.value.code == "E713" and "layer5" in e.value.message and "layer" in (e.value.hint or "")
    with pytest.raises(ArchError):
        load("resnet50").render(view="everything")


# ---- branches ------------------------------------------------------------------------------

def test_merges_are_symbols_and_skips_are_dashed_edges():
    d = load("resnet18").render(expand=["layer1.basic1", "layer2.basic1"])
    merges = boxes(d, "merge")
    assert [m.type for m in merges] == ["add", "add"]
    assert 'label="+"' in d.dot
    ids = {b.path: b.id for b in d.view.boxes}
    skips = [(e.src, e.dst) for e in d.view.edges if e.skip]
    # layer1.basic1: identity skip, an edge from the block's input straight to the ⊕ (no box)
    assert (ids["maxpool1"], ids["layer1.basic1.add1"]) in skips
    # layer2.basic1: the projection branch is a box beside the main path, joined by dashed edges
    assert (ids["layer2.basic1.skip"], ids["layer2.basic1.add1"]) in skips
    assert all(not e.skip for e in d.view.edges if e.dst == ids["layer2.basic1.main"])
    main_lines = [line for line in d.dot.splitlines() if line.startswith("  n")]
    assert sum('style="dashed"' in line for line in main_lines) == len(skips)


# ---- the legend panel ----------------------------------------------------------------------

MOBILE = """
block conv_bn_relu(c, k = 1, stride = 1, groups = 1) =
    conv(c, k, stride, pad = k // 2, groups = groups, bias = false) -> bn -> relu6
block inverted(c, mid, stride = 1) =
    add(main: conv_bn_relu(mid) -> conv_bn_relu(mid, 3, stride, groups = mid) -> conv(c, 1, bias = false) -> bn,
        skip: identity)
block reduce(c, mid, stride) =
    conv_bn_relu(mid) -> conv_bn_relu(mid, 3, stride, groups = mid) -> conv(c, 1, bias = false) -> bn
network Mobile:
    input(3, 64, 64) -> stem: conv_bn_relu(32, 3, 2)
    -> down1: reduce(24, 192, 2) -> stage1: [inverted(24, 144)] * 2
    -> down2: reduce(32, 144, 2) -> stage2: [inverted(32, 192)] * 3
    -> global_avgpool -> fc(10)
"""


def legend_of(d):
    return [(u.letter, u.stem, u.example) for u in d.view.legend]


def test_the_legend_draws_each_kind_of_unit_once():
    r50 = load("resnet50").render()
    assert legend_of(r50) == [("A", "bottleneck", "layer1.bottleneck1"), ("B", "bottleneck", "layer1.bottleneck2")]
    a, b = r50.view.legend
    assert sum(e.skip for e in a.edges) == 2 and sum(e.skip for e in b.edges) == 1  # projection; identity
    assert [box.label for box in b.boxes if box.kind == "layer"][:3] == ["1×1 conv, 64 · BN", "relu",
                                                                         "3×3 conv, 64 · BN"]
    assert {box.units for box in r50.view.boxes if box.path.startswith("layer")} == {"A, B"}
    google = load("googlenet").render()
    assert [u.stem for u in google.view.legend] == ["basic_conv", "inception"]
    inception = google.view.legend[1]
    assert [box.label for box in inception.boxes if box.kind == "merge"] == ["concat"]
    merge = next(box.id for box in inception.boxes if box.kind == "merge")
    assert len([e for e in inception.edges if e.dst == merge]) == 4  # four branches
    assert [u.stem for u in load("densenet121").render().view.legend] == ["denselayer", "transition"]
    mobile = archlang.load(MOBILE).render()
    assert [u.stem for u in mobile.view.legend] == ["conv_bn_relu", "reduce", "inverted"]
    inverted = mobile.view.legend[2]
    # a box that spells out its chain (NiN's `11×11 conv, 96, /4 → ReLU → [1×1 conv, 96 → ReLU] ×2`) needs none
    assert not load("nin").render().view.legend
    assert [box.label for box in inverted.boxes if box.kind == "layer"][:2] == [
        "1×1 conv, 144 · BN · ReLU6", "3×3 dw conv, 144 · BN · ReLU6"]
    assert sum(e.skip for e in inverted.edges) == 1
    # the panel is drawn beside the chain, and not in the every-layer view
    assert "cluster_legend" in r50.dot and 'id="u:A"' in r50.dot
    assert not load("resnet50").render(view="layers").view.legend
    assert not load("resnet50").render(legend=False).view.legend


def test_concat_is_a_bar_node_and_densenet_stays_linear():
    d = archlang.load(DENSE).render(view="layers")
    merges = boxes(d, "merge")
    assert len(merges) == 12 and 'label="‖"' in d.dot
    assert sum(e.skip for e in d.view.edges) == 12  # one identity (bus) edge per dense layer
    for name in ("densenet121", "densenet201"):
        v = load(name).render(view="layers").view
        assert len(v.edges) <= 1.5 * len(v.boxes)


def test_a_fanned_out_shape_is_labelled_once():
    d = load("googlenet").render(expand=["inception3a"])
    out = [e for e in d.view.edges if e.src == by_path(d, "maxpool2").id]
    assert len(out) == 4 and sum(e.labelled for e in out) == 1


# ---- options that change the picture --------------------------------------------------------

def test_input_and_set_change_the_picture_like_the_summary():
    small = archlang.load(SPECS / "resnet50.arch", input_shape="3x64x64").render()
    assert small.view.edges[0].shape == (3, 64, 64) and "3×64×64" in small.dot
    deeper = archlang.load(SPECS / "resnet.arch", overrides={"depth": "101"}).render()
    assert by_path(deeper, "layer3").summary == "bottleneck ×23 (first /2)"


def test_rankdir_and_theme():
    d = load("lenet5").render(rankdir="LR", theme="dark")
    assert 'rankdir="LR"' in d.dot and 'bgcolor="#1b1d21"' in d.dot


def test_the_same_spec_gives_the_same_bytes():
    a = archlang.load(SPECS / "googlenet.arch").render(view="blocks")
    b = archlang.load(SPECS / "googlenet.arch").render(view="blocks")
    assert a.dot == b.dot and a.to_json() == b.to_json()


# ---- style ---------------------------------------------------------------------------------

def test_every_layer_family_has_a_style():
    families = {cls.family for cls in REGISTRY.values()}
    assert families <= set(FAMILIES), families - set(FAMILIES)


def test_a_new_layer_type_is_styled_by_its_family():
    from archlang.backends.diagram.style import THEMES, node_attrs

    conv_fill = node_attrs("layer", "conv", THEMES["light"])["fillcolor"]
    d = load("lenet5").render()
    assert by_path(d, "conv1").family == "conv" and f'fillcolor="{conv_fill}"' in d.dot
    assert node_attrs("layer", "never-declared", THEMES["light"])["fillcolor"] == FAMILIES["other"][0]


def test_text_is_never_below_eight_points_and_size_is_not_capped():
    dot = load("resnet152").render(view="layers").dot
    sizes = [float(s) for s in re.findall(r'(?:fontsize|point-size)="?([0-9.]+)', dot)]
    assert sizes and min(sizes) >= MIN_POINTS
    assert not re.search(r"\bsize=", dot.replace("fontsize", "").replace("point-size", ""))
    assert "splines=\"ortho\"" not in dot


# ---- API and notebooks ----------------------------------------------------------------------

def test_render_returns_a_displayable_object(tmp_path):
    net = load("lenet5")
    d = net.render(view="layers")
    bundle = d._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml") and "LeNet5" in bundle["text/plain"]
    assert d._repr_svg_() == bundle["image/svg+xml"]
    assert net._repr_mimebundle_()["image/svg+xml"].count("<g id=\"p:") == len(net.render().view.boxes)
    assert d.save(tmp_path / "x.svg") == tmp_path / "x.svg"


def test_the_cli_renders(tmp_path, capsys):
    from archlang.cli import main

    out = tmp_path / "r.json"
    assert main(["render", str(SPECS / "resnet50.arch"), "--expand", "layer3", "--rankdir", "LR",
                 "--set", "classes=10", "--input", "3x128x128", "-o", str(out)]) == 0
    text = out.read_text()
    assert '"path": "layer3.bottleneck1"' in text and '"shape": [10]' in text and '"rankdir": "LR"' in text
    assert main(["render", str(SPECS / "resnet50.arch"), "--expand", "nope", "-o", str(out)]) == 1
    assert "error[E713]" in capsys.readouterr().err
