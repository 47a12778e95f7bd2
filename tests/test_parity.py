"""The zoo against reference PyTorch code: torchvision's models, and Dive into
Deep Learning's LeNet-5 and NiN (written out below).

For each model:
- shapes: every conv/linear layer's output shape and MACs, in execution order,
  equal the reference's (torchvision run on the meta device: no compute);
- the compiled module has the reference's parameter count;
- after `archlang.transfer_weights(reference, compiled)` every state_dict
  tensor is equal, and in eval mode both give the same output (max abs
  difference <= 1e-5, float32) on a random batch.

The forward comparisons run at 64x64 where the architecture allows it
(adaptive pooling makes torchvision's models accept it), and at 224x224 for
resnet50, densenet121, vgg16 and googlenet. The heaviest models (vgg19,
resnet152, densenet201) are marked slow: they still run by default.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402

import archlang  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"

# torchvision's constructor arguments, where they differ from the defaults.
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True}}

# (model, input side of the forward comparison); mark=slow for the heaviest.
slow = pytest.mark.slow
ZOO = [
    pytest.param("alexnet", 64),
    pytest.param("vgg11", 64),
    pytest.param("vgg13", 64),
    pytest.param("vgg16", 224),
    pytest.param("vgg19", 64, marks=slow),
    pytest.param("googlenet", 224),
    pytest.param("resnet18", 64),
    pytest.param("resnet34", 64),
    pytest.param("resnet50", 224),
    pytest.param("resnet101", 64),
    pytest.param("resnet152", 64, marks=slow),
    pytest.param("densenet121", 224),
    pytest.param("densenet169", 64),
    pytest.param("densenet201", 64, marks=slow),
]
NAMES = [p.values[0] for p in ZOO]


def torchvision_model(name: str, device=None) -> nn.Module:
    with torch.device(device or "cpu"):
        return getattr(torchvision.models, name)(weights=None, **KWARGS.get(name, {}))


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- Dive into Deep Learning's models (sections 7.6 and 8.3), with the input
# channels written out instead of D2L's lazy layers.


def d2l_lenet5() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def d2l_nin(num_classes: int = 10) -> nn.Module:
    def nin_block(in_channels, out_channels, kernel_size, strides, padding):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())

    return nn.Sequential(
        nin_block(1, 96, kernel_size=11, strides=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, strides=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, strides=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, num_classes, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())


D2L = {"lenet5": (d2l_lenet5, (1, 28, 28)), "nin": (d2l_nin, (1, 224, 224))}


# ---- shapes and MACs: no backend needed, no compute (meta device)


def reference_trace(model: nn.Module, shape) -> list[tuple[str, tuple, int]]:
    """(kind, output shape, MACs) of every conv and linear layer, in execution order."""
    trace = []

    def hook(module, inputs, output):
        per_sample = output.shape[1:].numel()
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            trace.append(("conv", tuple(output.shape[1:]), per_sample * module.in_channels // module.groups * kh * kw))
        else:
            trace.append(("fc", tuple(output.shape[1:]), per_sample * module.in_features))

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.register_forward_hook(hook)
    model.eval()
    with torch.no_grad():
        model(torch.empty(1, *shape, device="meta"))
    return trace


def archlang_trace(net) -> list[tuple[str, tuple, int]]:
    return [(n.type, tuple(n.shape), n.stats["macs"]) for n in net.layers if n.type in ("conv", "fc")]


@pytest.mark.parametrize("name", NAMES + list(D2L))
def test_shapes_and_macs_match_reference(name):
    if name in D2L:
        build, shape = D2L[name]
        with torch.device("meta"):
            ref = build()
    else:
        ref, shape = torchvision_model(name, "meta"), (3, 224, 224)
    net = archlang.load(SPECS / f"{name}.arch")
    assert net.input_shape == shape
    expected = reference_trace(ref, shape)
    assert archlang_trace(net) == expected
    assert net.macs == sum(macs for _, _, macs in expected)
    assert net.params == count(ref)


# ---- the compiled modules


def perturb(model: nn.Module, generator: torch.Generator) -> None:
    """Move biases and norm parameters off their (often constant) initial values,
    so that a transfer that skipped them could not go unnoticed."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
            elif getattr(module, "bias", None) is not None:
                module.bias.uniform_(-0.1, 0.1, generator=generator)


def calibrate(model: nn.Module, x: torch.Tensor) -> None:
    """Set every batch norm's running statistics from one batch (training-mode
    forward, cumulative average), so eval-mode activations keep a sane scale
    through deep networks and the buffers differ from their defaults."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    for m in norms:
        m.momentum = 0.1


def assert_same_state(ref: nn.Module, model: nn.Module) -> None:
    ours, theirs = list(model.state_dict().items()), list(ref.state_dict().items())
    assert len(ours) == len(theirs), "state_dict sizes differ"
    for (name, a), (ref_name, b) in zip(ours, theirs):
        assert a.shape == b.shape, f"{name} {tuple(a.shape)} vs torchvision's {ref_name} {tuple(b.shape)}"
        assert torch.equal(a, b), f"{name} differs from torchvision's {ref_name} after the transfer"


def compare(ref: nn.Module, model: nn.Module, x: torch.Tensor, classes: int | tuple,
            source: nn.Module | None = None) -> None:
    """`model` given `ref`'s weights (from `source`, the same modules listed in the spec's
    order, if given) computes `ref`'s output: `classes` scores per sample, or that shape."""
    assert count(model) == count(ref)
    calibrate(ref, x)
    source = ref if source is None else source
    archlang.transfer_weights(source, model)
    assert_same_state(source, model)
    ref.eval()
    model.eval()
    with torch.no_grad():
        expected, actual = ref(x), model(x)
    assert actual.shape == expected.shape == (x.shape[0], *((classes,) if isinstance(classes, int) else classes))
    assert expected.abs().max() > 1e-3, "the reference output is ~0: the comparison would prove nothing"
    diff = (actual - expected).abs().max().item()
    assert diff <= 1e-5, f"max abs difference {diff:.3g}"


@pytest.mark.parametrize(("name", "size"), ZOO)
def test_matches_torchvision(name, size):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    ref = torchvision_model(name)
    model = archlang.compile(SPECS / f"{name}.arch", input_shape=(3, size, size))
    perturb(ref, generator)
    batch = 1 if size == 224 else 2  # keep the 224x224 cases cheap on a 2-core CI runner
    x = torch.randn(batch, 3, size, size, generator=generator)
    compare(ref, model, x, 1000)


@pytest.mark.parametrize("name", list(D2L))
def test_matches_d2l(name):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    build, shape = D2L[name]
    ref = build()
    perturb(ref, generator)
    model = archlang.compile(SPECS / f"{name}.arch")
    compare(ref, model, torch.randn(2, *shape, generator=generator), 10)
