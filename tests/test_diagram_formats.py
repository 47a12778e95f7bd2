"""Diagram output: every spec in every format, golden DOT and JSON files, the
feature-map picture, and what happens without graphviz or past its time limit.

Golden files live in tests/golden/diagrams/. After a reviewed change to a spec
or to the drawing, regenerate them and read the diff:

    ARCHLANG_REGEN=1 .venv/bin/python -m pytest tests/test_diagram_formats.py
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import archlang
from archlang.backends.diagram import html as html_module
from archlang.backends.diagram import layout as layout_module
from archlang.errors import ArchError

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
SPEC_FILES = sorted(SPECS.glob("*.arch"))
GOLDEN = Path(__file__).resolve().parent / "golden" / "diagrams"
REGEN = bool(os.environ.get("ARCHLANG_REGEN"))
FORMATS = ["svg", "png", "pdf", "dot", "json", "html"]
MAGIC = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF", "dot": b"digraph", "json": b"{",
         "html": b"<!DOCTYPE html>"}
LAYERS_GOLDEN_MAX = 100  # the every-layer view has golden files for networks up to this many layers

CASES = [(p, view, {"view": view}) for p in SPEC_FILES for view in ("overview", "blocks")]
CASES += [(p, "layers", {"view": "layers"}) for p in SPEC_FILES if
          len(archlang.load(p).nodes) <= LAYERS_GOLDEN_MAX]
CASES += [(SPECS / "resnet50.arch", "expand-layer3.bottleneck2", {"expand": ["layer3.bottleneck2"]}),
          (SPECS / "densenet121.arch", "expand-features.denseblock1", {"expand": ["features.denseblock1"]})]


def check_golden(name: str, actual: str) -> None:
    fixture = GOLDEN / name
    if REGEN:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        fixture.write_text(actual, encoding="utf-8")
    assert fixture.exists(), f"no golden file {name}: run ARCHLANG_REGEN=1 pytest {Path(__file__).name}"
    expected = fixture.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(list(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden",
                                                 "now", n=1))[:40])
        pytest.fail(f"{name} differs from its golden file (ARCHLANG_REGEN=1 to accept):\n{diff}")


@pytest.mark.parametrize("path, view, options", CASES, ids=[f"{p.stem}-{v}" for p, v, _ in CASES])
def test_golden_dot_and_json(path, view, options):
    d = archlang.load(path).render(**options)
    check_golden(f"{path.stem}.{view}.dot", d.dot)
    check_golden(f"{path.stem}.{view}.json", d.to_json())
    json.loads(d.to_json())


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_every_spec_renders_in_every_format(path, tmp_path, monkeypatch):
    monkeypatch.setattr(html_module, "MAX_STATES", 6)  # the full page is tested in test_diagram_html.py
    d = archlang.load(path).render()
    for fmt in FORMATS:
        out = d.save(tmp_path / f"net.{fmt}")
        assert out.read_bytes().startswith(MAGIC[fmt]), fmt


def test_svg_text_stays_readable_at_natural_size():
    svg = archlang.load(SPECS / "densenet201.arch").render(view="layers").svg()
    width, height = (float(x) for x in re.search(r'width="([0-9.]+)pt" height="([0-9.]+)pt"', svg).groups())
    assert height > 10_000  # a big network makes a big picture ...
    assert min(float(s) for s in re.findall(r'font-size="([0-9.]+)"', svg)) >= 8  # ... with readable text
    assert 'viewBox="0.00 0.00 ' in svg and f"{width:.2f}" in svg.split("viewBox")[1][:40]


def test_format_from_extension_or_flag(tmp_path):
    d = archlang.load(SPECS / "lenet5.arch").render()
    assert d.save(tmp_path / "a.gv").read_text().startswith("digraph")
    assert d.save(tmp_path / "b.txt", format="json").read_text().startswith("{")
    with pytest.raises(ArchError) as e:
        d.save(tmp_path / "c.bmp")
    assert e.value.code == "E713" and ".svg" in e.value.hint


# ---- without graphviz ----------------------------------------------------------------------

def test_missing_dot_is_a_clear_error_and_dot_json_still_work(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    d = archlang.load(SPECS / "resnet18.arch").render()
    with pytest.raises(ArchError) as e:
        d.save(tmp_path / "x.svg")
    assert e.value.code == "E711" and "not installed" in e.value.message and "apt-get install graphviz" in e.value.hint
    assert d.save(tmp_path / "x.dot").read_text().startswith("digraph")
    assert json.loads(d.save(tmp_path / "x.json").read_text())["network"] == "ResNet18"
    assert "not installed" in d._repr_mimebundle_()["text/plain"]  # a notebook says why, no traceback


def test_missing_dot_from_the_command_line(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}
    run = [sys.executable, "-m", "archlang", "render", str(SPECS / "lenet5.arch"), "-o"]
    result = subprocess.run(run + [str(tmp_path / "x.png")], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "error[E711]" in result.stderr and "Traceback" not in result.stderr
    assert "install graphviz" in result.stderr
    result = subprocess.run(run + [str(tmp_path / "x.dot")], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and (tmp_path / "x.dot").exists()


# ---- time limit ----------------------------------------------------------------------------

def test_a_slow_layout_falls_back_to_a_cheap_one_with_a_warning(monkeypatch, capsys):
    real = layout_module.run_dot

    def slow_unless_cheap(source, fmt, timeout, engine_args=()):
        if 'splines="line"' not in source:
            raise subprocess.TimeoutExpired("dot", timeout)
        return real(source, fmt, timeout, engine_args)

    monkeypatch.setattr(layout_module, "run_dot", slow_unless_cheap)
    d = archlang.load(SPECS / "resnet18.arch").render(view="layers", timeout=5)
    assert d.svg().startswith("<?xml")
    assert "cheaper layout" in capsys.readouterr().err and d.notes


def test_a_layout_that_never_finishes_is_an_error_not_a_hang(monkeypatch):
    def never(source, fmt, timeout, engine_args=()):
        raise subprocess.TimeoutExpired("dot", timeout)

    monkeypatch.setattr(layout_module, "run_dot", never)
    with pytest.raises(ArchError) as e:
        archlang.load(SPECS / "lenet5.arch").render(timeout=0.5).svg()
    assert e.value.code == "E712" and "ARCHLANG_DOT_TIMEOUT" in e.value.hint


def test_the_real_time_limit_stops_dot():
    with pytest.raises(ArchError) as e:
        archlang.load(SPECS / "densenet121.arch").render(view="layers", timeout=0.001).svg()
    assert e.value.code == "E712"


# ---- feature maps --------------------------------------------------------------------------

def test_feature_maps_of_lenet(tmp_path):
    fm = archlang.load(SPECS / "lenet5.arch").render(style="feature-maps")
    shapes = [m["shape"] for m in fm.to_dict()["maps"]]
    assert shapes == [[1, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 5, 5], [120], [84], [10]]
    assert [m["op"] for m in fm.to_dict()["maps"]][1:3] == ["conv 5×5 + sigmoid", "avgpool 2×2 /2"]
    svg = fm.svg()
    assert svg.startswith("<svg") and "16×5×5" in svg and not fm.notes
    assert min(float(s) for s in re.findall(r'font-size="([0-9.]+)"', svg)) >= 8 * 96 / 72
    for fmt in ("svg", "png", "pdf", "json", "html"):
        assert fm.save(tmp_path / f"f.{fmt}").read_bytes().startswith(MAGIC[fmt] if fmt != "svg" else b"<svg")
    with pytest.raises(ArchError):
        fm.save(tmp_path / "f.dot")
    check_golden("lenet5.feature-maps.json", fm.data("json").decode())


def test_feature_maps_say_which_part_of_a_branching_network_they_draw(capsys):
    fm = archlang.load(SPECS / "resnet18.arch").render(style="feature-maps")
    assert fm.notes and "main path" in fm.notes[0] and "8 merges" in fm.notes[0]
    assert "main path" in fm.svg() and "main path" in capsys.readouterr().err
    captions = [m["caption"] for m in fm.to_dict()["maps"]]
    assert captions[:4] == ["input", "conv1", "maxpool1", "layer1.basic1"] and "layer4.basic2" in captions
    # each of the 8 merges arcs from the map its shortcut forks off to the map it ends in
    skips = fm.to_dict()["skips"]
    assert len(skips) == 8 and skips[0] == [2, 4] and all(a < b for a, b in skips)


def test_feature_maps_stack_the_branches_of_a_concatenation():
    fm = archlang.load(SPECS / "googlenet.arch").render(style="feature-maps")
    joined = [m for m in fm.to_dict()["maps"] if m["family"] == "merge"]
    # each inception block's output: its four branches' channels, in the spec's order, named by the block
    assert len(joined) == 9 and all(sum(m["parts"]) == m["shape"][0] for m in joined)
    assert (joined[0]["parts"], joined[0]["op"], joined[0]["caption"]) == ([64, 128, 32, 32], "concat 64+128+32+32",
                                                                           "inception3a")
    assert "one slice each" in fm.notes[0]
    # the slices: one front face per branch, side by side across the map's thickness
    box = next(b for b in _boxes(fm) if b.map.caption() == "inception3a")
    fronts = [s[1] for s in fm.canvas().shapes if s[0] == "poly" and len(s[1]) == 4 and s[1][0][1] == round(box.y, 1)
              and s[1][2][1] == round(box.y + box.h, 1) and box.x - 0.1 <= s[1][0][0] < s[1][1][0] <= box.x + box.t + 0.1]
    assert len(fronts) == 4 and [f[0][0] for f in fronts] == sorted(f[0][0] for f in fronts)
    # an add keeps one map and no slices
    assert not any("parts" in m for m in archlang.load(SPECS / "resnet18.arch").render(style="feature-maps").to_dict()["maps"])


def _boxes(fm):
    from archlang.backends.diagram import fmdraw

    seen = []
    real = fmdraw._Box.__init__

    def spy(self, m, tops):
        real(self, m, tops)
        seen.append(self)

    fmdraw._Box.__init__ = spy
    try:
        fm._canvas = None
        fm.canvas()
    finally:
        fmdraw._Box.__init__ = real
    return seen


def test_feature_maps_draw_every_skip_even_across_a_row_break():
    fm = archlang.load(SPECS / "resnet50.arch").render(style="feature-maps")
    boxes, theme = _boxes(fm), fm.theme
    crossing = [(a, b) for a, b in fm.skips if boxes[a].row != boxes[b].row]
    assert crossing and len(fm.skips) == 16
    arcs = [s for s in fm.canvas().shapes if s[0] == "line" and s[3] == theme.highlight]
    # each arc: 20 segments; one that crosses a row break is two halves (leaving, entering) and one arrowhead
    assert len(arcs) == 20 * len(fm.skips) + 20 * len(crossing) + 2 * len(fm.skips)
    for a, b in crossing:  # the half that enters b's row starts at the page's left margin and ends on b
        top = (round(boxes[b].x + boxes[b].span / 2, 1), round(boxes[b].y + boxes[b].dy, 1))
        assert any(s[2] == top for s in arcs) and any(s[1][0] == 20.0 and abs(s[1][1] - top[1]) < 200 for s in arcs)
    # both halves of a crossing skip bear one letter: at the row's right end and at the next row's left margin
    marks = [s[3] for s in fm.canvas().shapes if s[0] == "text" and s[4] == theme.highlight]
    assert sorted(marks) == sorted([chr(ord("a") + k) for k in range(len(crossing))] * 2)


def test_feature_maps_fold_repeated_convolutions_and_fit_a_page():
    fm = archlang.load(SPECS / "vgg16.arch").render(style="feature-maps")
    maps = fm.to_dict()["maps"]
    assert [(m["op"], m["caption"]) for m in maps[1:3]] == [("conv 3×3 + relu ×2", "conv1 … conv2"),
                                                           ("maxpool 2×2 /2", "maxpool1")]
    width = float(re.search(r'width="([0-9.]+)"', fm.svg()).group(1))
    assert width <= 1700  # rows wrap instead of one 4,000 px strip
    lenet = archlang.load(SPECS / "lenet5.arch").render(style="feature-maps").svg()
    # fc columns: each caption centred in its own slot, none overlapping the next
    xs = [float(x) for x, t in re.findall(r'<text x="([0-9.]+)"[^>]*>(fc\d)</text>', lenet)]
    assert len(xs) == 3 and all(b - a >= 40 for a, b in zip(xs, xs[1:]))


def test_a_view_too_big_for_a_bitmap_is_refused_not_shrunk(tmp_path):
    d = archlang.load(SPECS / "resnet152.arch").render(view="layers")
    with pytest.raises(ArchError) as e:
        d.save(tmp_path / "all.png")
    assert e.value.code == "E712" and "unreadable" in e.value.message and ".svg" in e.value.hint


def test_the_readme_pictures(tmp_path, capsys):
    from archlang.backends.diagram.docs import PICTURES, main

    assert main(["--out", str(tmp_path), "--gallery", ""]) == 0
    for _, name, _ in PICTURES:
        assert (tmp_path / name).read_text().lstrip().startswith(("<?xml", "<svg"))
    assert {"lenet5.svg", "vgg16.svg", "resnet50.svg"} <= {p.name for p in tmp_path.iterdir()}


def test_the_gallery_draws_every_spec(tmp_path):
    from archlang.backends.diagram.docs import gallery

    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("lenet5", "pattern"):
        (specs / f"{name}.arch").write_text((SPECS / f"{name}.arch").read_text())
    page = gallery(specs, tmp_path / "img" / "gallery", tmp_path / "gallery.md")
    text = page.read_text()
    assert "## lenet5" in text and "![lenet5](img/gallery/lenet5.svg)" in text
    assert "img/gallery/pattern-feature-maps.svg" in text  # a chain: its feature maps too
    assert (tmp_path / "img" / "gallery" / "lenet5.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_the_gallery_draws_feature_maps_where_they_read_well():
    from archlang.backends.diagram.docs import _feature_maps_read_well

    def reads_well(name):
        return _feature_maps_read_well(archlang.load(SPECS / f"{name}.arch"))

    # a chain, skips as arcs, an Inception network's few concatenations as stacked slices
    assert reads_well("vgg11") and reads_well("resnet18") and reads_well("googlenet")
    # not: DenseNet's 58 concatenations, nor U-Net, whose recursion gives every map its outermost name
    assert not reads_well("densenet121") and not reads_well("unet")
