"""What a box says: a layer, a block call or a fold in one of two styles.

*paper* (the default) writes layers the way papers label their figures —
`3×3 conv, 64, /2`, `2×2 max pool`, `fc 4096`, `global avg pool` — and block
calls with their parameters by name, `inception(c1=64, c3_reduce=96, …)`.
*spec* writes them as the spec does: `conv(64, 3, stride=2)`,
`inception(64, 96, 128, 16, 32, 32)`.

Folds have one notation everywhere: `unit ×N` is N units in a row drawn
once; `(first /2)` says the first of them halves the resolution (it differs
in structure: a stride, a projection), `(first widens)` that it changes
the width only, `(first differs)` anything else. `legend_line` explains the
marks a picture uses.
"""

from __future__ import annotations

import functools
import re

LABEL_STYLES = ("paper", "spec")

POOL_WORDS = {"maxpool": "max pool", "avgpool": "avg pool", "pool": "max pool"}
GLOBAL_WORDS = {"global_avgpool": "global avg pool", "global_maxpool": "global max pool"}
ADAPTIVE_WORDS = {"adaptive_avgpool": "adaptive avg pool", "adaptive_maxpool": "adaptive max pool"}
NORM_WORDS = {"bn": "batch norm", "layer_norm": "layer norm", "group_norm": "group norm",
              "instance_norm": "instance norm", "lrn": "LRN", "layer_scale": "layer scale"}
NORM_WORDS.update({k.replace("_", ""): v for k, v in NORM_WORDS.items()})  # `layernorm` spells it too
SHORT_WORDS = {"bn": "BN", "relu": "ReLU", "relu6": "ReLU6", "layer_norm": "LN", "layernorm": "LN", "gelu": "GELU"}

COUNT = re.compile(r" ×\d")


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _kernel(k) -> str:
    kh, kw = _pair(k)
    return f"{kh}×{kw}"


def _stride_note(stride) -> str:
    sh, sw = _pair(stride)
    return f", /{sh}" if sh == sw and sh not in (1, None) else (f", /{sh}×{sw}" if sh != sw else "")


@functools.lru_cache(maxsize=4096)
def paper_layer(layer) -> str:
    """`3×3 conv, 64, /2`: a layer as a paper's figure labels it (its description when no rule fits)."""
    name, a = layer.name, getattr(layer, "args", None)
    if layer.family == "conv" and hasattr(a, "kernel_size"):
        word = "deconv" if "transpose" in name else "conv"
        groups = getattr(a, "groups", 1) or 1
        if groups > 1:
            word = "dw " + word if groups == a.out_channels else f"group {word} (g={groups})"
        stride = a.stride if "transpose" not in name else 1
        up = f", ×{_pair(a.stride)[0]}" if "transpose" in name and _pair(a.stride)[0] > 1 else ""
        return f"{_kernel(a.kernel_size)} {word}, {a.out_channels}{_stride_note(stride)}{up}"
    if name in POOL_WORDS and hasattr(a, "kernel_size"):
        stride = a.stride if a.stride is not None else a.kernel_size
        note = "" if _pair(stride) == _pair(a.kernel_size) else _stride_note(stride)
        return f"{_kernel(a.kernel_size)} {POOL_WORDS[name]}{note}"
    if name in GLOBAL_WORDS:
        return GLOBAL_WORDS[name]
    if name in ADAPTIVE_WORDS:
        return f"{ADAPTIVE_WORDS[name]} → {_kernel(a.output_size)}"
    if layer.family == "linear":
        return f"fc {a.out_features}"
    if name in NORM_WORDS:
        return NORM_WORDS[name]
    if layer.family == "reg" and hasattr(a, "p"):
        return f"{name.replace('_', ' ')} {a.p:g}"
    return layer.describe()


def layer_text(layer, style: str) -> str:
    return paper_layer(layer) if style == "paper" else layer.describe()


def short_layer(layer) -> str:
    """A word for a chain inside one box: `BN`, `ReLU`, or the paper label."""
    return SHORT_WORDS.get(layer.name) or paper_layer(layer)


def call_text(scope, style: str) -> str:
    """A block call: `inception(c1=64, c3_reduce=96, …)` (paper) or its spec text."""
    call = scope.info.get("call") or ""
    args = scope.info.get("args")
    if style != "paper" or not call or args is None:
        return call
    return f"{scope.stem}({', '.join(f'{k}={v}' for k, v in args)})"


def first_note(item) -> str:
    """How a run's differing first unit changes the tensor: `/2`, `widens`, or `differs`."""
    layers = sorted(item.layers(), key=lambda n: n.id)
    if not layers or not layers[0].in_shapes:
        return "differs"
    before, after = tuple(layers[0].in_shapes[0]), tuple(layers[-1].shape)
    if len(before) == 3 and len(after) == 3 and after[1] and before[1] > after[1] and before[1] % after[1] == 0:
        return f"/{before[1] // after[1]}"
    if before[:1] != after[:1]:
        return "widens"
    return "differs"


def counted(token: str, runs_of: list) -> str:
    """One word of a summary: consecutive runs of one kind of unit, `bottleneck ×6 (first /2)`."""
    ns = [len(r) for r in runs_of]
    total = sum(ns)
    if total == 1:
        return token
    if len(ns) == 1:
        return f"{token} ×{total}"
    if ns[0] == 1 and len(ns) == 2:
        return f"{token} ×{total} (first {first_note(runs_of[0][0])})"
    if max(ns) == 1:
        return f"{token} ×{total} (each differs)"
    return f"{token} ×{total} ({' + '.join(map(str, ns))})"


def legend_line(texts) -> str:
    """The notation a picture uses, explained in one line ('' when it uses none)."""
    texts = list(texts)
    if not any(COUNT.search(t) for t in texts):
        return ""
    joined = " ".join(texts)
    parts = ["×N: N units in a row, drawn once"]
    if "(first /" in joined:
        parts.append("(first /2): the first unit halves the resolution")
    if "(first widens)" in joined:
        parts.append("(first widens): the first unit changes the width")
    if "(first differs)" in joined:
        parts.append("(first differs): the first unit is built differently")
    if "(each differs)" in joined:
        parts.append("(each differs): the units differ in their arguments")
    return " · ".join(parts)
