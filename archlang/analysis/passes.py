"""Analysis passes over an elaborated network. Each pass is a plain function
that stores its result in every node's `stats`; `RULES` runs them in order.
Shapes are already known: elaboration computes them as it adds each node.

>>> import archlang
>>> net = archlang.load("network N:\\n  input(1, 8, 8) -> conv(4) -> fc(10)\\n")
>>> [(n.name, n.stats["params"], n.stats["macs"]) for n in net.layers]
[('conv1', 40, 2304), ('flatten1', 0, 0), ('fc1', 2570, 2560)]
"""

from __future__ import annotations

from archlang.analysis.receptive import receptive_field
from archlang.layers.base import numel

BYTES_PER_VALUE = 4  # float32 activations


def count_params(nodes) -> None:
    for n in nodes:
        n.stats["params"] = n.layer.params(n.in_shapes)
        n.stats["buffers"] = n.layer.buffers(n.in_shapes)


def count_macs(nodes) -> None:
    # MACs of conv and linear layers, bias excluded: the layers define it.
    for n in nodes:
        n.stats["macs"] = n.layer.macs(n.in_shapes, n.shape)


def activation_memory(nodes) -> None:
    for n in nodes:
        # flatten, identity, reshape and crop return views of their input: no new memory.
        n.stats["memory"] = 0 if n.layer.view else numel(n.shape) * BYTES_PER_VALUE


RULES = (count_params, count_macs, receptive_field, activation_memory)


def analyse(nodes) -> None:
    for rule in RULES:
        rule(nodes)
