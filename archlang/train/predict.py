"""``archlang predict RUN_DIR|CHECKPOINT IMAGE|DIR...``: classify images with a trained run.

The checkpoint carries everything the prediction needs: the spec that built the network
(or the run directory's ``spec.arch``), its input shape, the class names, the normalisation
and how the data source read its images. Images are prepared exactly as training prepared
a batch of that source:

- ``folder:`` sources read each image with Pillow, converted to grey or RGB as the network
  takes it and resized (bilinear) to the input size, as training read the folder;
- other sources (digits, MNIST, CIFAR-10, npz) kept their images at native size and
  converted each batch: the image is read as the source's grey or RGB, then converted
  grey↔RGB, resized (bilinear, on the tensor) and normalised by the same code training used.

Pixel values are scaled to 0..1 (8-bit images divide by 255, as for every source but
digits, whose 0..16 values were scaled the same way).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from . import checkpoint as ckpt
from .config import DEVICES, TrainError
from .data import Adapter, Normalization
from .distributed import DistInfo, select_device
from .progress import Reporter
from .sources import IMAGE_SUFFIXES, read_image

PREDICT_BATCH = 64
PREDICT_HELP = "classify images with a trained network (a run directory or its checkpoint)"


def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("predict", help=PREDICT_HELP, description=PREDICT_HELP,
                                   epilog="Images are prepared as the run's data source prepared them "
                                          "(grey/RGB, size, normalisation) and named by its classes. "
                                          "Exit 1 if an image could not be read (the others are still "
                                          "classified).")
    parser.add_argument("run", metavar="RUN_DIR|CHECKPOINT",
                        help="a run directory (uses its best.pt) or a checkpoint written by `archlang train`")
    parser.add_argument("images", metavar="IMAGE|DIR", nargs="+",
                        help="image files, or folders (searched recursively for "
                             f"{', '.join(sorted(IMAGE_SUFFIXES))})")
    parser.add_argument("--top-k", metavar="K", type=int, default=1,
                        help="how many classes to show per image, most likely first (default: 1)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per image: {\"image\", \"predictions\": [{\"class\", "
                             "\"index\", \"probability\"}, ...]}")
    parser.add_argument("--batch-size", metavar="B", type=int, default=PREDICT_BATCH,
                        help=f"images per forward pass (default: {PREDICT_BATCH})")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="(default: auto)")
    return parser


@dataclass
class Predictor:
    """A trained network with its preprocessing and class names."""

    model: torch.nn.Module
    classes: list[str]
    input_shape: tuple[int, int, int]
    adapter: Adapter
    read_mode: str          # the Pillow mode images are read in: "L" or "RGB"
    pil_resize: bool        # folder sources resized with Pillow while reading
    output: str             # "logits", "probabilities" or "log-probabilities"
    device: torch.device
    checkpoint: str

    def load_image(self, path: Path) -> torch.Tensor:
        """One image as the source's raw batch of one (1×c×h×w uint8)."""
        _, height, width = self.input_shape
        pixels = read_image(path, self.read_mode, (width, height) if self.pil_resize else None,
                            unreadable="the file is damaged or not an image")
        return torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0)

    def probabilities(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """Class probabilities (N×K) for raw images of possibly different sizes."""
        x = torch.cat([self.adapter((image, torch.zeros(1)))[0] for image in raw])
        with torch.no_grad():
            out = self.model(x.to(self.device)).float().cpu()
        if self.output == "probabilities":
            return out
        if self.output == "log-probabilities":
            return out.exp()
        return out.softmax(dim=1)


def load_predictor(where: str, device: str = "auto", load_spec=None) -> Predictor:
    """The run's network, weights and preprocessing; ``load_spec(text, input_shape)`` → Network."""
    state = ckpt.load(where)
    path = Path(state["path"])
    spec = state.get("spec")
    if spec is None:  # a checkpoint from before the spec travelled in it
        beside = path.parent / "spec.arch"
        if not beside.is_file():
            raise TrainError(f"{path} does not carry its spec, and there is no spec.arch beside it",
                             "predict from the run directory that holds the checkpoint")
        spec = beside.read_text(encoding="utf-8")
    data = state.get("data") or _config_data(path.parent)
    shape = tuple(int(d) for d in state.get("input_shape") or data.get("input_shape") or ())
    norm = state.get("normalization")
    if len(shape) != 3 or not norm or not state.get("classes"):
        raise TrainError(f"{path} lacks the input shape, normalisation or class names a prediction needs",
                         "use a checkpoint written by `archlang train`")
    if load_spec is None:
        from archlang.network import load as load_spec_text

        def load_spec(text, input_shape):
            return load_spec_text(text, input_shape=input_shape)
    net = load_spec(spec, shape)
    torch_device = select_device(device, DistInfo())
    model = net.to_torch(device=torch_device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise TrainError(f"checkpoint {path} does not fit the network its spec builds: "
                         f"{str(exc).splitlines()[0]}") from exc
    model.eval()
    source = str(data.get("source", "folder:"))
    native = int((data.get("native_shape") or shape)[0])
    folder = source.startswith("folder:")
    channels = shape[0] if folder else native
    from .spec_source import _final_layer

    last = _final_layer(net)
    output = {"softmax": "probabilities", "log_softmax": "log-probabilities"}.get(last, "logits")
    return Predictor(model, list(state["classes"]), shape,
                     Adapter(channels, shape, Normalization(norm["mean"], norm["std"])),
                     "RGB" if channels == 3 else "L", folder, output, torch_device, str(path))


def _config_data(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "config.json").read_text(encoding="utf-8")).get("data") or {}
    except (OSError, ValueError):
        return {}


def find_images(arguments: list[str]) -> tuple[list[Path], list[str]]:
    """Image files named or found under folders (sorted), and errors for paths that are neither."""
    images, errors = [], []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                errors.append(f"error: {path}: no images in this folder "
                              f"(image files end in {', '.join(sorted(IMAGE_SUFFIXES))})")
            images += found
        elif path.is_file():
            images.append(path)
        elif path.exists():  # a FIFO or a device would block or never end
            errors.append(f"error: {path} is not a regular file")
        else:
            errors.append(f"error: {path} does not exist")
    return images, errors


def top_k(probabilities: torch.Tensor, classes: list[str], k: int) -> list[list[dict]]:
    values, indices = probabilities.topk(min(k, probabilities.shape[1]), dim=1)
    return [[{"class": classes[i] if i < len(classes) else str(i), "index": i, "probability": round(v, 6)}
             for v, i in zip(vs.tolist(), ix.tolist())] for vs, ix in zip(values, indices)]


def run_predict(args: argparse.Namespace, load_spec=None, out=None, err=None) -> int:
    """``archlang predict``; returns the exit code (1 if any image could not be read)."""
    out, err = out or sys.stdout, err or sys.stderr
    if args.top_k < 1:
        raise TrainError(f"--top-k must be positive, got {args.top_k}")
    if args.batch_size < 1:
        raise TrainError(f"--batch-size must be positive, got {args.batch_size}")
    predictor = load_predictor(args.run, args.device, load_spec)
    images, errors = find_images(args.images)
    for line in errors:
        print(line, file=err)
    reporter = Reporter(out=out, err=err)
    bar = reporter.bar("predict", len(images)) if len(images) > args.batch_size else None
    failed = len(errors)
    width = max((len(str(p)) for p in images), default=0)
    done = 0
    for start in range(0, len(images), args.batch_size):
        batch, raw = [], []
        for path in images[start:start + args.batch_size]:
            try:
                raw.append(predictor.load_image(path))
                batch.append(path)
            except TrainError as exc:
                failed += 1
                if bar:
                    bar.clear()
                print(exc.format(), file=err)
        if raw:
            rows = top_k(predictor.probabilities(raw), predictor.classes, args.top_k)
            if bar:
                bar.clear()
            for path, row in zip(batch, rows):
                print(_line(path, row, width, args.json), file=out)
        done += len(images[start:start + args.batch_size])
        if bar:
            bar.count(done, "images")
    if bar:
        bar.clear()
    out.flush()
    return 1 if failed or not images else 0


def _line(path: Path, row: list[dict], width: int, as_json: bool) -> str:
    if as_json:
        return json.dumps({"image": str(path), "predictions": row}, ensure_ascii=False)
    return str(path).ljust(width) + "  " + "  ".join(
        f"{p['class']} {100 * p['probability']:5.1f}%" for p in row)
