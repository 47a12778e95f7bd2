"""specs/unet.arch, the 2015 paper's U-Net (Ronneberger et al.), against a plain PyTorch
U-Net written below as such implementations are written (an encoder of double
convolutions and pools, a decoder of up-convolutions, crops and double convolutions; no
recursion): 31,030,658 parameters, a 1x572x572 tile in and a 2x388x388 map out (on the
meta device: no memory, no compute), the MACs that torch.utils.flop_counter counts, and
after `transfer_weights` (by position: the recursive spec registers the contracting
path's convolutions first, then the expansive path's from the bottom up, as this module
does) the same outputs. `padded = true` gives an output of the input's size.

The outputs are compared at width 16 on small tiles (1x188x188 is the smallest tile the
unpadded network accepts: a 4x4 map out) to keep the test cheap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torchvision.transforms.functional import center_crop  # noqa: E402

import archlang  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"


def double_conv(c_in: int, c_out: int, pad: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=pad), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=pad), nn.ReLU(inplace=True))


class Up(nn.Module):
    def __init__(self, c_in: int, c_out: int, pad: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
        self.conv = double_conv(2 * c_out, c_out, pad)

    def forward(self, x, skip):
        x = self.up(x)
        return self.conv(torch.cat([center_crop(skip, list(x.shape[-2:])), x], dim=1))


class UNet(nn.Module):
    def __init__(self, channels: int = 1, classes: int = 2, width: int = 64, padded: bool = False):
        super().__init__()
        pad, w = int(padded), [width * 2 ** i for i in range(5)]
        self.inc = double_conv(channels, w[0], pad)
        self.downs = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), double_conv(w[i], w[i + 1], pad)) for i in range(4))
        self.ups = nn.ModuleList(Up(w[i + 1], w[i], pad) for i in reversed(range(4)))
        self.outc = nn.Conv2d(w[0], classes, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)


def test_the_papers_unet():
    net = archlang.load(SPECS / "unet.arch")
    ref = UNet()
    assert net.params == sum(p.numel() for p in ref.parameters()) == 31_030_658
    assert (net.input_shape, net.output_shape) == ((1, 572, 572), (2, 388, 388))
    model, ref = archlang.compile(SPECS / "unet.arch", device="meta"), ref.to("meta")
    x = torch.empty(1, 1, 572, 572, device="meta")
    assert model(x).shape == ref(x).shape == (1, 2, 388, 388)
    with FlopCounterMode(display=False) as counter:
        ref(x)
    assert 2 * net.macs == counter.get_total_flops()


def test_padded_keeps_the_size():
    net = archlang.load(SPECS / "unet_padded.arch")
    assert net.params == 31_030_658
    assert net.input_shape == (1, 512, 512) and net.output_shape == (2, 512, 512)
    assert not [n for n in net.layers if n.type == "crop"]
    with FlopCounterMode(display=False) as counter:
        UNet(padded=True).to("meta")(torch.empty(1, 1, 512, 512, device="meta"))
    assert 2 * net.macs == counter.get_total_flops()


@pytest.mark.parametrize(("spec", "side", "out"), [("unet.arch", 188, 4), ("unet.arch", 220, 36),
                                                   ("unet_padded.arch", 64, 64)])
def test_outputs_match_a_pytorch_unet(spec, side, out):
    torch.manual_seed(0)
    ref = UNet(width=16, padded=spec == "unet_padded.arch").eval()
    model = archlang.compile(SPECS / spec, width=16, input_shape=(1, side, side)).eval()
    archlang.transfer_weights(ref, model)
    x = torch.randn(2, 1, side, side)
    with torch.no_grad():
        expected, actual = ref(x), model(x)
    assert actual.shape == expected.shape == (2, 2, out, out)
    assert expected.abs().max() > 1e-3, "the reference output is ~0: the comparison would prove nothing"
    diff = (actual - expected).abs().max().item()
    assert diff <= 1e-5, f"max abs difference {diff:.3g}"
