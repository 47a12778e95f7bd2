"""The in-process half of the analysis benchmark (section 1), in its own process so that
the driver never imports torch before its whole-process measurements:

    python bench/inprocess_summary.py MODEL REPS WARMUP   -> prints JSON {"archlang": [...], "torchinfo": [...]}

archlang: `archlang.load(spec).summary()` (parse, elaborate, analyse, format).
torchinfo: `str(torchinfo.summary(model, ...))` on an already built torchvision model
(its forward pass with hooks); imports and construction are outside both timings.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torchinfo  # noqa: E402
import torchvision  # noqa: E402

import archlang  # noqa: E402
from benchlib import ROOT, interleaved, timed  # noqa: E402

name, reps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(min(2, torch.get_num_threads()))
spec = ROOT / "specs" / f"{name}.arch"
model = getattr(torchvision.models, name)(weights=None)
samples = interleaved({
    "archlang": lambda: timed(lambda: archlang.load(spec).summary()),
    "torchinfo": lambda: timed(lambda: str(torchinfo.summary(model, input_size=(1, 3, 224, 224), device="cpu",
                                                             verbose=0))),
}, reps, warmup)
print(json.dumps({k: [s.wall for s in v] for k, v in samples.items()}))
