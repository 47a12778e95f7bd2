"""Analysis passes over an elaborated network. Each pass is a plain function
that stores its result in every node's `stats`; `RULES` runs them in order.
Shapes are already known: elaboration computes them as it adds each node.

>>> import archlang
>>> net = archlang.load("network N:\\n  input(1, 8, 8) -> conv(4) -> fc(10)\\n")
>>> [(n.name, n.stats["params"], n.stats["macs"]) for n in net.layers]
[('conv1', 40, 2304), ('flatten1', 0, 0), ('fc1', 2570, 2560)]
"""

from __future__ import annotations

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


def receptive_field(nodes) -> None:
    """Receptive field size and jump (effective stride), per axis, in input pixels."""
    for n in nodes:
        if not n.inputs:
            n.stats["rf"], n.stats["jump"] = (1, 1), (1, 1)
            continue
        if len(n.inputs) == 1:
            rf, jump = nodes[n.inputs[0]].stats["rf"], nodes[n.inputs[0]].stats["jump"]
        else:  # a merge sees the widest of its branches, at the finest step among them
            ins = [nodes[i].stats for i in n.inputs]
            rf = tuple(max(s["rf"][a] for s in ins) for a in (0, 1))
            jump = tuple(min(s["jump"][a] for s in ins) for a in (0, 1))
        window = n.layer.window(n.in_shapes)
        if window is not None:
            kh, kw, sh, sw = window
            rf = (rf[0] + (kh - 1) * jump[0], rf[1] + (kw - 1) * jump[1])
            jump = (jump[0] * sh, jump[1] * sw)
        n.stats["rf"], n.stats["jump"] = rf, jump


def activation_memory(nodes) -> None:
    for n in nodes:
        # flatten and identity return views of their input: no new memory.
        n.stats["memory"] = 0 if n.type in ("flatten", "identity") else numel(n.shape) * BYTES_PER_VALUE


RULES = (count_params, count_macs, receptive_field, activation_memory)


def analyse(nodes) -> None:
    for rule in RULES:
        rule(nodes)
