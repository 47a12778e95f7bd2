"""Normalisation: batch norm and AlexNet's local response norm."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from archlang.layers.base import Args, Layer, need_rank, register


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
