"""In-place activations in the compiled module (torch_module.activate_in_place): a ReLU
works in place, as torchvision's do, only where that changes nothing but memory: right
after a layer that makes a fresh tensor its backward does not read, which nothing else
reads. Values and gradients equal those of the module without it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import archlang  # noqa: E402

SPEC = """
network N:
    input(3, 8, 8)
    -> relu
    -> conv(4, 3, pad = 1)
    -> add(main: relu -> conv(4, 3, pad = 1) -> bn -> relu, skip: identity) -> relu
    -> sigmoid -> relu
    -> concat(x: identity, y: conv(4, 1)) -> relu
    -> flatten -> fc(10) -> relu6
"""


def relus(model):
    return {name: m.inplace for name, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.ReLU6))}


def test_in_place_only_where_nothing_else_reads_the_input():
    assert relus(archlang.compile(SPEC)) == {
        "relu1": False,  # its input is the network's input
        "main.relu1": False,  # the conv's output is also the skip
        "main.relu2": True,  # after bn, which only it reads
        "relu2": True,  # after add
        "relu3": False,  # after sigmoid, whose backward reads its output
        "relu4": True,  # after concat
        "relu6_1": True,  # after fc
    }


def test_same_values_and_gradients_as_without():
    torch.manual_seed(0)
    model = archlang.compile(SPEC).train()
    plain = archlang.compile(SPEC).train()
    for m in plain.modules():
        if isinstance(m, (nn.ReLU, nn.ReLU6)):
            m.inplace = False
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    x_copy = x.clone()
    out, ref = model(x), plain(x)
    assert torch.equal(x, x_copy)  # the input is never written
    assert torch.equal(out, ref)
    out.square().sum().backward()
    ref.square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), plain.parameters()):
        assert torch.equal(p.grad, q.grad), name


def test_the_zoo_trains_with_them():
    model = archlang.compile("specs/resnet18.arch", input_shape=(3, 32, 32)).train()
    assert sum(relus(model).values()) == 17  # as torchvision's ResNet-18 (one ReLU module per use)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
