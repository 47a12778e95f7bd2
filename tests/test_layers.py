"""Every layer in the registry: an example use, its shape and parameter rules,
and a description that reads back as the same layer."""

import pytest

import archlang
from archlang.layers import REGISTRY

# layer -> (call, input shape, expected output shape, expected params)
EXAMPLES = {
    "input": ("input(3, 16, 16)", None, (3, 16, 16), 0),
    "conv": ("conv(8, 3, stride = 2, groups = 1)", (4, 16, 16), (8, 8, 8), 8 * 4 * 9 + 8),
    "bn": ("bn", (4, 16, 16), (4, 16, 16), 8),
    "lrn": ("lrn(5, alpha = 0.0001, beta = 0.75, k = 2)", (4, 16, 16), (4, 16, 16), 0),
    "relu": ("relu", (4, 16, 16), (4, 16, 16), 0),
    "relu6": ("relu6", (4, 16, 16), (4, 16, 16), 0),
    "leaky_relu": ("leaky_relu(0.2)", (4, 16, 16), (4, 16, 16), 0),
    "elu": ("elu(alpha = 0.5)", (4, 16, 16), (4, 16, 16), 0),
    "gelu": ('gelu(approximate = "tanh")', (4, 16, 16), (4, 16, 16), 0),
    "silu": ("silu", (4, 16, 16), (4, 16, 16), 0),
    "hardswish": ("hardswish", (4, 16, 16), (4, 16, 16), 0),
    "hardsigmoid": ("hardsigmoid", (4, 16, 16), (4, 16, 16), 0),
    "sigmoid": ("sigmoid", (4, 16, 16), (4, 16, 16), 0),
    "tanh": ("tanh", (4, 16, 16), (4, 16, 16), 0),
    "softmax": ("softmax", (10,), (10,), 0),
    "log_softmax": ("log_softmax(1)", (10,), (10,), 0),
    "maxpool": ("maxpool(3, stride = 2, padding = 1, ceil_mode = true)", (4, 16, 16), (4, 9, 9), 0),
    "avgpool": ("avgpool(2)", (4, 16, 16), (4, 8, 8), 0),
    "adaptive_avgpool": ("adaptive_avgpool(7)", (4, 16, 16), (4, 7, 7), 0),
    "adaptive_maxpool": ("adaptive_maxpool([2, 3])", (4, 16, 16), (4, 2, 3), 0),
    "global_avgpool": ("global_avgpool", (4, 16, 16), (4, 1, 1), 0),
    "global_maxpool": ("global_maxpool", (4, 16, 16), (4, 1, 1), 0),
    "dropout": ("dropout(0.2)", (4, 16, 16), (4, 16, 16), 0),
    "flatten": ("flatten", (4, 16, 16), (1024,), 0),
    "fc": ("fc(10)", (64,), (10,), 650),
    "identity": ("identity", (4, 16, 16), (4, 16, 16), 0),
    "channel_shuffle": ("channel_shuffle(2)", (4, 16, 16), (4, 16, 16), 0),
    "chunk": ("chunk(2, 1)", (4, 16, 16), (2, 16, 16), 0),
    "add": ("add(identity, conv(4))", (4, 16, 16), (4, 16, 16), 4 * 4 * 9 + 4),
    "concat": ("concat(identity, conv(4))", (4, 16, 16), (8, 16, 16), 4 * 4 * 9 + 4),
    "mul": ("mul(identity, global_avgpool)", (4, 16, 16), (4, 16, 16), 0),
    "layernorm": ("layernorm(eps = 1e-6)", (4, 16, 16), (4, 16, 16), 8),
    "groupnorm": ("groupnorm(2, affine = false)", (4, 16, 16), (4, 16, 16), 0),
    "instancenorm": ("instancenorm(affine = true)", (4, 16, 16), (4, 16, 16), 8),
    "layer_scale": ("layer_scale(0.1)", (4, 16, 16), (4, 16, 16), 4),
    "drop_path": ('drop_path(0.2, mode = "batch")', (4, 16, 16), (4, 16, 16), 0),
    "prelu": ("prelu(4, init = 0.1)", (4, 16, 16), (4, 16, 16), 4),
    "dropout2d": ("dropout2d(0.1)", (4, 16, 16), (4, 16, 16), 0),
    "conv_transpose": ("conv_transpose(8, 3, stride = 2, padding = 1, output_padding = 1, groups = 2)",
                       (4, 16, 16), (8, 32, 32), 4 * 4 * 9 + 8),
    "upsample": ('upsample(size = [20, 24], mode = "bilinear", align_corners = true)', (4, 16, 16), (4, 20, 24), 0),
    "pixel_shuffle": ("pixel_shuffle(2)", (4, 16, 16), (1, 32, 32), 0),
    "crop": ("crop([9, 12])", (4, 16, 16), (4, 9, 12), 0),
    "reshape": ("reshape(-1, 8, 8)", (4, 16, 16), (16, 8, 8), 0),
}
LAYERS = sorted({cls.name for cls in REGISTRY.values()})


def spec_for(call: str, shape) -> str:
    if shape is None:
        return f"network T:\n  {call}\n"
    return f"network T:\n  input({', '.join(map(str, shape))}) -> {call}\n"


def test_every_layer_has_an_example():
    assert set(LAYERS) == set(EXAMPLES)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_shape_and_params(name):
    call, shape, out, params = EXAMPLES[name]
    net = archlang.load(spec_for(call, shape))
    assert net.output_shape == out
    assert net.params == params


@pytest.mark.parametrize("name", [n for n in LAYERS if not REGISTRY[n].many_inputs and n != "identity"])
def test_description_reads_back_as_the_same_layer(name):
    call, shape, _, _ = EXAMPLES[name]
    layer = archlang.load(spec_for(call, shape)).nodes[-1].layer
    again = archlang.load(spec_for(layer.describe().replace("=", " = "), shape)).nodes[-1].layer
    assert again.args == layer.args


@pytest.mark.parametrize("alias,name", sorted((a, c.name) for a, c in REGISTRY.items() if a != c.name))
def test_aliases_resolve_case_insensitively(alias, name):
    from archlang.layers import lookup

    assert lookup(alias.upper()).name == name


def test_docs_name_every_layer():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "language.md").read_text()
    missing = [n for n in LAYERS if f"`{n}" not in text]
    assert not missing
