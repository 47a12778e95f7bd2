"""The typed AST. Every node keeps the `Span` it was parsed from.

Layers, blocks, branches and values share one expression syntax (`conv(64)`
is a call like `min(a, b)`); elaboration decides from context whether a node
is a layer or a value. Child fields are typed `Node`: any node subclass.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from archlang.errors import Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)
    span: Span


# ---- values -------------------------------------------------------------------


class Number(Node):
    value: int | float


class String(Node):
    value: str


class Bool(Node):
    value: bool


class Name(Node):
    id: str


class InShape(Node):
    """`in.channels` and friends: the shape flowing into the current element."""

    attr: str


class InputShape(Node):
    """`input.channels` and friends: the shape of the network's input, anywhere after it."""

    attr: str


class ListExpr(Node):
    """`[a, b]`: a list value, or with one item in a chain, a group `[conv -> relu]`."""

    items: list[Node]


class DictExpr(Node):
    pairs: list[tuple[Node, Node]]


class Arg(Node):
    """One call argument: positional, `name = value`, or a labelled branch `label: chain`."""

    name: str | None = None
    label: str | None = None
    value: Node


class Call(Node):
    func: Node
    args: list[Arg]


class Index(Node):
    obj: Node
    key: Node


class Slice(Node):
    """`xs[lower:upper:step]`, each part optional, as in Python."""

    obj: Node
    lower: Node | None = None
    upper: Node | None = None
    step: Node | None = None


class ListComp(Node):
    """`[item for name in iterable if cond]`; with several names (`for c, n in stages`) each
    item of the iterable is a list that is unpacked."""

    item: Node
    names: list[str]
    iterable: Node
    cond: Node | None = None


class Arith(Node):
    """`a + b - c` or `a * b // c`, kept flat so long sums do not nest deeply."""

    operands: list[Node]
    ops: list[str]


class Compare(Node):
    operands: list[Node]
    ops: list[str]


class BoolOp(Node):
    op: str  # "and" | "or"
    values: list[Node]


class Not(Node):
    operand: Node


class Unary(Node):
    op: str  # "-" | "+"
    operand: Node


class Power(Node):
    base: Node
    exponent: Node


class IfExpr(Node):
    cond: Node
    then: Node
    orelse: Node


# ---- elements -----------------------------------------------------------------


class Chain(Node):
    """`a -> b -> c`."""

    items: list[Node]


class Labelled(Node):
    label: str
    item: Node


class Switch(Node):
    """`X?`: X is on unless the switch (named by its label or layer) is set false."""

    item: Node


class Cond(Node):
    """`X ? cond`: X only where cond holds."""

    item: Node
    cond: Node


class Repeat(Node):
    """`[body] * count as index`."""

    body: Node
    count: Node
    index: str | None = None


# ---- top level ----------------------------------------------------------------


class Param(Node):
    name: str
    default: Node | None = None


class Let(Node):
    name: str
    value: Node


class FuncDef(Node):
    """`let f(x, d = 8) = expr`: a function of values (in a body, or at the top of a file)."""

    name: str
    params: list[Param]
    body: Node


class Import(Node):
    path: str


class BlockDef(Node):
    name: str
    params: list[Param]
    lets: list[Let | FuncDef]
    body: Node


class NetworkDef(Node):
    name: str
    params: list[Param]
    lets: list[Let | FuncDef]
    body: Node


class NetworkAlias(Node):
    """`network VGG16 = VGG(depth = 16)`: another network with bound parameters."""

    name: str
    base: str
    args: list[Arg]
    name_span: Span | None = None  # of `NAME` (the node's span is the base's, where its errors point)


class Module(Node):
    file: str
    items: list[Any]
