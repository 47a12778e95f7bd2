"""`archlang compile`: the generated PyTorch source is standalone and builds
the same module as `to_torch()`: same state_dict keys, shapes and order, and
after a weight transfer the same outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from archlang.backends.pysource import python_source, write_source  # noqa: E402
from archlang.cli import main  # noqa: E402
from archlang.layers import REGISTRY  # noqa: E402

# torch's note that an even kernel with padding="same" pads a copy of the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

SPECS = Path(__file__).resolve().parent.parent / "specs"

# Every layer type at once, with non-default arguments where they change the module.
EVERY_LAYER = """
network Every(classes = 10):
    input(4, 16, 16)
    -> conv(8, 3) -> bn -> relu
    -> add(main: conv(8, [3, 1], padding = [1, 0], groups = 2) -> relu6, skip: identity,
           again: conv(8, 1, bias = false))
    -> concat(a: conv(8, 2, padding = "same", bias = false) -> silu,
              b: chunk(2, 1) -> hardswish -> conv(8, 1, dilation = 2, padding = "valid") -> tanh)
    -> mul(identity, global_avgpool -> conv(16, 1) -> hardsigmoid)
    -> channel_shuffle(4) -> lrn(3) -> leaky_relu(0.2) -> elu(alpha = 0.5) -> gelu(approximate = "tanh")
    -> layernorm(eps = 1e-6) -> groupnorm(4) -> instancenorm(affine = true) -> prelu(16, init = 0.1)
    -> add(scaled: conv(16, 3) -> layer_scale(0.5) -> drop_path(0.2), identity) -> dropout2d(0.1)
    -> conv_transpose(16, 3, stride = 2, padding = 1, output_padding = 1, groups = 2) -> pixel_shuffle(2)
    -> crop([60, 62]) -> reshape(16, -1, 31) -> upsample(size = [16, 16], mode = "bilinear", align_corners = true)
    -> upsample(1.5) -> maxpool(3, stride = 2, padding = 1, ceil_mode = true)
    -> avgpool(3, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false)
    -> adaptive_avgpool(4) -> adaptive_maxpool([2, 3])
    -> concat(global_maxpool, global_avgpool) -> sigmoid -> dropout(0.1)
    -> fc(32) -> bn(eps = 0.001, momentum = 0.2) -> layernorm -> layer_scale -> flatten -> fc(classes, bias = false)
    -> concat(s: softmax, l: log_softmax)
"""


def load_generated(net):
    """Exec the generated source as its own module; return (model, source)."""
    source = python_source(net)
    namespace: dict = {"__name__": "generated"}
    exec(compile(source, f"{net.name}.py", "exec"), namespace)
    return namespace[net.name](), source


def entries(model):
    return [(key, tuple(t.shape)) for key, t in model.state_dict().items()]


def assert_same_model(net, batch: int = 2):
    generated, source = load_generated(net)
    model = net.to_torch()
    assert entries(generated) == entries(model)
    archlang.transfer_weights(model, generated)
    x = torch.randn(batch, *net.input_shape)
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), model.eval()(x))
    return source


def test_every_layer_type():
    net = archlang.load(EVERY_LAYER)
    used = {n.type for n in net.nodes}
    assert used | {"identity"} == {cls.name for cls in REGISTRY.values()}  # identity is an edge, not a node
    source = assert_same_model(net)
    assert "nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)" in source
    assert "nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=2)" in source
    assert "nn.BatchNorm1d(32, eps=0.001, momentum=0.2)" in source
    # the layers torch.nn lacks: their classes copied in once, called with their arguments
    assert source.count("class LayerNorm2d(nn.LayerNorm):") == 1 and source.count("class LayerScale(") == 1
    assert "self.crop1 = CenterCrop((60, 62))" in source and "self.reshape1 = Reshape((16, 30, 31))" in source
    assert "self.layer_scale1 = LayerScale(32, spatial=False)" in source
    assert "    layer_scale1=LayerScale(16, init_values=0.5)," in source  # in `scaled=branch(`


def test_lenet5():
    source = assert_same_model(archlang.load(SPECS / "lenet5.arch"))
    assert "import archlang" not in source and "from archlang" not in source


def test_resnet18_reads_like_the_spec():
    source = assert_same_model(archlang.load(SPECS / "resnet18.arch", input_shape=(3, 32, 32)))
    assert "self.layer2 = stage(  # stage(basic, 128, 2, 2)" in source
    assert "    basic1=basic_2(  # basic(128, 2" in source  # the first block of a stage has a skip
    block = source[source.index("class basic_2(Scope):"):]
    block = block[:block.index("\n\n")]
    assert "skip = self.skip(x)" in block
    assert "x = main.add_(skip)" in block  # in place, as torchvision's `out += identity` (add_in_place)
    forward = source[source.index("class ResNet18"):]
    assert "x = self.layer4(x)" in forward


def test_values_are_never_overwritten_while_needed():
    # Nested branches with the same label: the outer `main` is still needed by the outer add.
    net = archlang.load("""
block res(c) = add(main: conv(c) -> relu, skip: identity)
network Nested:
    input(3, 8, 8)
    -> add(main: res(3) -> add(main: conv(3), skip: identity), skip: conv(3, 1))
""")
    source = assert_same_model(net)
    # Each branch is a module with its own forward: the outer `main` is a value of the
    # network's forward, the inner ones values of the outer branch's.
    assert "main = self.main(x)" in source and source.count("main = self.main(x)") == 3


def test_cli_writes_a_runnable_file(tmp_path, capsys):
    out = tmp_path / "lenet.py"
    assert main(["compile", str(SPECS / "lenet5.arch"), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    run = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, check=True)
    assert run.stdout.rstrip().endswith("torch.Size([1, 10])")


def test_write_source_returns_the_path(tmp_path):
    path = write_source(archlang.load(SPECS / "lenet5.arch"), tmp_path / "m.py")
    assert path.read_text().startswith('"""LeNet5: generated by archlang')
