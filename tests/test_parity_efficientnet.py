"""specs/efficientnet*.arch against torchvision's EfficientNet B0-B7 (weights=None):

- parameters: torchvision's count for every member, which its weights' metadata records too;
- MACs: what torch.utils.flop_counter counts on torchvision's model at the member's resolution
  (half its flops), and torchvision's published figure (the weights' metadata `_ops`, its model
  docs' GFLOPS: B0 0.39, B1 0.69, B3 1.83, B4 4.39, B5 10.27, B6 19.07, B7 37.75), which are
  these multiply-adds. torchvision's B2 weights are evaluated at 288x288 rather than the
  paper's 260, so its 1.09 is compared at 288;
- structure: every convolution's width, every batch norm's eps and momentum (B5-B7 use
  1e-3 and 0.01), and the stochastic-depth rate of every block with a residual connection
  (torchvision builds one for the others too, where it is never applied);
- outputs: after `transfer_weights` (by position: the spec follows torchvision's registration
  order), the same output in eval mode (max abs difference <= 1e-5, float32), at 3x64x64 to
  keep the test cheap: nothing in EfficientNet depends on the input's size.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archlang  # noqa: E402

try:
    from tests.test_parity import compare, perturb
except ImportError:  # pytest put tests/ itself on sys.path
    from test_parity import compare, perturb

SPECS = Path(__file__).resolve().parent.parent / "specs"
# member -> the paper's resolution (the spec's input side)
MEMBERS = {0: 224, 1: 240, 2: 260, 3: 300, 4: 380, 5: 456, 6: 528, 7: 600}


def torchvision_model(b: int, device=None) -> nn.Module:
    with torch.device(device or "cpu"):
        return getattr(torchvision.models, f"efficientnet_b{b}")(weights=None)


def reference_macs(model: nn.Module, side: int) -> int:
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, side, side, device="meta"))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("b", list(MEMBERS))
def test_params_and_macs(b):
    net = archlang.load(SPECS / f"efficientnet_b{b}.arch")
    ref = torchvision_model(b, "meta").eval()
    weights = getattr(torchvision.models, f"EfficientNet_B{b}_Weights").IMAGENET1K_V1
    assert net.input_shape == (3, MEMBERS[b], MEMBERS[b])
    assert net.params == sum(p.numel() for p in ref.parameters()) == weights.meta["num_params"]
    assert net.macs == reference_macs(ref, MEMBERS[b])
    side = weights.transforms().crop_size[0]  # where torchvision measured its published figure
    macs = net.macs if side == MEMBERS[b] else archlang.load(SPECS / f"efficientnet_b{b}.arch",
                                                              input_shape=(3, side, side)).macs
    assert round(macs / 1e9, 3) == weights.meta["_ops"]


@pytest.mark.parametrize("b", list(MEMBERS))
def test_widths_norms_and_stochastic_depth(b):
    net = archlang.load(SPECS / f"efficientnet_b{b}.arch")
    ref = torchvision_model(b, "meta")
    convs = [m.out_channels for m in ref.modules() if isinstance(m, nn.Conv2d)]
    assert [n.shape[0] for n in net.layers if n.type == "conv"] == convs
    norms = [(m.eps, m.momentum) for m in ref.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [(n.layer.args.eps, n.layer.args.momentum) for n in net.layers if n.type == "bn"] == norms
    rates = [block.stochastic_depth.p for stage in ref.features[1:-1] for block in stage if block.use_res_connect]
    assert [n.layer.args.p for n in net.layers if n.type == "drop_path"] == rates
    assert max(rates) < 0.2  # the last block's rate: 0.2 * (blocks - 1) / blocks


@pytest.mark.parametrize("b", [0, pytest.param(3, marks=pytest.mark.slow), pytest.param(5, marks=pytest.mark.slow)])
def test_outputs_match_torchvision(b):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    ref = torchvision_model(b)
    perturb(ref, generator)
    model = archlang.compile(SPECS / f"efficientnet_b{b}.arch", input_shape=(3, 64, 64))
    compare(ref, model, torch.randn(2, 3, 64, 64, generator=generator), 1000)
