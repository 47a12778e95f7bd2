"""Convolution and transposed convolution."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field, model_validator

from archlang.layers.base import (Args, Layer, Reads, ShapeError, bounded, fmt_shape, need_rank, pair, periodic,
                                  register, spatial_out)

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

    def reads(self, inputs):
        kh, kw, sh, sw = self.window(inputs)
        pad = self.resolved_padding()
        if pad == "same":  # torch puts the odd one of an even kernel's padding after the input
            pad = ((kh - 1) // 2, (kw - 1) // 2)
        return Reads(1, sh, (-pad[0],), (kh - 1 - pad[0],)), Reads(1, sw, (-pad[1],), (kw - 1 - pad[1],))

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.Conv2d(inputs[0][0], a.out_channels, a.kernel_size, stride=a.stride,
                         padding=self.resolved_padding(), dilation=a.dilation, groups=a.groups, bias=a.bias)


class ConvTransposeArgs(Args):
    out_channels: Pos
    kernel_size: Size
    stride: Size = 1
    padding: NonNeg | tuple[NonNeg, NonNeg] = 0
    output_padding: NonNeg | tuple[NonNeg, NonNeg] = 0
    groups: Pos = 1
    bias: bool = True
    dilation: Size = 1

    @model_validator(mode="after")
    def _output_padding_below_stride_or_dilation(self):
        # torch's rule: the extra rows only choose among the sizes that the stride makes ambiguous
        for op, s, d in zip(pair(self.output_padding), pair(self.stride), pair(self.dilation)):
            if op >= s and op >= d:
                raise ValueError("output_padding must be smaller than the stride or the dilation")
        return self


@register
class ConvTranspose(Layer):
    """Transposed 2-D convolution (the "up-conv" of U-Net, the "fractionally-strided" convolution
    of DCGAN): each input position spreads a kernel over the output, stride apart."""

    name = "conv_transpose"
    aliases = ("conv_transpose2d", "convtranspose")
    family = "conv"
    Args = ConvTransposeArgs
    shown = ("out_channels", "kernel_size")
    arg_aliases = {"pad": "padding", "kernel": "kernel_size", "channels": "out_channels"}

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        a = self.args
        for channels, where in ((inputs[0][0], "input"), (a.out_channels, "output")):
            if channels % a.groups:
                raise ShapeError(f"`{self.describe()}`: {channels} {where} channels do not divide into "
                                 f"{a.groups} groups", hint="groups must divide both the input and the output channels")
        sizes = []
        for size, k, s, p, op, d in zip(inputs[0][1:], pair(a.kernel_size), pair(a.stride), pair(a.padding),
                                        pair(a.output_padding), pair(a.dilation)):
            sizes.append((size - 1) * s - 2 * p + d * (k - 1) + op + 1)  # torch's formula
        if min(sizes) <= 0:
            raise ShapeError(f"`{self.describe()}` reduces {fmt_shape(inputs[0])} to nothing", code="E403",
                             hint="the padding crops the output: lower it")
        return bounded(self, (a.out_channels, *sizes))

    def params(self, inputs):
        a = self.args
        kh, kw = pair(a.kernel_size)
        return inputs[0][0] * (a.out_channels // a.groups) * kh * kw + (a.out_channels if a.bias else 0)

    def macs(self, inputs, output):
        # fvcore's and torch.utils.flop_counter's count: every input position times the kernel
        # times the channels it connects (the output positions the padding crops included).
        a = self.args
        kh, kw = pair(a.kernel_size)
        return inputs[0][1] * inputs[0][2] * inputs[0][0] * (a.out_channels // a.groups) * kh * kw

    def window(self, inputs):
        # For drawings: the kernel, and a step of 1/stride input positions between outputs.
        a = self.args
        (kh, kw), (sh, sw) = pair(a.kernel_size), pair(a.stride)
        return (kh, kw, Fraction(1, sh), Fraction(1, sw))

    def reads(self, inputs):
        a = self.args
        return tuple(periodic(s, 1, lambda o, k=k, s=s, p=p, d=d: _gathered(o, k, s, p, d)[0],
                              lambda o, k=k, s=s, p=p, d=d: _gathered(o, k, s, p, d)[1])
                     for k, s, p, d in zip(pair(a.kernel_size), pair(a.stride), pair(a.padding), pair(a.dilation)))

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.ConvTranspose2d(inputs[0][0], a.out_channels, a.kernel_size, stride=a.stride, padding=a.padding,
                                  output_padding=a.output_padding, groups=a.groups, bias=a.bias,
                                  dilation=a.dilation)


def _gathered(o: int, kernel: int, stride: int, padding: int, dilation: int) -> tuple[int, int]:
    """The first and last input positions whose kernel reaches output `o` of a transposed
    convolution: input i lands tap j on output i·stride - padding + j·dilation."""
    hits = [(o + padding - j * dilation) // stride for j in range(kernel)
            if (o + padding - j * dilation) % stride == 0]
    if not hits:  # a dilation that skips this output: it holds the bias only; say its neighbour's input
        hits = [(o + padding) // stride]
    return min(hits), max(hits)
