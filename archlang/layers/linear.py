"""Fully connected layers, flatten and dropout."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from archlang.layers.base import Args, Layer, need_rank, numel, register


class FcArgs(Args):
    out_features: Annotated[int, Field(gt=0)]
    bias: bool = True


@register
class Fc(Layer):
    """Fully connected. Elaboration flattens a C×H×W input first, as the literature's FC does."""

    name = "fc"
    aliases = ("linear", "dense")
    family = "linear"
    Args = FcArgs
    shown = ("out_features",)
    arg_aliases = {"features": "out_features", "out": "out_features"}

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 1)
        return (self.args.out_features,)

    def params(self, inputs):
        return inputs[0][0] * self.args.out_features + (self.args.out_features if self.args.bias else 0)

    def macs(self, inputs, output):
        return inputs[0][0] * self.args.out_features

    def torch_module(self, inputs):
        from torch import nn

        return nn.Linear(inputs[0][0], self.args.out_features, bias=self.args.bias)


@register
class Flatten(Layer):
    """C×H×W -> C·H·W (the batch dimension stays)."""

    name = "flatten"
    family = "shape"

    def output_shape(self, inputs):
        return (numel(inputs[0]),)

    def window(self, inputs):
        # Reported as global: the next layer (an fc) mixes every position.
        return (inputs[0][1], inputs[0][2], 1, 1) if len(inputs[0]) == 3 else None

    def torch_module(self, inputs):
        from torch import nn

        return nn.Flatten()  # from dim 1: the batch dimension stays


class DropoutArgs(Args):
    p: Annotated[float, Field(ge=0, le=1)] = 0.5


@register
class Dropout(Layer):
    name = "dropout"
    family = "reg"
    Args = DropoutArgs
    shown = ("p",)

    def torch_module(self, inputs):
        from torch import nn

        return nn.Dropout(self.args.p)
