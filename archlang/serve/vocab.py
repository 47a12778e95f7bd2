"""The words the editor highlights and completes, read from the language itself:
keywords from the grammar's terminals, layers (with their signatures) from the
registry, functions from the evaluator. A new keyword or layer type reaches the
page with no change here or in the page's script.

>>> words = vocabulary()
>>> "network" in words["keywords"], "conv" in words["layers"], "min" in words["functions"]
(True, True, True)
>>> words["layers"]["conv"]["signature"].startswith("conv(out_channels, kernel_size=3")
True
"""

from __future__ import annotations

from archlang.ir.evaluate import SHAPE_ATTRS, BUILTINS
from archlang.layers import REGISTRY
from archlang.layers.base import fmt_value
from archlang.syntax.parser import _parser

def keywords() -> tuple[list[str], list[str]]:
    """(keywords, constants): the grammar's word terminals; case-insensitive ones (true, false) are constants."""
    words, constants = [], []
    for terminal in _parser().terminals:
        pattern = terminal.pattern
        if pattern.type == "str" and pattern.value.isalpha():
            (constants if "i" in pattern.flags else words).append(pattern.value)
    return sorted(words), sorted(constants)


def signature(cls) -> str:
    parts = []
    for key, field in cls.Args.model_fields.items():
        parts.append(key if field.is_required() else f"{key}={fmt_value(field.default)}")
    return f"{cls.name}({', '.join(parts)})" if parts else cls.name


def vocabulary() -> dict:
    words, constants = keywords()
    layers = {}
    for name, cls in REGISTRY.items():
        layers[name] = {"signature": signature(cls), "family": cls.family, "doc": cls.doc,
                        "alias_of": cls.name if name != cls.name else None}
    return {"keywords": words, "constants": constants, "layers": layers, "functions": sorted(BUILTINS),
            "shape_fields": [*SHAPE_ATTRS, "shape"]}  # what `in.` offers
