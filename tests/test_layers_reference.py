"""Layers against their references in torch and torchvision.

- outputs: each layer's compiled module gives, in training and in eval mode, what the
  module a PyTorch user would write gives (torch.nn's, torchvision's LayerNorm2d,
  StochasticDepth, CenterCrop and ConvNeXt's layer scale), with the same weights and
  the same random numbers;
- MACs: every layer's count equals torch.utils.flop_counter's (the counting behind
  torchvision's published GFLOPS: convolutions and matrix products, multiply-adds);
- receptive field: the analysis' field equals the largest span of input pixels that
  reach one output position, measured with autograd, through transposed convolutions,
  upsampling, pixel shuffle, crops and merges;
- archlang/layers/modules.py uses torch only (its classes are copied into generated source).
"""

from __future__ import annotations

import ast
from fractions import Fraction
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torchvision.models.convnext import LayerNorm2d  # noqa: E402
from torchvision.ops import StochasticDepth  # noqa: E402
from torchvision.transforms import CenterCrop  # noqa: E402

import archlang  # noqa: E402
from archlang.layers import REGISTRY  # noqa: E402
from test_layers_torch import CASES, spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# torch's note that an even kernel with padding="same" pads a copy of the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


class TorchvisionLayerScale(nn.Module):
    """ConvNeXt's layer scale as torchvision's CNBlock holds and applies it."""

    def __init__(self, dim: int, layer_scale: float):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x):
        return self.layer_scale * x


# name -> (archlang chain, input shape, the reference module as a PyTorch user writes it)
REFERENCES = {
    "layernorm over channels": ("layernorm(eps = 1e-6)", (6, 5, 4), lambda: LayerNorm2d(6, eps=1e-6)),
    "layernorm over features": ("layernorm(bias = false)", (7,), lambda: nn.LayerNorm(7, bias=False)),
    "groupnorm": ("groupnorm(3, eps = 1e-3)", (6, 5, 4), lambda: nn.GroupNorm(3, 6, eps=1e-3)),
    "instancenorm": ("instancenorm(momentum = 0.2, affine = true, track_running_stats = true)", (6, 5, 4),
                     lambda: nn.InstanceNorm2d(6, momentum=0.2, affine=True, track_running_stats=True)),
    "instancenorm, torch's defaults": ("instancenorm", (6, 5, 4), lambda: nn.InstanceNorm2d(6)),
    "layer_scale": ("layer_scale(0.5)", (6, 5, 4), lambda: TorchvisionLayerScale(6, 0.5)),
    "drop_path by row": ("drop_path(0.3)", (6, 5, 4), lambda: StochasticDepth(0.3, "row")),
    "drop_path by batch": ('drop_path(0.5, mode = "batch")', (6, 5, 4), lambda: StochasticDepth(0.5, "batch")),
    "prelu": ("prelu(6, init = 0.1)", (6, 5, 4), lambda: nn.PReLU(6, init=0.1)),
    "dropout2d": ("dropout2d(0.4)", (6, 5, 4), lambda: nn.Dropout2d(0.4)),
    "conv_transpose": ("conv_transpose(4, [3, 4], stride = [2, 3], padding = [1, 0], output_padding = [1, 2], "
                       "groups = 2, dilation = [2, 1])", (6, 5, 4),
                       lambda: nn.ConvTranspose2d(6, 4, (3, 4), (2, 3), (1, 0), (1, 2), groups=2, dilation=(2, 1))),
    "upsample nearest": ("upsample([2, 3])", (6, 5, 4), lambda: nn.Upsample(scale_factor=(2, 3))),
    "upsample bilinear": ('upsample(1.5, mode = "bilinear")', (6, 5, 4),
                          lambda: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=False)),
    "upsample to a size": ('upsample(size = [9, 7], mode = "bilinear", align_corners = true)', (6, 5, 4),
                           lambda: nn.Upsample(size=(9, 7), mode="bilinear", align_corners=True)),
    "pixel_shuffle": ("pixel_shuffle(2)", (8, 5, 4), lambda: nn.PixelShuffle(2)),
    # odd margins: torchvision rounds half of 3 to 2 and half of 5 to 2 (Python's round)
    "crop": ("crop([4, 3])", (6, 7, 8), lambda: CenterCrop([4, 3])),
    "reshape into a map": ("reshape(-1, 2, 3)", (12,), lambda: nn.Unflatten(1, (2, 2, 3))),
    "reshape into a vector": ("reshape(-1)", (6, 5, 4), lambda: nn.Flatten()),
}


def perturb(model: nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1.5, 1.5)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_layer_computes_what_torch_computes(name):
    chain, shape, reference = REFERENCES[name]
    model, ref = archlang.compile(spec(chain, shape)), reference()
    perturb(model)
    archlang.transfer_weights(model, ref)
    x = torch.randn(4, *shape)
    for training in (True, False):  # twice in training: running statistics move, then are used
        model.train(training), ref.train(training)
        for _ in range(2 if training else 1):
            torch.manual_seed(7)
            expected = ref(x)
            torch.manual_seed(7)
            actual = model(x)
            torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # running statistics too


def test_layer_scale_has_torchvisions_shape():
    model = archlang.compile(spec("layer_scale", (6, 5, 4)))
    assert [tuple(p.shape) for p in model.parameters()] == [(6, 1, 1)]
    assert model.layer_scale1.scale.eq(1e-6).all()  # ConvNeXt's initial value, the default
    assert [tuple(p.shape) for p in archlang.compile(spec("layer_scale", (6,))).parameters()] == [(6,)]


def test_drop_path_is_the_identity_in_eval_and_drops_whole_samples_in_training():
    model = archlang.compile(spec("drop_path(0.5)", (3, 4, 4)))
    x = torch.randn(64, 3, 4, 4)
    assert torch.equal(model.eval()(x), x)
    out = model.train()(x)
    kept = [torch.equal(o, 2 * i) for o, i in zip(out, x)]
    dropped = [not o.any() for o in out]
    assert all(k or d for k, d in zip(kept, dropped)) and any(kept) and any(dropped)


# ---- MACs: torch's own counter


@pytest.mark.parametrize("layer", sorted({cls.name for cls in REGISTRY.values()}))
def test_macs_equal_torchs_flop_counter(layer):
    chain, shape = CASES.get(layer, (layer, (3, 8, 8)))
    net = archlang.load(spec(chain, shape))
    model = net.to_torch().eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, *net.input_shape))
    assert counter.get_total_flops() == 2 * net.macs  # a multiply-add is two flops


# ---- receptive field: autograd says which input pixels reach an output position

FIELDS = [
    "conv(4, 3) -> maxpool(2) -> conv(4, 3) -> conv_transpose(4, 2, stride = 2) -> conv(4, 3)",
    "conv(4, 3) -> maxpool(2) -> conv(4, 3) -> conv_transpose(4, 4, stride = 2, padding = 1) -> conv(4, 3)",
    "maxpool(2) -> conv_transpose(4, 3, stride = 2, padding = 1, output_padding = 1) -> conv(4, 3) -> conv(4, 3)",
    "conv(4, 3) -> conv_transpose(4, 5, stride = 3) -> conv(4, 4, padding = 0)",
    "conv(4, 3, dilation = 2) -> conv_transpose(4, 3, stride = 2, dilation = 2) -> conv(4, 3)",
    # nearest upsampling twice: positions in pairs see different pixels; the field is the widest
    "conv(4, 3) -> maxpool(2) -> maxpool(2) -> upsample(2) -> conv(4, 3) -> upsample(2) -> conv(4, 3)",
    "conv(4, 3) -> upsample(2) -> conv(4, 2, padding = 0)",
    "conv(4, 3) -> upsample(2) -> conv(4, 2, stride = 2, padding = 0)",
    "conv(4, 3) -> upsample(3) -> conv(4, 5)",
    'conv(4, 3) -> maxpool(2) -> upsample(2, mode = "bilinear") -> conv(4, 3)',
    'conv(4, 3, stride = 2) -> upsample(2, mode = "bilinear", align_corners = true) -> conv(4, 3)',
    'conv(4, 2, padding = "same") -> upsample(2) -> conv(4, 4, padding = "same")',
    "conv(16, 3, stride = 2) -> pixel_shuffle(2) -> conv(4, 3)",
    "maxpool(2) -> adaptive_avgpool(24) -> conv(4, 3)",
    "add(main: conv(4, 3) -> maxpool(2) -> conv(4, 3) -> upsample(2), skip: identity) -> conv(4, 3)",
    # U-Net's level: the cropped skip beside the path through the coarser level
    "concat(crop(32) -> conv(4, 1), conv(4, 3, padding = 0) -> maxpool(2) -> conv(4, 3, padding = 0) "
    "-> conv_transpose(4, 2, stride = 2) -> conv(4, 3, padding = 0)) -> conv(4, 3, padding = 0)",
    "mul(identity, global_avgpool -> conv(4, 1)) -> conv(4, 3)",  # a gate sees the whole map
]


def widest_field(net, side: int) -> int:
    """The most input rows that reach one output position, over the output's middle rows."""
    model = net.to_torch().double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(0.1, 1.1)  # positive weights: no contribution cancels out
    out = net.output_shape[1]
    widest = 0
    for row in range(out // 4, 3 * out // 4 + 1):
        x = torch.rand(1, 4, side, side, dtype=torch.double, requires_grad=True)
        model(x)[0, :, row, out // 2].sum().backward()
        rows = (x.grad[0].abs().sum(dim=(0, 2)) > 0).nonzero().flatten()
        widest = max(widest, int(rows.max() - rows.min()) + 1)
    return widest


@pytest.mark.parametrize("chain", FIELDS)
def test_receptive_field_is_what_reaches_an_output(chain):
    net = archlang.load(spec(chain, (4, 40, 40)))
    assert net.receptive_field[0] == widest_field(net, 40)


def test_a_field_of_more_phases_than_listed_is_averaged():
    # 7 -> 1000: a resize whose pattern repeats every 1000 outputs, over MAX_PERIOD
    net = archlang.load(spec("upsample(size = [1000, 7]) -> conv(4, 3)", (4, 7, 7)))
    conv = net.nodes[-1].stats
    assert conv["jump"][0] == pytest.approx(7 / 1000) and conv["rf"][0] == 2  # ceil(1 + 2·7/1000)
    assert conv["rf"][1] == 3


def test_the_phases_listed_in_one_pass_are_bounded():
    from archlang.analysis import receptive

    # a resize to 1000 from 999 repeats only every 1000 positions, and every conv keeps that
    net = archlang.load(spec("upsample(size = [1000, 1000]) -> [conv(3, 3)] * 400", (3, 999, 999)))
    run = receptive._Pass(net.nodes)
    run.run()
    assert receptive.MAX_WORK - 1024 < run.work <= receptive.MAX_WORK  # listed up to the bound, then averaged
    assert type(run.fields[net.output][0]) is receptive.Averaged
    assert net.nodes[-1].stats["jump"][0] == Fraction(999, 1000)


def test_the_summary_shows_fractional_jumps_as_numbers():
    d = archlang.load(spec("conv(4, 3) -> upsample(2) -> conv(4, 3)", (4, 8, 8))).to_dict()
    assert [layer["jump"] for layer in d["layers"]] == [[1, 1], [1, 1], [0.5, 0.5], [0.5, 0.5]]
    assert d["receptive_field"] == [4, 4]


# ---- the modules' source is copied into generated files


def test_modules_use_torch_only():
    tree = ast.parse((ROOT / "archlang" / "layers" / "modules.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"torch", "__future__"}
