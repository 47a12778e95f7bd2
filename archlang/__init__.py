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


def transfer_weights(src, dst):
    """Copy every parameter and buffer of `src` into `dst` (same structure, in order)."""
    from archlang.backends.torch_module import transfer_weights as _transfer

    return _transfer(src, dst)
