"""`archlang export --format onnx`: the checker accepts the file, the batch is
dynamic, and onnxruntime gives the module's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")  # the dynamo exporter's translation library

import archlang  # noqa: E402
from archlang.backends.onnx_export import export_onnx  # noqa: E402
from archlang.cli import main  # noqa: E402

# torch's note that an even kernel with padding="same" pads a copy of the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

SPECS = Path(__file__).resolve().parent.parent / "specs"

# The layers whose ONNX translation is not a one-to-one operator: merges, chunk,
# channel shuffle, ceil-mode pools, and an adaptive max pool with uneven bins.
MIXED = """
network Mixed:
    input(4, 11, 10)
    -> conv(8, 3, stride = 2, padding = 1) -> bn -> relu
    -> add(main: conv(8, 2, padding = "same") -> gelu, skip: identity, third: conv(8, 1))
    -> concat(a: chunk(2, 0) -> channel_shuffle(2), b: chunk(2, 1) -> lrn(3), c: identity)
    -> mul(identity, global_avgpool -> conv(16, 1) -> hardsigmoid)
    -> maxpool(3, stride = 2, ceil_mode = true)
    -> avgpool(2, stride = 1, padding = 1, ceil_mode = true, count_include_pad = false)
    -> adaptive_maxpool([2, 3]) -> fc(12) -> bn -> dropout -> fc(5) -> log_softmax
"""


def run_onnx(path: Path, x: torch.Tensor):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def test_outputs_match_the_module(tmp_path):
    net = archlang.load(MIXED)
    model = net.to_torch()
    model(torch.randn(4, *net.input_shape))  # moves the batch-norm statistics off their defaults
    path = export_onnx(net, tmp_path / "mixed.onnx", model=model)
    onnx.checker.check_model(onnx.load(str(path)))
    assert model.training  # restored after the export
    model.eval()
    for batch in (1, 3):  # the batch dimension is dynamic
        x = torch.randn(batch, *net.input_shape)
        with torch.no_grad():
            torch.testing.assert_close(run_onnx(path, x), model(x), rtol=1e-4, atol=1e-5)


def test_cli_export(tmp_path, capsys):
    out = tmp_path / "lenet.onnx"
    assert main(["export", str(SPECS / "lenet5.arch"), "--format", "onnx", "-o", str(out), "--opset", "18"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert list(tmp_path.iterdir()) == [out]  # one self-contained file: no external weight data
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 18
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, 28, 28]


def test_every_layer_type_exports(tmp_path):
    from test_pysource import EVERY_LAYER  # every layer of the registry, with non-default arguments

    net = archlang.load(EVERY_LAYER)
    model = net.to_torch()
    model(torch.randn(4, *net.input_shape))  # running statistics off their defaults
    path = export_onnx(net, tmp_path / "every.onnx", model=model)
    onnx.checker.check_model(onnx.load(str(path)))
    model.eval()
    x = torch.randn(3, *net.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(run_onnx(path, x), model(x), rtol=1e-4, atol=1e-5)
