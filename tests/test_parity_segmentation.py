"""The segmentation specs against torchvision.models.segmentation (weights=None,
weights_backbone=None, aux_loss=False; their `out` against our output):

- specs/fcn_resnet50.arch (32,957,013 parameters with 21 classes) and
  specs/deeplabv3_resnet50.arch (39,638,869): ResNet-50 with its last two stages dilated
  (specs/resnet.arch's `resnet_backbone`), FCN's and DeepLabV3's heads, and a bilinear
  upsampling back to the input's size (`input.h`, `input.w`);
- specs/lraspp_mobilenet_v3_large.arch (3,221,538): MobileNetV3-Large, its last stage
  dilated, and the Lite R-ASPP head joining its 1/8 and 1/16 maps.

Each: the parameter count (which torchvision's weights' metadata records too, less the
auxiliary head for FCN and DeepLabV3), the MACs that torch.utils.flop_counter counts on
torchvision's model at 3x520x520 (half its flops; torchvision's published 152.7 and
178.7 GFLOPS for FCN and DeepLabV3 include the auxiliary head, its 2.09 for LR-ASPP is
this count), and after `transfer_weights` the same output in eval mode (max abs difference
<= 1e-5, float32) at 3x64x64, batch 2, to keep the test cheap.
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
MODELS = {"fcn_resnet50": 32_957_013, "deeplabv3_resnet50": 39_638_869, "lraspp_mobilenet_v3_large": 3_221_538}


def in_spec_order(model: nn.Module) -> nn.Module:
    """The modules of torchvision's model in the order the spec registers its layers, for
    `transfer_weights` by position. The same order but for LR-ASPP's head: torchvision
    registers its low-level classifier before the high-level one, the spec adds the
    high-level branch (the rest of the backbone, the head, its classifier) to the
    low-level classifier, in that order."""
    if not hasattr(model.classifier, "low_classifier"):
        return model
    ordered, head = nn.Module(), model.classifier
    ordered.backbone = model.backbone
    for name in ("cbr", "scale", "high_classifier", "low_classifier"):
        setattr(ordered, name, getattr(head, name))
    return ordered


class Out(nn.Module):
    """torchvision's segmentation model, its `out` alone."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def torchvision_model(name: str, device=None) -> nn.Module:
    with torch.device(device or "cpu"):
        kwargs = {"aux_loss": False} if "resnet" in name else {}
        return getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, **kwargs)


def convolutions(model: nn.Module) -> list[tuple]:
    """Every convolution's widths, stride, dilation and padding, in registration order."""
    return [(m.in_channels, m.out_channels, m.stride, m.dilation, m.padding) for m in model.modules()
            if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("name", list(MODELS))
def test_params_and_macs(name):
    net = archlang.load(SPECS / f"{name}.arch")
    ref = torchvision_model(name, "meta").eval()
    assert net.params == sum(p.numel() for p in ref.parameters()) == MODELS[name]
    assert net.input_shape == (3, 520, 520) and net.output_shape == (21, 520, 520)
    with FlopCounterMode(display=False) as counter:
        assert ref(torch.empty(1, 3, 520, 520, device="meta"))["out"].shape == (1, 21, 520, 520)
    assert 2 * net.macs == counter.get_total_flops()
    if name == "lraspp_mobilenet_v3_large":  # no auxiliary head: torchvision's published figure is this one
        weights = torchvision.models.segmentation.LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1
        assert (net.params, round(net.macs / 1e9, 3)) == (weights.meta["num_params"], weights.meta["_ops"])
    assert convolutions(archlang.compile(SPECS / f"{name}.arch", device="meta")) == convolutions(in_spec_order(ref))


@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_match_torchvision(name):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    ref = Out(torchvision_model(name))
    perturb(ref, generator)
    model = archlang.compile(SPECS / f"{name}.arch", input_shape=(3, 64, 64))
    compare(ref, model, torch.randn(2, 3, 64, 64, generator=generator), (21, 64, 64), in_spec_order(ref.model))
