"""One model of the runtime sections (4a, 4b), measured in a fresh interpreter:

    python bench/runtime_child.py '{"name": "resnet50", "device": "cpu", "batch": 8, "side": 224,
                                    "reps": 5, "warmup": 2, "compiled": false, "archlang_first": false,
                                    "threads": 2}'

prints one JSON line: the samples of both models for both passes (sec_runtime.measure_model);
progress goes to stderr.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from sec_runtime import measure_model  # noqa: E402

job = json.loads(sys.argv[1])
torch.set_num_threads(job.pop("threads"))
result = measure_model(**job, log=lambda text: print("   ", text, file=sys.stderr, flush=True))
print(json.dumps(result))
