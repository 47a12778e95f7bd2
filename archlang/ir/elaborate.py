"""Elaboration: a network's AST becomes a graph of layers with known shapes.

Every repeat, block call, optional element and branch is expanded here, and
each layer's shape rule runs as its node is added, so `in.channels` and the
shape errors see real shapes. This is the only stage that builds structure.
"""

from __future__ import annotations

import functools

from archlang.errors import ArchError, Frame, did_you_mean
from archlang.ir.evaluate import Evaluator, Overflow
from archlang.ir.graph import LayerNode, Scope
from archlang.ir.loader import element_name
from archlang.ir.values import BlockRef, Closure, Env, FuncRef, LayerRef, show, type_name
from archlang.layers import REGISTRY, ArgError, ShapeError, fmt_shape, lookup
from archlang.layers.linear import Flatten
from archlang.syntax import ast


# Elaboration and analysis take 20-80 µs a layer: 100,000 layers bound a spec to a few seconds,
# and still admit the benchmark (pattern.arch with N=10,000 is 20,004 layers).
MAX_LAYERS = 100_000
MAX_ARG_ITEMS = 64  # layer arguments are numbers, strings and short lists
# The step limit follows the layer limit (the zoo takes 5 to 15 steps a layer; formulas add some).
STEPS_PER_LAYER = 20
MIN_STEPS = 100_000
CALL_STEPS = 10  # a block call opens a scope the graph keeps: it counts as ten steps


class Limits:
    def __init__(self, max_layers: int = MAX_LAYERS, max_depth: int = 64, max_steps: int | None = None):
        # A repeat can never need more iterations than the network may have layers; all the
        # iterations of all repeats together (nested ones multiply) have the same bound.
        self.max_layers, self.max_repeat, self.max_depth = max_layers, max_layers, max_depth
        self.max_steps = max_steps or max(MIN_STEPS, STEPS_PER_LAYER * max_layers)


class Elaborator(Evaluator):
    def __init__(self, blocks: dict, switches: dict[str, bool], limits: Limits, input_shape=None):
        super().__init__(blocks, limits.max_steps)
        self.switches = switches
        self.limits = limits
        self.input_shape = input_shape
        self.nodes: list[LayerNode] = []
        self._bound: dict = {}  # (layer, args) -> Layer: repeats reuse one validated layer
        self._shapes: dict = {}  # (Layer, *input shapes) -> output shape
        self._trace: tuple = ()  # tuple(self.stack), kept up to date by _block
        self.iterations = 0  # of all repeats, against limits.max_repeat
        self.block_depth = 0

    def shape_of(self, cursor):
        return None if cursor is None else self.nodes[cursor].shape

    def network_input(self):
        return self.nodes[0].shape if self.nodes and self.nodes[0].layer.name == "input" else None

    # ---- entry point
    def network(self, body: ast.Node, env: Env, root: Scope) -> int:
        cursor = self.elab(body, env, None, root, None)
        if cursor is None:
            raise self.error("E404", "the network has no layers", body, hint="start it with `input(C, H, W)`")
        return cursor

    def elab(self, node: ast.Node, env: Env, cursor, scope: Scope, label):
        self.steps += 1
        if self.steps > self.max_steps:
            raise self.too_much_work(node)
        method = getattr(self, "_elab_" + type(node).__name__, None)
        if method is None:
            value = self.eval(node, env, cursor)
            raise self.error("E310", f"expected a layer here, found {type_name(value)} ({show(value)})", node,
                             hint="a chain holds layers and blocks, like `conv(64) -> relu`")
        return method(node, env, cursor, scope, label)

    def _elab_Chain(self, node, env, cursor, scope, label):
        if label:
            scope = self._open(scope, "group", "group", node, label)
        for item in node.items:
            cursor = self.elab(item, env, cursor, scope, None)
        return cursor

    def _elab_Labelled(self, node, env, cursor, scope, label):
        if label:  # `a: b: conv` - the outer label wins
            raise self.error("E207", f"`{node.label}` is a second label on one element", node)
        return self.elab(node.item, env, cursor, scope, node.label)

    def _elab_Switch(self, node, env, cursor, scope, label):
        name = label or element_name(node.item)
        if name is None:
            raise self.error("E310", "a switch `?` needs a name: label the element", node,
                             hint="write `name: [ ... ]?` and set it with `--set name=false`")
        if not self.switches.get(name, True):
            return cursor
        return self.elab(node.item, env, cursor, scope, label)

    def _elab_Cond(self, node, env, cursor, scope, label):
        if not self.truth(self.eval(node.cond, env, cursor), node.cond):
            return cursor
        return self.elab(node.item, env, cursor, scope, label)

    def _elab_IfExpr(self, node, env, cursor, scope, label):
        chosen = node.then if self.truth(self.eval(node.cond, env, cursor), node.cond) else node.orelse
        return self.elab(chosen, env, cursor, scope, label)

    def _elab_ListExpr(self, node, env, cursor, scope, label):
        if len(node.items) != 1:
            raise self.error("E310", "a list is not a layer" if node.items else "an empty group", node,
                             hint="a group holds one chain: `[conv -> relu]`; chain layers with `->`, not `,`")
        return self.elab(node.items[0], env, cursor, self._open(scope, "group", "group", node, label), None)

    # ---- repeats: `[body] * n` and `[body] * n as i`
    def _elab_Repeat(self, node, env, cursor, scope, label):
        count = self._count(node.count, env, cursor)
        return self._repeat(node.body, count, node.count, node.index, node, env, cursor, scope, label)

    def _elab_Arith(self, node, env, cursor, scope, label):
        if any(op != "*" for op in node.ops):
            return self.elab_value_misuse(node, env, cursor)
        # `x * a * b` is x repeated a times, and that b times: one repeat of a·b iterations, the
        # counts evaluated once, left to right (a repeat nested per factor took time quadratic in
        # the number of factors, and recursion).
        count = 1
        for factor in node.operands[1:]:
            count *= self._count(factor, env, cursor)
            if count > self.limits.max_repeat:
                raise self.error("E601", f"repeat count {count} (the product of the counts) is over the limit of "
                                 f"{self.limits.max_repeat}", factor,
                                 hint="raise the limit with --max-layers if this is really meant")
        return self._repeat(node.operands[0], count, node.operands[-1], None, node, env, cursor, scope, label)

    def elab_value_misuse(self, node, env, cursor):
        value = self.eval(node, env, cursor)
        raise self.error("E310", f"expected a layer here, found {type_name(value)} ({show(value)})", node)

    def _count(self, count_node, env, cursor) -> int:
        count = self.eval(count_node, env, cursor)
        if not isinstance(count, int) or isinstance(count, bool):
            raise self.error("E306", f"a repeat count must be an integer, not {type_name(count)} ({show(count)})",
                             count_node, hint="the group comes first: `[conv -> relu] * 3`")
        if count < 0:
            raise self.error("E301", f"a repeat count cannot be negative ({count})", count_node)
        if count > self.limits.max_repeat:
            raise self.error("E601", f"repeat count {count} is over the limit of {self.limits.max_repeat}",
                             count_node, hint="raise the limit with --max-layers if this is really meant")
        return count

    def _repeat(self, body, count, count_node, index, node, env, cursor, scope, label):
        if label:
            scope = self._open(scope, "group", "group", node, label)
        rep = self._open(scope, "repeat", "repeat", node, None, count=count, index=index)
        for i in range(count):
            self.iterations += 1
            if self.iterations > self.limits.max_repeat:  # nested repeats multiply: [[x] * 1000] * 1000
                raise self.error("E601", f"the repeats run more than {self.limits.max_repeat} iterations in all",
                                 count_node, hint="nested repeats multiply; raise the limit with --max-layers "
                                                  "if this is really meant")
            it = self._open(rep, "iteration", "iteration", node, None, index=i)
            inner = Env({index: i}, env) if index else env
            cursor = self.elab(body, inner, cursor, it, None)
        return cursor

    # ---- names and calls
    def _elab_Name(self, node, env, cursor, scope, label):
        return self._call(node, node.id, [], env, cursor, scope, label)

    def _elab_Call(self, node, env, cursor, scope, label):
        if not isinstance(node.func, ast.Name):
            raise self.error("E310", "only layers and blocks can be called here", node.func)
        return self._call(node, node.func.id, node.args, env, cursor, scope, label)

    def _call(self, node, name, args, env, cursor, scope, label):
        target = self._resolve(node, name, env)
        if isinstance(target, Closure):
            if args:
                raise self.error("E303", f"`{name}` is already a layer chain; it takes no arguments", node)
            return self.elab(target.node, target.env, cursor, scope, label)
        if isinstance(target, BlockRef):
            return self._block(node, target, args, env, cursor, scope, label)
        layer_cls = REGISTRY[target.name]
        if layer_cls.many_inputs:
            return self._merge(node, layer_cls, args, env, cursor, scope, label)
        return self._layer(node, layer_cls, args, env, cursor, scope, label)

    def _resolve(self, node, name, env):
        element = self.blocks.get(name)
        if element is None:
            layer_cls = lookup(name)
            element = _layer_ref(layer_cls.name) if layer_cls else None
        value = env.get(name, _MISSING)
        if value is _MISSING:
            value = element
        if isinstance(value, (BlockRef, LayerRef, Closure)):
            return value
        if element is not None:  # a plain value (e.g. the switch `pool`) does not hide the layer `pool`
            return element
        if isinstance(value, FuncRef):
            raise self.error("E310", f"`{name}` is a function: it computes a value, not a layer", node,
                             hint=f"use it in an argument, e.g. `conv({name}(...))`; a piece of network is a "
                                  "`block`")
        if value is not None:
            raise self.error("E310", f"`{name}` is {type_name(value)} ({show(value)}), not a layer", node)
        raise self.error("E201", f"unknown layer or block `{name}`", node,
                         hint=did_you_mean(name, set(REGISTRY) | set(self.blocks)))

    def _layer(self, node, layer_cls, args, env, cursor, scope, label):
        layer = self._bind(node, layer_cls, args, env, cursor)
        if layer_cls.name == "input":
            if cursor is not None:
                raise self.error("E405", "`input` can only start the network", node,
                                 hint="a network has one input, its first element")
            return self._add(layer, [], node, scope, label or "input")
        if cursor is None:
            raise self.error("E404", f"`{layer_cls.name}` comes before any input", node,
                             hint="start the network with `input(C, H, W)`")
        if layer_cls.name == "identity":
            return cursor  # passes its input through: an edge, not a node
        if layer_cls.name == "fc" and len(self.nodes[cursor].shape) > 1:
            # The literature's FC flattens a C×H×W input; make that step visible.
            cursor = self._add(Flatten(Flatten.Args()), [cursor], node, scope, None, implicit=True)
        return self._add(layer, [cursor], node, scope, label)

    def _bind(self, node, layer_cls, args, env, cursor):
        positional, keywords = [], {}
        for arg in args:
            if arg.label:
                raise self.error("E302", f"`{layer_cls.name}` takes no labelled branches", arg,
                                 hint="labels name branches of add/concat/mul")
            value = self.eval(arg.value, env, cursor)
            if _items(value, MAX_ARG_ITEMS) > MAX_ARG_ITEMS:  # before hashing or validating a huge list
                fields = list(layer_cls.Args.model_fields)
                which = arg.name or (fields[len(positional)] if len(positional) < len(fields) else None)
                raise self.error("E301", f"argument {f'`{which}` ' if which else ''}of `{layer_cls.name}` is "
                                 f"{show(value)}, a list of more than {MAX_ARG_ITEMS} items", arg.value,
                                 hint=f"layer arguments are numbers, strings and lists of at most "
                                      f"{MAX_ARG_ITEMS} items")
            element = _element_in(value)  # a layer or chain, perhaps inside a list: not a value
            if element is not None:
                raise self.error("E311", f"argument of `{layer_cls.name}` is {type_name(element)}"
                                 f"{'' if element is value else ' inside ' + type_name(value)}, not a value",
                                 arg.value)
            if arg.name:
                keywords[arg.name] = value
            else:
                positional.append(value)
        if layer_cls.name == "input" and self.input_shape is not None:
            positional, keywords = list(self.input_shape), {}
        key = (layer_cls, _freeze(positional), _freeze(sorted(keywords.items())))
        layer = self._bound.get(key)
        if layer is None:
            try:
                layer = self._bound[key] = layer_cls.bind(positional, keywords)
            except ArgError as e:
                at = next((a for a in args if a.name == e.arg), node) if e.arg else node
                raise self.error(e.code, e.message, at, hint=e.hint) from None
        return layer

    def _add(self, layer, inputs, node, scope, label, implicit=False, branch_labels=None) -> int:
        if len(self.nodes) >= self.limits.max_layers:
            raise self.error("E602", f"the network has more than {self.limits.max_layers} layers", node,
                             hint="raise the limit with --max-layers (API: max_layers=) if this is really meant")
        in_shapes = [self.nodes[i].shape for i in inputs]
        # A layer's shape rule depends on its arguments and input shapes only, and a repeat binds
        # one Layer for all its iterations (`_bound`): run the rule once per layer and shapes.
        key = (layer, *in_shapes)
        shape = self._shapes.get(key)
        try:
            if shape is None:
                shape = self._shapes[key] = layer.output_shape(in_shapes)
        except ShapeError as e:
            detail = e.detail
            if e.code == "E401":
                names = branch_labels or [f"branch{i + 1}" for i in range(len(in_shapes))]
                detail = "   ".join(f"{n}: {fmt_shape(s)}" for n, s in zip(names, in_shapes))
            else:
                detail = detail or f"input: {fmt_shape(in_shapes[0])}" if in_shapes else detail
            raise ArchError(e.code, e.message, node.span, hint=e.hint, detail=detail, trace=list(self.stack)) from None
        index = len(self.nodes)
        lnode = LayerNode(index, layer, scope, inputs, in_shapes, shape, node.span, self._trace,
                          label=label, implicit=implicit)
        self.nodes.append(lnode)
        scope.add(lnode)
        return index

    def _merge(self, node, layer_cls, args, env, cursor, scope, label):
        if cursor is None:
            raise self.error("E404", f"`{layer_cls.name}` comes before any input", node)
        if not args:
            raise self.error("E304", f"`{layer_cls.name}` needs branches", node,
                             hint=f"write `{layer_cls.name}(main: conv(64) -> bn, skip: identity)`")
        if label:
            scope = self._open(scope, "group", "group", node, label)
        ends, names = [], []
        for i, arg in enumerate(args):
            if arg.name:
                raise self.error("E302", f"`{layer_cls.name}` takes branches, not `{arg.name} = ...`", arg,
                                 hint=f"label a branch with `{arg.name}: ...`")
            branch = self._open(scope, "branch", "branch", arg, arg.label)
            ends.append(self.elab(arg.value, env, cursor, branch, None))
            names.append(arg.label or f"branch{i + 1}")
        layer = layer_cls(layer_cls.Args())
        return self._add(layer, ends, node, scope, None, branch_labels=names)

    def _block(self, node, ref: BlockRef, args, env, cursor, scope, label):
        # A block may call itself (U-Net's levels): a recursion that does not stop meets the depth limit.
        defn = ref.defn
        what = f"call of block `{defn.name}`"
        if self.block_depth >= self.limits.max_depth:
            raise self.too_deep(node, what, "block", self.limits.max_depth)
        local = Env(self.bind(node, f"block `{defn.name}`", defn.params, args, env, cursor, ref.globals),
                    ref.globals)
        self.stack.append(Frame(what, node.span, block=defn.name))
        self.steps += CALL_STEPS  # (checked at the next element or expression)
        self.block_depth += 1
        outer, self._trace = self._trace, tuple(self.stack)  # shared by the layers of this call
        try:
            for let in defn.lets:
                self.define(let, local, cursor)
            inner = self._open(scope, "block", defn.name, node, label, call=_call_text(defn, local),
                               args=_call_args(defn, local))
            return self.elab(defn.body, local, cursor, inner, None)
        except RecursionError:
            raise Overflow(node.span, list(self.stack)) from None
        finally:
            self.stack.pop()
            self.block_depth -= 1
            self._trace = outer

    def _open(self, parent: Scope, kind, stem, node, label, **info) -> Scope:
        scope = Scope(kind, stem, node.span, label=label, parent=parent, info=info)
        parent.add(scope)
        return scope


_MISSING = object()


@functools.cache
def _layer_ref(name: str) -> LayerRef:
    return LayerRef(name)


def _items(value, limit: int) -> int:
    """Items in a list or dict, nested ones counted; stops counting past `limit`."""
    if not isinstance(value, (list, dict)):
        return 1
    n = 0
    for v in value.values() if isinstance(value, dict) else value:
        n += _items(v, limit - n)
        if n > limit:
            break
    return n


def _element_in(value):
    """The layer, block, chain or function in a value (it may be inside lists and dicts), or None."""
    if isinstance(value, (Closure, BlockRef, LayerRef, FuncRef)):
        return value
    for v in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        found = _element_in(v)
        if found is not None:
            return found
    return None


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):  # in order: keys of mixed types do not sort
        return ("dict", *((_freeze(k), _freeze(v)) for k, v in value.items()))
    return (type(value), value) if isinstance(value, (bool, int, float)) else value


def _call_args(defn, env: Env) -> tuple:
    """((parameter name, value as text), ...) of a block call, for diagrams that name them."""
    shown = []
    for p in defn.params:
        value = env.vars.get(p.name)
        shown.append((p.name, show(value) if not isinstance(value, (BlockRef, LayerRef, FuncRef)) else
                      (value.name if isinstance(value, LayerRef) else value.defn.name)))
    return tuple(shown)


def _call_text(defn, env: Env) -> str:
    return f"{defn.name}({', '.join(v for _, v in _call_args(defn, env))})"
