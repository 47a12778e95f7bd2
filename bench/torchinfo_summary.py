"""The torchinfo side of the analysis benchmark, as a user would run it: build the
torchvision model and print torchinfo's summary (shapes, parameters, mult-adds).

    python bench/torchinfo_summary.py resnet50
"""

import sys

import torchinfo
import torchvision

name = sys.argv[1]
model = getattr(torchvision.models, name)(weights=None)
# device="cpu": torchinfo would otherwise move the model to a GPU if one is present.
print(torchinfo.summary(model, input_size=(1, 3, 224, 224), device="cpu", verbose=0))
