"""The README's pictures and the gallery: `python -m archlang.backends.diagram.docs [--out docs/img]`.

Draws the overview of LeNet-5, VGG-16 and ResNet-50 (SVG, light theme) and
LeNet-5's feature maps; then `docs/gallery.md`: the overview of every spec
in `specs/` (and its feature maps for chains, residual and Inception-style networks) into
`docs/img/gallery/`, and for ResNet-50 and GoogLeNet the same torchvision
network drawn by torchview (a benchmark-only dependency: `pip install
'.[bench]'`) beside ours. `make docs` runs it. Graphviz's `dot` is needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import archlang
from archlang.errors import ArchError

REPO = Path(__file__).resolve().parents[3]
PICTURES = [  # (spec, output name, render options)
    ("lenet5.arch", "lenet5.svg", {}),
    ("vgg16.arch", "vgg16.svg", {}),
    ("resnet50.arch", "resnet50.svg", {}),
    ("lenet5.arch", "lenet5-feature-maps.svg", {"style": "feature-maps"}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archlang.backends.diagram.docs", description=__doc__)
    parser.add_argument("--specs", type=Path, default=REPO / "specs", help="where the specs are")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="where the SVGs go")
    parser.add_argument("--gallery", default=str(REPO / "docs" / "gallery.md"),
                        help="the gallery page (its pictures go to OUT/gallery/); '' for none")
    args = parser.parse_args(argv)
    try:
        for spec, name, options in PICTURES:
            path = archlang.load(args.specs / spec).render(**options).save(args.out / name)
            print(f"wrote {_shown(path)}")
        if args.gallery:
            path = gallery(args.specs, args.out / "gallery", Path(args.gallery))
            print(f"wrote {_shown(path)}")
    except ArchError as e:
        print(e.format(), file=sys.stderr)
        return 1
    return 0


TORCHVIEW = {"resnet50": ("resnet50", {}), "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False})}


def _feature_maps_read_well(net, most: int = 16) -> bool:
    """A chain, skips (drawn as arcs) or a few concatenations of branches (drawn as stacked slices),
    in a network that does not call itself (a recursive network's maps all bear its outermost name)."""
    from archlang.backends.diagram.skips import SIDE_MERGES, merges

    kinds = [node.type for node, _, _ in merges(net)]
    recursive = any(len(set(parts := node.path.split("."))) < len(parts) for node in net.nodes)
    return (all(k in SIDE_MERGES for k in kinds)
            or (all(k in SIDE_MERGES or k == "concat" for k in kinds) and len(kinds) <= most and not recursive))


def gallery(specs: Path, out: Path, page: Path) -> Path:
    """Every spec's overview (and its feature maps where they read well) as SVG, listed in a Markdown page."""
    out.mkdir(parents=True, exist_ok=True)
    rel = Path("img") / "gallery" if page.parent == out.parent.parent else out
    lines = ["# Gallery", "",
             "Every spec in `specs/`, drawn by `make docs` with `archlang render SPEC` (the overview: repeated",
             "units fold, and each kind of unit is drawn once, opened, in the panel beside the chain) and, for",
             "chains, residual and Inception-style networks, `--style feature-maps` (skip connections as arcs",
             "over the maps they bypass, a concatenation as the stack of its branches' maps). Labels are in the",
             "paper style",
             "(`--labels spec` writes the spec's own text).", ""]
    for spec in sorted(specs.glob("*.arch")):
        net = archlang.load(spec)
        name = spec.stem
        net.render().save(out / f"{name}.svg")
        lines += [f"## {name}", "", f"`archlang render specs/{spec.name}` — {net.name}, "
                  f"{len(net.nodes)} layers", "", f"![{name}]({rel}/{name}.svg)", ""]
        if _feature_maps_read_well(net):
            net.render(style="feature-maps").save(out / f"{name}-feature-maps.svg")
            lines += [f"![{name}, feature maps]({rel}/{name}-feature-maps.svg)", ""]
        if name in TORCHVIEW:
            drawn = _torchview(name, out / f"{name}-torchview.svg")
            lines += ([f"The same network (torchvision's `{TORCHVIEW[name][0]}`) drawn by torchview "
                       "(`draw_graph(model, input_size=(1, 3, 224, 224))`, its default depth 3), to compare:",
                       "", f"![{name} by torchview]({rel}/{name}-torchview.svg)", ""] if drawn else
                      [f"(torchview is not installed: `pip install '.[bench]'` adds its drawing here.)", ""])
    page.write_text("\n".join(lines), encoding="utf-8")
    return page


def _torchview(name: str, path: Path) -> bool:
    try:
        import torchvision
        from torchview import draw_graph
    except ImportError:
        return False
    factory, kwargs = TORCHVIEW[name]
    model = getattr(torchvision.models, factory)(weights=None, **kwargs)
    graph = draw_graph(model, input_size=(1, 3, 224, 224), device="cpu")
    path.write_bytes(graph.visual_graph.pipe(format="svg"))
    return True


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
