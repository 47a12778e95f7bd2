"""Convolution."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from archlang.layers.base import Args, Layer, ShapeError, pair, register, spatial_out

Pos = Annotated[int, Field(gt=0)]
NonNeg = Annotated[int, Field(ge=0)]
Size = Pos | tuple[Pos, Pos]


class ConvArgs(Args):
    out_channels: Pos
    kernel_size: Size = 3
    stride: Size = 1
    padding: NonNeg | tuple[NonNeg, NonNeg] | Literal["same", "valid"] = "same"
    dilation: Size = 1
    groups: Pos = 1
    bias: bool = True

    @model_validator(mode="after")
    def _same_needs_odd_or_stride_1(self):
        if self.padding == "same" and pair(self.stride) != (1, 1) and 0 in [k % 2 for k in pair(self.kernel_size)]:
            raise ValueError('padding="same" with an even kernel needs stride 1; give the padding as a number')
        return self


@register
class Conv(Layer):
    """2-D convolution. The default is the literature's 3x3 "same" convolution."""

    name = "conv"
    aliases = ("conv2d",)
    family = "conv"
    Args = ConvArgs
    shown = ("out_channels", "kernel_size")
    arg_aliases = {"pad": "padding", "kernel": "kernel_size", "channels": "out_channels"}

    def resolved_padding(self) -> tuple[int, int] | str:
        """Explicit (ph, pw), or "same" where torch must pad asymmetrically (even kernel, stride 1)."""
        a = self.args
        if a.padding == "valid":
            return (0, 0)
        if a.padding == "same":
            k, d = pair(a.kernel_size), pair(a.dilation)
            if any(kk % 2 == 0 for kk in k):
                return "same"
            # Symmetric padding keeps the size at stride 1 and gives ceil(size/stride) above it.
            return (d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2)
        return pair(a.padding)

    def output_shape(self, inputs):
        shape = inputs[0]
        a = self.args
        if len(shape) == 3 and shape[0] % a.groups:
            raise ShapeError(f"`{self.describe()}`: {shape[0]} input channels do not divide into {a.groups} groups",
                             hint="groups must divide both the input and the output channels")
        if a.out_channels % a.groups:
            raise ShapeError(f"`{self.describe()}`: {a.out_channels} output channels do not divide into "
                             f"{a.groups} groups", hint="groups must divide both the input and the output channels")
        pad = self.resolved_padding()
        if pad == "same":
            from archlang.layers.base import need_rank

            need_rank(self, shape, 3)
            return (a.out_channels, shape[1], shape[2])
        h, w = spatial_out(self, shape, pair(a.kernel_size), pair(a.stride), pad, pair(a.dilation))
        return (a.out_channels, h, w)

    def params(self, inputs):
        a = self.args
        kh, kw = pair(a.kernel_size)
        return a.out_channels * (inputs[0][0] // a.groups) * kh * kw + (a.out_channels if a.bias else 0)

    def macs(self, inputs, output):
        kh, kw = pair(self.args.kernel_size)
        return output[0] * output[1] * output[2] * (inputs[0][0] // self.args.groups) * kh * kw

    def window(self, inputs):
        (kh, kw), (sh, sw), (dh, dw) = pair(self.args.kernel_size), pair(self.args.stride), pair(self.args.dilation)
        return (dh * (kh - 1) + 1, dw * (kw - 1) + 1, sh, sw)

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.Conv2d(inputs[0][0], a.out_channels, a.kernel_size, stride=a.stride,
                         padding=self.resolved_padding(), dilation=a.dilation, groups=a.groups, bias=a.bias)
