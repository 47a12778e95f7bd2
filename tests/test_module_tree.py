"""The compiled model behaves like hand-written PyTorch: every scope of the spec is a module
with its own forward, called by its parent's, so hooks fire at every level, any sub-module
runs alone on a tensor of its input shape, repeats index and chains slice like
nn.Sequential, and the tools that walk torchvision's models (torchinfo,
create_feature_extractor, Grad-CAM by hooks) see the same blocks and the same values."""

from __future__ import annotations

import copy
import re

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402

import archlang  # noqa: E402
from archlang.backends.pysource import python_source  # noqa: E402
from archlang.backends.torch_module import Scope, scope_modules  # noqa: E402

SMALL = (3, 64, 64)  # the zoo at 64×64: every shape and count of the tree, a fraction of the time


def resnet_pair(name="resnet50"):
    """Our model and torchvision's, the same weights, eval mode."""
    ours = archlang.compile(f"specs/{name}.arch", input_shape=SMALL).eval()
    theirs = getattr(torchvision.models, name)().eval()
    archlang.transfer_weights(theirs, ours)
    return ours, theirs


def scope_outputs(net, path: str):
    """What the net says a scope gives: the shape of its last layer (the one read after it)."""
    inside = [n for n in net.layers if n.path.startswith(path + ".")]
    return (1, *inside[-1].shape)


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "densenet121"])
def test_hooks_fire_on_every_scope_with_the_shapes_the_net_reports(name):
    net = archlang.load(f"specs/{name}.arch", input_shape=SMALL)
    model = net.to_torch().eval()
    seen: dict[str, list] = {}
    for path, module in model.named_modules():
        if path:
            module.register_forward_hook(lambda m, i, o, path=path: seen.setdefault(path, []).append(tuple(o.shape)))
    with torch.no_grad():
        model(torch.randn(1, *SMALL))
    scopes = scope_modules(model)
    assert len(scopes) > 50
    for path, _ in scopes:
        assert seen.get(path) == [scope_outputs(net, path)], path
    # and every layer with a module, once each, with its own shape
    for node in net.layers:
        if node.path in dict(model.named_modules()):
            assert seen[node.path] == [(1, *node.shape)], node.path
    # every named scope of the spec that holds a module is one
    expected = {n.path.rsplit(".", k)[0] for n in net.layers if n.path in seen for k in range(1, n.path.count(".") + 1)}
    assert expected == {path for path, _ in scopes}


def torchinfo_rows(model, depth):
    import torchinfo

    stats = torchinfo.summary(model, input_size=(1, *SMALL), depth=depth, verbose=0)
    return [(row.depth, tuple(row.output_size), row.num_params) for row in stats.summary_list
            if row.depth <= depth and row.class_name != "Flatten"]  # torchvision flattens with a function


def test_torchinfo_shows_the_same_blocks_as_torchvision():
    ours, theirs = resnet_pair()
    rows, reference = torchinfo_rows(ours, 2), torchinfo_rows(theirs, 2)
    assert rows == reference  # stem, the four stages, their 16 blocks, pool and fc: shapes and counts
    assert len(rows) == 1 + 4 + 4 + 16 + 2
    # one level down every row has an output (no "--" of a container that is never called)
    import torchinfo

    table = str(torchinfo.summary(ours, input_size=(1, *SMALL), depth=3, verbose=0))
    block_rows = [line for line in table.splitlines() if "│    │    └─" in line]
    assert block_rows and not [line for line in block_rows if " -- " in line.split("[")[0] and "[" not in line]


def test_create_feature_extractor_with_our_node_names():
    from torchvision.models.feature_extraction import create_feature_extractor

    ours, theirs = resnet_pair()
    mine = create_feature_extractor(ours, {"layer4": "feat", "layer2.bottleneck1": "mid"})
    ref = create_feature_extractor(theirs, {"layer4": "feat", "layer2.0": "mid"})
    x = torch.randn(2, *SMALL)
    with torch.no_grad():
        got, want = mine(x), ref(x)
    assert got["feat"].shape == (2, 2048, 2, 2) and got["mid"].shape == (2, 512, 8, 8)
    torch.testing.assert_close(got["feat"], want["feat"])
    torch.testing.assert_close(got["mid"], want["mid"])


def grad_cam(model, x, cls: int):
    """Grad-CAM on `model.layer4` by hand: its activations and their gradients from hooks."""
    store = {}

    def keep(module, inputs, output):
        store["act"] = output
        output.register_hook(lambda grad: store.__setitem__("grad", grad))

    handle = model.layer4.register_forward_hook(keep)
    try:
        model.zero_grad()
        model(x)[:, cls].sum().backward()
    finally:
        handle.remove()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    return (weights * store["act"]).sum(dim=1).detach()  # Grad-CAM is the ReLU of this map


def test_grad_cam_on_layer4_is_torchvisions():
    ours, theirs = resnet_pair()
    x = torch.randn(2, *SMALL, generator=torch.Generator().manual_seed(0))
    cls = int(theirs(x)[0].argmax())
    cam, reference = grad_cam(ours, x, cls), grad_cam(theirs, x, cls)
    assert cam.shape == (2, 2, 2) and reference.abs().max() > 0
    torch.testing.assert_close(cam, reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
    torch.testing.assert_close(torch.relu(cam), torch.relu(reference), rtol=1e-4, atol=1e-4 * float(reference.abs().max()))


def test_a_stage_indexes_like_nn_sequential():
    model = archlang.compile("specs/resnet50.arch", input_shape=SMALL).eval()
    last = model.layer4[-1]
    assert last is model.layer4.bottleneck3 and type(last).__name__ == "bottleneck"
    assert len(model.layer4) == 3 and list(model.layer4) == [model.layer4[i] for i in range(3)]
    x = torch.randn(2, 2048, 2, 2)
    with torch.no_grad():
        assert last(x).shape == x.shape
        torch.testing.assert_close(nn.Sequential(*model.layer4[1:])(x), model.layer4[2](model.layer4[1](x)))
    with pytest.raises(TypeError, match="not a chain"):
        model.layer4[0][:1]  # a bottleneck: two branches and a sum


def test_the_backbone_without_its_head():
    model = archlang.compile("specs/resnet18.arch", input_shape=SMALL).eval()
    backbone = nn.Sequential(*list(model.children())[:-1])
    x = torch.randn(2, *SMALL)
    with torch.no_grad():
        features = backbone(x)
        pooled = model.layer4(model.layer3(model.layer2(model.layer1(model.maxpool1(model.relu1(model.bn1(
            model.conv1(x)))))))).mean(dim=(2, 3))
        assert features.shape == (2, 512)  # pooled and flattened: the spec has a flatten layer
        torch.testing.assert_close(features, pooled)
        torch.testing.assert_close(model.fc(features), model(x))
        torch.testing.assert_close(model[:-1](x), features)  # the network is a chain too


def test_a_stage_runs_alone_on_a_tensor_of_its_input_shape():
    model = archlang.compile("specs/resnet50.arch", input_shape=SMALL).eval()
    seen = {}
    model.layer3.register_forward_hook(lambda m, i, o: seen.update(inp=i[0].clone(), out=o.clone()))
    with torch.no_grad():
        model(torch.randn(1, *SMALL))
        x = seen["inp"].clone()
        out = model.layer3(x)
    assert out.shape == (1, 1024, 4, 4)
    torch.testing.assert_close(out, seen["out"])
    assert torch.equal(x, seen["inp"])  # a scope never writes over its argument
    with torch.no_grad():
        torch.testing.assert_close(model.layer3.bottleneck1.main(x), model.layer3.bottleneck1.main.conv_bn3(
            model.layer3.bottleneck1.main.relu2(model.layer3.bottleneck1.main.conv_bn2(
                model.layer3.bottleneck1.main.relu1(model.layer3.bottleneck1.main.conv_bn1(x))))))


def test_children_are_in_execution_order():
    model = archlang.compile("specs/googlenet.arch", input_shape=SMALL).eval()
    order = []
    for path, module in model.named_modules():
        if path and path.count(".") <= 1:
            module.register_forward_pre_hook(lambda m, i, path=path: order.append(path))
    with torch.no_grad():
        model(torch.randn(1, *SMALL))
    registered = [path for path, _ in model.named_modules() if path and path.count(".") <= 1]
    assert order == registered


@pytest.mark.parametrize("how", ["deepcopy", "torch.save"])
def test_copies_keep_the_tree(how, tmp_path):
    model = archlang.compile("specs/resnet18.arch", input_shape=SMALL).eval()
    if how == "deepcopy":
        twin = copy.deepcopy(model)
    else:
        torch.save(model, tmp_path / "model.pt")
        twin = torch.load(tmp_path / "model.pt", weights_only=False)  # our own file: a whole module
    assert repr(twin) == repr(model) and isinstance(twin.layer1, Scope) and not twin.training
    assert twin.layer4[-1] is not model.layer4[-1] and type(twin.layer4[-1]).__name__ == "basic"
    x = torch.randn(1, *SMALL)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))
        torch.testing.assert_close(twin[:-1](x), model[:-1](x))


def test_compiled_fullgraph_with_hooks():
    model = archlang.compile("specs/resnet18.arch", input_shape=(3, 32, 32)).eval()
    seen = []
    model.layer2.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    x = torch.randn(2, 3, 32, 32)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    assert seen == [(2, 128, 4, 4)] * 2


def test_generated_source_has_the_same_tree():
    net = archlang.load("specs/resnet50.arch", input_shape=SMALL)
    namespace: dict = {"__name__": "generated"}
    exec(compile(python_source(net), "resnet50.py", "exec"), namespace)
    generated, model = namespace[net.name]().eval(), net.to_torch().eval()
    archlang.transfer_weights(model, generated, by="name")
    assert [p for p, _ in generated.named_modules()] == [p for p, _ in model.named_modules()]
    # the classes are named after the blocks, numbered where one block has several forwards
    assert [re.sub(r"_\d+$", "", type(m).__name__) for _, m in generated.named_modules()][1:] == \
           [type(m).__name__ for _, m in model.named_modules()][1:]
    x = torch.randn(2, 2048, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(generated.layer4[-1](x), model.layer4[-1](x))
        torch.testing.assert_close(generated.layer4[1:](x), model.layer4[1:](x))
    with pytest.raises(TypeError, match="not a chain"):
        generated.layer4[0][:1]
