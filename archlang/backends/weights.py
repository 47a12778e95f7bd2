"""Copying weights between two modules: `archlang.transfer_weights`.

The entries of a module are its parameters and buffers, as its state_dict
lists them: in registration order, a module's own parameters before those of
its children. Two ways to pair the entries of the source with those of the
destination:

- by="position": the i-th entry of one takes the i-th of the other. Names
  may differ (torchvision's `layer1.0.conv1.weight` fills archlang's
  `layer1.basic1.main.conv_bn1.conv1.weight`), so a spec written in the
  reference's order needs no mapping; a different order (torchvision's
  ConvNeXt registers each block's `layer_scale` before the block's layers)
  pairs the wrong entries and is refused at the first shape that differs.
- by="name": each destination entry takes the source entry of the same name,
  after `rename` rewrote the source names: a mapping of regular expressions
  to replacements (the first pattern found in a name rewrites it, once, as
  `re.sub` does: a replacement may use `\\1`, or be a function of the match),
  or a function of the name. Every entry of each side must be paired.

Shapes must agree, except that `linear_as_1x1=True` lets a linear layer's
O×I weight fill a 1×1 convolution's O×I×1×1 weight, and the reverse (the same
map: torchvision's ConvNeXt applies nn.Linear to channels-last maps). Every
pair is checked before anything is copied: on a mismatch (ArchError E702)
the destination is unchanged.

>>> import torch, archlang
>>> src = torch.nn.Sequential(torch.nn.Linear(4, 2))
>>> dst = archlang.compile("network N:\\n  input(4) -> head: fc(2)\\n")
>>> _ = archlang.transfer_weights(src, dst, by="name", rename={r"^0\\.": "head."})
>>> torch.equal(dst.head.weight, src[0].weight)
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch
from torch import nn

from archlang.errors import ArchError, did_you_mean

__all__ = ["transfer_weights"]

Rename = Mapping[str, str | Callable[[re.Match], str]] | Callable[[str], str]


def transfer_weights(src: nn.Module, dst: nn.Module, *, by: str = "position", rename: Rename | None = None,
                     linear_as_1x1: bool = False) -> nn.Module:
    """Copy every parameter and buffer of `src` into `dst`; returns `dst` (see the module's text)."""
    source, target = src.state_dict(), dst.state_dict()
    if by == "position":
        if rename is not None:
            raise ValueError('rename= pairs entries by name: use it with by="name"')
        pairs = _by_position(list(source.items()), list(target.items()), linear_as_1x1)
    elif by == "name":
        pairs = _by_name(source, target, _renamer(rename), linear_as_1x1)
    else:
        raise ValueError(f'by= is "position" or "name", not {by!r}')
    with torch.no_grad():
        for s, d in pairs:
            d.copy_(s.reshape(d.shape))
    return dst


def _by_position(source: list, target: list, linear_as_1x1: bool) -> list:
    hint = "the two models must have the same layers in the same order (by=\"name\" pairs entries by name)"
    for i, ((skey, s), (dkey, d)) in enumerate(zip(source, target)):
        if not _fits(s, d, linear_as_1x1):
            raise ArchError("E702", f"weights differ at entry {i + 1}: `{skey}` is {_dims(s)} in the source "
                                    f"but `{dkey}` is {_dims(d)} in the destination", hint=_reshape_hint(s, d) or hint)
    if len(source) != len(target):
        n = min(len(source), len(target))
        extra = (f"`{source[n][0]}` {_dims(source[n][1])} in the source has no counterpart in the destination"
                 if len(source) > n else
                 f"`{target[n][0]}` {_dims(target[n][1])} in the destination has no counterpart in the source")
        raise ArchError("E702", f"the source has {len(source)} parameters and buffers, the destination "
                                f"{len(target)}: {extra}", hint=hint)
    return [(s, d) for (_, s), (_, d) in zip(source, target)]


def _by_name(source: dict, target: dict, rename: Callable[[str], str], linear_as_1x1: bool) -> list:
    renamed: dict[str, str] = {}  # destination name -> source name
    for skey in source:
        new = rename(skey)
        if new in renamed:
            raise ArchError("E702", f"`{renamed[new]}` and `{skey}` in the source are both renamed `{new}`",
                            hint="make the rename patterns tell them apart")
        renamed[new] = skey
    for dkey, d in target.items():
        skey = renamed.get(dkey)
        if skey is None:
            raise ArchError("E702", f"`{dkey}` {_dims(d)} in the destination has no source entry of that name"
                                    " (after renaming)",
                            hint=did_you_mean(dkey, renamed) or "add a rename pattern that makes a source name this one")
        s = source[skey]
        if not _fits(s, d, linear_as_1x1):
            was = f" (renamed from `{skey}`)" if skey != dkey else ""
            raise ArchError("E702", f"weights differ at `{dkey}`: it is {_dims(s)} in the source{was} but "
                                    f"{_dims(d)} in the destination",
                            hint=_reshape_hint(s, d) or "the two layers differ: compare the two models")
    unused = [new for new in renamed if new not in target]
    if unused:
        skey = renamed[unused[0]]
        was = f" (renamed `{unused[0]}`)" if skey != unused[0] else ""
        raise ArchError("E702", f"`{skey}` {_dims(source[skey])} in the source{was} has no counterpart in the "
                                f"destination ({len(unused)} source entr{'y' if len(unused) == 1 else 'ies'} unused)",
                        hint=did_you_mean(unused[0], target) or "rename it to a destination name")
    return [(source[renamed[dkey]], d) for dkey, d in target.items()]


def _renamer(rename: Rename | None) -> Callable[[str], str]:
    if rename is None:
        return lambda name: name
    if callable(rename):
        return rename
    patterns = [(re.compile(pattern), replacement) for pattern, replacement in rename.items()]

    def renamed(name: str) -> str:
        for pattern, replacement in patterns:
            if pattern.search(name):
                return pattern.sub(replacement, name, count=1)
        return name

    return renamed


def _fits(s: torch.Tensor, d: torch.Tensor, linear_as_1x1: bool) -> bool:
    return s.shape == d.shape or linear_as_1x1 and _linear_and_1x1(s, d)


def _linear_and_1x1(s: torch.Tensor, d: torch.Tensor) -> bool:
    """An O×I linear weight and an O×I×1×1 convolution weight, either way round."""
    short, long = (s, d) if s.dim() < d.dim() else (d, s)
    return short.dim() == 2 and long.shape == (*short.shape, 1, 1)


def _reshape_hint(s: torch.Tensor, d: torch.Tensor) -> str | None:
    if _linear_and_1x1(s, d):
        return "a linear weight and a 1×1 convolution's are the same map: pass linear_as_1x1=True to copy it"
    return None


def _dims(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) if t.dim() else "a scalar"
