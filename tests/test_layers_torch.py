"""Every layer's torch module agrees with archlang's analysis: the parameter and
buffer counts, and the output shape of a real forward pass.

One small spec per registry entry, then random valid arguments (hypothesis):
whatever `archlang.load` accepts, torch runs with the shape and parameter
count the analysis predicted, and a window that archlang reports as too big
(E403) torch refuses too (or, for a transposed convolution, makes an empty map).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from archlang.layers import REGISTRY  # noqa: E402

# torch's note that an even kernel with padding="same" pads a copy of the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

# layer -> a chain using it, after `input(...)`, and the input shape
CASES = {
    "input": ("relu", (3, 8, 8)),
    "identity": ("identity", (3, 8, 8)),
    "conv": ("conv(6, 3, stride = 2, groups = 3)", (3, 9, 9)),
    "fc": ("fc(7)", (3, 4, 4)),
    "flatten": ("flatten", (3, 4, 5)),
    "dropout": ("dropout(0.3)", (3, 8, 8)),
    "bn": ("bn(eps = 0.001)", (5, 4, 4)),
    "lrn": ("lrn(3)", (6, 4, 4)),
    "maxpool": ("maxpool(3, stride = 2, padding = 1, ceil_mode = true)", (3, 10, 10)),
    "avgpool": ("avgpool(3, stride = 2, ceil_mode = true, count_include_pad = false)", (3, 10, 9)),
    "adaptive_avgpool": ("adaptive_avgpool([3, 2])", (3, 8, 7)),
    "adaptive_maxpool": ("adaptive_maxpool(3)", (3, 8, 8)),
    "global_avgpool": ("global_avgpool", (3, 5, 6)),
    "global_maxpool": ("global_maxpool", (3, 5, 6)),
    "add": ("add(a: conv(3, 1), b: identity, c: conv(3, 3))", (3, 6, 6)),
    "concat": ("concat(conv(2, 1), identity, maxpool(3, stride = 1, padding = 1))", (3, 6, 6)),
    "mul": ("mul(identity, global_avgpool -> conv(3, 1) -> sigmoid)", (3, 6, 6)),
    "channel_shuffle": ("channel_shuffle(3)", (6, 4, 4)),
    "chunk": ("chunk(3, 2)", (6, 4, 4)),
    "softmax": ("softmax", (10,)),
    "log_softmax": ("log_softmax", (10,)),
    "leaky_relu": ("leaky_relu(0.2)", (3, 4, 4)),
    "elu": ("elu(alpha = 0.5)", (3, 4, 4)),
    "gelu": ('gelu(approximate = "tanh")', (3, 4, 4)),
    "layernorm": ("layernorm(eps = 1e-6)", (5, 4, 3)),
    "groupnorm": ("groupnorm(3)", (6, 4, 4)),
    "instancenorm": ("instancenorm(affine = true, track_running_stats = true)", (3, 5, 4)),
    "layer_scale": ("layer_scale(0.5)", (3, 4, 4)),
    "drop_path": ("drop_path(0.5)", (3, 4, 4)),
    "prelu": ("prelu(3)", (3, 4, 4)),
    "dropout2d": ("dropout2d(0.3)", (3, 4, 4)),
    "conv_transpose": ("conv_transpose(6, [3, 4], stride = [2, 3], padding = 1, output_padding = [1, 2], "
                       "groups = 3, dilation = [1, 2])", (3, 5, 4)),
    "upsample": ("upsample([1.5, 2.25])", (3, 5, 4)),
    "pixel_shuffle": ("pixel_shuffle(3)", (18, 2, 3)),
    "crop": ("crop([3, 2])", (3, 6, 5)),
    "reshape": ("reshape(-1)", (3, 4, 4)),
}
LAYERS = sorted({cls.name for cls in REGISTRY.values()})  # aliases name the same class


def spec(chain: str, shape) -> str:
    return f"network T:\n  input({', '.join(map(str, shape))}) -> {chain}\n"


def check(net, batch: int = 2):
    """Build, run one batch, and compare with the analysis."""
    model = net.to_torch()
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    assert (params, buffers) == (net.params, net.buffers)
    with torch.no_grad():
        out = model(torch.randn(batch, *net.input_shape))
    assert tuple(out.shape) == (batch, *net.output_shape)
    return model


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_module_matches_analysis(layer):
    chain, shape = CASES.get(layer, (layer, (3, 8, 8)))  # argument-free activations need no entry
    net = archlang.load(spec(chain, shape))
    assert layer == "identity" or layer in {n.type for n in net.nodes}
    check(net)


def test_batch_norm_on_vectors_is_1d():
    model = check(archlang.load(spec("fc(6) -> bn", (3, 4, 4))))
    assert type(model.bn1).__name__ == "BatchNorm1d"


def test_same_padding_with_an_even_kernel():
    net = archlang.load(spec('conv(4, [2, 4], padding = "same", dilation = 2)', (3, 7, 6)))
    assert net.output_shape == (4, 7, 6)
    check(net)


# ---- random valid arguments

sizes = st.integers(1, 4) | st.tuples(st.integers(1, 4), st.integers(1, 4))


def arch(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(arch, value)) + "]"
    return repr(value).replace("'", '"')


def call(name: str, args: dict) -> str:
    return f"{name}({', '.join(f'{k} = {arch(v)}' for k, v in args.items() if v is not None)})"


@st.composite
def convs(draw):
    groups = draw(st.integers(1, 3))
    return call("conv", {
        "out_channels": groups * draw(st.integers(1, 3)),
        "kernel_size": draw(sizes),
        "stride": draw(st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3))),
        "padding": draw(st.integers(0, 2) | st.tuples(st.integers(0, 2), st.integers(0, 2)) |
                        st.sampled_from(["same", "valid"])),
        "dilation": draw(st.integers(1, 2)),
        "groups": groups,
        "bias": draw(st.booleans()),
    })


@st.composite
def pools(draw):
    name = draw(st.sampled_from(["maxpool", "avgpool"]))
    kernel = draw(sizes)
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    args = {
        "kernel_size": kernel,
        "stride": draw(st.none() | st.integers(1, 3)),
        "padding": draw(st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2))),
        "ceil_mode": draw(st.booleans()),
    }
    if name == "avgpool":
        args["count_include_pad"] = draw(st.booleans())
    return call(name, args)


@st.composite
def conv_transposes(draw):
    groups = draw(st.integers(1, 3))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    return call("conv_transpose", {
        "out_channels": groups * draw(st.integers(1, 3)),
        "kernel_size": draw(sizes),
        "stride": stride,
        "padding": draw(st.integers(0, 3) | st.tuples(st.integers(0, 3), st.integers(0, 3))),
        "output_padding": draw(st.integers(0, max(stride, dilation) - 1)),
        "groups": groups,
        "bias": draw(st.booleans()),
        "dilation": dilation,
    })


@st.composite
def upsamples(draw):
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    by_size = draw(st.booleans())
    scale = draw(st.integers(1, 3) | st.floats(0.3, 3.0).map(lambda f: round(f, 2)))
    return call("upsample", {
        "scale_factor": None if by_size else scale,
        "size": draw(sizes) if by_size else None,
        "mode": mode,
        "align_corners": draw(st.booleans()) if mode == "bilinear" else None,
    })


@st.composite
def others(draw):
    return draw(st.sampled_from([
        call("adaptive_avgpool", {"output_size": draw(sizes)}),
        call("adaptive_maxpool", {"output_size": draw(sizes)}),
        call("chunk", {"chunks": 3, "index": draw(st.integers(0, 2))}),
        call("channel_shuffle", {"groups": draw(st.sampled_from([2, 3, 6]))}),
        call("lrn", {"size": draw(st.integers(1, 6))}),
        call("fc", {"out_features": draw(st.integers(1, 5))}),
        call("crop", {"size": draw(sizes)}),
        call("pixel_shuffle", {"upscale_factor": draw(st.sampled_from([1, 2, 2, 3]))}),
        call("reshape", {"channels": draw(st.sampled_from([2, 3, 6, 5])), "height": draw(st.integers(1, 3)),
                         "width": -1}),
    ]))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=convs() | conv_transposes() | pools() | upsamples() | others(), channels=st.sampled_from([6, 12]),
       h=st.integers(1, 9), w=st.integers(1, 9))
def test_random_layer_arguments(chain, channels, h, w):
    try:
        net = archlang.load(spec(chain, (channels, h, w)))
    except archlang.ArchError as e:
        assert e.code in ("E301", "E402", "E403", "E406", "E407"), e.format()
        if e.code == "E403":  # archlang says the map vanishes: torch must refuse it too, or make nothing
            module = archlang.load(spec(chain, (channels, 64, 64))).nodes[1].layer.torch_module([(channels, 64, 64)])
            try:
                out = module(torch.randn(1, channels, h, w))
            except RuntimeError:
                return
            assert out.numel() == 0, f"archlang refused {chain} on {channels}×{h}×{w}; torch gave {tuple(out.shape)}"
        return
    check(net)
