"""Where a run's weights start: an initialisation scheme, ``--init`` weights, ``--freeze``.

**Schemes** (``--init-scheme``). A compiled module starts with PyTorch's layer defaults
(``pytorch``). torchvision re-initialises its models after building them, and a network
trained from scratch should start as its family does:

- ``resnet`` (torchvision's ResNet, ResNeXt, Wide ResNet): convolutions Kaiming-normal with
  ``mode="fan_out"`` for ReLU; batch and group norms weight 1, bias 0; linear layers keep
  PyTorch's default.
- ``vgg``: convolutions as for ``resnet``, their biases 0; norms 1 and 0; linear layers
  normal(0, 0.01), biases 0.
- ``densenet``: convolutions Kaiming-normal (``fan_in``); norms 1 and 0; linear biases 0.

``auto`` (the default) picks by the network's name, as loaded (``network ResNet18 = ResNet(...)``
is ResNet18): a name starting with ResNet, ResNeXt or Wide_ResNet takes ``resnet``, VGG
``vgg``, DenseNet ``densenet``, and any other network ``pytorch``.

**--init FILE** loads a run's checkpoint (its model), a plain ``state_dict`` file or a
torchvision ``.pth`` file, with ``torch.load(weights_only=True)``. Entries pair up in two passes:

1. by name: a destination entry takes the source entry of the same name and shape;
2. by position: the entries left on both sides, each in ``state_dict`` order, are aligned on
   their shapes the way ``difflib`` aligns two texts (the longest runs of equal shapes pair
   up), so torchvision's ``layer1.0.conv1.weight`` fills archlang's
   ``layer1.basic1.main.conv_bn1.conv1.weight`` when the two networks list their layers in
   the same order.

A destination entry left unpaired keeps its fresh initialisation (a classifier head for
another number of classes, say), and a source entry left unpaired is skipped; the run
prints which entries were loaded, initialised and skipped.

**--freeze PATH...** stops the parameters under those scopes (state_dict prefixes such as
``layer1`` or ``features.conv1``; ``*`` and ``?`` match as in file names, so ``*`` is every
scope) from training; ``--unfreeze PATH...`` takes scopes back out (``--freeze '*' --unfreeze
fc`` trains the head only). Batch-norm statistics of a frozen scope still follow the data.
"""
from __future__ import annotations

import difflib
import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import checkpoint as ckpt
from .config import TrainError

SCHEME_TEXT = {
    "pytorch": "PyTorch's layer defaults",
    "resnet": "torchvision's ResNet initialisation (Kaiming-normal fan_out convolutions, norms 1 and 0)",
    "vgg": "torchvision's VGG initialisation (Kaiming-normal fan_out convolutions, linear layers N(0, 0.01))",
    "densenet": "torchvision's DenseNet initialisation (Kaiming-normal convolutions, norms 1 and 0)",
}
FAMILIES = (("resnet", "resnet"), ("resnext", "resnet"), ("wide_resnet", "resnet"), ("wideresnet", "resnet"),
            ("vgg", "vgg"), ("densenet", "densenet"))
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm)
SHOWN = 6  # entries named per line of the --init summary


def scheme_for(name: str) -> str:
    """The scheme ``auto`` takes for a network of this name."""
    lower = name.lower()
    return next((scheme for prefix, scheme in FAMILIES if lower.startswith(prefix)), "pytorch")


def apply_scheme(model: nn.Module, scheme: str, name: str) -> str:
    """Re-initialise ``model`` in place as ``scheme`` says; returns the scheme applied."""
    if scheme == "auto":
        scheme = scheme_for(name)
    if scheme == "pytorch":
        return scheme
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                if scheme == "densenet":
                    nn.init.kaiming_normal_(module.weight)
                else:
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None and scheme == "vgg":
                    nn.init.zeros_(module.bias)
            elif isinstance(module, NORMS) and module.weight is not None:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                if scheme == "vgg":
                    nn.init.normal_(module.weight, 0, 0.01)
                if module.bias is not None and scheme in ("vgg", "densenet"):
                    nn.init.zeros_(module.bias)
    return scheme


# ---------------------------------------------------------------- --init

@dataclass
class InitReport:
    path: str
    by_name: list[str] = field(default_factory=list)
    by_position: list[tuple[str, str]] = field(default_factory=list)  # (destination, source)
    initialised: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    shapes: dict = field(default_factory=dict)  # (side, name) -> "10×84"

    @property
    def loaded(self) -> int:
        return len(self.by_name) + len(self.by_position)

    def describe(self) -> str:
        total = self.loaded + len(self.initialised)
        lines = [f"init: {self.path}: loaded {self.loaded} of {total} entries "
                 f"({len(self.by_name)} by name, {len(self.by_position)} by position)"]
        if self.initialised:
            lines.append(f"  initialised (no source entry fits): {self._names(self.initialised, 'dst')}")
        if self.skipped:
            lines.append(f"  skipped from the source: {self._names(self.skipped, 'src')}")
        return "\n".join(lines)

    def _names(self, names: list[str], side: str) -> str:
        shown = [f"{n} ({self.shapes[side, n]})" for n in names[:SHOWN]]
        more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
        return ", ".join(shown) + more


def read_weights(path: str) -> dict[str, torch.Tensor]:
    """The tensors of a run's checkpoint, a state_dict file or a torchvision .pth (weights only)."""
    file = Path(path).expanduser()
    if file.is_dir():
        return ckpt.load(file)["model"]
    if not file.is_file():
        raise TrainError(f"--init: {file} does not exist",
                         "pass a run directory, its best.pt, a state_dict file or a torchvision .pth file")
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ckpt._load_error(file, exc) from exc
    if isinstance(obj, dict) and obj.get("format") == ckpt.FORMAT:
        obj = obj.get("model")
    elif isinstance(obj, dict) and not _tensors(obj):
        obj = next((obj[k] for k in ("model", "state_dict", "model_state_dict")
                    if isinstance(obj.get(k), dict) and _tensors(obj[k])), obj)
    if not isinstance(obj, dict) or not obj or not _tensors(obj):
        raise TrainError(f"--init: {file} holds no state_dict (a mapping of names to tensors)",
                         "save one with torch.save(model.state_dict(), FILE)")
    return obj


def _tensors(obj: dict) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def match_entries(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> InitReport:
    """Pair source entries with target entries: by name, then by position (see the module's text)."""
    report = InitReport("")
    left_target = []
    for name, tensor in target.items():
        if name in source and source[name].shape == tensor.shape:
            report.by_name.append(name)
        else:
            left_target.append(name)
    taken = set(report.by_name)
    left_source = [name for name in source if name not in taken]
    shape = [tuple(source[n].shape) for n in left_source], [tuple(target[n].shape) for n in left_target]
    matcher = difflib.SequenceMatcher(None, shape[0], shape[1], autojunk=False)
    paired_source, paired_target = set(), set()
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            src, dst = left_source[block.a + k], left_target[block.b + k]
            report.by_position.append((dst, src))
            paired_source.add(src)
            paired_target.add(dst)
    report.initialised = [n for n in left_target if n not in paired_target]
    report.skipped = [n for n in left_source if n not in paired_source]
    report.shapes = {("dst", n): _dims(target[n]) for n in report.initialised}
    report.shapes.update({("src", n): _dims(source[n]) for n in report.skipped})
    return report


def load_initial(model: nn.Module, path: str) -> InitReport:
    """Copy the weights of ``path`` into ``model`` as far as they fit; returns what was done."""
    source = read_weights(path)
    target = model.state_dict()
    report = match_entries(source, target)
    report.path = str(path)
    meaningful = [n for n in target if not n.endswith("num_batches_tracked")]
    if not any(not n.endswith("num_batches_tracked") for n in report.by_name + [d for d, _ in report.by_position]):
        raise TrainError(f"--init: no entry of {path} fits this network ({len(meaningful)} entries, "
                         f"first `{meaningful[0] if meaningful else '-'}`)",
                         "the weights come from another architecture; compare `archlang summary` with the source model")
    with torch.no_grad():
        for name in report.by_name:
            target[name].copy_(source[name])
        for dst, src in report.by_position:
            target[dst].copy_(source[src])
    return report


def _dims(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) if t.dim() else "scalar"


# ---------------------------------------------------------------- --freeze

def _matches(name: str, pattern: str) -> bool:
    """A parameter name is under a scope pattern when it or one of its prefixes matches it."""
    parts = name.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))


def freeze(model: nn.Module, patterns, unfreeze=()) -> str | None:
    """Stop the parameters under ``patterns`` (less ``unfreeze``) from training; a summary line."""
    if not patterns and not unfreeze:
        return None
    if unfreeze and not patterns:
        raise TrainError("--unfreeze takes scopes back out of --freeze, and no --freeze was given",
                         "e.g. --freeze '*' --unfreeze fc trains the head only")
    names = [n for n, _ in model.named_parameters()]
    for option, given in (("--freeze", patterns), ("--unfreeze", unfreeze)):
        for pattern in given:
            if not any(_matches(n, pattern) for n in names):
                scopes = sorted({n.split(".")[0] for n in names})
                close = difflib.get_close_matches(pattern, scopes, n=1)
                raise TrainError(f"{option} {pattern}: no parameter of the network is under it",
                                 f"did you mean {close[0]}?" if close
                                 else f"top-level scopes: {', '.join(scopes[:12])}")
    frozen = 0
    count = 0
    for name, param in model.named_parameters():
        off = any(_matches(name, p) for p in patterns) and not any(_matches(name, p) for p in unfreeze)
        param.requires_grad_(not off)
        frozen += param.numel() if off else 0
        count += param.numel()
    if frozen == count:
        raise TrainError("--freeze leaves no parameter to train", "--unfreeze the layers that should learn")
    return f"frozen: {frozen:,} of {count:,} parameters ({math.floor(100 * frozen / max(count, 1))}%)"


__all__ = ["apply_scheme", "scheme_for", "load_initial", "match_entries", "read_weights", "freeze",
           "InitReport", "SCHEME_TEXT"]
