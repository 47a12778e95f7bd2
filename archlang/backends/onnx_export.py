"""ONNX export (`archlang export FILE --format onnx -o model.onnx`).

Uses torch's dynamo exporter (`torch.onnx.export(..., dynamo=True)`, which
needs onnxscript): the TorchScript exporter is deprecated. The model is
exported in eval mode (batch norm uses its running statistics, dropout is
off), with a dynamic batch dimension and the spec's C×H×W.

The exporter has no ONNX translation for an adaptive max pool whose output
does not divide its input (its bins differ in size). The spatial sizes are
fixed in the exported graph, so such a pool is first rewritten as a max over
each bin, computed here from the static shapes.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from archlang.backends.files import output_path
from archlang.backends.torch_module import build_module
from archlang.errors import ArchError

__all__ = ["export_onnx"]

# A protobuf file holds at most 2 GiB; above this much weight data it goes to a `.data`
# file beside the model (ONNX's external data), below it one self-contained file.
EXTERNAL_DATA_BYTES = 1_800_000_000
# The dynamo exporter's own opset is 18; its version converter reaches down to about 15, but
# not for every operator (it then falls back silently: see _check_written_opset).
MIN_OPSET = 7


def export_onnx(net, path, opset: int | None = None, model: torch.nn.Module | None = None) -> Path:
    """Write `net` as ONNX to `path`: `model`'s weights (e.g. a trained one), else fresh ones.

    The graph's input is `input` (batch × the spec's input shape), its output `output`;
    the batch size is free. `opset` None: the exporter's default.
    """
    path = output_path(path, example="model.onnx")
    _check_opset(opset)
    model = model if model is not None else build_module(net)
    param = next(model.parameters(), None)
    example = torch.randn(2, *net.input_shape,  # 2, not 1: a batch of 1 would be fixed as a constant
                          dtype=param.dtype if param is not None else None,
                          device=param.device if param is not None else None)
    dynamic = ({0: torch.export.Dim("batch")},)
    training = model.training
    model.eval()
    try:
        # The exporter reports progress on stdout and warns about its internals; the
        # command prints its own one-line result, and failures still raise.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), _quiet_loggers():
            warnings.simplefilter("ignore")
            program = torch.export.export(model, (example,), dynamic_shapes=dynamic)
            # Only this op is decomposed here; the exporter decomposes the rest its own way.
            program = program.run_decompositions({torch.ops.aten.adaptive_max_pool2d.default: _adaptive_max_pool2d})
            torch.onnx.export(program, (example,), str(path), dynamo=True, opset_version=opset,
                              input_names=["input"], output_names=["output"], dynamic_shapes=dynamic,
                              external_data=_weight_bytes(model) > EXTERNAL_DATA_BYTES)
    except OSError as e:  # the exporter writes the file itself
        raise ArchError("E704", f"cannot write {path}: {e.strerror or e}", None,
                        hint="check the path and the free space, or choose another place with -o") from None
    finally:
        model.train(training)
    if opset is not None:
        _check_written_opset(path, opset)
    return path


def _check_opset(opset: int | None) -> None:
    import onnx.defs

    newest = onnx.defs.onnx_opset_version()
    if opset is not None and not MIN_OPSET <= opset <= newest:
        raise ArchError("E705", f"ONNX opset {opset} is out of range", None,
                        hint=f"this exporter writes opsets {MIN_OPSET} to {newest} (default: its own choice)")


def _check_written_opset(path: Path, opset: int) -> None:
    """The exporter falls back to its default opset when it cannot convert to the one asked
    for, and says so only in a log: check the file, and refuse it rather than mislabel it."""
    import onnx

    written = max((o.version for o in onnx.load(str(path), load_external_data=False).opset_import
                   if o.domain in ("", "ai.onnx")), default=None)
    if written != opset:
        path.unlink(missing_ok=True)
        raise ArchError("E705", f"the exporter cannot write this network at ONNX opset {opset} "
                                f"(it fell back to opset {written})", None,
                        hint=f"use --opset {written} or higher, or leave --opset out")


@contextlib.contextmanager
def _quiet_loggers():
    """The exporter and its version converter log their fallbacks (with tracebacks) to stderr;
    what matters of them is checked afterwards (_check_written_opset)."""
    import logging

    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _weight_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def _adaptive_max_pool2d(x: torch.Tensor, output_size) -> tuple[torch.Tensor, torch.Tensor]:
    """aten.adaptive_max_pool2d from slices: bin i of n over size s spans [i*s//n, ceil((i+1)*s/n))."""
    (h, w), (oh, ow) = x.shape[-2:], output_size
    rows = []
    for i in range(oh):
        band = x[..., i * h // oh: -(-(i + 1) * h // oh), :]
        rows.append(torch.stack([band[..., j * w // ow: -(-(j + 1) * w // ow)].amax(dim=(-2, -1))
                                 for j in range(ow)], dim=-1))
    values = torch.stack(rows, dim=-2)
    # The op also returns argmax indices; nn.AdaptiveMaxPool2d drops them, so the
    # placeholder below is never used and the exporter removes it.
    return values, torch.zeros_like(values, dtype=torch.int64)
