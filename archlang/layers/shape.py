"""Layers that move data without computing on it: input, identity, channel shuffle, chunk, reshape."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from archlang.layers.base import Args, Layer, ShapeError, fmt_shape, need_rank, numel, register

Pos = Annotated[int, Field(gt=0)]


class InputArgs(Args):
    channels: Pos
    height: Pos | None = None
    width: Pos | None = None

    @model_validator(mode="after")
    def _one_or_three(self):
        return one_or_three(self)


def one_or_three(args):
    """A shape as `input` and `reshape` write it: C, H and W, or one size."""
    if (args.height is None) != (args.width is None):
        raise ValueError("give channels, height and width (a C×H×W image) or one size (a vector)")
    return args


@register
class Input(Layer):
    """The network's input: `input(C, H, W)` for images, `input(N)` for vectors. No batch dimension."""

    name = "input"
    family = "input"
    Args = InputArgs
    shown = ("channels", "height", "width")

    def shape(self):
        a = self.args
        return (a.channels,) if a.height is None else (a.channels, a.height, a.width)

    def output_shape(self, inputs):
        return self.shape()

    def torch_function(self, *xs):
        return xs[0]  # the backend makes the input its placeholder


@register
class Identity(Layer):
    """Passes its input through; as a branch of add/concat it is the skip connection."""

    name = "identity"
    family = "shape"
    view = True

    def torch_function(self, *xs):
        return xs[0]


class ShuffleArgs(Args):
    groups: Pos


@register
class ChannelShuffle(Layer):
    """ShuffleNet's channel shuffle: interleave the channels of `groups` groups."""

    name = "channel_shuffle"
    family = "shape"
    Args = ShuffleArgs
    shown = ("groups",)

    def output_shape(self, inputs):
        need_rank(self, inputs[0], 3)
        if inputs[0][0] % self.args.groups:
            raise ShapeError(f"`{self.describe()}`: {inputs[0][0]} channels do not divide into "
                             f"{self.args.groups} groups")
        return inputs[0]

    def torch_module(self, inputs):
        from torch import nn

        return nn.ChannelShuffle(self.args.groups)


class ChunkArgs(Args):
    chunks: Pos
    index: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _index_in_range(self):
        if self.index >= self.chunks:
            raise ValueError(f"index must be below chunks ({self.chunks})")
        return self


@register
class Chunk(Layer):
    """Keep the `index`-th of `chunks` equal channel groups (ShuffleNetV2's channel split)."""

    name = "chunk"
    family = "shape"
    Args = ChunkArgs
    shown = ("chunks", "index")

    def output_shape(self, inputs):
        shape = inputs[0]
        if shape[0] % self.args.chunks:
            raise ShapeError(f"`{self.describe()}`: {fmt_shape(shape)} has {shape[0]} channels, "
                             f"which do not split into {self.args.chunks} equal chunks")
        return (shape[0] // self.args.chunks, *shape[1:])

    def torch_function(self, *xs):
        import torch

        return torch.chunk(xs[0], self.args.chunks, dim=1)[self.args.index]  # channels: dim 0 is the batch


Dim = Annotated[int, Field(ge=-1)]


class ReshapeArgs(Args):
    channels: Dim
    height: Dim | None = None
    width: Dim | None = None

    @model_validator(mode="after")
    def _one_or_three(self):
        one_or_three(self)
        dims = [d for d in (self.channels, self.height, self.width) if d is not None]
        if 0 in dims or dims.count(-1) > 1:
            raise ValueError("sizes are positive, and at most one is -1 (the size that keeps the element count)")
        return self


@register
class Reshape(Layer):
    """Each sample's values in a new shape, as `input` writes shapes: `reshape(100, 1, 1)` turns a
    vector into a map (a GAN generator's start), `reshape(-1)` a map into a vector; one size
    may be -1, inferred from the element count."""

    name = "reshape"
    aliases = ("unflatten",)
    family = "shape"
    Args = ReshapeArgs
    shown = ("channels", "height", "width")
    arg_aliases = {"c": "channels", "h": "height", "w": "width"}
    view = True

    def output_shape(self, inputs):
        a, count = self.args, numel(inputs[0])
        dims = [d for d in (a.channels, a.height, a.width) if d is not None]
        known = numel([d for d in dims if d != -1])
        if -1 in dims:
            needed = f"a multiple of {known}"
            dims[dims.index(-1)] = count // known
        else:
            needed = f"{known:,}"
        if numel(dims) != count or 0 in dims:
            given = f"is a vector of {count:,}" if len(inputs[0]) == 1 else f"{fmt_shape(inputs[0])} has {count:,}"
            raise ShapeError(f"`{self.describe()}` needs {needed} values, but its input {given}", code="E406",
                             hint="the sizes must multiply to the input's element count; -1 infers one size")
        return tuple(dims)

    def window(self, inputs):
        # Positions are rearranged, not kept: the result sees all its input saw, and its own
        # positions have no place in the input any more (a step of 0).
        if len(inputs[0]) == 1:
            return (1, 1, 0, 0)
        _, h, w = inputs[0]
        return (h, w, 0, 0)

    def torch_module(self, inputs):
        from archlang.layers.modules import Reshape as Module

        return Module(self.output_shape(inputs))
