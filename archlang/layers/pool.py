"""Pooling: windowed max/average, adaptive and global."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, model_validator

from archlang.layers.base import Args, Layer, Reads, need_rank, pair, periodic, register, spatial_out

Pos = Annotated[int, Field(gt=0)]
NonNeg = Annotated[int, Field(ge=0)]
Size = Pos | tuple[Pos, Pos]


class PoolArgs(Args):
    kernel_size: Size = 2
    stride: Size | None = None  # None: the kernel size, as in torch
    padding: NonNeg | tuple[NonNeg, NonNeg] = 0
    ceil_mode: bool = False

    @model_validator(mode="after")
    def _padding_at_most_half_kernel(self):
        if any(p > k // 2 for p, k in zip(pair(self.padding), pair(self.kernel_size))):
            raise ValueError("padding must be at most half the kernel size")
        return self


class _Pool(Layer):
    family = "pool"
    Args = PoolArgs
    shown = ("kernel_size",)
    arg_aliases = {"pad": "padding", "ceil": "ceil_mode", "kernel": "kernel_size"}

    def _stride(self):
        return pair(self.args.stride if self.args.stride is not None else self.args.kernel_size)

    def output_shape(self, inputs):
        a = self.args
        h, w = spatial_out(self, inputs[0], pair(a.kernel_size), self._stride(), pair(a.padding), ceil=a.ceil_mode)
        return (inputs[0][0], h, w)

    def window(self, inputs):
        return (*pair(self.args.kernel_size), *self._stride())

    def reads(self, inputs):
        (kh, kw), (sh, sw), (ph, pw) = pair(self.args.kernel_size), self._stride(), pair(self.args.padding)
        return Reads(1, sh, (-ph,), (kh - 1 - ph,)), Reads(1, sw, (-pw,), (kw - 1 - pw,))


@register
class MaxPool(_Pool):
    """Max pooling; the literature's POOL is 2x2 max pooling with stride 2."""

    name = "maxpool"
    aliases = ("pool", "max_pool", "maxpool2d")

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.MaxPool2d(a.kernel_size, stride=a.stride, padding=a.padding, ceil_mode=a.ceil_mode)


class AvgPoolArgs(PoolArgs):
    count_include_pad: bool = True


@register
class AvgPool(_Pool):
    name = "avgpool"
    aliases = ("avg_pool", "avgpool2d")
    Args = AvgPoolArgs

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.AvgPool2d(a.kernel_size, stride=a.stride, padding=a.padding, ceil_mode=a.ceil_mode,
                            count_include_pad=a.count_include_pad)


class AdaptiveArgs(Args):
    output_size: Size = 1


class _Adaptive(Layer):
    family = "pool"
    Args = AdaptiveArgs
    shown = ("output_size",)

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        return (inputs[0][0], *pair(self.args.output_size))

    def window(self, inputs):
        (_, h, w), (oh, ow) = inputs[0], pair(self.args.output_size)
        # Bins of an adaptive pool: the widest bin and the step between bin starts.
        return (-(-h // oh), -(-w // ow), max(1, h // oh), max(1, w // ow))

    def reads(self, inputs):
        # Bin o of n over a side of s spans [o·s // n, ceil((o + 1)·s / n)), as torch cuts them.
        return tuple(periodic(n // math.gcd(size, n), size // math.gcd(size, n), lambda o, s=size, n=n: o * s // n,
                              lambda o, s=size, n=n: -(-(o + 1) * s // n) - 1)
                     for size, n in zip(inputs[0][1:], pair(self.args.output_size)))


@register
class AdaptiveAvgPool(_Adaptive):
    name = "adaptive_avgpool"
    aliases = ("adaptive_avg_pool",)

    def torch_module(self, inputs):
        from torch import nn

        return nn.AdaptiveAvgPool2d(self.args.output_size)


@register
class AdaptiveMaxPool(_Adaptive):
    name = "adaptive_maxpool"
    aliases = ("adaptive_max_pool",)

    def torch_module(self, inputs):
        from torch import nn

        return nn.AdaptiveMaxPool2d(self.args.output_size)


class _Global(Layer):
    family = "pool"

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        return (inputs[0][0], 1, 1)

    def window(self, inputs):
        _, h, w = inputs[0]
        return (h, w, h, w)


@register
class GlobalAvgPool(_Global):
    """Average over the whole map: C×H×W -> C×1×1 (adaptive_avgpool(1))."""

    name = "global_avgpool"
    aliases = ("global_avg_pool", "gap")

    def torch_module(self, inputs):
        from torch import nn

        return nn.AdaptiveAvgPool2d(1)  # as torchvision writes it; the output keeps C×1×1


@register
class GlobalMaxPool(_Global):
    name = "global_maxpool"
    aliases = ("global_max_pool",)

    def torch_module(self, inputs):
        from torch import nn

        return nn.AdaptiveMaxPool2d(1)
