"""In-place operations in the compiled module, as torchvision writes them: a ReLU works in
place (torch_module.activate_in_place), and a sum `a + b` becomes `a.add_(b)`
(add_in_place), only where that changes nothing but memory: on a tensor made by a layer
whose backward does not read its output, which nothing else reads. Values and gradients
equal those of the module without them."""

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
    -> add(skip: identity, proj: conv(4, 1) -> bn)
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


def test_sums_in_place_only_on_a_fresh_tensor_nothing_else_reads():
    code = archlang.compile(SPEC).code
    # The first add's main branch ends in a relu (whose backward reads its output) and its
    # skip is read by the main branch too: a new tensor. The second's skip is read by `proj`
    # as well, so proj's output (its bn's) takes the sum, the operands swapped.
    assert "add = torch.add(main, conv1)" in code
    assert "add_ = proj.add_(relu2)" in code


def unoptimised(spec):
    """The module without any in-place operation: the same tree and forward, unoptimised."""
    from archlang.backends.torch_module import build_module

    return build_module(archlang.load(spec), in_place=False)


def test_same_values_and_gradients_as_without():
    torch.manual_seed(0)
    model = archlang.compile(SPEC).train()
    plain = unoptimised(SPEC).train()
    assert not any(relus(plain).values()) and not any(".add_(" in m.code for m in plain.modules() if hasattr(m, "code"))
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


class _Operators(torch.utils._python_dispatch.TorchDispatchMode):
    """Records every aten operator that runs, with the shapes and strides of its tensors."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        def describe(v):
            if isinstance(v, (list, tuple)):
                return [describe(item) for item in v]
            return (tuple(v.shape), v.stride(), v.dtype) if isinstance(v, torch.Tensor) else repr(v)

        self.seen.append((str(func), [describe(a) for a in args], {k: describe(v) for k, v in (kwargs or {}).items()}))
        return func(*args, **(kwargs or {}))


def operators(model, x, backward: bool):
    model.train(backward)
    with _Operators() as seen:
        if backward:
            torch.nn.functional.cross_entropy(model(x), torch.tensor([1, 2])).backward()
        else:
            with torch.no_grad():
                model(x)
    return seen.seen


# DenseNet is not among them: torchvision's dense layer concatenates the list of every
# earlier output, the spec's `concat` joins the running tensor with the new one (the same
# values and the same copying per layer, one concatenation fewer per block).
@pytest.mark.parametrize("name", ["resnet50", "vgg16", "googlenet"])
def test_the_same_operators_as_torchvision(name):
    """What the compiled module costs over torchvision's: nothing at the operator level. The
    same aten operators run in the same order on tensors of the same shapes and strides,
    forward (eval) and forward + backward (train); only Python's calls between them differ."""
    torchvision = pytest.importorskip("torchvision")
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    ours = archlang.compile(f"specs/{name}.arch", input_shape=(3, 64, 64))
    theirs = getattr(torchvision.models, name)(weights=None, **kwargs)
    x = torch.randn(2, 3, 64, 64)
    for backward in (False, True):
        mine, ref = operators(ours, x, backward), operators(theirs, x, backward)
        assert len(mine) == len(ref)
        for i, (a, b) in enumerate(zip(mine, ref)):
            assert a == b, f"operator {i} of {len(ref)}: {a[0]} vs {b[0]}"


def test_a_scope_called_alone_never_overwrites_its_argument():
    # The block's relu reads the conv before it, outside the block: in place in the network
    # it would be safe, but `model.a(x)` must leave the caller's x alone, so it is not.
    model = archlang.compile("block act_conv(c) = relu -> conv(c) -> relu\n"
                             "network N:\n    input(3, 8, 8) -> conv(4) -> a: act_conv(4)\n")
    assert relus(model) == {"a.relu1": False, "a.relu2": True}
    x = torch.randn(2, 4, 8, 8)
    before = x.clone()
    model.a(x)
    assert torch.equal(x, before)
