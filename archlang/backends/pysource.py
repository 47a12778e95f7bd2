"""Standalone PyTorch source for a network (`archlang compile FILE -o model.py`).

The generated file imports only torch. Its class builds the same module tree
as `Network.to_torch()`: same state_dict keys, shapes and order, and every
scope of the spec a module with its own forward (a class per distinct
forward, named after the block: `class bottleneck(Scope)`, built with its
children as keywords), so hooks, indexing and sub-module calls behave alike.
Everything is read off the module that `to_torch` builds on the meta device,
so the two backends cannot drift apart:

- each leaf module is written as its constructor call, from the arguments
  torch.nn modules keep as attributes (`in_channels`, `kernel_size`, ...);
  the modules of archlang.layers.modules (for layers torch.nn lacks) keep theirs
  the same way, and the source of each one used is copied into the file;
- each forward is its scope's fx graph, one line per node, with values named
  after the branch they belong to (`main`, `skip`) or `x`, reusing a name as
  soon as its value is dead.

>>> import archlang
>>> from archlang.backends.pysource import python_source
>>> text = python_source(archlang.load("network Tiny:\\n  input(3, 8, 8) -> conv(4) -> relu\\n"))
>>> [line.strip() for line in text.splitlines() if "self.conv1" in line]
['self.conv1 = nn.Conv2d(3, 4, 3, padding=1)', 'x = self.conv1(x)']
"""

from __future__ import annotations

import inspect
import itertools
import keyword
import operator
from pathlib import Path

import torch
from torch import fx, nn

from archlang.backends.files import write_output
from archlang.backends.torch_module import Scope, build_module, scope_modules

__all__ = ["python_source", "write_source"]

# Names the generated code uses itself; a class or a value never takes one of them.
_RESERVED = {"self", "torch", "nn", "super", "getattr", "print"}
HELPERS = "archlang.layers.modules"  # the module whose classes are copied into the generated file


def write_source(net, path, weights: dict | None = None) -> Path:
    """Write `python_source(net)` to `path`; returns the path. With `weights` (a state_dict),
    they go to `weights_path(path)` beside it, and the generated class loads them."""
    path = Path(path)
    if weights is None:
        return write_output(path, python_source(net), example="model.py")
    import io

    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu() for key, value in weights.items()}, buffer)
    write_output(weights_path(path), buffer.getvalue(), example="model.pt")
    return write_output(path, python_source(net, weights_file=weights_path(path).name), example="model.py")


def weights_path(path: str | Path) -> Path:
    """Where `archlang compile --checkpoint` puts the weights of `path`: NAME.pt beside NAME.py."""
    path = Path(path)
    weights = path.with_name(path.stem + ".pt")
    return weights if weights != path else path.with_name(path.name + ".weights.pt")


def python_source(net, weights_file: str | None = None) -> str:
    """The network as the source of a standalone PyTorch module; with `weights_file` (a state_dict
    file beside the source), its class loads those weights unless given `weights=None`."""
    model = build_module(net, device="meta")  # nothing allocated, whatever the size
    helpers = _helper_classes(model)
    taken = {cls.__name__ for cls in helpers}
    name = _identifier(net.name, taken)
    taken.add(name)
    base = _class_name("Scope", taken)
    classes, scope_lines = _scope_classes(model, base, taken)
    lines = [*_header(net), "", "import torch", "from torch import nn", "", ""]
    for cls in helpers:
        lines += [*inspect.getsource(cls).rstrip().splitlines(), "", ""]
    if classes:
        lines += [*SCOPE_BASE.format(base=base).splitlines(), "", ""]
        lines += scope_lines
    if weights_file is not None:
        lines[lines.index("import torch")] = "import os\n\nimport torch"
        lines += ["# The trained weights (a state_dict), written beside this file by `archlang compile --checkpoint`.",
                  f"WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), {weights_file!r})", "", ""]
    lines += [f"class {name}(nn.Module):",
              "    def __init__(self, weights=WEIGHTS):" if weights_file else "    def __init__(self):",
              "        super().__init__()"]
    for child_name, child in model.named_children():
        lines += _indent(_assignment(f"self.{child_name}", child, classes), 8)
    if weights_file is not None:
        lines += ["        if weights is not None:  # None: fresh weights",
                  "            self.load_state_dict(torch.load(weights, map_location=\"cpu\", weights_only=True))"]
    lines += ["", *_indent(_forward(model.graph, net.root.path), 4)]
    example = ", ".join(map(str, (1, *net.input_shape)))
    lines += ["", "", 'if __name__ == "__main__":',
              f"    model = {name}()",
              "    print(model)",
              f"    print(model(torch.randn({example})).shape)", ""]
    return "\n".join(lines)


# The base of every scope's class: its children are given by name, in the order they run
# (which is the state_dict order); each subclass adds the scope's forward.
SCOPE_BASE = '''class {base}(nn.Module):
    """A scope of the spec (a block call, a branch, a group): its modules, in the order they run.
    `scope[i]` is a child; a chain (each child reads the previous one's output alone) slices
    into an nn.Sequential."""

    _scope_chain = False

    def __init__(self, /, **children):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)

    def __getitem__(self, index):
        if isinstance(index, slice):
            if not self._scope_chain:
                raise TypeError(f"`{{type(self).__name__}}` is not a chain, so it cannot be sliced")
            chain = nn.Sequential()
            for name, child in list(self._modules.items())[index]:
                chain.add_module(name, child)
            return chain
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())'''


def _header(net) -> list[str]:
    shape = "×".join(map(str, net.input_shape))
    return [f'"""{_text(net.name)}: generated by archlang from {_text(net.file)}.',
            "",
            f"Input {shape} (batch first), {net.params:,} parameters. Standalone: needs only torch;",
            "the module tree follows the spec (a class per kind of block), so its state_dict and",
            "its sub-modules match `archlang.compile`.",
            '"""']


# ---- the scopes: one class per distinct forward, named after the block (or `branch`, `group`)


def _scope_classes(model: nn.Module, base: str, taken: set[str]) -> tuple[dict[int, str], list[str]]:
    """id(scope module) -> its class name, and the classes' source, in order of first use."""
    classes: dict[int, str] = {}
    by_code: dict[tuple, str] = {}
    lines: list[str] = []
    for path, module in scope_modules(model):
        code = _forward(module.graph, path)
        key = (module._get_name(), tuple(code), module._scope_chain)
        if key not in by_code:
            by_code[key] = cls = _class_name(_identifier(module._get_name()), taken)
            chain = ["_scope_chain = True", ""] if module._scope_chain else []
            lines += [f"class {cls}({base}):", *_indent(chain + code, 4), "", ""]
        classes[id(module)] = by_code[key]
    return classes, lines


def _class_name(stem: str, taken: set[str]) -> str:
    for i in itertools.count(1):
        name = stem if i == 1 else f"{stem}_{i}"
        if name not in taken and name not in _RESERVED:
            taken.add(name)
            return name
    raise AssertionError("unreachable")


def _assignment(target: str, module: nn.Module, classes: dict[int, str]) -> list[str]:
    """`target = constructor`, a scope's over several lines with its children as keywords."""
    lines = _construction(module, classes)
    return [f"{target} = {lines[0]}", *lines[1:]]


def _construction(module: nn.Module, classes: dict[int, str]) -> list[str]:
    if not isinstance(module, Scope):
        return [_constructor(module)]
    call = f"  # {_text(module._scope_call)}" if module._scope_call else ""
    lines = [f"{classes[id(module)]}({call}"]
    for name, child in module.named_children():
        inner = _construction(child, classes)
        lines += _indent([f"{name}={inner[0]}", *inner[1:]], 4)
        lines[-1] += ","
    return lines + [")"]


def _indent(lines: list[str], n: int) -> list[str]:
    return [" " * n + line for line in lines]


def _text(value: str) -> str:
    """Spec text (names, file names, block calls) for a comment or docstring of the generated
    source: printable characters as they are; quotes, backslashes, line breaks and other control
    characters escaped, so that nothing can end the comment or the docstring it is written in."""
    out = []
    for char in value:
        if char in '\\"':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])  # \n, \r, \x1b, \u2028
    return "".join(out)


def _helper_classes(model: nn.Module) -> list[type]:
    """The classes of archlang.layers.modules that the model uses, in order of first use."""
    return list(dict.fromkeys(type(m) for m in model.modules() if _is_helper(type(m))))


def _is_helper(cls: type) -> bool:
    return cls.__module__ == HELPERS


def _constructor(module: nn.Module) -> str:
    """`nn.Conv2d(3, 64, kernel_size=7, ...)`: required arguments by position, the rest when not default."""
    cls = type(module)
    torch_nn = getattr(nn, cls.__name__, None) is cls
    if not torch_nn and not _is_helper(cls):
        raise TypeError(f"cannot write {cls.__name__} as source: layers must build torch.nn modules "
                        f"or those of {HELPERS}")
    compact = _compact if torch_nn else (lambda v: v)  # a helper's arguments are written as it keeps them
    positional, keywords = [], []
    for arg in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if arg.name in ("device", "dtype") or arg.kind in (arg.VAR_POSITIONAL, arg.VAR_KEYWORD):
            continue
        value = getattr(module, arg.name)  # torch.nn modules keep their arguments as attributes
        if arg.name == "bias" and not isinstance(value, bool):
            value = value is not None  # the parameter, or None without a bias
        value = compact(value)
        if arg.default is arg.empty:
            positional.append(repr(value))
        elif value != compact(arg.default):
            keywords.append(f"{arg.name}={value!r}")
    return f"{'nn.' if torch_nn else ''}{cls.__name__}({', '.join(positional + keywords)})"


def _compact(value):
    # Modules expand `3` to `(3, 3)`; write it back as the spec wrote it.
    if isinstance(value, tuple) and value and all(v == value[0] for v in value):
        return value[0]
    return value


# ---- forward: one line per fx node


def _forward(graph: fx.Graph, path: str) -> list[str]:
    """`def forward(self, x):` and its body, one line per fx node of the scope at `path`."""
    names: dict[fx.Node, str] = {}
    holder: dict[str, fx.Node] = {}
    pending = {node: len(node.users) for node in graph.nodes}  # uses still to come
    arguments, body = [], []
    for node in graph.nodes:
        if node.op == "output":
            body.append(f"return {_arg(node.args[0], names)}")
            continue
        expr = _expression(node, names)
        for used in node.all_input_nodes:
            pending[used] -= 1
        var = _allocate(_preferred(node, path), holder, pending)
        names[node], holder[var] = var, node
        if node.op == "placeholder":
            arguments.append(var)
        else:
            body.append(f"{var} = {expr}")
    return [f"def forward(self, {', '.join(arguments)}):", *_indent(body, 4)]


def _expression(node: fx.Node, names) -> str | None:
    args = [_arg(a, names) for a in node.args] + [f"{k}={_arg(v, names)}" for k, v in node.kwargs.items()]
    if node.op == "placeholder":
        return None
    if node.op == "call_module":
        return f"self.{node.target}({', '.join(args)})"
    if node.op == "call_method":
        return f"{args[0]}.{node.target}({', '.join(args[1:])})"
    if node.target is operator.getitem:
        return f"{args[0]}[{args[1]}]"
    if getattr(torch, node.target.__name__, None) is node.target:
        return f"torch.{node.target.__name__}({', '.join(args)})"
    raise TypeError(f"cannot write {node.target!r} as source: torch_function must call torch functions")


def _arg(value, names) -> str:
    if isinstance(value, fx.Node):
        return names[value]
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_arg(v, names) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _preferred(node: fx.Node, path: str) -> str:
    """A value inside a branch of this scope (at `path`) is named after the branch (`main`,
    `skip`), as is what a branch's module returns; the trunk's is `x`."""
    scope = node.meta["archlang"].scope if node.op != "placeholder" else None
    while scope is not None and scope.kind != "network" and scope.path != path:
        if scope.kind == "branch" and scope.name:
            return _identifier(scope.name)
        scope = scope.parent
    return "x"


def _allocate(preferred: str, holder: dict, pending: dict) -> str:
    # Reuse the name while its current value has no uses left; else number it.
    for i in itertools.count(1):
        name = preferred if i == 1 else f"{preferred}_{i}"
        current = holder.get(name)
        if current is None or pending[current] == 0:
            return name
    raise AssertionError("unreachable")


def _identifier(name: str, taken: set[str] = frozenset()) -> str:
    return f"{name}_" if keyword.iskeyword(name) or name in _RESERVED or name in taken else name
