"""Fully connected layers, flatten, and regularisation: dropout (of values, of channels) and drop path."""

from __future__ import annotations

from typing import Annotated, Literal

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
    view = True

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


@register
class Dropout2d(Layer):
    """Zeroes whole channels of a map (nn.Dropout2d)."""

    name = "dropout2d"
    aliases = ("channel_dropout",)
    family = "reg"
    Args = DropoutArgs
    shown = ("p",)

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        return inputs[0]

    def torch_module(self, inputs):
        from torch import nn

        return nn.Dropout2d(self.args.p)


class DropPathArgs(Args):
    p: Annotated[float, Field(ge=0, le=1)]
    mode: Literal["row", "batch"] = "row"


@register
class DropPath(Layer):
    """Stochastic depth: in training, drops a residual branch for a whole sample ("row", per
    sample; "batch", the whole batch), as torchvision's StochasticDepth; identity in eval.
    Its rate is an ordinary argument, so an expression can grow it with the depth."""

    name = "drop_path"
    aliases = ("stochastic_depth", "droppath")
    family = "reg"
    Args = DropPathArgs
    shown = ("p",)

    def torch_module(self, inputs):
        from archlang.layers.modules import DropPath as Module

        return Module(self.args.p, self.args.mode)
