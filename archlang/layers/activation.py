"""Element-wise activations: shape unchanged, no parameters but PReLU's slopes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from archlang.layers.base import Args, Layer, ShapeError, fmt_shape, register


class _Activation(Layer):
    family = "act"

    def torch_module(self, inputs):
        from torch import nn

        # The argument-free activations made by `_simple`; the others override this.
        classes = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "hardswish": nn.Hardswish,
                   "hardsigmoid": nn.Hardsigmoid, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
        return classes[self.name]()


def _simple(name: str, doc: str, aliases: tuple[str, ...] = ()) -> type[Layer]:
    cls = type(name.title().replace("_", ""), (_Activation,), {"name": name, "aliases": aliases, "doc": doc})
    return register(cls)


Relu = _simple("relu", "max(x, 0)")
Relu6 = _simple("relu6", "min(max(x, 0), 6) (MobileNet)")
Silu = _simple("silu", "x * sigmoid(x) (swish)", ("swish",))
Hardswish = _simple("hardswish", "x * relu6(x + 3) / 6 (MobileNetV3)", ("hard_swish",))
Hardsigmoid = _simple("hardsigmoid", "relu6(x + 3) / 6 (MobileNetV3's squeeze-and-excitation)", ("hard_sigmoid",))
Sigmoid = _simple("sigmoid", "1 / (1 + exp(-x)) (LeNet)")
Tanh = _simple("tanh", "tanh(x)")


class LeakyReluArgs(Args):
    negative_slope: float = 0.01


@register
class LeakyRelu(_Activation):
    name = "leaky_relu"
    aliases = ("leakyrelu",)
    Args = LeakyReluArgs
    doc = "x if x > 0 else negative_slope * x"

    def torch_module(self, inputs):
        from torch import nn

        return nn.LeakyReLU(self.args.negative_slope)


class EluArgs(Args):
    alpha: float = 1.0


@register
class Elu(_Activation):
    name = "elu"
    Args = EluArgs
    doc = "x if x > 0 else alpha * (exp(x) - 1)"

    def torch_module(self, inputs):
        from torch import nn

        return nn.ELU(self.args.alpha)


class GeluArgs(Args):
    approximate: Literal["none", "tanh"] = "none"


@register
class Gelu(_Activation):
    name = "gelu"
    Args = GeluArgs
    doc = "x * Phi(x)"

    def torch_module(self, inputs):
        from torch import nn

        return nn.GELU(approximate=self.args.approximate)


class SoftmaxArgs(Args):
    dim: int = 1


def _softmax_shape(self, inputs):
    rank = len(inputs[0]) + 1  # torch counts the batch dimension
    if not -rank <= self.args.dim < rank:
        raise ShapeError(f"`{self.describe()}`: counting the batch, its input {fmt_shape(inputs[0])} has {rank} "
                         f"dimensions, so `dim` is from {-rank} to {rank - 1}", code="E301",
                         hint="dim = 1 is the channels of a map, or the features of a vector")
    return inputs[0]


@register
class Softmax(_Activation):
    name = "softmax"
    Args = SoftmaxArgs
    doc = "softmax over `dim` (1: channels or classes; the batch is dim 0)"
    output_shape = _softmax_shape

    def torch_module(self, inputs):
        from torch import nn

        return nn.Softmax(dim=self.args.dim)


@register
class LogSoftmax(_Activation):
    name = "log_softmax"
    aliases = ("logsoftmax",)
    Args = SoftmaxArgs
    doc = "log of softmax over `dim`"
    output_shape = _softmax_shape

    def torch_module(self, inputs):
        from torch import nn

        return nn.LogSoftmax(dim=self.args.dim)


class PreluArgs(Args):
    num_parameters: Annotated[int, Field(gt=0)] = 1
    init: float = 0.25


@register
class Prelu(_Activation):
    name = "prelu"
    Args = PreluArgs
    doc = "x if x > 0 else a * x, with a learned: one for all channels, or one per channel (He et al. 2015)"

    def output_shape(self, inputs):
        n, channels = self.args.num_parameters, inputs[0][0]
        if n not in (1, channels):
            raise ShapeError(f"`{self.describe()}` learns {n} slopes, but its input has {channels} channels",
                             hint=f"num_parameters is 1 (one slope) or the channels ({channels})")
        return inputs[0]

    def params(self, inputs):
        return self.args.num_parameters

    def torch_module(self, inputs):
        from torch import nn

        return nn.PReLU(self.args.num_parameters, init=self.args.init)
