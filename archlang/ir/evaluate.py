"""Expression evaluation: values for layer arguments, repeat counts, conditions, and the
calls of user functions (`let f(x) = ...`) and built-ins (archlang/ir/builtins.py).

Every node evaluated (and every element elaborated, see elaborate.py) is one step of work,
counted against `max_steps`, so a spec whose calls multiply (a function calling another
twice, ten levels deep) ends in an error however few layers it builds.

>>> from archlang.syntax.parser import parse_value
>>> from archlang.ir.evaluate import Evaluator
>>> from archlang.ir.values import Env
>>> Evaluator().eval(parse_value("64 * 2 ** min(3, 5) // 4"), Env({}), None)
128
"""

from __future__ import annotations

import math
import operator

from archlang.errors import ArchError, Frame, did_you_mean
from archlang.ir.builtins import BUILTINS, call_builtin, is_int, is_num
from archlang.ir.values import Closure, Env, FuncRef, LayerRef, show, type_name
from archlang.layers import lookup
from archlang.syntax import ast

MAX_VALUE = 10**15  # no real size or count comes near; beyond it is a mistake
MAX_LIST = 1_000_000  # items in one value, nested lists and characters of strings included
MAX_WORK = 10_000_000  # items of all the lists and strings a spec builds or reads, so repeats cannot multiply them
# Steps: nodes evaluated and elements elaborated, one each; a function call five more, a block call
# (which opens a scope the graph keeps) ten, so that a step costs about the same time whatever the
# spec does. ResNet-152 takes about 5,500 steps, a network of 100,000 layers 400,000 to 1,500,000.
# Elaboration's default limit is 20 steps per layer allowed (Limits).
MAX_STEPS = 2_000_000
FUNCTION_CALL_STEPS = 5
MAX_FUNCTION_DEPTH = 256  # function calls inside function calls

_ELEMENTS = (ast.Chain, ast.Labelled, ast.Switch, ast.Cond, ast.Repeat)
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
          "%": operator.mod}
SHAPE_ATTRS = {"channels": 0, "c": 0, "height": 1, "h": 1, "width": 2, "w": 2, "features": 0}
_MISSING = object()


class Overflow(Exception):
    """Python's recursion limit, met inside a call: `Overflow(span, trace)` carries the place. It
    has no Python __init__, so raising it runs no Python code where the stack is exhausted;
    build() reports it as E604."""


class Evaluator:
    """Evaluates expressions. `shape_of(cursor)` gives the shape for `in.*` and `network_input()`
    the one for `input.*`; the elaborator provides them, and the trace of calls for errors."""

    def __init__(self, blocks: dict | None = None, max_steps: int = MAX_STEPS):
        self.blocks = blocks or {}
        self.stack: list = []
        self.work = 0  # items built or read so far (see MAX_WORK)
        self.steps = 0  # nodes evaluated and elements elaborated (see MAX_STEPS)
        self.max_steps = max_steps
        self.function_depth = 0

    def error(self, code: str, message: str, node: ast.Node, hint: str | None = None) -> ArchError:
        return ArchError(code, message, node.span, hint=hint, trace=list(self.stack))

    def shape_of(self, cursor):
        return cursor

    def network_input(self):
        return None

    def too_much_work(self, node: ast.Node) -> ArchError:
        return self.error("E606", f"elaborating the spec takes more than {self.max_steps:,} steps (expressions, "
                          "elements and calls)", node,
                          hint="a block, function or `let` that uses another twice doubles the work at each "
                               "level; build repeated parts with `[...] * n`, or raise --max-steps (by default "
                               "20 steps per layer allowed by --max-layers, at least 100,000)")

    # ---- entry point
    def eval(self, node: ast.Node, env: Env, cursor):
        self.steps += 1
        if self.steps > self.max_steps:
            raise self.too_much_work(node)
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            if isinstance(node, _ELEMENTS):
                return Closure(node, env)
            raise self.error("E311", "this is not a value", node)
        return method(node, env, cursor)

    def define(self, let, env: Env, cursor) -> None:
        """A `let` of a body or file: a value, or a function (which sees the scope it is defined in,
        itself included)."""
        if isinstance(let, ast.FuncDef):
            env.vars[let.name] = FuncRef(let, env)
        else:
            env.vars[let.name] = self.eval(let.value, env, cursor)

    def _Number(self, node, env, cursor):
        return node.value

    _String = _Bool = _Number

    def _Name(self, node, env, cursor):
        value = env.get(node.id, _MISSING)
        if value is not _MISSING:
            return value
        if node.id in self.blocks:
            return self.blocks[node.id]
        if lookup(node.id):
            return LayerRef(lookup(node.id).name)
        raise self.error("E202", f"unknown name `{node.id}`", node,
                         hint=did_you_mean(node.id, env.names() | set(self.blocks)))

    def _InShape(self, node, env, cursor):
        shape = self.shape_of(cursor)
        if shape is None:
            raise self.error("E404", f"`in.{node.attr}` has no input here: nothing flows in yet", node,
                             hint="`in` refers to the shape entering the element; use it after `input(...)`")
        return self.shape_attr(shape, node, "in")

    def _InputShape(self, node, env, cursor):
        shape = self.network_input()
        if shape is None:
            raise self.error("E404", f"`input.{node.attr}`: the network's input is not built yet here", node,
                             hint="`input` is known once the chain has passed `input(...)`: use it in the chain, "
                                  "in a block, or in a `let` bound to a chain")
        return self.shape_attr(shape, node, "input")

    def shape_attr(self, shape, node, what: str):
        if node.attr == "shape":
            return list(shape)
        if node.attr not in SHAPE_ATTRS:
            raise self.error("E202", f"`{what}` has no attribute `{node.attr}`", node,
                             hint=f"use {what}.channels, {what}.height, {what}.width (or {what}.c, {what}.h, "
                                  f"{what}.w) or {what}.shape")
        axis = SHAPE_ATTRS[node.attr]
        if axis >= len(shape):
            raise self.error("E306", f"`{what}.{node.attr}`: the shape here is the vector {show(list(shape))}, "
                                     f"which has no {node.attr}", node,
                             hint=f"use {what}.features or {what}.c for a vector")
        return shape[axis]

    def _ListExpr(self, node, env, cursor):
        items = [self.eval(item, env, cursor) for item in node.items]
        return self.sized(items, node, size(items))

    def _ListComp(self, node, env, cursor):
        items = self.eval(node.iterable, env, cursor)
        names = node.names
        if not isinstance(items, list):
            raise self.error("E306", f"`for {', '.join(names)} in ...` needs a list, not {type_name(items)} "
                             f"({show(items)})", node.iterable, hint="e.g. `for i in range(n)` or `for w in widths`")
        out = []
        for item in items:
            if len(names) == 1:
                inner = Env({names[0]: item}, env)
            elif isinstance(item, list) and len(item) == len(names):
                inner = Env(dict(zip(names, item)), env)
            else:
                raise self.error("E306", f"`for {', '.join(names)} in ...` needs lists of {len(names)} items, "
                                 f"not {show(item)}", node.iterable)
            if node.cond is None or self.truth(self.eval(node.cond, inner, cursor), node.cond):
                out.append(self.eval(node.item, inner, cursor))
        return self.sized(out, node, size(out))

    def _DictExpr(self, node, env, cursor):
        out = {}
        for key, value in node.pairs:
            k = self.eval(key, env, cursor)
            if not isinstance(k, (int, str, bool)):
                raise self.error("E306", f"a dict key must be a number or a string, not {type_name(k)}", key)
            out[k] = self.eval(value, env, cursor)
        return self.sized(out, node, size(out))

    # ---- calls: user functions, built-ins; a call of a layer or block is an element
    def _Call(self, node, env, cursor):
        func = node.func
        if isinstance(func, ast.Name):
            target = env.get(func.id, _MISSING)
            if isinstance(target, FuncRef):
                return self.call_function(node, target, env, cursor)
            if target is _MISSING and func.id in BUILTINS:
                args = []
                for arg in node.args:
                    if arg.name or arg.label:
                        raise self.error("E302", f"`{func.id}` takes positional arguments only", node)
                    args.append(self.eval(arg.value, env, cursor))
                return call_builtin(self, node, func.id, args)
        return Closure(node, env)  # a layer or block call, used as a value

    def call_function(self, node, ref: FuncRef, env, cursor):
        defn = ref.defn
        what = f"call of function `{defn.name}`"
        if self.function_depth >= MAX_FUNCTION_DEPTH:
            raise self.too_deep(node, what, "function", MAX_FUNCTION_DEPTH)
        values = self.bind(node, f"function `{defn.name}`", defn.params, node.args, env, cursor, ref.env)
        self.stack.append(Frame(what, node.span))
        self.steps += FUNCTION_CALL_STEPS  # (checked at the next expression)
        self.function_depth += 1
        try:
            result = self.eval(defn.body, Env(values, ref.env), None)
        except RecursionError:
            raise Overflow(node.span, list(self.stack)) from None
        finally:
            self.stack.pop()
            self.function_depth -= 1
        if isinstance(result, Closure):
            raise self.error("E311", f"function `{defn.name}` returns a layer chain, not a value", node,
                             hint="a function computes numbers, strings, lists and dicts; a piece of network "
                                  "is a `block`")
        return result

    def too_deep(self, node, what: str, kind: str, limit: int) -> ArchError:
        """At the nesting limit: a call that is already on the stack is a recursion too deep (E603)."""
        if any(frame.what == what for frame in self.stack):
            name = what.removeprefix("call of ")
            return self.error("E603", f"{name} calls itself more than {limit} deep", node,
                              hint="a recursion must stop: check its condition, e.g. `level(d - 1) ? d > 0` or "
                                   "`0 if n == 0 else f(n - 1)`")
        return self.error("E604", f"{kind} calls nested more than {limit} deep", node, hint="flatten the hierarchy")

    def bind(self, node, what: str, params, args, env, cursor, scope: Env) -> dict:
        """Arguments of a block or function call -> its parameters; defaults are evaluated in `scope`,
        seeing the parameters before them. (On every call: the messages are built only on error.)"""
        values: dict = {}
        if args:
            names = [p.name for p in params]
            used = 0  # positional arguments so far
            for arg in args:
                if arg.label:
                    raise self.error("E302", f"{what} takes no labelled branches", arg)
                if arg.name:
                    if arg.name not in names:
                        raise self.error("E302", f"{what} has no parameter `{arg.name}`", arg,
                                         hint=did_you_mean(arg.name, names, "its parameters are"))
                    key = arg.name
                elif used < len(names):
                    key, used = names[used], used + 1
                else:
                    got = sum(1 for a in args if not a.name)
                    raise self.error("E303", f"{what} takes {len(names)} argument{'s' * (len(names) != 1)}, "
                                     f"got {got}", node, hint=_signature(what, params))
                if key in values:
                    raise self.error("E305", f"parameter `{key}` of {what} given twice", arg)
                values[key] = self.eval(arg.value, env, cursor)
        if len(values) < len(params):
            defaults = Env(values, scope)  # one scope that grows: linear in the number of parameters
            for param in params:
                if param.name not in values:
                    if param.default is None:
                        raise self.error("E304", f"{what} needs its parameter `{param.name}`", node,
                                         hint=_signature(what, params))
                    values[param.name] = self.eval(param.default, defaults, cursor)
        return values

    # ---- indexing and slicing
    def _Index(self, node, env, cursor):
        obj = self.eval(node.obj, env, cursor)
        key = self.eval(node.key, env, cursor)
        if isinstance(obj, list):
            if not is_int(key):
                raise self.error("E306", f"a list index must be an integer, not {type_name(key)}", node.key)
            if not -len(obj) <= key < len(obj):
                raise self.error("E307", f"index {key} is out of range for a list of {len(obj)}", node.key)
            return obj[key]
        if isinstance(obj, dict):
            if not isinstance(key, (int, float, str)):  # (a list or a layer is no key, and cannot be hashed)
                raise self.error("E306", f"a dict key is a number or a string, not {type_name(key)}", node.key)
            if key not in obj:
                keys = ", ".join(show(k) for k in list(obj)[:8]) + (", ..." if len(obj) > 8 else "")
                raise self.error("E307", f"key {show(key)} is not in the dict", node.key, hint=f"its keys are {keys}")
            return obj[key]
        raise self.error("E306", f"cannot index {type_name(obj)}", node.obj)

    def _Slice(self, node, env, cursor):
        obj = self.eval(node.obj, env, cursor)
        if not isinstance(obj, (list, str)):
            raise self.error("E306", f"cannot slice {type_name(obj)}", node.obj, hint="slices take lists and strings")
        bounds = []
        for part in (node.lower, node.upper, node.step):
            value = None if part is None else self.eval(part, env, cursor)
            if value is not None and not is_int(value):
                raise self.error("E306", f"a slice bound must be an integer, not {type_name(value)}", part)
            bounds.append(value)
        if bounds[2] == 0:
            raise self.error("E312", "a slice's step cannot be 0", node.step)
        part = obj[slice(*bounds)]
        return self.sized(part, node, size(part))

    # ---- arithmetic
    def _Arith(self, node, env, cursor):
        value = self.eval(node.operands[0], env, cursor)
        for op, operand in zip(node.ops, node.operands[1:]):
            value = self.binary(op, value, self.eval(operand, env, cursor), operand, node)
        return value

    def binary(self, op, a, b, right: ast.Node, whole: ast.Node):
        if is_num(a) and is_num(b):
            if op in ("/", "//", "%") and b == 0:
                raise self.error("E308", "division by zero", right)
            return self.checked(_ARITH[op](a, b), whole)
        if op == "+" and type(a) is type(b) and isinstance(a, (list, str)):
            return self.sized(None, whole, size(a) + size(b), lambda: a + b)
        if op == "*" and isinstance(a, (list, str)) and is_int(b):
            return self.sized(None, whole, size(a) * max(b, 0), lambda: a * b)
        raise self.error("E306", f"cannot apply `{op}` to {type_name(a)} and {type_name(b)}", whole)

    def checked(self, value, node):
        if isinstance(value, float) and not math.isfinite(value) or abs(value) > MAX_VALUE:
            raise self.error("E605", f"value {show(value)[:30]} is too large", node,
                             hint=f"values in a spec stay below {MAX_VALUE:.0e}")
        return value

    def sized(self, value, node, items: int, make=None):
        """`value` (or `make()`) once its size, `items` (see `size`), is known to be within the limits."""
        if items > MAX_LIST:
            raise self.error("E605", f"a value of more than {MAX_LIST:,} items is too large", node,
                             hint=f"lists and strings hold at most {MAX_LIST:,} items in all")
        self.charge(items, node)
        return make() if make is not None else value

    def charge(self, items: int, node) -> None:
        self.work += items
        if self.work > MAX_WORK:
            raise self.error("E605", f"the spec builds or reads lists and strings of more than {MAX_WORK:,} items "
                             "in all", node, hint="a big list inside a repeat is built (or compared, summed) again "
                                                  "in every iteration")

    def read(self, values, node) -> None:
        """Comparing lists takes time in their size: count it as work."""
        for value in values:
            if isinstance(value, (list, dict, str)):
                self.charge(size(value), node)

    def _Power(self, node, env, cursor):
        base, exp = self.eval(node.base, env, cursor), self.eval(node.exponent, env, cursor)
        if not (is_num(base) and is_num(exp)):
            raise self.error("E306", f"cannot raise {type_name(base)} to {type_name(exp)}", node)
        if base == 0 and exp < 0:
            raise self.error("E308", "division by zero (0 to a negative power)", node)
        if exp > 64 and abs(base) > 1:  # (a negative exponent only makes a small number)
            raise self.error("E605", f"{show(base)} ** {show(exp)} is too large", node)
        if base < 0 and exp != int(exp):
            raise self.error("E306", f"({show(base)}) ** {show(exp)} is not a real number", node,
                             hint="a negative number has no real fractional power")
        try:
            return self.checked(base ** exp, node)
        except OverflowError:  # a float power beyond the floats (`1e15 ** 64`, `0.5 ** -5000`)
            raise self.error("E605", f"{show(base)} ** {show(exp)} is too large", node) from None

    def _Compare(self, node, env, cursor):
        values = [self.eval(o, env, cursor) for o in node.operands]
        self.read(values, node)
        for op, a, b in zip(node.ops, values, values[1:]):
            if op not in ("==", "!=") and not (is_num(a) and is_num(b) or type(a) is type(b) is str):
                raise self.error("E306", f"cannot compare {type_name(a)} with {type_name(b)} using `{op}`", node)
            if not _COMPARE[op](a, b):
                return False
        return True

    def _BoolOp(self, node, env, cursor):
        for operand in node.values:
            value = self.truth(self.eval(operand, env, cursor), operand)
            if value == (node.op == "or"):
                return value
        return node.op == "and"

    def _Not(self, node, env, cursor):
        return not self.truth(self.eval(node.operand, env, cursor), node.operand)

    def truth(self, value, node) -> bool:
        if isinstance(value, bool):
            return value
        raise self.error("E306", f"a condition must be true or false, not {type_name(value)} ({show(value)})",
                         node, hint="compare it, e.g. `i < 3` or `stride != 1`")

    def _Unary(self, node, env, cursor):
        value = self.eval(node.operand, env, cursor)
        if not is_num(value):
            raise self.error("E306", f"cannot apply `{node.op}` to {type_name(value)}", node)
        return -value if node.op == "-" else value

    def _IfExpr(self, node, env, cursor):
        chosen = node.then if self.truth(self.eval(node.cond, env, cursor), node.cond) else node.orelse
        return self.eval(chosen, env, cursor)


def _signature(what: str, params) -> str:
    return f"`{what.split('`')[1]}({', '.join(p.name for p in params)})`"


def size(value, limit: int = MAX_LIST) -> int:
    """Items in a value, at least 1: the length of a string; lists and dicts counted deeply, so
    that a list of one list repeated cannot hide a million copies. Counting stops past `limit`
    (the answer is then some number above it), so that a list of many references to one big
    list costs no more than the limit to measure."""
    if isinstance(value, str):
        return max(1, len(value))
    if isinstance(value, list) and _FLAT.issuperset(map(type, value)):  # numbers only: counted in C
        return max(1, len(value))
    if isinstance(value, (list, dict)):
        n = 0
        for v in value.items() if isinstance(value, dict) else value:
            n += size(v, limit - n) if isinstance(v, (list, dict, str, tuple)) else 1
            if n > limit:
                break
        return max(1, n)
    if isinstance(value, tuple):  # a dict's (key, value)
        return sum(size(v, limit) for v in value)
    return 1


_FLAT = frozenset({int, float, bool})
