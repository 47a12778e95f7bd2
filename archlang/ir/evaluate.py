"""Expression evaluation: values for layer arguments, repeat counts, conditions.

>>> from archlang.syntax.parser import parse_value
>>> from archlang.ir.evaluate import Evaluator
>>> from archlang.ir.values import Env
>>> Evaluator().eval(parse_value("64 * 2 ** min(3, 5) // 4"), Env({}), None)
128
"""

from __future__ import annotations

import math
import operator

from archlang.errors import ArchError
from archlang.ir.values import Closure, Env, LayerRef, show, type_name
from archlang.layers import lookup
from archlang.syntax import ast

MAX_VALUE = 10**15  # no real size or count comes near; beyond it is a mistake
MAX_LIST = 1_000_000  # items in one value, nested lists and characters of strings included
MAX_WORK = 10_000_000  # items of all the lists and strings a spec builds, so repeats cannot multiply them

_ELEMENTS = (ast.Chain, ast.Labelled, ast.Switch, ast.Cond, ast.Repeat)
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}
_IN_ATTRS = {"channels": 0, "c": 0, "height": 1, "h": 1, "width": 2, "w": 2, "features": 0}


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Evaluator:
    """Evaluates expressions. `shape_of(cursor)` gives the shape for `in.*`; the
    elaborator provides it, and the trace of block calls for errors."""

    def __init__(self, blocks: dict | None = None):
        self.blocks = blocks or {}
        self.stack: list = []
        self.work = 0  # items built so far (see MAX_WORK)

    def error(self, code: str, message: str, node: ast.Node, hint: str | None = None) -> ArchError:
        return ArchError(code, message, node.span, hint=hint, trace=list(self.stack))

    def shape_of(self, cursor):
        return cursor

    # ---- entry point
    def eval(self, node: ast.Node, env: Env, cursor):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            if isinstance(node, _ELEMENTS):
                return Closure(node, env)
            raise self.error("E311", "this is not a value", node)
        return method(node, env, cursor)

    def _Number(self, node, env, cursor):
        return node.value

    _String = _Bool = _Number

    def _Name(self, node, env, cursor):
        try:
            return env.lookup(node.id)
        except KeyError:
            pass
        if node.id in self.blocks:
            return self.blocks[node.id]
        if lookup(node.id):
            return LayerRef(lookup(node.id).name)
        from archlang.errors import did_you_mean

        raise self.error("E202", f"unknown name `{node.id}`", node,
                         hint=did_you_mean(node.id, env.names() | set(self.blocks)))

    def _InShape(self, node, env, cursor):
        shape = self.shape_of(cursor)
        if shape is None:
            raise self.error("E404", f"`in.{node.attr}` has no input here: nothing flows in yet", node,
                             hint="`in` refers to the shape entering the element; use it after `input(...)`")
        if node.attr == "shape":
            return list(shape)
        if node.attr not in _IN_ATTRS:
            raise self.error("E202", f"`in` has no attribute `{node.attr}`", node,
                             hint="use in.channels, in.height, in.width (or in.c, in.h, in.w) or in.shape")
        axis = _IN_ATTRS[node.attr]
        if axis >= len(shape):
            raise self.error("E306", f"`in.{node.attr}`: the input here is the vector {show(list(shape))}, "
                                     f"which has no {node.attr}", node, hint="use in.features or in.c for a vector")
        return shape[axis]

    def _ListExpr(self, node, env, cursor):
        items = [self.eval(item, env, cursor) for item in node.items]
        return self.sized(items, node, size(items))

    def _DictExpr(self, node, env, cursor):
        out = {}
        for key, value in node.pairs:
            k = self.eval(key, env, cursor)
            if not isinstance(k, (int, str, bool)):
                raise self.error("E306", f"a dict key must be a number or a string, not {type_name(k)}", key)
            out[k] = self.eval(value, env, cursor)
        return self.sized(out, node, size(out))

    def _Call(self, node, env, cursor):
        func = node.func
        if isinstance(func, ast.Name) and func.id in BUILTINS and func.id not in env.names():
            if any(a.name or a.label for a in node.args):
                raise self.error("E302", f"`{func.id}` takes positional arguments only", node)
            args = [self.eval(a.value, env, cursor) for a in node.args]
            return BUILTINS[func.id](self, node, args)
        return Closure(node, env)  # a layer or block call, used as a value

    def _Index(self, node, env, cursor):
        obj = self.eval(node.obj, env, cursor)
        key = self.eval(node.key, env, cursor)
        if isinstance(obj, list):
            if not isinstance(key, int) or isinstance(key, bool):
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

    def _Arith(self, node, env, cursor):
        value = self.eval(node.operands[0], env, cursor)
        for op, operand in zip(node.ops, node.operands[1:]):
            value = self.binary(op, value, self.eval(operand, env, cursor), operand, node)
        return value

    def binary(self, op, a, b, right: ast.Node, whole: ast.Node):
        if _is_num(a) and _is_num(b):
            if op in ("/", "//", "%") and b == 0:
                raise self.error("E308", "division by zero", right)
            result = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
                      "//": operator.floordiv, "%": operator.mod}[op](a, b)
            return self.checked(result, whole)
        if op == "+" and type(a) is type(b) and isinstance(a, (list, str)):
            return self.sized(None, whole, size(a) + size(b), lambda: a + b)
        if op == "*" and isinstance(a, (list, str)) and isinstance(b, int) and not isinstance(b, bool):
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
            raise self.error("E605", f"a value of {items:,} items is too large", node,
                             hint=f"lists and strings hold at most {MAX_LIST:,} items in all")
        self.work += items
        if self.work > MAX_WORK:
            raise self.error("E605", f"the spec builds lists and strings of more than {MAX_WORK:,} items in all",
                             node, hint="a big list inside a repeat is built again in every iteration")
        return make() if make is not None else value

    def _Power(self, node, env, cursor):
        base, exp = self.eval(node.base, env, cursor), self.eval(node.exponent, env, cursor)
        if not (_is_num(base) and _is_num(exp)):
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
        for op, a, b in zip(node.ops, values, values[1:]):
            if op not in ("==", "!=") and not (_is_num(a) and _is_num(b) or type(a) is type(b) is str):
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
        if not _is_num(value):
            raise self.error("E306", f"cannot apply `{node.op}` to {type_name(value)}", node)
        return -value if node.op == "-" else value

    def _IfExpr(self, node, env, cursor):
        chosen = node.then if self.truth(self.eval(node.cond, env, cursor), node.cond) else node.orelse
        return self.eval(chosen, env, cursor)


def size(value) -> int:
    """Items in a value, at least 1: the length of a string; lists and dicts counted deeply, so
    that a list of one list repeated cannot hide a million copies."""
    if isinstance(value, str):
        return max(1, len(value))
    if isinstance(value, list):
        return max(1, sum(size(v) if isinstance(v, (list, dict, str)) else 1 for v in value))
    if isinstance(value, dict):
        return max(1, sum(size(k) + size(v) for k, v in value.items()))
    return 1


def _numbers(ev: Evaluator, node, name, args, at_least=1):
    if len(args) < at_least:
        raise ev.error("E304", f"`{name}` needs at least {at_least} argument{'s' * (at_least > 1)}", node)
    if len(args) == 1 and isinstance(args[0], list):
        args = args[0]
    if not args or not all(_is_num(a) for a in args):
        raise ev.error("E306", f"`{name}` takes numbers (or one list of numbers)", node)
    return args


def _one(ev: Evaluator, node, name, args):
    if len(args) != 1:
        raise ev.error("E303" if args else "E304", f"`{name}` takes exactly one argument", node)
    return args[0]


def _len(ev, node, args):
    value = _one(ev, node, "len", args)
    if not isinstance(value, (list, str, dict)):
        raise ev.error("E306", f"`len` needs a list, not {type_name(value)}", node)
    return len(value)


def _convert(kind):
    def convert(ev, node, args):
        value = _one(ev, node, kind.__name__, args)
        if not _is_num(value):
            raise ev.error("E306", f"`{kind.__name__}` needs a number, not {type_name(value)}", node)
        return kind(value)
    return convert


BUILTINS = {
    "min": lambda ev, node, args: min(_numbers(ev, node, "min", args)),
    "max": lambda ev, node, args: max(_numbers(ev, node, "max", args)),
    "sum": lambda ev, node, args: ev.checked(sum(_numbers(ev, node, "sum", args)), node),
    "abs": lambda ev, node, args: abs(_numbers(ev, node, "abs", args)[0]),
    "len": _len,
    "int": _convert(int),
    "float": _convert(float),
    "round": _convert(round),
}
