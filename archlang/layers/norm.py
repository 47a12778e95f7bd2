"""Normalisation: batch, layer, group and instance norm, AlexNet's local response norm, layer scale."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from archlang.layers.base import Args, Layer, ShapeError, need_rank, register


class BatchNormArgs(Args):
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1
    affine: bool = True


@register
class BatchNorm(Layer):
    """Batch normalisation over channels (BatchNorm2d on maps, BatchNorm1d on vectors)."""

    name = "bn"
    aliases = ("batchnorm", "batch_norm")
    family = "norm"
    Args = BatchNormArgs

    def params(self, inputs):
        return 2 * inputs[0][0] if self.args.affine else 0

    def buffers(self, inputs):
        return 2 * inputs[0][0] + 1  # running mean and variance, and num_batches_tracked

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        kind = nn.BatchNorm2d if len(inputs[0]) == 3 else nn.BatchNorm1d
        return kind(inputs[0][0], eps=a.eps, momentum=a.momentum, affine=a.affine)


class LRNArgs(Args):
    size: Annotated[int, Field(gt=0)] = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


@register
class LocalResponseNorm(Layer):
    """Local response normalisation across channels (AlexNet)."""

    name = "lrn"
    aliases = ("local_response_norm",)
    family = "norm"
    Args = LRNArgs

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        return inputs[0]

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.LocalResponseNorm(a.size, alpha=a.alpha, beta=a.beta, k=a.k)


class LayerNormArgs(Args):
    eps: Annotated[float, Field(gt=0)] = 1e-5
    elementwise_affine: bool = True
    bias: bool = True


@register
class LayerNorm(Layer):
    """Layer normalisation over the channels: at each position of a C×H×W map (ConvNeXt's
    LayerNorm2d), over the features of a vector (nn.LayerNorm)."""

    name = "layernorm"
    aliases = ("layer_norm",)
    family = "norm"
    Args = LayerNormArgs
    arg_aliases = {"affine": "elementwise_affine"}

    def params(self, inputs):
        a = self.args
        return inputs[0][0] * (1 + a.bias) if a.elementwise_affine else 0

    def torch_module(self, inputs):
        from torch import nn

        from archlang.layers.modules import LayerNorm2d

        a = self.args
        kind = LayerNorm2d if len(inputs[0]) == 3 else nn.LayerNorm
        return kind(inputs[0][0], eps=a.eps, elementwise_affine=a.elementwise_affine, bias=a.bias)


class GroupNormArgs(Args):
    num_groups: Annotated[int, Field(gt=0)]
    eps: Annotated[float, Field(gt=0)] = 1e-5
    affine: bool = True


@register
class GroupNorm(Layer):
    """Group normalisation (Wu & He 2018): statistics over each group of channels and the positions."""

    name = "groupnorm"
    aliases = ("group_norm",)
    family = "norm"
    Args = GroupNormArgs
    shown = ("num_groups",)
    arg_aliases = {"groups": "num_groups"}

    def output_shape(self, inputs):
        if inputs[0][0] % self.args.num_groups:
            raise ShapeError(f"`{self.describe()}`: {inputs[0][0]} channels do not divide into "
                             f"{self.args.num_groups} groups", hint="num_groups must divide the channels")
        return inputs[0]

    def params(self, inputs):
        return 2 * inputs[0][0] if self.args.affine else 0

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.GroupNorm(a.num_groups, inputs[0][0], eps=a.eps, affine=a.affine)


class InstanceNormArgs(Args):
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1
    affine: bool = False
    track_running_stats: bool = False


@register
class InstanceNorm(Layer):
    """Instance normalisation (style transfer, GANs): each channel of each sample on its own.
    torch's defaults: no affine parameters, no running statistics."""

    name = "instancenorm"
    aliases = ("instance_norm",)
    family = "norm"
    Args = InstanceNormArgs

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        return inputs[0]

    def params(self, inputs):
        return 2 * inputs[0][0] if self.args.affine else 0

    def buffers(self, inputs):
        return 2 * inputs[0][0] + 1 if self.args.track_running_stats else 0  # as batch norm's

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.InstanceNorm2d(inputs[0][0], eps=a.eps, momentum=a.momentum, affine=a.affine,
                                 track_running_stats=a.track_running_stats)


class LayerScaleArgs(Args):
    init_values: float = 1e-6


@register
class LayerScale(Layer):
    """A learned scale per channel, starting at `init_values` (ConvNeXt's layer scale, 1e-6 there)."""

    name = "layer_scale"
    aliases = ("layerscale",)
    family = "norm"
    Args = LayerScaleArgs
    shown = ("init_values",)
    arg_aliases = {"init": "init_values"}

    def params(self, inputs):
        return inputs[0][0]

    def torch_module(self, inputs):
        from archlang.layers.modules import LayerScale as Module

        return Module(inputs[0][0], self.args.init_values, spatial=len(inputs[0]) == 3)
