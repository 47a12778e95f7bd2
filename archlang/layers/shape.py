"""Layers that move data without computing on it: input, identity, channel shuffle, chunk."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from archlang.layers.base import Args, Layer, ShapeError, fmt_shape, need_rank, register

Pos = Annotated[int, Field(gt=0)]


class InputArgs(Args):
    channels: Pos
    height: Pos | None = None
    width: Pos | None = None

    @model_validator(mode="after")
    def _one_or_three(self):
        if (self.height is None) != (self.width is None):
            raise ValueError("give channels, height and width (a C×H×W image) or one size (a vector)")
        return self


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
