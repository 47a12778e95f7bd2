"""Resampling a map to another size: upsampling (nearest, bilinear), pixel shuffle, centre crop.

Their receptive-field windows may step by a fraction of an input position: an
upsampling layer's neighbouring outputs are 1/scale inputs apart (see
archlang/analysis/passes.py).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field, model_validator

from archlang.layers.base import Args, Layer, Reads, ShapeError, bounded, fmt_shape, need_rank, pair, periodic, register

Pos = Annotated[int, Field(gt=0)]
Scale = Pos | Annotated[float, Field(gt=0, allow_inf_nan=False)]  # `upsample(2)` stays an integer


class UpsampleArgs(Args):
    scale_factor: Scale | tuple[Scale, Scale] | None = None
    mode: Literal["nearest", "bilinear"] = "nearest"
    size: Pos | tuple[Pos, Pos] | None = None
    align_corners: bool = False

    @model_validator(mode="after")
    def _scale_or_size(self):
        if (self.scale_factor is None) == (self.size is None):
            raise ValueError("give either scale_factor (e.g. `upsample(2)`) or size (`size = [64, 64]`)")
        if self.align_corners and self.mode == "nearest":
            raise ValueError('align_corners applies to mode = "bilinear" only')
        return self


@register
class Upsample(Layer):
    """Resizes a map by `scale_factor` or to `size` (nn.Upsample): nearest neighbour or bilinear."""

    name = "upsample"
    aliases = ("interpolate", "resize")
    family = "pool"  # the pooling layers' colour: both resample the map
    Args = UpsampleArgs
    shown = ("scale_factor",)
    arg_aliases = {"scale": "scale_factor"}

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        c, h, w = inputs[0]
        if self.args.size is not None:
            return (c, *pair(self.args.size))
        sh, sw = self._scales()
        out = (c, math.floor(h * sh), math.floor(w * sw))  # torch: floor(size · scale), in floats
        if min(out) <= 0:
            raise ShapeError(f"`{self.describe()}` reduces {fmt_shape(inputs[0])} to nothing", code="E403",
                             hint="a scale factor below 1 shrinks the map: raise it")
        return bounded(self, out)

    def window(self, inputs):
        (_, h, w), (_, oh, ow) = inputs[0], self.output_shape(inputs)
        steps = [self._step(size, out, i) for i, (size, out) in enumerate(((h, oh), (w, ow)))]
        # Nearest reads one input position; bilinear two neighbours (one where the size stays).
        reads = [1 if self.args.mode == "nearest" or size == out else 2 for size, out in ((h, oh), (w, ow))]
        return (*reads, *steps)

    def reads(self, inputs):
        (_, h, w), (_, oh, ow) = inputs[0], self.output_shape(inputs)
        return tuple(self._axis_reads(self._step(size, out, axis))
                     for axis, (size, out) in enumerate(((h, oh), (w, ow))))

    def _axis_reads(self, step: Fraction):
        # Where torch samples output o: nearest at o·step; bilinear between the neighbours of
        # (o + 1/2)·step - 1/2, or of o·step with align_corners (both only where not whole).
        if self.args.mode == "nearest":
            return periodic(step.denominator, step.numerator, lambda o: math.floor(o * step),
                            lambda o: math.floor(o * step))
        half = 0 if self.args.align_corners else Fraction(1, 2)
        return periodic(step.denominator, step.numerator, lambda o: math.floor((o + half) * step - half),
                        lambda o: math.ceil((o + half) * step - half))

    def _scales(self) -> tuple[float, float]:
        scale = self.args.scale_factor
        return scale if isinstance(scale, tuple) else (scale, scale)

    def _step(self, size: int, out: int, axis: int) -> Fraction:
        """Input positions between neighbouring outputs, as torch maps output to input coordinates."""
        if self.args.align_corners:
            return Fraction(size - 1, out - 1) if out > 1 else Fraction(0)
        if self.args.scale_factor is not None:  # torch steps by 1/scale, as the spec wrote it
            return 1 / Fraction(str(self._scales()[axis]))
        return Fraction(size, out)

    def torch_module(self, inputs):
        from torch import nn

        a = self.args
        return nn.Upsample(size=a.size, scale_factor=a.scale_factor, mode=a.mode,
                           align_corners=a.align_corners if a.mode == "bilinear" else None)


class PixelShuffleArgs(Args):
    upscale_factor: Pos


@register
class PixelShuffle(Layer):
    """Sub-pixel upsampling (Shi et al. 2016): C·r²×H×W -> C×rH×rW."""

    name = "pixel_shuffle"
    aliases = ("pixelshuffle",)
    family = "shape"
    Args = PixelShuffleArgs
    shown = ("upscale_factor",)
    arg_aliases = {"factor": "upscale_factor"}

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        (c, h, w), r = inputs[0], self.args.upscale_factor
        if c % (r * r):
            raise ShapeError(f"`{self.describe()}`: {c} channels do not divide into {r}×{r} = {r * r} sub-pixels",
                             hint=f"the channels must be a multiple of {r * r}")
        return bounded(self, (c // (r * r), h * r, w * r))

    def window(self, inputs):
        step = Fraction(1, self.args.upscale_factor)
        return (1, 1, step, step)

    def reads(self, inputs):
        r = self.args.upscale_factor  # output o reads input o // r
        return (Reads(r, 1, (0,) * r, (0,) * r),) * 2

    def torch_module(self, inputs):
        from torch import nn

        return nn.PixelShuffle(self.args.upscale_factor)


class CropArgs(Args):
    size: Pos | tuple[Pos, Pos]


@register
class Crop(Layer):
    """The centre of a map, `size` high and wide (U-Net crops its skips to the upsampled size).
    Odd margins are split as torchvision.transforms' center_crop splits them."""

    name = "crop"
    aliases = ("center_crop", "centre_crop")
    family = "shape"
    Args = CropArgs
    shown = ("size",)
    view = True

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        (c, h, w), (ch, cw) = inputs[0], pair(self.args.size)
        if ch > h or cw > w:
            raise ShapeError(f"`{self.describe()}` crops {ch}×{cw} out of a {h}×{w} map", code="E407",
                             hint="a crop keeps the centre of its input: make it at most the input's size")
        return (c, ch, cw)

    def reads(self, inputs):
        # Output o is input o + the top (left) margin: a merge with an uncropped map needs it.
        (_, h, w), (ch, cw) = inputs[0], pair(self.args.size)
        return tuple(Reads(1, 1, (m,), (m,)) for m in (int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))))

    def torch_module(self, inputs):
        from archlang.layers.modules import CenterCrop

        return CenterCrop(pair(self.args.size))
