"""Merges of branches: add, concat (channels), mul (broadcasting)."""

from __future__ import annotations

from archlang.layers.base import Layer, ShapeError, register


class _Merge(Layer):
    family = "merge"
    many_inputs = True


def _disagree(layer: Layer, hint: str) -> ShapeError:
    # Elaboration adds the branches' labels and shapes to the message.
    return ShapeError(f"{layer.name}() branches disagree on shape", hint=hint, code="E401")


@register
class Add(_Merge):
    """Element-wise sum of branches of one shape (ResNet's residual)."""

    name = "add"

    def output_shape(self, inputs):
        if any(s != inputs[0] for s in inputs):
            raise _disagree(self, "the skip branch needs a 1x1 projection when channels or size change")
        return inputs[0]

    def torch_function(self, *xs):
        import functools

        import torch

        # A chain of two-input adds: torchvision's `out += identity` gives the same numbers.
        return functools.reduce(torch.add, xs)


@register
class Concat(_Merge):
    """Concatenation along channels (GoogLeNet, DenseNet); spatial sizes must agree."""

    name = "concat"
    aliases = ("cat",)

    def output_shape(self, inputs):
        if any(len(s) != len(inputs[0]) or s[1:] != inputs[0][1:] for s in inputs):
            raise _disagree(self, "concat joins channels; the other dimensions must match (check strides and padding)")
        return (sum(s[0] for s in inputs), *inputs[0][1:])

    def torch_function(self, *xs):
        import torch

        return torch.cat(list(xs), dim=1)  # dim 0 is the batch


@register
class Mul(_Merge):
    """Element-wise product with broadcasting (squeeze-and-excitation: C×H×W times C×1×1)."""

    name = "mul"

    def output_shape(self, inputs):
        rank = max(len(s) for s in inputs)
        if any(len(s) != rank for s in inputs):
            raise _disagree(self, "mul multiplies tensors of the same rank")
        out = []
        for dims in zip(*inputs):
            sizes = {d for d in dims if d != 1}
            if len(sizes) > 1:
                raise _disagree(self, "mul broadcasts: each dimension must match or be 1")
            out.append(sizes.pop() if sizes else 1)
        return tuple(out)

    def torch_function(self, *xs):
        import functools

        import torch

        return functools.reduce(torch.mul, xs)  # broadcasts, as the shape rule allows
