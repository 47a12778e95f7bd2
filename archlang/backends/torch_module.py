"""The PyTorch backend: an analysed `Network` becomes a `torch.fx.GraphModule`.

The module tree mirrors the spec's scope tree: every named scope (a block
call, a branch, a labelled group) that holds a module is a container, and
every layer with a module sits in its scope under its name, so state_dict
keys read like the spec (`layer1.basic1.main.conv_bn1.conv1.weight`).
Modules are created in node order, which is the elaboration order, so the
parameter order is the spec's order (torchvision's, for the zoo specs).

The forward is a torch.fx graph built from the nodes: a placeholder, one
call_module per layer with a module, the torch calls of `torch_function`
for merges and reshapes (recorded through fx proxies), and the output. fx
turns it into plain Python, so a call costs no interpretation and
`torch.compile(model, fullgraph=True)` sees one graph.

>>> import archlang
>>> model = archlang.load("specs/lenet5.arch").to_torch()
>>> list(model.state_dict())[:2]
['conv1.weight', 'conv1.bias']
"""

from __future__ import annotations

import functools
import keyword
import math

import torch
from torch import fx, nn
from torch.fx.proxy import GraphAppendingTracer

from archlang.errors import ArchError

__all__ = ["Container", "activate_in_place", "add_in_place", "available_memory", "build_module", "check_size", "forward_graph",
           "module_tree"]


class Container(nn.Module):
    """One named scope of the spec. It has no forward of its own: the network's
    generated forward calls the modules inside it by their dotted path."""

    def __init__(self, title: str, call: str | None = None):
        super().__init__()
        self._scope_title = title  # printed as the class name: `(basic1): basic(`
        self._scope_call = call  # the block call, e.g. `basic(64, 1)`, for generated source

    def _get_name(self) -> str:
        return self._scope_title


def build_module(net, *, device=None, dtype=None, max_params: float = 4e9) -> fx.GraphModule:
    """The network as a `torch.nn.Module` (an fx.GraphModule named like the network).

    device="meta" builds any size at once without memory. Otherwise the model is
    refused (ArchError E701) above `max_params` parameters, or, on the CPU, when
    its parameters do not fit in the available memory.
    """
    device = torch.device(device) if device is not None else torch.get_default_device()
    check_tensor_sizes(net)
    if device.type != "meta":
        check_size(net, device, dtype, max_params)
    with device:  # parameters are created on the device, never copied there
        root, modules = module_tree(net)
    activate_in_place(net, modules)
    graph = forward_graph(net, modules)
    add_in_place(graph)
    model = fx.GraphModule(root, graph, class_name=net.name)
    # GraphModule copies the leaves into plain nn.Module containers; put back the
    # titled ones (same objects, same order), which print like the spec.
    for name, child in root.named_children():
        setattr(model, name, child)
    if dtype is not None:
        model.to(dtype=dtype)
    return model


def module_tree(net) -> tuple[Container, dict[int, nn.Module]]:
    """The root container with every layer's module in its scope, and node id -> module."""
    root = Container(net.name)
    modules: dict[int, nn.Module] = {}
    for node in net.layers:
        module = node.layer.torch_module(node.in_shapes)
        if module is None:
            continue
        parent = root
        for scope in _named_scopes(node.scope):
            child = parent._modules.get(scope.name)
            if child is None:
                child = Container(scope.stem if scope.kind == "block" else scope.kind, scope.info.get("call"))
                _attach(net, parent, scope.name, child, scope.span, top=parent is root)
            parent = child
        _attach(net, parent, node.name, module, node.span, top=parent is root)
        modules[node.id] = module
    return root, modules


# Layers whose output is a new tensor that their backward does not read: an activation
# right after one of them may overwrite that output.
_FRESH_OUTPUT = frozenset({"conv", "bn", "fc", "add", "concat"})


def activate_in_place(net, modules: dict[int, nn.Module]) -> None:
    """Make ReLU (and ReLU6) in place where nothing else reads its input, as torchvision
    writes them: the same values without a new tensor per activation, which in an eval
    forward on the CPU was some 10% of ResNet-50's time (allocating and touching fresh pages).
    Only after a layer in _FRESH_OUTPUT whose output feeds this activation alone, so no
    other reader, no saved tensor of autograd and never the network's input is changed."""
    readers: dict[int, int] = {}
    for node in net.layers:
        for i in node.inputs:
            readers[i] = readers.get(i, 0) + 1
    for node in net.layers:
        module = modules.get(node.id)
        if type(module) in (nn.ReLU, nn.ReLU6) and len(node.inputs) == 1:
            source = net.nodes[node.inputs[0]]
            if readers[source.id] == 1 and source.type in _FRESH_OUTPUT and source.id != net.output:
                module.inplace = True


def add_in_place(graph: fx.Graph) -> None:
    """A sum `a + b` becomes `a.add_(b)`, torchvision's `out += identity`, where `a` (or `b`:
    addition commutes, bit for bit) is a tensor that only this sum reads, made by a layer in
    _FRESH_OUTPUT (ResNet's main branch ends in bn): the same values without a new tensor
    per block, the rest of the eval-forward gap to torchvision after the in-place ReLUs."""
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not torch.add or len(node.args) != 2 or node.kwargs:
            continue
        for a, b in (node.args, node.args[::-1]):
            if a is not b and _overwritable(a):
                with graph.inserting_before(node):
                    new = graph.call_method("add_", (a, b))
                new.meta = dict(node.meta)
                node.replace_all_uses_with(new)
                graph.erase_node(node)
                break


def _overwritable(value) -> bool:
    node = value.meta.get("archlang") if isinstance(value, fx.Node) and value.op != "placeholder" else None
    return node is not None and node.type in _FRESH_OUTPUT and len(value.users) == 1


def _named_scopes(scope) -> list:
    """The scopes that give a node its path, outermost first (repeats and plain groups add no name)."""
    chain = []
    while scope is not None and scope.kind != "network":
        if not scope.transparent:
            chain.append(scope)
        scope = scope.parent
    return chain[::-1]


@functools.cache
def _taken_names(top: bool) -> frozenset[str]:
    # A module name must not hide an attribute: `forward` or `training` of every module,
    # and `graph` or `code` of the GraphModule at the top.
    sample = fx.GraphModule(nn.Module(), fx.Graph()) if top else Container("")
    return frozenset(dir(sample))


def _attach(net, parent: nn.Module, name: str, module: nn.Module, span, top: bool) -> None:
    if keyword.iskeyword(name) or name in _taken_names(top):
        what = "a Python keyword" if keyword.iskeyword(name) else "an attribute of the module that holds it"
        raise ArchError("E703", f"the name `{name}` cannot name a PyTorch module: it is {what}", span,
                        hint=f"choose another label, like `{name}_`", sources=net.sources)
    parent.add_module(name, module)


def forward_graph(net, modules: dict[int, nn.Module]) -> fx.Graph:
    """The forward as an fx graph over the node order; fx nodes keep their archlang
    node in `meta["archlang"]` (the readable-source backend names values by it)."""
    graph = fx.Graph()
    tracer = GraphAppendingTracer(graph)
    values = {0: graph.placeholder("x")}
    values[0].meta["archlang"] = net.nodes[0]
    for node in net.layers:
        args = [values[i] for i in node.inputs]
        if node.id in modules:
            values[node.id] = graph.call_module(node.path, tuple(args))
        else:
            result = node.layer.torch_function(*(fx.Proxy(a, tracer) for a in args))
            values[node.id] = result.node  # a proxy: torch_function only calls torch on its inputs
        for fx_node in reversed(graph.nodes):  # the nodes this layer added, newest first
            if "archlang" in fx_node.meta:
                break
            fx_node.meta["archlang"] = node
    graph.output(values[net.output])
    return graph


# ---- refusing models that cannot be built


def check_size(net, device: torch.device, dtype, max_params: float) -> None:
    """Raise E701 before allocating a model that is over `max_params` or over the free memory."""
    if net.params > max_params:
        raise ArchError("E701", f"`{net.name}` has {net.params:,} parameters, over the limit of "
                                f"{int(max_params):,}", net.span, sources=net.sources,
                        hint="pass a larger max_params= if this is meant, or device=\"meta\" to build it "
                             "without allocating memory")
    if device.type != "cpu":
        return
    dtype = dtype or torch.get_default_dtype()
    # Modules are created in the default dtype and converted after: the larger one is the peak.
    needed = (net.params + net.buffers) * max(dtype.itemsize, torch.get_default_dtype().itemsize)
    free = available_memory()
    if free is not None and needed > free:
        raise ArchError("E701", f"`{net.name}` needs {_gib(needed)} for its {net.params:,} parameters "
                                f"({str(dtype).removeprefix('torch.')}), but only {_gib(free)} of memory "
                                "is available", net.span, sources=net.sources,
                        hint="use a smaller configuration, a smaller dtype, or device=\"meta\" to build it "
                             "without allocating memory")


TENSOR_LIMIT = 2**63 - 1  # elements of one tensor: PyTorch counts them in a signed 64-bit integer


def check_tensor_sizes(net) -> None:
    """Raise E701 when a layer's output or weights could not be one PyTorch tensor, whatever the
    device (a huge --input makes sizes that the analysis counts but torch cannot index)."""
    for node in net.nodes:
        size = math.prod(node.shape)
        if size > TENSOR_LIMIT or node.stats["params"] > TENSOR_LIMIT:
            what = f"output {'×'.join(map(str, node.shape))}" if size > TENSOR_LIMIT else "weights"
            raise ArchError("E701", f"`{node.path or node.type}` is too large for PyTorch: its {what} would be "
                                    "a tensor of more than 2^63 elements", node.span, sources=net.sources,
                            hint="use a smaller --input or smaller layers")


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
