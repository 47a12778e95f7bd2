"""The examples in docs/language.md and README.md are real: each spec snippet parses,
and each complete network elaborates."""

import re
from pathlib import Path

import pytest

import archlang
from archlang.syntax.parser import parse

ROOT = Path(__file__).parents[1]


def snippets():
    for doc in ("docs/language.md", "README.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        # Fences pair up line by line: a ```text or ```python block is skipped, not misread as an end.
        blocks = [block for info, block in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M) if not info]
        for i, block in enumerate(blocks):
            first = next((ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")), "")
            if first.split(" ")[0] in ("network", "block"):
                yield pytest.param(block, id=f"{doc}:{i}")


@pytest.mark.parametrize("block", list(snippets()))
def test_snippet(block):
    module = parse(block, "snippet.arch")
    if any(type(item).__name__ == "NetworkDef" for item in module.items):
        net = archlang.load(block)
        assert net.params >= 0 and net.output_shape


def test_feature_tour_spec():
    net = archlang.load(ROOT / "tests" / "specs" / "features.arch")
    assert net.output_shape == (8, 8, 8)
    assert archlang.load(ROOT / "tests" / "specs" / "features.arch", pool=True).output_shape == (8, 4, 4)
