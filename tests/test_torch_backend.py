"""The PyTorch backend: module tree and names, the fx forward (torch.compile
without graph breaks), size limits, weight transfer, and LeNet-5 against a
hand-written PyTorch LeNet-5 (Dive into Deep Learning, section 7.6)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from archlang.backends import torch_module  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

BRANCHY = """
block unit(c) =
    add(main: conv(c, 3, bias = false) -> bn -> relu, skip: identity, extra: conv(c, 1))
network Branchy:
    input(4, 8, 8)
    -> stem: conv(8, 3) -> relu
    -> [unit(8)] * 2
    -> concat(left: chunk(2, 0) -> channel_shuffle(2), right: chunk(2, 1) -> maxpool(3, stride = 1, pad = 1))
    -> mul(identity, gate: global_avgpool -> conv(8, 1) -> sigmoid)
    -> global_avgpool -> fc(5)
"""


def test_analysis_never_imports_torch():
    code = ("import sys, archlang; archlang.load('specs/resnet50.arch').summary(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_state_dict_keys_are_the_spec_paths_in_node_order():
    net = archlang.load(SPECS / "resnet18.arch")
    model = net.to_torch(device="meta")
    owners = [key.rsplit(".", 1)[0] for key in model.state_dict()]
    with_params = [n.path for n in net.layers if n.stats["params"] + n.stats["buffers"]]
    assert list(dict.fromkeys(owners)) == with_params
    assert "layer2.basic1.skip.conv_bn1.conv1.weight" in model.state_dict()


def test_module_tree_prints_like_the_spec():
    net = archlang.load(SPECS / "resnet18.arch")
    model = net.to_torch(device="meta")
    text = repr(model)
    assert text.startswith(f"{net.name}(\n  (conv1): Conv2d(3, 64")
    for line in ("(layer1): stage(", "(basic1): basic(", "(main): branch(", "(conv_bn1): conv_bn("):
        assert line in text
    assert type(model).__name__ == net.name


def test_layers_without_modules_are_functions():
    model = archlang.load(BRANCHY).to_torch()
    names = {name for name, _ in model.named_modules()}
    assert not any(n.endswith(("add1", "concat1", "mul1", "chunk1")) for n in names)
    assert "channel_shuffle1" in {n.rsplit(".", 1)[-1] for n in names}
    nodes = [n for m in model.modules() if isinstance(m, torch.fx.GraphModule) for n in m.graph.nodes]  # every scope
    targets = [n.target for n in nodes if n.op == "call_function"]
    in_place = [n.target for n in nodes if n.op == "call_method"].count("add_")  # add_in_place
    assert targets.count(torch.add) + in_place == 4  # two three-branch adds
    assert {torch.cat, torch.mul, torch.chunk} <= set(targets)


def test_forward_computes_the_merges():
    net = archlang.load("network T:\n  input(3, 4, 4) -> add(a: conv(3, 1), b: identity, c: relu)\n")
    model = net.to_torch()
    x = torch.randn(2, 3, 4, 4)
    assert torch.allclose(model(x), model.a.conv1(x) + x + torch.relu(x))


def test_torch_compile_fullgraph():
    model = archlang.load(BRANCHY).to_torch().eval()
    x = torch.randn(2, 4, 8, 8)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # fullgraph: a graph break raises
    assert torch.allclose(compiled(x), model(x))


def test_meta_device_builds_any_size_without_memory():
    net = archlang.load(SPECS / "resnet.arch", depth=152, classes=10**6)  # about 2 billion parameters
    model = net.to_torch(device="meta")
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == net.params


def test_compile_api_with_overrides_and_dtype():
    model = archlang.compile(SPECS / "resnet.arch", depth=18, classes=7, input_shape=(3, 32, 32),
                             dtype=torch.float64)
    assert model.fc.out_features == 7 and model.fc.weight.dtype == torch.float64
    assert model.eval()(torch.randn(1, 3, 32, 32, dtype=torch.float64)).shape == (1, 7)


def test_too_many_parameters_is_refused():
    with pytest.raises(archlang.ArchError) as info:
        archlang.compile(SPECS / "lenet5.arch", max_params=1000)
    err = info.value
    assert err.code == "E701" and "61,706 parameters" in err.message and "1,000" in err.message
    assert "network LeNet5" in err.format()  # points at the spec's line


def test_more_than_the_free_memory_is_refused(monkeypatch):
    monkeypatch.setattr(torch_module, "available_memory", lambda: 100_000)
    net = archlang.load(SPECS / "lenet5.arch")
    with pytest.raises(archlang.ArchError) as info:
        net.to_torch()
    assert info.value.code == "E701" and "memory" in info.value.message and "float32" in info.value.message
    net.to_torch(device="meta")  # allocates nothing


def test_names_that_would_hide_module_attributes_are_refused_when_loading():
    # Refused by `archlang check` already (no torch needed), at any depth of the module tree.
    for label in ("forward", "training", "graph", "pass"):
        for spec in (f"network T:\n  input(3, 8, 8) -> {label}: conv(4)\n",
                     f"network T:\n  input(3, 8, 8) -> b: [{label}: conv(4)]\n"):
            with pytest.raises(archlang.ArchError, match=f"`{label}` cannot name a PyTorch module") as info:
                archlang.load(spec)
            assert info.value.code == "E703" and info.value.span.line == 2


def test_copies_keep_working():
    model = archlang.load(BRANCHY).to_torch().eval()
    twin = copy.deepcopy(model)
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(twin(x), model(x))


# ---- transfer_weights


def test_transfer_weights_copies_parameters_and_buffers():
    net = archlang.load(BRANCHY)
    src, dst = net.to_torch(), net.to_torch()
    src.train()(torch.randn(4, 4, 8, 8))  # moves the batch-norm running statistics
    assert archlang.transfer_weights(src, dst) is dst
    for (_, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert torch.equal(a, b)


def test_transfer_weights_names_the_first_mismatch():
    src = archlang.compile("network A:\n  input(1, 8, 8) -> conv(4) -> fc(10)\n")
    dst = archlang.compile("network B:\n  input(1, 8, 8) -> conv(5) -> fc(10)\n")
    before = copy.deepcopy(dst.state_dict())
    with pytest.raises(archlang.ArchError) as info:
        archlang.transfer_weights(src, dst)
    err = info.value
    assert err.code == "E702"
    assert "`conv1.weight` is 4×1×3×3 in the source" in err.message
    assert "`conv1.weight` is 5×1×3×3 in the destination" in err.message
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())  # nothing copied


def test_transfer_weights_counts():
    src = archlang.compile("network A:\n  input(1, 8, 8) -> conv(4) -> fc(10)\n")
    dst = archlang.compile("network B:\n  input(1, 8, 8) -> conv(4) -> fc(10) -> bn\n")
    with pytest.raises(archlang.ArchError) as info:
        archlang.transfer_weights(src, dst)
    assert "source has 4 parameters and buffers, the destination 9" in info.value.message
    assert "`bn1.weight` 10 in the destination has no counterpart" in info.value.message


# ---- LeNet-5 against the textbook's PyTorch code




def test_lenet5_matches_d2l():
    from test_parity import d2l_lenet5

    reference = d2l_lenet5()
    model = archlang.transfer_weights(reference, archlang.compile(SPECS / "lenet5.arch"))
    assert sum(p.numel() for p in model.parameters()) == 61_706
    x = torch.randn(8, 1, 28, 28)
    assert torch.equal(model(x), reference(x))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("training", [False, True])
def test_every_layer_type_compiles_without_graph_breaks(training):
    from test_pysource import EVERY_LAYER  # every layer of the registry

    model = archlang.load(EVERY_LAYER).to_torch().train(training)
    x = torch.randn(2, 4, 16, 16)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.manual_seed(0)  # dropout and drop path draw the same numbers in both
    expected = model(x)
    torch.manual_seed(0)
    torch.testing.assert_close(compiled(x), expected)
