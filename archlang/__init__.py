"""archlang: a declarative architecture compiler and visualizer for CNNs.

    >>> import archlang
    >>> net = archlang.load("specs/lenet5.arch")       # parse, elaborate, analyse
    >>> net.params, net.output_shape
    (61706, (10,))

`archlang.compile(...)` and `archlang.transfer_weights(...)` need PyTorch and
import it only when called.
"""

from archlang.errors import ArchError
from archlang.network import Network, load

__all__ = ["ArchError", "Network", "compile", "load", "transfer_weights"]
__version__ = "0.1.0"


def compile(source, *, device=None, dtype=None, max_params: float = 4e9, network=None, input_shape=None,
            **overrides):
    """Load a spec and build its `torch.nn.Module`."""
    net = load(source, network=network, input_shape=input_shape, **overrides)
    return net.to_torch(device=device, dtype=dtype, max_params=max_params)


def transfer_weights(src, dst, *, by: str = "position", rename=None, linear_as_1x1: bool = False):
    """Copy every parameter and buffer of `src` into `dst`, paired in order (by="position") or by
    name after `rename` (by="name"); returns `dst`. See archlang.backends.weights."""
    from archlang.backends.weights import transfer_weights as _transfer

    return _transfer(src, dst, by=by, rename=rename, linear_as_1x1=linear_as_1x1)
