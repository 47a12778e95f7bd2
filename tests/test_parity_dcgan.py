"""specs/dcgan.arch against PyTorch's DCGAN tutorial (pytorch/tutorials,
beginner_source/dcgan_faces_tutorial.py), whose two modules are copied below as
the tutorial writes them: the same parameter counts (generator 3,576,704,
discriminator 2,765,568), the MACs that torch.utils.flop_counter counts, and after
`transfer_weights` (by position: the spec follows the tutorial's order) the same
outputs, with batch statistics in training mode and running ones in eval mode.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archlang  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"

# The tutorial's settings: latent vector size, feature maps in the generator and the
# discriminator, image channels.
nz, ngf, ndf, nc = 100, 64, 64, 3


class Generator(nn.Module):
    def __init__(self, ngpu):
        super(Generator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. ``(ngf*8) x 4 x 4``
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. ``(ngf*4) x 8 x 8``
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. ``(ngf*2) x 16 x 16``
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. ``(ngf) x 32 x 32``
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
            # state size. ``(nc) x 64 x 64``
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ngpu):
        super(Discriminator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # input is ``(nc) x 64 x 64``
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. ``(ndf) x 32 x 32``
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. ``(ndf*2) x 16 x 16``
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. ``(ndf*4) x 8 x 8``
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. ``(ndf*8) x 4 x 4``
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        return self.main(input)


def weights_init(m):
    """The tutorial's initialisation (mean 0, std 0.02; batch norm weights around 1)."""
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


# spec -> (tutorial module, its input from a batch of our inputs, our output from its output, params)
CASES = {
    "dcgan_generator": (Generator, lambda z: z.view(-1, nz, 1, 1), lambda out: out, 3_576_704),
    "dcgan_discriminator": (Discriminator, lambda x: x, lambda out: out.view(-1, 1), 2_765_568),
}


@pytest.mark.parametrize("name", list(CASES))
def test_counts_match_the_tutorial(name):
    module, to_reference, _, params = CASES[name]
    net, ref = archlang.load(SPECS / f"{name}.arch"), module(0).eval()
    assert net.params == sum(p.numel() for p in ref.parameters()) == params
    assert net.buffers == sum(b.numel() for b in ref.buffers())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        ref(to_reference(torch.randn(1, *net.input_shape)))
    assert 2 * net.macs == counter.get_total_flops()


@pytest.mark.parametrize("name", list(CASES))
def test_outputs_match_the_tutorial(name):
    module, to_reference, from_reference, _ = CASES[name]
    torch.manual_seed(0)
    ref = module(0)
    ref.apply(weights_init)
    model = archlang.transfer_weights(ref, archlang.compile(SPECS / f"{name}.arch"))
    net = archlang.load(SPECS / f"{name}.arch")
    x = torch.randn(8, *net.input_shape)
    for training in (True, False):  # batch statistics (and moving the running ones), then running ones
        ref.train(training), model.train(training)
        with torch.no_grad():
            expected, actual = from_reference(ref(to_reference(x))), model(x)
        assert actual.shape == (8, *net.output_shape)
        assert expected.std() > 1e-3, "the reference output is constant: the comparison would prove nothing"
        diff = (actual - expected).abs().max().item()
        assert diff <= 1e-5, f"max abs difference {diff:.3g} (training={training})"


def test_the_family_file_holds_both_networks():
    assert archlang.load(SPECS / "dcgan.arch").name == "Generator"  # the last network is the default
    assert archlang.load(SPECS / "dcgan.arch", network="Discriminator").output_shape == (1,)
