"""Trained weights for the backends: `archlang compile` and `archlang export` with
`--checkpoint RUN_DIR|CKPT`.

A run directory stands for its best.pt (else its checkpoint.pt); a file is a checkpoint that
`archlang train` wrote. Checkpoints are read with `torch.load(weights_only=True)`, so reading
one never runs code (archlang.train.checkpoint). The weights must fit the network entry for
entry, by name and shape, or nothing is written (E715): the hint says with which network,
`--set` values and input the run was trained. When the command gives neither `--set` nor
`--input`, the run's own are used, so `archlang compile SPEC --checkpoint RUN` builds the
network that was trained.

>>> from archlang.backends.trained import describe_settings
>>> describe_settings({"overrides": {"classes": "10"}, "input_shape": [1, 28, 28]})
'--set classes=10, input 1×28×28'
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from archlang.errors import ArchError

__all__ = ["describe_settings", "read_checkpoint", "run_settings", "trained_model"]


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint of a run (RUN_DIR: its best.pt, else checkpoint.pt) or a checkpoint file."""
    from archlang.train import checkpoint
    from archlang.train.config import TrainError

    file = Path(path)
    if file.is_dir():
        file = file / checkpoint.BEST if (file / checkpoint.BEST).is_file() else file / checkpoint.CHECKPOINT
    if file.is_file() and not zipfile.is_zipfile(file):  # torch.save writes a zip archive
        raise ArchError("E714", f"{file} is not a checkpoint (not a file torch.save wrote)", None,
                        hint="pass a run directory of `archlang train` or its best.pt / checkpoint.pt")
    try:
        state = checkpoint.load(file)
    except TrainError as e:
        raise ArchError("E714", e.message, None, hint=e.hint or "pass a run directory of `archlang train` or "
                        "a checkpoint file it wrote (best.pt, checkpoint.pt)") from None
    if not isinstance(state.get("model"), dict):
        raise ArchError("E714", f"{state['path']} holds no model weights", None,
                        hint="pass a run directory of `archlang train`, or its best.pt / checkpoint.pt")
    return state


def run_settings(state: dict) -> dict:
    """The `input_shape` and `overrides` the run was trained with, as `archlang.load` takes them."""
    shape = state.get("input_shape")
    return {"input_shape": tuple(shape) if shape else None, "overrides": dict(state.get("overrides") or {})}


def describe_settings(state: dict) -> str:
    settings = run_settings(state)
    sets = ", ".join(f"{k}={v}" for k, v in settings["overrides"].items())
    shape = "×".join(map(str, settings["input_shape"])) if settings["input_shape"] else "the spec's"
    return f"--set {sets or 'none'}, input {shape}"


def trained_model(net, state: dict):
    """The network as a module carrying the checkpoint's weights (eval mode), or E715."""
    from archlang.backends.torch_module import build_module

    model = build_module(net)
    weights = state["model"]
    mine = model.state_dict()
    problem = _first_difference(mine, weights)
    if problem:
        raise ArchError("E715", f"checkpoint {state['path']} does not fit network `{net.name}`: {problem}", None,
                        hint=f"it was trained from network `{state.get('network')}` with "
                             f"{describe_settings(state)}; give the same spec, --set values and --input")
    model.load_state_dict(weights)
    return model.eval()


def _first_difference(mine: dict, theirs: dict) -> str | None:
    for key, tensor in mine.items():
        if key not in theirs:
            return f"it has no `{key}` ({_dims(tensor)}), which the network has"
        if tuple(theirs[key].shape) != tuple(tensor.shape):
            return f"`{key}` is {_dims(theirs[key])} in the checkpoint but {_dims(tensor)} in the network"
    extra = [key for key in theirs if key not in mine]
    if extra:
        return f"it has `{extra[0]}` ({_dims(theirs[extra[0]])}), which the network does not have"
    return None


def _dims(t) -> str:
    return "×".join(map(str, t.shape)) if t.dim() else "a scalar"
