"""Validation passes and ``archlang eval``: loss, accuracy, confusion matrix."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from .config import ModelSource, TrainError
from .data import EpochBatchSampler, Normalization, loader, prepare
from .distributed import DistInfo, all_sum, select_device

EVAL_BATCH = 256
MAX_TABLE_CLASSES = 20  # wider tables wrap on a terminal and help nobody


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CPU, fp16 on CUDA (paired with a GradScaler there)."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool):
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


def check_task(source: ModelSource) -> None:
    """Refuse a network the trainer cannot train: it trains image classifiers under cross-entropy.

    Its input must be an image (C×H×W) and its output one score per class: a segmentation
    network's K×H×W map, a generator's image or a single value would train into something
    meaningless.
    """
    shape, given = tuple(source.output_shape), tuple(source.input_shape)
    if len(shape) == 3 and shape[1:] == (1, 1):
        raise source.output_error(
            f"network '{source.name}' outputs {_dims(shape)}: class scores still shaped as a 1×1 map",
            "end the network with a flatten")
    if len(shape) >= 2:
        what = ("an image or a per-pixel map (a generator's or a segmentation network's output)"
                if len(shape) == 3 else "a map, not a vector")
        raise source.output_error(
            f"network '{source.name}' outputs {_dims(shape)}: {what}; `archlang train` trains image "
            "classifiers, whose output is one score per class",
            "segmentation and GAN training are not part of the trainer: train such a network with your own "
            "PyTorch loop on the module `archlang.compile` builds, or end the network with a pooling, a "
            "flatten and a dense layer of one unit per class")
    if len(given) != 3:
        raise source.output_error(
            f"network '{source.name}' takes input {_dims(given)}, not an image (C×H×W); "
            "`archlang train` trains image classifiers",
            "a network that starts from a vector (a GAN generator's noise, say) needs its own training loop")
    if shape == (1,):
        raise source.output_error(
            f"network '{source.name}' outputs a single value; training under cross-entropy needs one score "
            "per class (2 or more), and one score would always be right",
            "output one unit per class (2 for a yes/no task); a single sigmoid output, as a GAN "
            "discriminator has, needs a binary loss the trainer does not offer")


def check_fit(source: ModelSource, num_classes: int, data_name: str) -> None:
    """Refuse a network whose output cannot score the data's classes."""
    check_task(source)
    shape = tuple(source.output_shape)
    if shape[0] != num_classes:
        knob = _classes_parameter(source, shape[0])
        hint = (f"add --set {knob}={num_classes}" if knob
                else f"make the last layer output {num_classes} units")
        raise source.output_error(
            f"network '{source.name}' outputs {shape[0]} classes, but {data_name} has "
            f"{num_classes} labels", hint)


def _classes_parameter(source: ModelSource, outputs: int) -> str | None:
    """The network parameter that sets the number of classes, if one does (``classes=10``)."""
    settings = getattr(source, "parameters", None) or {}
    found = [name for name, value in settings.items()
             if isinstance(value, int) and not isinstance(value, bool) and value == outputs]
    likely = [name for name in found if "class" in name.lower()]
    if len(likely) == 1:
        return likely[0]
    return found[0] if len(found) == 1 else None


def loss_warnings(source: ModelSource) -> list[str]:
    """Notes on a network whose last layer fights the cross-entropy loss."""
    last = getattr(source, "final_layer", None)
    if last == "softmax":
        return [f"network '{source.name}' ends in softmax, but the cross-entropy loss applies its own "
                "(log-)softmax to the outputs: the two together squash the scores, and training is slow "
                "or stalls; remove the final softmax (`archlang predict` reports probabilities anyway)"]
    if last == "log_softmax":
        return [f"network '{source.name}' ends in log_softmax, which the cross-entropy loss already applies: "
                "it changes nothing here but can be removed (`archlang predict` reports probabilities anyway)"]
    return []


def _dims(shape: tuple) -> str:
    return "×".join(map(str, shape)) if shape else "a scalar"


def check_built_output(source: ModelSource, model: torch.nn.Module, device: torch.device,
                       num_classes: int) -> None:
    """Run two blank images through the built model; its output must be (2, K)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, *source.input_shape, device=device))
    model.train(was_training)
    if tuple(out.shape) != (2, num_classes):
        raise source.output_error(
            f"network '{source.name}' produced output of shape {tuple(out.shape[1:])} for a batch "
            f"of images; training needs ({num_classes},) per image",
            f"make the last layer output {num_classes} units")


def validate(model, data_loader, device, num_classes, *, amp=False, channels_last=False,
             info: DistInfo = DistInfo()) -> tuple[float, torch.Tensor]:
    """Mean loss and confusion matrix (rows true, columns predicted) over all ranks."""
    model.eval()
    loss_sum = torch.zeros(1, dtype=torch.float64, device=device)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    with torch.no_grad():
        for x, y in data_loader:
            x, y = to_device(x, y, device, channels_last)
            with autocast(device, amp):
                out = model(x)
            loss_sum += F.cross_entropy(out.float(), y, reduction="sum").double()
            pairs = y * num_classes + out.argmax(dim=1)
            confusion += torch.bincount(pairs, minlength=num_classes * num_classes)
    all_sum(loss_sum, info)
    all_sum(confusion, info)
    confusion = confusion.view(num_classes, num_classes).cpu()
    return float(loss_sum) / max(1, int(confusion.sum())), confusion


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    confusion: list[list[int]]
    classes: list[str]
    images: int
    checkpoint: str
    epoch: int
    description: str


def evaluate(source: ModelSource, checkpoint: str, data: str = "digits", *,
             device: str = "auto", batch_size: int = EVAL_BATCH) -> EvalResult:
    """Evaluate a training checkpoint on the validation split of ``data``."""
    if batch_size < 1:
        raise TrainError(f"--batch-size must be positive, got {batch_size}")
    torch_device = select_device(device, DistInfo())
    state = ckpt.load(checkpoint)
    norm = state.get("normalization")
    prepared = prepare(data, source.input_shape,
                       Normalization(norm["mean"], norm["std"]) if norm else None)
    check_fit(source, prepared.num_classes, data)
    model = source.build(device=torch_device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise TrainError(
            f"checkpoint {state['path']} does not fit network '{source.name}': "
            f"{str(exc).splitlines()[0]}",
            f"it was trained from network '{state.get('network')}' with --set "
            f"{state.get('overrides') or 'none'}; evaluate with the same spec and values") from exc
    sampler = EpochBatchSampler(len(prepared.val), batch_size, seed=None)
    loss, confusion = validate(model, loader(prepared.val, sampler, 0), torch_device,
                               prepared.num_classes)
    total = int(confusion.sum())
    return EvalResult(loss, int(confusion.trace()) / max(1, total), confusion.tolist(),
                      prepared.classes, total, state["path"], int(state.get("epoch", 0)),
                      prepared.description)


def format_report(result: EvalResult) -> str:
    lines = [f"checkpoint: {result.checkpoint} (epoch {result.epoch})",
             f"validation images: {result.images}",
             f"loss: {result.loss:.4f}",
             f"accuracy: {100 * result.accuracy:.2f}%", ""]
    return "\n".join(lines + confusion_table(result.confusion, result.classes))


def confusion_table(confusion: list[list[int]], classes: list[str]) -> list[str]:
    """Rows are true classes, columns predicted ones, plus per-class recall."""
    k = len(classes)
    if k > MAX_TABLE_CLASSES:
        return [f"confusion matrix: {k} classes, too wide to print; worst classes by recall:"] + [
            f"  {classes[i]}: {100 * recall:.1f}%" for recall, i in sorted(_recalls(confusion))[:10]]
    labels = [f"{i} {name}" if name != str(i) else name for i, name in enumerate(classes)]
    row_width = max(len("true\\pred"), *(len(s) for s in labels))
    cell = max(3, len(str(max(max(r) for r in confusion))), len(str(k - 1)))
    header = "true\\pred".ljust(row_width) + " " + " ".join(str(j).rjust(cell) for j in range(k))
    lines = ["confusion matrix (rows: true class, columns: predicted class)", header + "  recall"]
    for i, row in enumerate(confusion):
        total = sum(row)
        recall = f"{100 * row[i] / total:6.1f}%" if total else "     -"
        lines.append(labels[i].ljust(row_width) + " "
                     + " ".join(str(v).rjust(cell) for v in row) + "  " + recall)
    return lines


def _recalls(confusion: list[list[int]]) -> list[tuple[float, int]]:
    return [(row[i] / sum(row) if sum(row) else 0.0, i) for i, row in enumerate(confusion)]
