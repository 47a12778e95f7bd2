"""The built-in functions of expressions: each checks its number of arguments, their types
and its domain, and returns a value within the spec's limits (numbers at most 10^15, lists
within the list limits).

>>> from archlang.syntax.parser import parse_value
>>> from archlang.ir.evaluate import Evaluator
>>> from archlang.ir.values import Env
>>> Evaluator().eval(parse_value("[round(log(w / 48) / log(2.5)) for w in [48, 120, 300]]"), Env({}), None)
[0, 1, 2]
"""

from __future__ import annotations

import math

from archlang.ir.values import show, type_name

# name -> (function, fewest arguments, most arguments or None, signature for messages)
BUILTINS: dict = {}


def builtin(name: str, fewest: int, most: int | None, signature: str):
    def register(fn):
        BUILTINS[name] = (fn, fewest, most, signature)
        return fn
    return register


def call_builtin(ev, node, name: str, args: list):
    fn, fewest, most, signature = BUILTINS[name]
    if len(args) < fewest or most is not None and len(args) > most:
        many = most is not None and len(args) > most
        count = f"at most {most}" if many else f"at least {fewest}"
        raise ev.error("E303" if many else "E304", f"`{name}` takes {count} argument{'s' * (count[-1] != '1')}, "
                       f"got {len(args)}", node, hint=f"`{signature}`")
    return fn(ev, node, args)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def all_numbers(items: list) -> bool:
    """Whether every item is a number (not a boolean): one pass in C over a long list."""
    return _NUMBERS.issuperset(map(type, items))


_NUMBERS = frozenset({int, float})


def _number(ev, node, name: str, value, what: str = "a number"):
    if not is_num(value):
        raise ev.error("E306", f"`{name}` needs {what}, not {type_name(value)} ({show(value)})", node)
    return value


def _numbers(ev, node, name, args):
    if len(args) == 1 and isinstance(args[0], list):
        args = args[0]
    ev.charge(len(args), node)  # (reading a long list takes time: it counts as work)
    if not args or not all_numbers(args):
        raise ev.error("E306", f"`{name}` takes numbers (or one non-empty list of numbers)", node)
    return args


@builtin("min", 1, None, "min(a, b, ...) or min(list)")
def _min(ev, node, args):
    return min(_numbers(ev, node, "min", args))


@builtin("max", 1, None, "max(a, b, ...) or max(list)")
def _max(ev, node, args):
    return max(_numbers(ev, node, "max", args))


@builtin("sum", 1, 1, "sum(list)")
def _sum(ev, node, args):
    items = args[0]
    ev.charge(len(items) if isinstance(items, list) else 1, node)
    if not isinstance(items, list) or not all_numbers(items):
        raise ev.error("E306", f"`sum` needs a list of numbers, not {type_name(items)} ({show(items)})", node)
    return ev.checked(sum(items), node)


@builtin("abs", 1, 1, "abs(x)")
def _abs(ev, node, args):
    return abs(_number(ev, node, "abs", args[0]))


@builtin("len", 1, 1, "len(list)")
def _len(ev, node, args):
    if not isinstance(args[0], (list, str, dict)):
        raise ev.error("E306", f"`len` needs a list, not {type_name(args[0])}", node)
    return len(args[0])


@builtin("int", 1, 1, "int(x)")
def _int(ev, node, args):
    return int(_number(ev, node, "int", args[0]))


@builtin("float", 1, 1, "float(x)")
def _float(ev, node, args):
    return float(_number(ev, node, "float", args[0]))


@builtin("round", 1, 2, "round(x) or round(x, digits)")
def _round(ev, node, args):
    # Python's rounding, half to even (round(2.5) == 2), as torchvision's formulas compute it.
    x = _number(ev, node, "round", args[0])
    if len(args) == 1:
        return round(x)
    digits = args[1]
    if not is_int(digits) or not -15 <= digits <= 15:
        raise ev.error("E306", f"`round`'s digits must be an integer from -15 to 15, not {show(digits)}", node)
    return round(x, digits)


@builtin("ceil", 1, 1, "ceil(x)")
def _ceil(ev, node, args):
    return math.ceil(_number(ev, node, "ceil", args[0]))


@builtin("floor", 1, 1, "floor(x)")
def _floor(ev, node, args):
    return math.floor(_number(ev, node, "floor", args[0]))


@builtin("sqrt", 1, 1, "sqrt(x)")
def _sqrt(ev, node, args):
    x = _number(ev, node, "sqrt", args[0])
    if x < 0:
        raise ev.error("E312", f"`sqrt` of the negative number {show(x)}", node)
    return math.sqrt(x)


@builtin("log", 1, 2, "log(x) or log(x, base)")
def _log(ev, node, args):
    x = _number(ev, node, "log", args[0])
    if x <= 0:
        raise ev.error("E312", f"`log` of {show(x)}: the logarithm needs a positive number", node)
    if len(args) == 1:
        return math.log(x)
    base = _number(ev, node, "log", args[1], "a number as its base")
    if base <= 0 or base == 1:
        raise ev.error("E312", f"`log` to the base {show(base)}: a base is positive and not 1", node)
    return math.log(x) / math.log(base)


@builtin("range", 1, 3, "range(stop), range(start, stop) or range(start, stop, step)")
def _range(ev, node, args):
    if not all(is_int(a) for a in args):
        shown = ", ".join(show(a) for a in args)
        raise ev.error("E306", f"`range` takes integers, not ({shown})", node)
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) == 3 else 1)
    if step == 0:
        raise ev.error("E312", "`range`'s step cannot be 0", node)
    count = len(range(start, stop, step))  # computed without building it
    return ev.sized(None, node, max(1, count), lambda: list(range(start, stop, step)))
