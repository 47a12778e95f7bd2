"""The bridge from an elaborated spec (`archlang.load`) to what training needs."""

from __future__ import annotations

from archlang.network import Network


class SpecSource:
    """A `ModelSource` over a Network: shapes, a fresh module per call, the spec text."""

    def __init__(self, net: Network, overrides: dict | None = None):
        self.net = net
        self.name = net.name
        self.input_shape = net.input_shape
        self.output_shape = net.output_shape
        self.overrides = dict(overrides or {})
        # Self-contained (imports inlined) and pinned to this network, so `spec.arch` in the run
        # directory rebuilds exactly this model.
        self.source_text = net.bundled_source()
        self.parameters = dict(net.settings)  # for hints such as `--set classes=3`
        self.final_layer = _final_layer(net)

    def build(self, device=None, dtype=None):
        return self.net.to_torch(device=device, dtype=dtype)

    def output_error(self, message: str, hint: str | None = None) -> Exception:
        return self.net.error_at_output(message, hint)


SHAPE_ONLY = {"flatten", "identity", "dropout", "reshape", "unflatten"}


def _final_layer(net: Network) -> str:
    """The type of the last layer that computes something (a flatten after a softmax does not)."""
    node = net.nodes[net.output]
    while node.type in SHAPE_ONLY and len(node.inputs) == 1 and node.inputs[0] != 0:
        node = net.nodes[node.inputs[0]]
    return node.type

