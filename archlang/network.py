"""`archlang.load`: text -> AST -> graph -> analysed graph, as one object.

>>> import archlang
>>> net = archlang.load("specs/lenet5.arch")
>>> net.params, net.macs, net.output_shape
(61706, 416520, (10,))
"""

from __future__ import annotations

import contextlib
import gc
import functools
import sys
from pathlib import Path

from archlang.analysis.passes import analyse
from archlang.errors import ArchError, SourceMap
from archlang.ir.build import build
from archlang.ir.elaborate import MAX_LAYERS, Limits
from archlang.ir.loader import load_program


class Network:
    """An elaborated, analysed network. Backends (torch, diagrams) start from here."""

    def __init__(self, program, name, net_def, settings, switches, elab, root, output):
        self.program = program
        self.name: str = name  # as loaded: `network VGG16 = VGG(...)` is VGG16
        self.settings: dict = settings  # the network's parameters, resolved
        self.switches: dict = switches
        self.nodes = elab.nodes  # every node in elaboration (topological) order; nodes[0] is the input
        self.root = root  # the scope tree: blocks, groups, branches, repeats
        self.output = output  # id of the output node
        self.sources: SourceMap = program.sources
        self.file: str = program.file
        self.span = net_def.span
        # What elaboration cost, in the units its limits count: steps (expressions evaluated,
        # elements elaborated), items of lists and strings built or read, repeat iterations.
        self.work = {"steps": elab.steps, "items": elab.work, "iterations": elab.iterations}
        self.given: dict = {}  # the parameters and switches set from outside (load's overrides)

    @functools.cached_property
    def graph(self):
        """The networkx DiGraph of the layers; node attribute "node" is the LayerNode.

        Built on first use: `check` and `summary` need only the node list, and
        importing networkx alone costs more than elaborating a ResNet."""
        import networkx as nx

        graph = nx.DiGraph()
        for node in self.nodes:
            graph.add_node(node.id, node=node, name=node.path, type=node.type, shape=node.shape)
            graph.add_edges_from((i, node.id) for i in node.inputs)
        return graph

    # ---- the figures users ask for
    @property
    def layers(self):
        """Every layer after the input, in order."""
        return self.nodes[1:]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.nodes[0].shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.nodes[self.output].shape

    @property
    def params(self) -> int:
        return sum(n.stats["params"] for n in self.nodes)

    trainable_params = params  # every parameter archlang creates is trainable

    @property
    def buffers(self) -> int:
        return sum(n.stats["buffers"] for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.stats["macs"] for n in self.nodes)

    @property
    def activation_bytes(self) -> int:
        return sum(n.stats["memory"] for n in self.nodes)

    @property
    def receptive_field(self) -> tuple[int, int]:
        return self.nodes[self.output].stats["rf"]

    def summary(self, depth: int | None = None) -> str:
        """The summary table: every layer, or (`depth=2`) one row per element down to that depth,
        equal units folded into one row, as the diagram's overview draws them."""
        from archlang.analysis.summary import depth_table, summary_table

        with _gc_paused():
            return summary_table(self) if depth is None else depth_table(self, depth)

    def to_dict(self, depth: int | None = None) -> dict:
        """The summary as JSON: `layers` (every layer), or with `depth`, `rows` (see `summary`)."""
        from archlang.analysis.summary import depth_dict, summary_dict

        with _gc_paused():
            return summary_dict(self) if depth is None else depth_dict(self, depth)

    # ---- one element: a layer, a block call, a labelled group, a branch, a fold
    def find(self, path: str):
        """The element at a dotted path (`"layer3"`, `"layer3.bottleneck1.main"`, `"fc"`, or a fold
        `"layer3.bottleneck2:bottleneck6"`), with its shapes and counts; ArchError E750 if none."""
        from archlang.analysis.elements import find

        return find(self, path)

    __getitem__ = find

    def __contains__(self, path) -> bool:
        try:
            self.find(path)
        except ArchError:
            return False
        return True

    def elements(self) -> list:
        """The top-level elements, in order (each with `.children`); iterating a network gives them too."""
        from archlang.analysis.elements import elements

        return elements(self, self.root)

    def __iter__(self):
        return iter(self.elements())

    def memory(self, batch: int = 1, optimizer: str = "adamw", dtype: str = "float32",
               momentum: float | None = None):
        """Memory for a batch: training (parameters, gradients, optimizer state, activations for the
        forward and backward passes) and inference, with torchinfo's estimate beside them
        (archlang.analysis.memory has the definitions)."""
        from archlang.analysis.memory import estimate

        return estimate(self, batch=batch, optimizer=optimizer, dtype=dtype, momentum=momentum)

    def bundled_source(self) -> str:
        """The spec with its imports inlined: one self-contained file that builds this network,
        with the values set from outside. A file builds its last network, so when this one is
        not that, or was given values, an alias at the end names it."""
        parts = []
        for file, text in self.sources.items():  # imported files first, in the order they were read
            body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("import "))
            parts.append((file, body))
        parts.sort(key=lambda p: p[0] == self.file)
        out = "\n\n".join(f"# ---- from {file}\n{body.strip()}" for file, body in parts) + "\n"
        own = self.program.own_networks
        if self.given or not own or own[-1] != self.name:
            out += self._alias()
        return out

    def _alias(self) -> str:
        from archlang.ir.values import spec_text

        taken = set(self.program.networks) | set(self.program.blocks) | set(self.program.values)
        name = next(n for n in (f"{self.name}_trained{i or ''}" for i in range(len(taken) + 1)) if n not in taken)
        args, notes = [], []
        for key in self.given:
            value = self.settings[key] if key in self.settings else self.switches.get(key)
            text = spec_text(value)
            if text is None:
                notes.append(f"# `{key}` was set to a value a spec cannot write: set it again with --set\n")
            else:
                args.append(f"{key} = {text}")
        return (f"\n# ---- the network built: `{self.name}`" + (" with the values set from outside" if args else "")
                + "\n" + "".join(notes) + f"network {name} = {self.name}({', '.join(args)})\n")

    def error_at_output(self, message: str, hint: str | None = None) -> ArchError:
        """An error that points at the last layer's line (e.g. its output does not fit the data)."""
        node = self.nodes[self.output]
        return ArchError("E402", message, node.span, hint=hint, trace=list(node.trace), sources=self.sources)

    # ---- backends, imported only when used
    def to_torch(self, *, device=None, dtype=None, max_params: float = 4e9):
        from archlang.backends.torch_module import build_module

        return build_module(self, device=device, dtype=dtype, max_params=max_params)

    def render(self, **options):
        from archlang.backends.diagram import render

        return render(self, **options)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.render()._repr_mimebundle_(include, exclude)

    def __repr__(self) -> str:
        return (f"<Network {self.name}: {len(self.layers)} layers, {self.params:,} params, {self.macs:,} MACs, "
                f"{_shape(self.input_shape)} -> {_shape(self.output_shape)}>")


def _shape(shape) -> str:
    return "×".join(map(str, shape))


def _is_path(source) -> bool:
    if isinstance(source, Path):
        return True
    if "\n" in source:
        return False
    # One line: a file name, unless it looks like spec text (`network N: ...`).
    return source.endswith(".arch") or _is_file(source) or not any(c in source for c in "(:=")


def _is_file(source: str) -> bool:
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # longer than a file name may be, or a NUL byte
        return False


def load(source: str | Path, *, network: str | None = None, input_shape=None, max_layers: int = MAX_LAYERS,
         max_steps: int | None = None, overrides: dict | None = None, **params) -> Network:
    """Load a spec from a path or from spec text; `params` override the network's parameters.

    `overrides` take text as `--set NAME=TEXT` does (`"[32, 64]"` is a list); `params` are
    Python values. `max_steps` bounds the work of elaboration (default: 50 per layer allowed,
    at least 5,000,000). Raises ArchError (with `.format()` giving the compiler-style message).
    """
    limits = _limits(max_layers, max_steps)
    with _gc_paused():
        try:
            program = load_program(source) if _is_path(source) else load_program(source, "<string>")
        except ArchError as e:
            e.sources = e.sources or SourceMap()
            raise
        except RecursionError:
            raise ArchError("E604", "the spec nests too deeply to elaborate", None) from None
        return build_network(program, network=network, input_shape=input_shape, limits=limits,
                             overrides=overrides, params=params)


def build_network(program, *, network: str | None = None, input_shape=None, max_layers: int = MAX_LAYERS,
                  overrides: dict | None = None, params: dict | None = None, limits: Limits | None = None) -> Network:
    """Elaborate and analyse a network of a loaded Program (`archlang.ir.loader.load_program`).
    `overrides` are texts, as `--set` gives them; `params` are Python values."""
    limits = limits or _limits(max_layers, None)
    overrides, params = overrides or {}, params or {}
    with _gc_paused():
        try:
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 20_000))  # deep block nesting is bounded by Limits.max_depth
            try:
                parts = build(program, network, overrides, params, _input_shape(input_shape), limits)
            finally:
                sys.setrecursionlimit(old)
        except ArchError as e:
            e.sources = program.sources
            raise
        except RecursionError:
            raise ArchError("E604", "the spec nests too deeply to elaborate", None, sources=program.sources) from None
        net = Network(program, *parts)
        net.given = {**overrides, **params}
        analyse(net.nodes)
    return net


def _limits(max_layers, max_steps) -> Limits:
    for name, limit in (("--max-layers", max_layers), ("max_steps", max_steps or 1)):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ArchError("E309", f"{name} must be a positive integer, not {limit!r}", None)
    return Limits(max_layers=max_layers, max_steps=max_steps)


@contextlib.contextmanager
def _gc_paused():
    """Elaboration only adds live objects, and the cyclic collector would walk the growing graph
    again and again (quadratic in the layers: 100,000 layers took 11 s instead of 2 s). Pause it,
    as `timeit` does; what is garbage is collected after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _input_shape(value):
    if value is None or isinstance(value, (tuple, list)):
        return tuple(value) if value is not None else None
    try:
        dims = tuple(int(d) for d in str(value).lower().replace("×", "x").split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (1, 3) or min(dims) <= 0 or max(dims) > 10**15:
        raise ArchError("E309", f"input shape {value!r} is not C×H×W or N", None,
                        hint="write it like 3x224x224 (channels x height x width)")
    return dims
