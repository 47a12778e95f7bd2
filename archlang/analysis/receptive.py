"""The receptive-field pass: per axis, the field size and jump (effective stride) of every
layer, in input pixels, stored in `stats["rf"]` and `stats["jump"]`.

Along each axis, a map's `Field` records which input pixels each of its positions sees, as
the usual theory does for an unbounded input (borders and padding ignored): a layer reads a
window of positions (`Layer.reads`), and a position sees the union of what those saw. Where
strides are whole numbers this is the classic recurrence, rf + (k - 1)·jump and jump·stride.
Upsampling makes jumps fractions, and neighbouring positions then see different spans
(phases): a map's field is the largest over its positions, exactly. A merge sees the union
of its branches at each position (a broadcast C×1×1 gate: all the gate saw, everywhere).
A pattern of more than MAX_PERIOD phases, or a pass past MAX_WORK phases in all, falls back
to averaged steps: the recurrence with fractional jumps, rounded up to whole pixels.

>>> import archlang
>>> net = archlang.load("network N:\\n  input(1, 32, 32) -> conv(4, 3) -> upsample(2) -> conv(4, 3)\\n")
>>> [(n.stats["rf"][0], n.stats["jump"][0]) for n in net.layers]
[(3, 1), (3, Fraction(1, 2)), (4, Fraction(1, 2))]
"""

from __future__ import annotations

import functools
import math
import operator
from fractions import Fraction
from typing import NamedTuple

from archlang.layers.base import MAX_PERIOD, Layer, Reads

MAX_WORK = 200_000  # phases listed in one pass, at most: well under a second, whatever the network


class Field(tuple):
    """(period, advance, lo, hi): position o = q·period + r of a map sees input pixels
    lo[r] + q·advance .. hi[r] + q·advance. A tuple made by tuple's own constructor: the
    pass makes two per layer, and a NamedTuple's took most of its time."""

    __slots__ = ()
    period = property(operator.itemgetter(0))
    advance = property(operator.itemgetter(1))
    lo = property(operator.itemgetter(2))
    hi = property(operator.itemgetter(3))

    def at(self, o: int) -> tuple[int, int]:
        q, r = divmod(o, self.period)
        return self.lo[r] + q * self.advance, self.hi[r] + q * self.advance


class Averaged(NamedTuple):
    """The fallback: a field size and a jump, both possibly fractions."""

    rf: int | Fraction
    jump: int | Fraction


_START = Field((1, 1, (0,), (0,)))  # pixel o of the input sees itself
_MISSING = object()


def receptive_field(nodes) -> None:
    _Pass(nodes).run()


class _Pass:
    def __init__(self, nodes):
        self.nodes = nodes
        self.fields: list = [None] * len(nodes)  # node id -> (height field, width field)
        self.reads_of: dict = {}  # (layer, *input shapes) -> its reads: the layers of a repeat are one
        self.work = 0  # phases listed so far, against MAX_WORK

    def run(self) -> None:
        fields, nodes = self.fields, self.nodes
        for n in nodes:
            if not n.inputs:
                fields[n.id] = (_START, _START)
                n.stats["rf"], n.stats["jump"] = (1, 1), (1, 1)
                continue
            if len(n.inputs) == 1 and _pointwise(type(n.layer)):  # the field passes through unchanged
                source = n.inputs[0]
                fields[n.id] = fields[source]
                n.stats["rf"], n.stats["jump"] = nodes[source].stats["rf"], nodes[source].stats["jump"]
                continue
            key = (n.layer, *n.in_shapes)
            reads = self.reads_of.get(key, _MISSING)
            if reads is _MISSING:
                reads = self.reads_of[key] = n.layer.reads(n.in_shapes)
            fh, fw = self.merged(n) if len(n.inputs) > 1 else fields[n.inputs[0]]
            if reads is not None:
                whole = _whole_strides(fh, fw, *reads)
                if whole is not None:  # the common case, computed at once
                    fields[n.id], n.stats["rf"], n.stats["jump"] = whole
                    continue
                fh, fw = self.through(fh, reads[0], n, 0), self.through(fw, reads[1], n, 1)
            fields[n.id] = (fh, fw)
            n.stats["rf"] = (_size(fh), _size(fw))
            n.stats["jump"] = (_jump(fh), _jump(fw))

    def listed(self, phases: int) -> bool:
        """Whether `phases` more may be listed (and counts them)."""
        if phases > MAX_PERIOD or self.work + phases > MAX_WORK:
            return False
        self.work += phases
        return True

    def through(self, field, reads: Reads | None, node, axis: int):
        """The field after `node`, which reads `reads` along this axis (None: more phases than
        MAX_PERIOD, so its window's averaged kernel and step stand for them)."""
        if reads is None:
            window = node.layer.window(node.in_shapes)
            extent, step = window[axis] - 1, window[axis + 2]
        else:
            if type(field) is Field:
                k = field.period // math.gcd(reads.advance, field.period) if reads.advance else 1
                period = reads.period * k  # output phases until both patterns repeat
                if self.listed(period):
                    return _compose(field, reads, period, k * reads.advance // field.period * field.advance)
            extent = max(last - first for first, last in zip(reads.first, reads.last))
            step = Fraction(reads.advance, reads.period)
        rf, jump = _averaged(field)
        return Averaged(_exact(rf + extent * jump), _exact(jump * step))

    def merged(self, n) -> tuple:
        nodes, ins = self.nodes, [self.fields[i] for i in n.inputs]
        first_h, first_w = ins[0]
        if all(type(fh) is type(fw) is Field and fh[0] == fw[0] == 1 and fh[1] == first_h[1] and
               fw[1] == first_w[1] for fh, fw in ins) and all(nodes[i].shape[1:] == n.shape[1:] for i in n.inputs):
            return (Field((1, first_h[1], (min(fh[2][0] for fh, _ in ins),), (max(fh[3][0] for fh, _ in ins),))),
                    Field((1, first_w[1], (min(fw[2][0] for _, fw in ins),), (max(fw[3][0] for _, fw in ins),))))
        merged = []
        for axis in (0, 1):
            size = _side(n.shape, axis)
            branches = []
            for i, fields in zip(n.inputs, ins):
                field, side = fields[axis], _side(nodes[i].shape, axis)
                if side == 1 < size and type(field) is Field:  # broadcast: one position, seen everywhere
                    lo, hi = field.at(0)
                    field = Field((1, 0, (lo,), (hi,)))
                branches.append((field, side))
            merged.append(self.union(branches, size))
        return tuple(merged)

    def union(self, branches, size: int):
        """What each position of a merge sees: the union of what its branches see there."""
        fields = [f for f, _ in branches]
        if all(type(f) is Field for f in fields):
            if len({Fraction(f.advance, f.period) for f in fields}) == 1:
                period = math.lcm(*(f.period for f in fields))
                if self.listed(period):
                    return _spans(fields, period, fields[0].advance * (period // fields[0].period))
            else:
                constant = _covering(branches, size)
                if constant is not None:  # a gate that saw the whole map: every position sees it
                    return constant
                if self.listed(size):
                    # Branches that step differently agree on no pattern: list the map's own
                    # positions; past its edge, continue at the finest step of the branches.
                    steps = [Fraction(f.advance, f.period) for f, side in branches if side > 1]
                    return _spans(fields, size, round(size * min(steps)) if steps else 0)
        averaged = [_averaged(f) for f in fields]
        return Averaged(max(rf for rf, _ in averaged), min(jump for _, jump in averaged))


def _whole_strides(fh, fw, rh, rw):
    """(fields, rf, jump) after reads of one phase on fields of one phase; None otherwise."""
    if not (type(fh) is type(fw) is Field and fh[0] == fw[0] == 1 and rh and rw and rh[0] == rw[0] == 1):
        return None
    (_, jh, (loh,), (hih,)), (_, jw, (low,), (hiw,)) = fh, fw
    (_, ah, (firsth,), (lasth,)), (_, aw, (firstw,), (lastw,)) = rh, rw
    loh, hih, low, hiw = loh + firsth * jh, hih + lasth * jh, low + firstw * jw, hiw + lastw * jw
    jh, jw = ah * jh, aw * jw
    return ((Field((1, jh, (loh,), (hih,))), Field((1, jw, (low,), (hiw,)))),
            (hih - loh + 1, hiw - low + 1), (jh, jw))


@functools.cache
def _pointwise(layer_cls: type) -> bool:
    """A layer type that keeps Layer's own window and reads: every output position reads its own."""
    return layer_cls.window is Layer.window and layer_cls.reads is Layer.reads


def _compose(field: Field, reads: Reads, period: int, advance: int) -> Field:
    lo, hi = [], []
    for o in range(period):
        q, r = divmod(o, reads.period)
        lo.append(field.at(reads.first[r] + q * reads.advance)[0])
        hi.append(field.at(reads.last[r] + q * reads.advance)[1])
    return Field((period, advance, tuple(lo), tuple(hi)))


def _covering(branches, size: int) -> Field | None:
    """The union of the constant branches (advance 0), if it holds all the others see on the map."""
    constant = [f for f, _ in branches if f.advance == 0]
    if not constant:
        return None
    lo, hi = min(f.lo[0] for f in constant), max(f.hi[0] for f in constant)
    for f, side in branches:  # a position's span only moves forward with it: check both ends
        if f.at(0)[0] < lo or f.at(side - 1)[1] > hi:
            return None
    return Field((1, 0, (lo,), (hi,)))


def _spans(fields, period: int, advance: int) -> Field:
    spans = [[f.at(o) for f in fields] for o in range(period)]
    return Field((period, advance, tuple(min(lo for lo, _ in s) for s in spans),
                  tuple(max(hi for _, hi in s) for s in spans)))


def _side(shape, axis: int) -> int:
    return shape[1 + axis] if len(shape) == 3 else 1  # a vector: one position


def _averaged(field) -> tuple:
    return field if type(field) is Averaged else (_size(field), _jump(field))


def _size(field) -> int:
    if type(field) is Averaged:
        return math.ceil(field.rf)
    _, _, lo, hi = field
    return hi[0] - lo[0] + 1 if len(lo) == 1 else max(map(operator.sub, hi, lo)) + 1


def _jump(field) -> int | Fraction:
    if type(field) is Averaged:
        return field.jump
    return field[1] if field[0] == 1 else _exact(Fraction(field[1], field[0]))


def _exact(value: int | Fraction) -> int | Fraction:
    """A whole number as an int (as every jump before any upsampling), else the fraction."""
    return value if isinstance(value, int) or value.denominator != 1 else int(value)
