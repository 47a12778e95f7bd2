"""Models beyond the zoo, written from docs/language.md alone, against torchvision:
same parameter count, and the same outputs after transfer_weights."""

from pathlib import Path

import pytest
import torch
import torchvision

import archlang

SPECS = Path(__file__).parent / "specs"
MODELS = {
    "mobilenet_v2.arch": ("mobilenet_v2", 3_504_872),
    "squeezenet.arch": ("squeezenet1_0", 1_248_424),
    "shufflenet_v2.arch": ("shufflenet_v2_x1_0", 2_278_604),
}


@pytest.mark.parametrize("spec", sorted(MODELS))
def test_same_network_as_torchvision(spec):
    name, params = MODELS[spec]
    net = archlang.load(SPECS / spec, input_shape=(3, 96, 96))
    assert net.params == params
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None).eval()
    for module in reference.modules():  # non-trivial statistics, so a skipped buffer would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    model = archlang.transfer_weights(reference, net.to_torch()).eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-5
