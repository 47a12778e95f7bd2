"""The formulas of docs/language.md's worked examples, against torchvision itself: RegNet's
widths, depths and group widths (all fifteen models), EfficientNet B0/B3/B7 (parameters, B0's
outputs after a weight transfer) and the stochastic-depth rates of ConvNeXt and EfficientNet.

The specs are read from the documentation, so what it shows is what is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

import archlang

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torchvision.models import convnext, efficientnet, regnet  # noqa: E402

try:
    from tests.test_docs import fenced
except ImportError:  # pytest put tests/ itself on sys.path
    from test_docs import fenced

DOC = (Path(__file__).parents[1] / "docs" / "language.md").read_text(encoding="utf-8")


def example(heading: str, index: int = 0) -> str:
    """The `index`-th spec under a `### heading` of the documentation."""
    section = DOC.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
    return list(fenced(section))[index]


# ---- RegNet -----------------------------------------------------------------------------------------

class _Stop(Exception):
    pass


def regnet_settings():
    """(builder, from_init_params arguments, torchvision's BlockParams) for every RegNet, read by
    stopping each builder right after it computed its stages (no model is built)."""
    found = []
    original = regnet.BlockParams.from_init_params.__func__

    def spy(cls, **kwargs):
        found.append((kwargs, original(cls, **kwargs)))
        raise _Stop

    regnet.BlockParams.from_init_params = classmethod(spy)
    try:
        for name in sorted(n for n in dir(regnet) if n.startswith("regnet_")):
            with pytest.raises(_Stop):
                getattr(regnet, name)()
            yield name, *found[-1]
    finally:
        regnet.BlockParams.from_init_params = classmethod(original)


REGNETS = list(regnet_settings())


def test_every_torchvision_regnet_is_here():
    assert len(REGNETS) == 15


@pytest.mark.parametrize("name, kwargs, params", REGNETS, ids=[r[0] for r in REGNETS])
def test_regnet_stages_by_formula(name, kwargs, params):
    net = archlang.load(example("RegNet's widths and depths, by formula"), depth=kwargs["depth"], w_0=kwargs["w_0"],
                        w_a=kwargs["w_a"], w_m=kwargs["w_m"], g=kwargs["group_width"],
                        b=kwargs.get("bottleneck_multiplier", 1.0))
    assert net.settings["widths"] == params.widths
    assert net.settings["depths"] == params.depths
    assert net.settings["groups"] == params.group_widths


# ---- EfficientNet -----------------------------------------------------------------------------------

EFFICIENTNETS = {"efficientnet_b0": (1.0, 1.0, 0.2), "efficientnet_b3": (1.2, 1.4, 0.3),
                 "efficientnet_b7": (2.0, 3.1, 0.5)}


def efficientnet_spec(name):
    width, depth, dropout = EFFICIENTNETS[name]
    return archlang.load(example("EfficientNet, by its scaling rules"), width=width, depth=depth, dropout=dropout)


@pytest.mark.parametrize("name", list(EFFICIENTNETS))
def test_efficientnet_parameters(name):
    with torch.device("meta"):
        reference = getattr(efficientnet, name)()
    net = efficientnet_spec(name)
    assert net.params == sum(p.numel() for p in reference.parameters())
    widths = [m.out_channels for m in reference.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [n.shape[0] for n in net.layers if n.type == "conv"] == widths


def test_efficientnet_b0_outputs_after_transfer():
    torch.manual_seed(0)
    reference = efficientnet.efficientnet_b0().eval()
    model = efficientnet_spec("efficientnet_b0").to_torch().eval()
    archlang.transfer_weights(reference, model)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5)


# ---- stochastic depth ---------------------------------------------------------------------------

def rates_of(module) -> list[float]:
    return [m.p for m in module.modules() if type(m).__name__ == "StochasticDepth"]


@pytest.mark.parametrize("name", ["convnext_tiny", "convnext_small", "convnext_base"])
def test_convnext_stochastic_depth_rates(name):
    with torch.device("meta"):
        reference = getattr(convnext, name)()
    units = [len(stage) for stage in reference.features[1::2]]
    rate = max(rates_of(reference))  # the last block's rate is the model's rate
    net = archlang.load(example("EfficientNet, by its scaling rules", 1), rate=rate, units=units)
    assert [p for stage in net.settings["rates"] for p in stage] == rates_of(reference)


@pytest.mark.parametrize("name", list(EFFICIENTNETS))
def test_efficientnet_stochastic_depth_rates(name):
    # EfficientNet divides by the number of blocks, ConvNeXt by one less: the documented variant
    with torch.device("meta"):
        reference = getattr(efficientnet, name)()
    units = [len(stage) for stage in reference.features[1:-1]]
    spec = example("EfficientNet, by its scaling rules", 1).replace("(sum(units) - 1)", "sum(units)")
    net = archlang.load(spec, rate=0.2, units=units)
    assert [p for stage in net.settings["rates"] for p in stage] == rates_of(reference)
