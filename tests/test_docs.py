"""The examples in docs/language.md and README.md are real: each spec snippet parses,
and each complete network elaborates."""

import re
from pathlib import Path

import pytest

import archlang
from archlang.syntax.parser import parse

ROOT = Path(__file__).parents[1]


def fenced(text: str):
    """The code blocks of a Markdown text without a language tag (tagged ones, ```text, are
    outlines and transcripts), indented ones (inside a list) included."""
    block, indent = None, ""
    for line in text.splitlines():
        fence = re.match(r"( *)```(\S*)\s*$", line)
        if block is None and fence:
            block, indent, tagged = [], fence.group(1), bool(fence.group(2))
        elif block is not None and fence:
            if not tagged:
                yield "\n".join(block) + "\n"
            block = None
        elif block is not None:
            block.append(line.removeprefix(indent))


def snippets():
    for doc in ("docs/language.md", "README.md"):
        for i, block in enumerate(fenced((ROOT / doc).read_text(encoding="utf-8"))):
            first = next((ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")), "")
            if first.split(" ")[0] in ("network", "block", "let"):
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
