"""Training subsystem: ``archlang train``, ``archlang eval`` and ``archlang predict``.

Training needs only a *model source* (see :class:`ModelSource`): the
network's name, input and output shapes, a ``build()`` that returns a fresh
``torch.nn.Module``, the resolved spec text and the ``--set`` overrides.
"""
from .config import ModelSource, TrainConfig, TrainError
from .evaluation import EvalResult, evaluate
from .loop import TrainResult, train

__all__ = ["ModelSource", "TrainConfig", "TrainError", "TrainResult", "EvalResult",
           "train", "evaluate"]
