"""The Layer base class and the registry.

A layer type is one class: its argument model (pydantic, fields in positional
order), shape rule, parameter/buffer/MAC counts, receptive-field window, its
diagram family and its torch module. Registering it is the only step needed
for every stage (elaboration, analysis, diagrams, PyTorch) to know it.

>>> from archlang.layers import lookup
>>> conv = lookup("CONV").bind([16], {})
>>> conv.output_shape([(3, 32, 32)]), conv.params([(3, 32, 32)])
((16, 32, 32), 448)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

Shape = tuple[int, ...]

REGISTRY: dict[str, type["Layer"]] = {}


class ShapeError(Exception):
    """A layer does not fit its input; elaboration adds the span."""

    def __init__(self, message: str, hint: str | None = None, code: str = "E402", detail: str | None = None):
        super().__init__(message)
        self.message, self.hint, self.code, self.detail = message, hint, code, detail


class ArgError(Exception):
    def __init__(self, code: str, message: str, hint: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.code, self.message, self.hint, self.arg = code, message, hint, arg


class Reads(NamedTuple):
    """Along one axis, the input positions each output position reads: output o = q·period + r
    reads first[r] + q·advance through last[r] + q·advance. A 3x3 convolution with stride 2
    and padding 1 reads Reads(1, 2, (-1,), (1,)); a 2x nearest upsampling Reads(2, 1, (0, 0), (0, 0))."""

    period: int
    advance: int
    first: tuple[int, ...]
    last: tuple[int, ...]


MAX_PERIOD = 1024  # phases listed exactly; a finer pattern (an odd resize) is averaged by `window`


def periodic(period: int, advance: int, first, last) -> Reads | None:
    """Reads from first(r) and last(r), r < period; None where the period is too long to list."""
    if period > MAX_PERIOD:
        return None
    return Reads(period, advance, tuple(map(first, range(period))), tuple(map(last, range(period))))


class Args(BaseModel):
    # defer_build: a validator is built on first use, so start-up pays only for the layers a spec uses.
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid", defer_build=True)


class NoArgs(Args):
    pass


class Layer:
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = "other"  # conv | norm | act | pool | linear | merge | shape | input | reg
    Args: ClassVar[type[Args]] = NoArgs
    arg_aliases: ClassVar[dict[str, str]] = {}
    shown: ClassVar[tuple[str, ...]] = ()  # leading arguments a description always shows, positionally
    many_inputs: ClassVar[bool] = False
    view: ClassVar[bool] = False  # its output is a view of its input: no new activation memory
    doc: ClassVar[str] = ""

    def __init__(self, args: Args):
        self.args = args

    # ---- binding call arguments to the argument model
    @classmethod
    def bind(cls, positional: list[Any], keywords: dict[str, Any]) -> "Layer":
        fields = list(cls.Args.model_fields)
        if len(positional) > len(fields):
            raise ArgError("E303", f"`{cls.name}` takes at most {len(fields)} positional argument"
                           f"{'s' if len(fields) != 1 else ''}, got {len(positional)}",
                           hint=f"`{cls.name}({', '.join(fields)})`" if fields else f"write `{cls.name}` alone")
        values = dict(zip(fields, positional))
        for key, value in keywords.items():
            field = cls.arg_aliases.get(key, key)
            if field not in cls.Args.model_fields:
                from archlang.errors import did_you_mean

                raise ArgError("E302", f"`{cls.name}` has no argument `{key}`", arg=key,
                               hint=did_you_mean(key, fields + list(cls.arg_aliases), "its arguments are") or
                               f"`{cls.name}` takes no arguments")
            if field in values:
                raise ArgError("E305", f"argument `{field}` of `{cls.name}` given twice", arg=key)
            values[field] = value
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            return cls(cls.Args(**values))
        except ValidationError as e:
            raise _arg_error(cls, e) from None

    # ---- the rules each layer type provides
    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def params(self, inputs: list[Shape]) -> int:
        return 0

    def buffers(self, inputs: list[Shape]) -> int:
        return 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return 0

    def window(self, inputs: list[Shape]) -> tuple[int, int, int, int] | None:
        """(kernel_h, kernel_w, stride_h, stride_w) seen by one output position; None: pointwise.
        Drawings show it; an upsampling layer's stride is a fraction (1/2 for 2x). Unless `reads`
        says more, the receptive field follows it too."""
        return None

    def reads(self, inputs: list[Shape]) -> tuple[Reads | None, Reads | None] | None:
        """Per axis (height, width), the input positions that each output position reads (see
        `Reads`), for the receptive field; None: pointwise. The default is `window`'s kernel,
        starting at the output position times the stride; a layer with padding (its windows
        start before position 0) or a fractional stride says exactly where it reads."""
        window = self.window(inputs)
        if window is None:
            return None
        kh, kw, sh, sw = window
        # A fractional stride says too little to list the phases: the window's averages stand in.
        return tuple(Reads(1, s, (0,), (k - 1,)) if isinstance(s, int) else None for k, s in ((kh, sh), (kw, sw)))

    # ---- PyTorch (archlang.backends.torch_module); each layer imports torch inside these methods,
    # so that loading and analysing a spec never imports it.
    def torch_module(self, inputs: list[Shape]):
        """The `torch.nn.Module` for this layer given its input shapes (no batch dimension), or None
        for a layer computed by `torch_function` (merges, reshapes) that owns no module."""
        return None

    def torch_function(self, *xs):
        """The output from the input tensors, for a layer without a module. Called on torch.fx
        proxies when the forward graph is built, so use torch functions and tensor methods only."""
        raise NotImplementedError(f"layer `{self.name}` has no PyTorch translation: "
                                  "give it a torch_module or a torch_function")

    # ---- description, for summaries and diagrams
    def describe(self) -> str:
        """`conv(64, 3, stride=2)`: the `shown` arguments positionally, then those that differ from defaults."""
        parts = []
        for key, field in self.Args.model_fields.items():
            value = getattr(self.args, key)
            if key in self.shown:
                if value is not None:
                    parts.append(fmt_value(value))
            elif field.is_required() or value != field.default:
                parts.append(f"{key}={fmt_value(value)}")
        return f"{self.name}({', '.join(parts)})" if parts else self.name


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    return repr(value)


def _arg_error(cls: type[Layer], e: ValidationError) -> ArgError:
    errors = e.errors()
    err = errors[0]
    if not err["loc"]:  # a rule across arguments (a model validator)
        return ArgError("E301", f"invalid arguments to `{cls.name}`: {_rule(err)}")
    loc = str(err["loc"][0])
    if err["type"] == "missing":
        required = [k for k, f in cls.Args.model_fields.items() if f.is_required()]
        return ArgError("E304", f"`{cls.name}` needs its argument `{loc}`", arg=loc,
                        hint=f"write `{cls.name}({', '.join(required)})`")
    value = err.get("input")
    # A union (e.g. a number or "same") reports one error per member: keep the
    # one that speaks of the value's own kind, and list the accepted forms.
    same_field = [x for x in errors if x["loc"] and str(x["loc"][0]) == loc]
    kinds = {"str": ("literal_error", "string_type"), "int": ("greater_than", "greater_than_equal", "less_than",
                                                              "less_than_equal")}
    preferred = kinds.get(type(value).__name__, ())
    err = next((x for x in same_field if x["type"] in preferred), err)
    shown = fmt_value(value) if isinstance(value, (int, float, str, bool, tuple)) else type(value).__name__
    if len(shown) > 60:  # a long string or list: the caret shows where it came from
        shown = shown[:50] + " ... " + shown[-5:]
    hint = None
    if len(same_field) > 1:
        forms = ("a list [h, w]" if x["type"] in ("too_long", "too_short") else
                 _rule(x).removeprefix("it should be ").replace("a valid tuple", "a list [h, w]")
                 .replace("a valid ", "") for x in same_field)
        hint = "accepted: " + ", or ".join(dict.fromkeys(forms))
    return ArgError("E301", f"argument `{loc}` of `{cls.name}` is {shown}: {_rule(err)}", arg=loc, hint=hint)


def _rule(err) -> str:
    return err["msg"].replace("Value error, ", "").replace("Input should be", "it should be")


def register(cls: type[Layer]) -> type[Layer]:
    for key in (cls.name, *cls.aliases):
        if key in REGISTRY:
            raise ValueError(f"layer name `{key}` registered twice ({REGISTRY[key].__name__}, {cls.__name__})")
        REGISTRY[key] = cls
    return cls


def lookup(name: str) -> type[Layer] | None:
    return REGISTRY.get(name.lower())


# ---- small helpers shared by the layer families


def pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[-1])


def numel(shape: Shape) -> int:
    return math.prod(shape)


def need_rank(layer: Layer, shape: Shape, rank: int) -> None:
    if len(shape) != rank:
        what = {1: "a flat vector (features)", 3: "a C×H×W feature map"}[rank]
        hint = "add `flatten` (or `global_avgpool -> flatten`) before it" if rank == 1 else \
            "this layer works on feature maps; put it before `flatten`/`fc`"
        raise ShapeError(f"`{layer.name}` needs {what}, got {fmt_shape(shape)}", hint=hint)


def fmt_shape(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


MAX_SIDE = 10**15  # as the numbers of a spec: a layer that enlarges maps cannot overflow the counts


def bounded(layer: Layer, shape: Shape) -> Shape:
    """`shape`, refused (E605) where a dimension grew past MAX_SIDE (repeated upsampling)."""
    if max(shape) > MAX_SIDE:
        raise ShapeError(f"`{layer.describe()}` makes a dimension of {max(shape):.3g}, over the limit of 10^15",
                         hint="check the scale factors: repeated upsampling multiplies them", code="E605")
    return shape


def window_out(size: int, kernel: int, stride: int, pad: int, dilation: int = 1, ceil: bool = False) -> int:
    """Output size of a sliding window, as torch computes it (ceil mode included)."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1  # torch: the last window must start inside the input or left padding
    return out


def spatial_out(layer: Layer, shape: Shape, kernel, stride, pad, dilation=(1, 1), ceil=False) -> tuple[int, int]:
    need_rank(layer, shape, 3)
    _, h, w = shape
    out = []
    for size, k, s, p, d, axis in zip((h, w), kernel, stride, pad, dilation, ("height", "width")):
        reach = d * (k - 1) + 1
        # In ceil mode torch lets the one window hang over the edge; the size check below decides.
        if reach > size + 2 * p and not ceil:
            raise ShapeError(f"`{layer.describe()}` has a {reach}-wide window but its input {axis} is "
                             f"{size}" + (f" (+{2 * p} padding)" if p else ""),
                             hint="use a smaller kernel, add padding, or remove a pooling step before it",
                             code="E403")
        out.append(window_out(size, k, s, p, d, ceil))
    if min(out) <= 0:
        raise ShapeError(f"`{layer.describe()}` reduces {fmt_shape(shape)} to nothing", code="E403")
    return out[0], out[1]
