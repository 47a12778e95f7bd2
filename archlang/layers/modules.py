"""PyTorch modules for the layers that torch.nn has no module for.

Imported only when a network is built for PyTorch. Each class uses nothing but
`torch` and `nn`, and keeps its constructor's arguments as attributes of the
same names, as torch.nn modules do: `archlang compile` copies a class's source
into the standalone file and calls it again from those attributes
(archlang/backends/pysource.py).
"""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an N×C×H×W map, at each position (ConvNeXt's,
    as torchvision's LayerNorm2d computes it: channels last, normalise, back)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learned scale per channel (ConvNeXt, CaiT), `init_values` at the start. On a map
    it is C×1×1, the shape of torchvision's ConvNeXt `layer_scale`; on a vector, C."""

    def __init__(self, num_channels: int, init_values: float = 1e-6, spatial: bool = True):
        super().__init__()
        self.num_channels, self.init_values, self.spatial = num_channels, init_values, spatial
        shape = (num_channels, 1, 1) if spatial else (num_channels,)
        self.scale = nn.Parameter(torch.full(shape, init_values))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x  # torchvision's order of the operands


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016), computed as torchvision's StochasticDepth:
    in training, each sample ("row") or the whole batch ("batch") is zeroed with
    probability p and the rest divided by 1 - p; in eval mode, the identity."""

    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise


class CenterCrop(nn.Module):
    """The centre `size` (height, width) of a map, offsets rounded as
    torchvision.transforms' center_crop rounds them (U-Net crops its skips so)."""

    def __init__(self, size: tuple[int, int]):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self.size
        top = int(round((x.shape[-2] - height) / 2.0))
        left = int(round((x.shape[-1] - width) / 2.0))
        return x[..., top:top + height, left:left + width]


class Reshape(nn.Module):
    """Each sample reshaped to `shape` (the batch dimension stays)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)
