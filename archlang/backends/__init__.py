"""Backends: what an analysed `Network` becomes.

- `torch_module`: a `torch.nn.Module`: a tree of fx.GraphModules, one per scope of the spec
- `trained`: a training run's weights for `compile` and `export` (`--checkpoint`)
- `weights`: weight transfer between modules (`archlang.transfer_weights`)
- `pysource`: standalone PyTorch source (`archlang compile`)
- `onnx_export`: an ONNX file (`archlang export`)
- `diagram`: drawings (`archlang render`)

Nothing here is imported by `archlang.load`: each backend imports its heavy
dependencies (torch, graphviz) only when it is used.
"""
