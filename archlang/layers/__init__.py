"""The layer vocabulary. Each family module registers its layers on import."""

from archlang.layers import activation, conv, linear, merge, norm, pool, resample, shape  # noqa: F401  (registration)
from archlang.layers.base import REGISTRY, ArgError, Layer, Shape, ShapeError, fmt_shape, lookup

__all__ = ["REGISTRY", "ArgError", "Layer", "Shape", "ShapeError", "fmt_shape", "lookup"]
