"""specs/regnet*.arch against torchvision's RegNets (weights=None):

- every one of torchvision's fifteen RegNets, X and Y, from 400MF to 128GF, is the family
  spec with the builder's five numbers (depth, w_0, w_a, w_m, group width; and se_ratio for
  Y): the same parameters, the MACs that torch.utils.flop_counter counts on torchvision's
  model (half its flops), and torchvision's published figure (the weights' metadata `_ops`,
  its model docs' GFLOPS: regnet_y_400mf 0.40, regnet_y_800mf 0.83, regnet_x_400mf 0.41, ...;
  the SWAG weights' at 384x384);
- the alias files (regnet_x_400mf 5,495,976 parameters, regnet_y_400mf 4,344,144,
  regnet_y_800mf 6,432,512) give, after `transfer_weights` (by position: the spec registers
  each block's projection before its body, as torchvision does), the same outputs in eval
  mode (max abs difference <= 1e-5, float32), at 3x64x64 to keep the test cheap.
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
    from tests.test_formulas import REGNETS
    from tests.test_parity import compare, perturb
except ImportError:  # pytest put tests/ itself on sys.path
    from test_formulas import REGNETS
    from test_parity import compare, perturb

SPECS = Path(__file__).resolve().parent.parent / "specs"
ALIASES = {"regnet_x_400mf": 5_495_976, "regnet_y_400mf": 4_344_144, "regnet_y_800mf": 6_432_512}


def torchvision_model(name: str, device=None) -> nn.Module:
    with torch.device(device or "cpu"):
        return getattr(torchvision.models, name)(weights=None)


def family_member(kwargs: dict, **options) -> archlang.Network:
    return archlang.load(SPECS / "regnet.arch", **options, depth=kwargs["depth"], w_0=kwargs["w_0"], w_a=kwargs["w_a"],
                         w_m=kwargs["w_m"], group_width=kwargs["group_width"], se_ratio=kwargs.get("se_ratio", 0.0))


@pytest.mark.parametrize("name, kwargs, params", REGNETS, ids=[r[0] for r in REGNETS])
def test_every_regnet_by_its_five_numbers(name, kwargs, params):
    net = family_member(kwargs)
    with torch.device("meta"):  # the builder's own stages (its formula runs on the CPU), on the meta device
        ref = torchvision.models.regnet.RegNet(params).eval()
    assert net.params == sum(p.numel() for p in ref.parameters())
    with FlopCounterMode(display=False) as counter:
        ref(torch.empty(1, 3, 224, 224, device="meta"))
    assert 2 * net.macs == counter.get_total_flops()
    for weights in getattr(torchvision.models, f"RegNet{name[6:].upper()}_Weights"):
        side = weights.transforms().crop_size[0]  # where the figure was measured (SWAG's at 384)
        macs = net.macs if side == 224 else family_member(kwargs, input_shape=(3, side, side)).macs
        assert (net.params, round(macs / 1e9, 3)) == (weights.meta["num_params"], weights.meta["_ops"])
    convs = [(m.out_channels, m.groups) for m in ref.modules() if isinstance(m, nn.Conv2d)]
    assert [(n.shape[0], n.layer.args.groups) for n in net.layers if n.type == "conv"] == convs


@pytest.mark.parametrize("name", list(ALIASES))
def test_alias_is_the_family_member(name):
    kwargs = next(k for n, k, _ in REGNETS if n == name)
    net = archlang.load(SPECS / f"{name}.arch")
    assert net.params == ALIASES[name] == family_member(kwargs).params


@pytest.mark.parametrize("name", list(ALIASES))
def test_outputs_match_torchvision(name):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    ref = torchvision_model(name)
    perturb(ref, generator)
    model = archlang.compile(SPECS / f"{name}.arch", input_shape=(3, 64, 64))
    compare(ref, model, torch.randn(2, 3, 64, 64, generator=generator), 1000)
