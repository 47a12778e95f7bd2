"""specs/convnext*.arch against torchvision's ConvNeXt (torchvision.models.convnext_tiny,
_small, _base, and _large for the counts; weights=None):

- parameters: torchvision's count, which its weights' metadata also records;
- MACs: what torch.utils.flop_counter counts on torchvision's model (half its flops),
  and torchvision's published figure: its model docs give convnext_tiny 4.46 GFLOPS,
  convnext_small 8.68, convnext_base 15.36 and convnext_large 34.36 (the weights'
  metadata `_ops`: 4.456, 8.684, 15.355, 34.361), which are these multiply-adds;
- stochastic depth: every block's rate is torchvision's, 0 at the first block growing
  linearly to `stochastic_depth_prob` at the last, counted across the stages;
- outputs: after `transfer_weights(by="name")` (torchvision's Sequential indices renamed
  to the spec's names; its nn.Linear weights fill the spec's 1×1 convolutions), both
  give the same output in eval mode (max abs difference <= 1e-5, float32).
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archlang  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"
SIZES = ["tiny", "small", "base", "large"]  # counted on the meta device: no memory, no compute
WEIGHTS = {"tiny": "ConvNeXt_Tiny_Weights", "small": "ConvNeXt_Small_Weights", "base": "ConvNeXt_Base_Weights",
           "large": "ConvNeXt_Large_Weights"}

# torchvision's names -> the spec's. Its CNBlock is `block` (a Sequential: 0 the depthwise conv,
# 2 the LayerNorm, 3 and 5 the two Linear layers) and a `layer_scale` parameter; features.0 is
# the stem, odd features are the stages, even ones from 2 the downsampling layers.
BLOCK = {"0": "conv1", "2": "layernorm1", "3": "conv2", "5": "conv3"}
DOWNSAMPLE = {"0": "layernorm1", "1": "conv1"}


def stage_block(m) -> str:
    return f"features.stage{int(m[1]) // 2 + 1}.cn_block{int(m[2]) + 1}.block"


RENAME = {
    r"^features\.0\.0\.": "features.stem.conv1.",
    r"^features\.0\.1\.": "features.stem.layernorm1.",
    r"^features\.(\d)\.(\d+)\.layer_scale$": lambda m: f"{stage_block(m)}.layer_scale1.scale",
    r"^features\.(\d)\.(\d+)\.block\.(\d)\.": lambda m: f"{stage_block(m)}.{BLOCK[m[3]]}.",
    r"^features\.(\d)\.([01])\.": lambda m: f"features.downsample{int(m[1]) // 2}.{DOWNSAMPLE[m[2]]}.",
    r"^classifier\.0\.": "classifier.layernorm1.",
    r"^classifier\.2\.": "classifier.fc1.",
}


def torchvision_model(size: str, device=None) -> nn.Module:
    with torch.device(device or "cpu"):
        return getattr(torchvision.models, f"convnext_{size}")(weights=None)


@pytest.mark.parametrize("size", SIZES)
def test_params_and_macs(size):
    net = archlang.load(SPECS / "convnext.arch", size=size)
    ref = torchvision_model(size, "meta").eval()
    assert net.params == sum(p.numel() for p in ref.parameters())
    assert net.params == getattr(torchvision.models, WEIGHTS[size]).IMAGENET1K_V1.meta["num_params"]
    with FlopCounterMode(display=False) as counter:
        ref(torch.empty(1, 3, 224, 224, device="meta"))
    assert 2 * net.macs == counter.get_total_flops()
    published = getattr(torchvision.models, WEIGHTS[size]).IMAGENET1K_V1.meta["_ops"]
    assert round(net.macs / 1e9, 3) == published


@pytest.mark.parametrize("size", SIZES)
def test_stochastic_depth_grows_as_torchvisions(size):
    net = archlang.load(SPECS / "convnext.arch", size=size)
    ours = [n.layer.args.p for n in net.layers if n.type == "drop_path"]
    theirs = [m.p for m in torchvision_model(size, "meta").modules()
              if isinstance(m, torchvision.ops.StochasticDepth)]
    assert ours == theirs and ours[0] == 0.0 and ours[-1] == pytest.approx(theirs[-1])


def perturb(model: nn.Module, generator: torch.Generator) -> None:
    """LayerNorms off 1 and 0 and layer scales off 1e-6, so that a block whose weights were
    skipped or misplaced changes the output by far more than the tolerance."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.uniform_(0.05, 0.15, generator=generator)
            elif p.dim() == 1:  # norms' weights and biases, and the biases
                p.uniform_(-0.2, 0.2, generator=generator).add_(1.0 if name.endswith("weight") else 0.0)


@pytest.mark.parametrize(("size", "side"), [("tiny", 224), pytest.param("small", 64, marks=pytest.mark.slow),
                                            pytest.param("base", 64, marks=pytest.mark.slow)])
def test_outputs_match_torchvision(size, side):
    generator = torch.Generator().manual_seed(0)
    ref = torchvision_model(size).eval()
    perturb(ref, generator)
    model = archlang.compile(SPECS / f"convnext_{size}.arch", input_shape=(3, side, side)).eval()
    archlang.transfer_weights(ref, model, by="name", rename=RENAME, linear_as_1x1=True)
    x = torch.randn(1 if side == 224 else 2, 3, side, side, generator=generator)
    with torch.no_grad():
        expected, actual = ref(x), model(x)
    assert expected.abs().max() > 1e-2, "the reference output is ~0: the comparison would prove nothing"
    diff = (actual - expected).abs().max().item()
    assert diff <= 1e-5, f"max abs difference {diff:.3g}"


def test_by_position_meets_the_layer_scale_first():
    # torchvision registers each block's layer_scale before the block's layers: by position,
    # the 5th entry (after the stem's four) pairs it with the depthwise convolution's weight.
    ref, model = torchvision_model("tiny", "meta"), archlang.compile(SPECS / "convnext_tiny.arch", device="meta")
    with pytest.raises(archlang.ArchError) as info:
        archlang.transfer_weights(ref, model)
    assert info.value.message == ("weights differ at entry 5: `features.1.0.layer_scale` is 96×1×1 in the source "
                                  "but `features.stage1.cn_block1.block.conv1.weight` is 96×1×7×7 in the destination")
