"""The PyTorch backend: an analysed `Network` becomes a tree of `torch.fx.GraphModule`s.

The module tree mirrors the spec's scope tree, and every node of it is a
module with its own forward, as a hand-written PyTorch model is:

- every layer with a module (a convolution, a batch norm, a ReLU) is that
  module, under its name in its scope;
- every named scope that holds a module (a block call, a labelled branch or
  group) is a `Scope`: an fx.GraphModule whose forward runs its own layers
  and calls its sub-scopes, and the network is the `Scope` at the top.

So a forward hook on `model.layer4` fires, `model.layer3(x)` runs layer 3
alone on a tensor of its input shape, children are registered in the order
they run, `model.layer4[-1]` is the last block of the stage and a scope that
is a chain (each child reads the previous one's output alone) slices like
`nn.Sequential` (`model[:-1]` is ResNet's backbone). state_dict keys read like
the spec (`layer1.basic1.main.conv_bn1.conv1.weight`). Modules are created
in node order, which is the elaboration order, so the parameter order is the
spec's order (torchvision's, for the zoo specs).

A scope's forward is a torch.fx graph built from its nodes: a placeholder
per value it reads from outside (one, for a block), one call_module per
layer with a module or sub-scope, the torch calls of `torch_function` for
merges and reshapes (recorded through fx proxies), and the values read
outside it as the output (one tensor, or a tuple when there are several).
fx turns each into plain Python, so a call costs no interpretation and
`torch.compile(model, fullgraph=True)` sees one graph.

>>> import archlang, torch
>>> model = archlang.load("specs/lenet5.arch").to_torch()
>>> list(model.state_dict())[:2]
['conv1.weight', 'conv1.bias']
>>> resnet = archlang.compile("specs/resnet18.arch", input_shape=(3, 64, 64))
>>> resnet.layer4[-1](torch.randn(1, 512, 2, 2)).shape
torch.Size([1, 512, 2, 2])
"""

from __future__ import annotations

import math
import operator

import torch
from torch import fx, nn
from torch.fx.proxy import GraphAppendingTracer

from archlang.errors import ArchError

__all__ = ["Scope", "activate_in_place", "add_in_place", "available_memory", "build_module", "check_size",
           "scope_modules"]


class Scope(fx.GraphModule):
    """One named scope of the spec (a block call, a labelled branch or group), or the network.

    Its forward runs its layers and sub-scopes in the spec's order. It reads the values it
    needs from outside as its arguments (one tensor for a block) and returns the values read
    outside it (one tensor, or a tuple). Children are in the order they run: `scope[i]` is the
    i-th, `len(scope)` counts them, and a chain (every child reads the previous one's output
    alone, as `nn.Sequential` does) slices: `scope[a:b]` is an `nn.Sequential` of those children.
    """

    _scope_call: str | None = None  # the block call, e.g. `basic(64, 1)`, for generated source
    _scope_chain: bool = False

    # (the generated source's Scope has the same three methods: pysource.SCOPE_BASE)
    def __getitem__(self, index):
        if isinstance(index, slice):
            if not self._scope_chain:
                raise TypeError(f"`{self._get_name()}` is not a chain (its children do not each read the "
                                "previous one's output alone), so it cannot be sliced; index its children, "
                                "or call it whole")
            chain = nn.Sequential()
            for name, child in list(self._modules.items())[index]:
                chain.add_module(name, child)
            return chain
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _recompile_submodules(self) -> list:
        # GraphModule recompiles every sub-GraphModule whenever it compiles: with a module per
        # scope that made building quadratic in the depth. Each scope compiles its own code when
        # it is built, copied or unpickled; after editing a sub-scope's graph, recompile it.
        return []

    def __deepcopy__(self, memo):
        # GraphModule's copy is rebuilt through its __init__, which names the class
        # `GraphModule` and drops other attributes: put back the title and the flags.
        copy = super().__deepcopy__(memo)
        copy.__class__.__name__ = type(self).__name__
        copy._scope_call, copy._scope_chain = self._scope_call, self._scope_chain
        return copy

    def __reduce__(self):
        # GraphModule pickles its code and rebuilds a plain GraphModule: rebuild a Scope from it.
        rebuild, args = super().__reduce__()
        return _unpickle_scope, (rebuild, args, type(self).__name__, self._scope_call, self._scope_chain)


def _unpickle_scope(rebuild, args, title: str, call: str | None, chain: bool) -> Scope:
    plain = rebuild(*args)
    scope = Scope(plain, plain.graph, class_name=title)
    scope._modules = type(scope._modules)((name, plain._modules[name]) for name in plain._modules)
    scope.train(plain.training)
    scope._scope_call, scope._scope_chain = call, chain
    return scope


def build_module(net, *, device=None, dtype=None, max_params: float = 4e9, in_place: bool = True) -> Scope:
    """The network as a `torch.nn.Module`: a `Scope` named like the network.

    device="meta" builds any size at once without memory. Otherwise the model is
    refused (ArchError E701) above `max_params` parameters, or, on the CPU, when
    its parameters do not fit in the available memory. in_place=False leaves every
    activation and sum out of place (the same values, more memory).
    """
    device = torch.device(device) if device is not None else torch.get_default_device()
    check_tensor_sizes(net)
    if device.type != "meta":
        check_size(net, device, dtype, max_params)
    with device:  # parameters are created on the device, never copied there
        modules = {node.id: m for node in net.layers if (m := node.layer.torch_module(node.in_shapes)) is not None}
    plan = _Plan(net, modules)
    if in_place:
        activate_in_place(net, modules, plan.owner)
    model = _scope_module(plan, net.root, net.name, in_place)
    if dtype is not None:
        model.to(dtype=dtype)
    return model


def scope_modules(model: nn.Module):
    """(path, Scope) for every scope of a built model below the top, outermost first."""
    return [(name, m) for name, m in model.named_modules() if name and isinstance(m, Scope)]


class _Plan:
    """Which scopes become modules, and what each one reads and gives: node ids, in node order."""

    def __init__(self, net, modules: dict[int, nn.Module]):
        self.net, self.modules = net, modules
        self.members: dict[int, set[int]] = {}  # id(scope) -> ids of the layers under it
        self.owner: dict[int, object] = {}  # node id -> the innermost scope made a module
        self._collect(net.root, net.root)
        readers: dict[int, list[int]] = {}
        for node in net.layers:
            for i in node.inputs:
                readers.setdefault(i, []).append(node.id)
        self.readers = readers

    def is_module(self, scope) -> bool:
        return id(scope) in self.members

    def _collect(self, scope, owner) -> set[int]:
        ids: set[int] = set()
        for child in scope.children:
            if hasattr(child, "children"):  # a Scope of the spec
                named = not child.transparent and child.name and any(n.id in self.modules for n in child.layers())
                ids |= self._collect(child, child if named else owner)
            else:
                ids.add(child.id)
                self.owner[child.id] = owner
        if owner is scope:
            self.members[id(scope)] = ids
        return ids

    def inputs(self, scope) -> list[int]:
        """The values a scope reads from outside it."""
        inside = self.members[id(scope)]
        if scope is self.net.root:
            return [0]
        return sorted({i for n in inside for i in self.net.nodes[n].inputs if i not in inside})

    def outputs(self, scope) -> list[int]:
        """The values of a scope read outside it (the last one when none is: it still runs)."""
        inside = self.members[id(scope)]
        if scope is self.net.root:
            return [self.net.output]
        out = sorted(n for n in inside if n == self.net.output or any(r not in inside for r in self.readers.get(n, ())))
        return out or [max(inside)]


def _items(plan: _Plan, scope):
    """The layers and the module scopes directly in `scope`, in order (looking through the others)."""
    for child in scope.children:
        if not hasattr(child, "children"):
            yield child
        elif plan.is_module(child):
            yield child
        else:
            yield from _items(plan, child)


def _scope_module(plan: _Plan, scope, title: str, in_place: bool) -> Scope:
    net = plan.net
    graph = fx.Graph()
    tracer = GraphAppendingTracer(graph)
    values: dict[int, fx.Node] = {}
    for i in plan.inputs(scope):
        values[i] = graph.placeholder("x")
        values[i].meta["archlang"] = net.nodes[i]
    children: dict[str, nn.Module] = {}
    calls = []  # (call_module node, the values it reads) to tell a chain
    for item in _items(plan, scope):
        if hasattr(item, "children"):  # a sub-scope
            child = _scope_module(plan, item, item.stem if item.kind == "block" else item.kind, in_place)
            child._scope_call = item.info.get("call")
            children[item.name] = child
            args = tuple(values[i] for i in plan.inputs(item))
            call = _call_module(graph, item.name, args)
            calls.append((call, args))
            outs = plan.outputs(item)
            call.meta["archlang"] = net.nodes[outs[-1]]
            if len(outs) == 1:
                values[outs[0]] = call
            else:
                for k, o in enumerate(outs):
                    values[o] = graph.call_function(operator.getitem, (call, k))
                    values[o].meta["archlang"] = net.nodes[o]
            continue
        node = item
        if node.id in values:  # the network's input: the top's placeholder
            continue
        args = [values[i] for i in node.inputs]
        if node.id in plan.modules:
            children[node.name] = plan.modules[node.id]
            values[node.id] = _call_module(graph, node.name, tuple(args))
            calls.append((values[node.id], tuple(args)))
        else:
            result = node.layer.torch_function(*(fx.Proxy(a, tracer) for a in args))
            values[node.id] = result.node  # a proxy: torch_function only calls torch on its inputs
        for fx_node in reversed(graph.nodes):  # the nodes this layer added, newest first
            if "archlang" in fx_node.meta:
                break
            fx_node.meta["archlang"] = node
    outs = plan.outputs(scope)
    graph.output(values[outs[0]] if len(outs) == 1 else tuple(values[o] for o in outs))
    if in_place:
        add_in_place(graph)
    holder = nn.Module()
    for name, child in children.items():
        holder.add_module(name, child)
    module = Scope(holder, graph, class_name=title)
    module._modules = type(module._modules)((name, module._modules[name]) for name in children)
    module._scope_chain = _is_chain(graph, calls)
    return module


def _call_module(graph: fx.Graph, name: str, args: tuple) -> fx.Node:
    # fx names the value after the module: never `self`, which the generated forward needs.
    return graph.create_node("call_module", name, args, name=name + "_" if name == "self" else None)


def _is_chain(graph: fx.Graph, calls: list) -> bool:
    """Every node a module call, each reading the previous value alone, the last one the output."""
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1 or len(nodes) != len(calls) or not calls:
        return False
    previous = placeholders[0]
    for call, args in calls:
        if args != (previous,) or len(previous.users) != 1:
            return False
        previous = call
    return graph.output_node().args[0] is previous


# Layers whose output is a new tensor that their backward does not read: an activation
# right after one of them may overwrite that output.
_FRESH_OUTPUT = frozenset({"conv", "bn", "fc", "add", "concat"})


def activate_in_place(net, modules: dict[int, nn.Module], owner: dict[int, object] | None = None) -> None:
    """Make ReLU (and ReLU6) in place where nothing else reads its input, as torchvision
    writes them: the same values without a new tensor per activation, which in an eval
    forward on the CPU was some 10% of ResNet-50's time (allocating and touching fresh pages).
    Only after a layer in _FRESH_OUTPUT whose output feeds this activation alone, so no
    other reader, no saved tensor of autograd and never the network's input is changed;
    and (given `owner`, node id -> its scope module) only when that layer is inside the
    activation's own scope, so that calling a scope alone never overwrites its argument."""
    readers: dict[int, int] = {}
    for node in net.layers:
        for i in node.inputs:
            readers[i] = readers.get(i, 0) + 1
    for node in net.layers:
        module = modules.get(node.id)
        if type(module) in (nn.ReLU, nn.ReLU6) and len(node.inputs) == 1:
            source = net.nodes[node.inputs[0]]
            if readers[source.id] == 1 and source.type in _FRESH_OUTPUT and source.id != net.output \
                    and (owner is None or _within(source.scope, owner[node.id])):
                module.inplace = True


def _within(scope, ancestor) -> bool:
    while scope is not None:
        if scope is ancestor:
            return True
        scope = scope.parent
    return False


def add_in_place(graph: fx.Graph) -> None:
    """A sum `a + b` becomes `a.add_(b)`, torchvision's `out += identity`, where `a` (or `b`:
    addition commutes, bit for bit) is a tensor that only this sum reads, made by a layer in
    _FRESH_OUTPUT (ResNet's main branch ends in bn) or a sub-scope whose output such a layer
    makes: the same values without a new tensor per block, the rest of the eval-forward gap
    to torchvision after the in-place ReLUs."""
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
    # Not an argument of the scope, nor an item of a sub-scope's tuple (which may alias another).
    if not isinstance(value, fx.Node) or value.op == "placeholder" or value.target is operator.getitem:
        return False
    node = value.meta.get("archlang")
    return node is not None and node.type in _FRESH_OUTPUT and len(value.users) == 1


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
