"""The specs of modern and generative networks through every command and backend, as a user
runs them: `archlang check`, `summary`, `render` in each view (and the feature-map picture),
`compile` (the standalone file, imported on its own, gives the compiled module's outputs),
`export` (onnxruntime gives them too), and torch.compile(fullgraph=True).

ConvNeXt runs at 64x64 here (its stem and downsampling accept any multiple of 32); its
224x224 outputs are compared with torchvision's in test_parity_convnext.py. The other
large networks run at small inputs too, U-Net at width 16 and FCN and DeepLabV3 on a
dilated ResNet-18: the same layers through every backend, at a fraction of the time;
their full-size outputs are compared in the test_parity_*.py files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import archlang  # noqa: E402
from archlang.backends.onnx_export import export_onnx  # noqa: E402
from archlang.cli import main  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"
# spec -> the input the backends run at (None: the spec's own), whether feature maps apply (a chain),
# and settings that keep the run cheap (`--set`)
CASES = {
    "dcgan_generator": (None, True),
    "dcgan_discriminator": (None, True),
    "convnext_tiny": ("3x64x64", False),
    "efficientnet_b0": ("3x64x64", False),
    "regnet_y_400mf": ("3x64x64", False),
    "unet": ("1x188x188", False, "width=16"),  # the smallest tile the unpadded U-Net takes
    "unet_padded": ("1x32x32", False, "width=16"),
    "fcn_resnet50": ("3x64x64", False, "depth=18"),  # the same layers on a shorter dilated ResNet
    "deeplabv3_resnet50": ("3x64x64", False, "depth=18"),
    "lraspp_mobilenet_v3_large": ("3x64x64", False),
}


def run(capsys, *argv) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_check_summary_render(name, capsys, tmp_path):
    spec = SPECS / f"{name}.arch"
    run(capsys, "check", spec)
    assert f"params: {archlang.load(spec).params:,}" in run(capsys, "summary", spec)
    for view in ("overview", "blocks", "layers"):
        run(capsys, "render", spec, "--view", view, "-o", tmp_path / f"{view}.svg")
        assert (tmp_path / f"{view}.svg").read_text().startswith("<?xml")
    if CASES[name][1]:
        run(capsys, "render", spec, "--style", "feature-maps", "-o", tmp_path / "maps.svg")
        assert "conv" in (tmp_path / "maps.svg").read_text()


def load_file(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", list(CASES))
def test_compile_export_and_torch_compile(name, capsys, tmp_path):
    spec, (size, _, *sets) = SPECS / f"{name}.arch", CASES[name]
    sized = (["--input", size] if size else []) + [arg for s in sets for arg in ("--set", s)]
    net = archlang.load(spec, input_shape=size, overrides=dict(s.split("=") for s in sets))
    model = net.to_torch()
    model(torch.randn(4, *net.input_shape))  # batch-norm statistics off their defaults
    model.eval()
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        expected = model(x)

    run(capsys, "compile", spec, *sized, "-o", tmp_path / "standalone.py")
    standalone = getattr(load_file(tmp_path / "standalone.py"), net.name)()
    archlang.transfer_weights(model, standalone)
    with torch.no_grad():
        assert torch.equal(standalone.eval()(x), expected)

    run(capsys, "export", spec, *sized, "-o", tmp_path / "model.onnx")  # the file's format and batch
    path = export_onnx(net, tmp_path / "trained.onnx", model=model)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    torch.testing.assert_close(torch.from_numpy(session.run(None, {"input": x.numpy()})[0]), expected,
                               rtol=1e-4, atol=1e-5)

    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), expected)
