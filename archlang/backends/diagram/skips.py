"""Merges and their branches: which tensor edges are skip paths (drawn dashed
beside the main path), and which input of a merge is its main path.

A merge's branches are the branch scopes just before it in its scope (the
elaborator opens them, in order, right before adding the merge). An empty
branch (identity) is a skip edge from the merge's input straight to it. The
branch with the most layers is the main path; of an `add` or `mul` the
others (a projection shortcut) are skip paths, while `concat`'s non-empty
branches are equal partners, as in an Inception module.
"""

from __future__ import annotations

from archlang.backends.diagram.fold import has_layers
from archlang.ir.graph import LayerNode, Scope

SIDE_MERGES = ("add", "mul")  # merges with one main branch and side branches


def merges(net):
    """(merge node, its branch scopes in input order, index of the main branch) for every merge."""
    stack = [net.root]
    while stack:
        scope = stack.pop()
        branches: list[Scope] = []
        for child in scope.children:
            if isinstance(child, Scope):
                stack.append(child)
                branches = branches + [child] if child.kind == "branch" else []
            elif child.layer.many_inputs:
                mine = branches[-len(child.inputs):] if len(branches) >= len(child.inputs) else []
                sizes = [sum(1 for _ in b.layers()) for b in mine] or [0]
                yield child, mine, sizes.index(max(sizes))
                branches = []


def skip_edges(net) -> set[tuple[int, int]]:
    """(source id, target id) of every layer-graph edge that lies on a skip path."""
    edges: set[tuple[int, int]] = set()
    side_layers: set[int] = set()
    for node, branches, main in merges(net):
        _merge(node, branches, main, edges, side_layers)
    for node in net.nodes:
        for i in node.inputs:
            if i in side_layers or node.id in side_layers:
                edges.add((i, node.id))
    return edges


def _merge(node: LayerNode, branches: list[Scope], main: int, edges: set, side_layers: set) -> None:
    for k, (branch, source) in enumerate(zip(branches, node.inputs)):
        if not has_layers(branch):
            edges.add((source, node.id))
        elif node.type in SIDE_MERGES and k != main:
            side_layers.update(n.id for n in branch.layers())


def main_inputs(net) -> dict[int, int]:
    """Merge id -> the id of its main input (the end of its biggest branch)."""
    return {node.id: node.inputs[main] for node, _, main in merges(net)}
