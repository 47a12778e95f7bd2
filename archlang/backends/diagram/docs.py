"""The README's pictures: `python -m archlang.backends.diagram.docs [--out docs/img]`.

Draws the overview of LeNet-5, VGG-16 and ResNet-50 (SVG, light theme) and
LeNet-5's feature maps; `make docs` runs it. Graphviz's `dot` is needed.
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
    args = parser.parse_args(argv)
    try:
        for spec, name, options in PICTURES:
            path = archlang.load(args.specs / spec).render(**options).save(args.out / name)
            print(f"wrote {_shown(path)}")
    except ArchError as e:
        print(e.format(), file=sys.stderr)
        return 1
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
