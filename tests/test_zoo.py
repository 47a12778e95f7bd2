"""The model zoo in specs/: exact parameter and MAC figures, and golden summaries.

1. `archlang summary --json` (the CLI, in-process) gives exactly torchvision's
   parameter count and the conv+linear MAC count (bias excluded) of every zoo
   model at its default input (3x224x224; LeNet-5 1x28x28; NiN 1x224x224 as in
   Dive into Deep Learning). torchvision's own forward pass is compared in
   tests/test_parity.py.
2. Golden summaries: every `specs/*.arch` is elaborated and its `net.to_dict()`
   (every layer's name, shape, params, buffers, MACs, receptive field, memory)
   compared exactly with `tests/golden/<spec>.json`.

After a reviewed change to a spec or to the analysis, regenerate the fixtures:

    ARCHLANG_REGEN=1 .venv/bin/python -m pytest tests/test_zoo.py

(and read the diff: `git diff tests/golden`). A new spec needs a fixture too;
the same command writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import archlang
from archlang.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = bool(os.environ.get("ARCHLANG_REGEN"))

# spec -> (params, MACs). torchvision's figures (weights=None, default
# arguments; GoogLeNet with aux_logits=False), 3x224x224 input.
PARITY = {
    "alexnet": (61_100_840, 714_188_480),
    "vgg11": (132_863_336, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "googlenet": (6_624_904, 1_498_376_192),
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440),
    "resnet152": (60_192_808, 11_513_626_624),
    "densenet121": (7_978_856, 2_834_161_664),
    "densenet169": (14_149_480, 3_359_843_328),
    "densenet201": (20_013_928, 4_291_365_888),
    # D2L's models (1-channel input): LeNet-5 at 1x28x28, NiN at 1x224x224.
    # NiN's parameter count is also checked against D2L's PyTorch code in
    # test_parity.py; its MACs follow from its shapes (golden fixture).
    "lenet5": (61_706, 416_520),
    "nin": (1_992_166, 762_297_352),
    # torchvision's ConvNeXt; its model docs give 4.46, 8.68 and 15.36 GFLOPS
    # (test_parity_convnext.py counts them on torchvision's model).
    "convnext_tiny": (28_589_128, 4_455_531_264),
    "convnext_small": (50_223_688, 8_683_712_256),
    "convnext_base": (88_591_464, 15_354_729_472),
    # PyTorch's DCGAN tutorial: 100-dim noise to 3x64x64, and back to one probability.
    "dcgan_generator": (3_576_704, 104_628_224),
    "dcgan_discriminator": (2_765_568, 103_817_216),
    # torchvision's EfficientNet B0-B7 at the paper's resolutions; its model docs give 0.39,
    # 0.69, 1.09 (at 288x288), 1.83, 4.39, 10.27, 19.07 and 37.75 GFLOPS
    # (test_parity_efficientnet.py counts them on torchvision's model).
    "efficientnet_b0": (5_288_548, 385_814_752),
    "efficientnet_b1": (7_794_184, 686_802_832),
    "efficientnet_b2": (9_109_994, 993_561_872),
    "efficientnet_b3": (12_233_232, 1_827_141_392),
    "efficientnet_b4": (19_341_616, 4_393_771_024),
    "efficientnet_b5": (30_389_784, 10_266_384_752),
    "efficientnet_b6": (43_040_704, 19_067_593_536),
    "efficientnet_b7": (66_347_960, 37_745_884_192),
    # torchvision's RegNets; its model docs give 0.41, 0.40 and 0.83 GFLOPS
    # (test_parity_regnet.py counts all fifteen on torchvision's models).
    "regnet_x_400mf": (5_495_976, 413_812_608),
    "regnet_y_400mf": (4_344_144, 401_842_848),
    "regnet_y_800mf": (6_432_512, 833_856_256),
    # The U-Net paper's network, unpadded (a 572x572 tile) and padded (512x512); the MACs are
    # torch.utils.flop_counter's on a PyTorch U-Net (test_parity_unet.py).
    "unet": (31_030_658, 150_428_424_448),
    "unet_padded": (31_030_658, 192_384_335_872),
    # torchvision's segmentation models without their auxiliary heads, at 3x520x520
    # (test_parity_segmentation.py counts them on torchvision's models).
    "fcn_resnet50": (32_957_013, 142_725_772_800),
    "deeplabv3_resnet50": (39_638_869, 168_731_205_888),
    "lraspp_mobilenet_v3_large": (3_221_538, 2_086_219_688),  # torchvision's docs: 2.09 GFLOPS
}

INPUT = {"lenet5": [1, 28, 28], "nin": [1, 224, 224], "dcgan_generator": [100], "dcgan_discriminator": [3, 64, 64]}
INPUT |= {f"efficientnet_b{b}": [3, side, side] for b, side in enumerate([224, 240, 260, 300, 380, 456, 528, 600])}
INPUT |= {"unet": [1, 572, 572], "unet_padded": [1, 512, 512], "fcn_resnet50": [3, 520, 520],
          "deeplabv3_resnet50": [3, 520, 520], "lraspp_mobilenet_v3_large": [3, 520, 520]}
OUTPUT = {"lenet5": [10], "nin": [10], "dcgan_generator": [3, 64, 64], "dcgan_discriminator": [1]}
OUTPUT |= {"unet": [2, 388, 388], "unet_padded": [2, 512, 512], "fcn_resnet50": [21, 520, 520],
           "deeplabv3_resnet50": [21, 520, 520], "lraspp_mobilenet_v3_large": [21, 520, 520]}


def summary_json(path: Path, capsys, *args: str) -> dict:
    code = main(["summary", "--json", str(path), *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("name", list(PARITY))
def test_params_and_macs(name, capsys):
    summary = summary_json(SPECS / f"{name}.arch", capsys)
    params, macs = PARITY[name]
    assert (summary["params"], summary["macs"]) == (params, macs)
    assert summary["input_shape"] == INPUT.get(name, [3, 224, 224])
    assert summary["output_shape"] == OUTPUT.get(name, [1000])
    assert summary["trainable_params"] == params


def test_every_family_member_has_a_thin_spec():
    # The family specs' defaults are one member each; the members are one-line aliases.
    for family, members in {"resnet": [18, 34, 50, 101, 152], "vgg": [11, 13, 16, 19],
                            "densenet": [121, 169, 201]}.items():
        for depth in members:
            text = (SPECS / f"{family}{depth}.arch").read_text()
            assert f'import "{family}.arch"' in text
            assert f"(depth = {depth})" in text
    for size in ("tiny", "small", "base"):
        text = (SPECS / f"convnext_{size}.arch").read_text()
        assert 'import "convnext.arch"' in text and f'(size = "{size}")' in text
    for b in range(8):
        text = (SPECS / f"efficientnet_b{b}.arch").read_text()
        assert 'import "efficientnet.arch"' in text and f"network EfficientNetB{b} = EfficientNet(width = " in text
    for name in ("regnet_x_400mf", "regnet_y_400mf", "regnet_y_800mf"):
        text = (SPECS / f"{name}.arch").read_text()
        assert 'import "regnet.arch"' in text and "= RegNet(depth = " in text
    for name, family in {"fcn_resnet50": "fcn", "deeplabv3_resnet50": "deeplabv3"}.items():
        text = (SPECS / f"{name}.arch").read_text()
        assert f'import "{family}.arch"' in text and "(depth = 50)" in text
    assert 'import "lraspp.arch"' in (SPECS / "lraspp_mobilenet_v3_large.arch").read_text()
    assert "= UNet(padded = true)" in (SPECS / "unet_padded.arch").read_text()
    for name in ("Generator", "Discriminator"):
        text = (SPECS / f"dcgan_{name.lower()}.arch").read_text()
        assert 'import "dcgan.arch"' in text and f"= {name}()" in text


@pytest.mark.parametrize(("spec", "overrides", "params"), [
    # Family members without their own file, still exactly torchvision's.
    ("densenet.arch", ["depth=161"], 28_681_000),
    ("vgg.arch", ["depth=11", "batch_norm=true"], 132_868_840),   # vgg11_bn
    ("vgg.arch", ["depth=19", "batch_norm=true"], 143_678_248),   # vgg19_bn
])
def test_family_variants(spec, overrides, params, capsys):
    sets = [arg for o in overrides for arg in ("--set", o)]
    assert summary_json(SPECS / spec, capsys, *sets)["params"] == params


def test_classes_and_smaller_inputs(capsys):
    # Adaptive pooling keeps the classifier's size at any input the stem accepts.
    small = summary_json(SPECS / "vgg16.arch", capsys, "--input", "3x64x64", "--set", "classes=10")
    assert small["output_shape"] == [10]
    assert small["params"] == 138_357_544 - 4096 * 990 - 990


# ---- golden summaries -------------------------------------------------------------

SPEC_FILES = sorted(SPECS.glob("*.arch"))


def golden_dict(path: Path) -> dict:
    d = archlang.load(path).to_dict()
    d["file"] = f"specs/{path.name}"  # independent of the working directory
    return json.loads(json.dumps(d))  # tuples -> lists, as read back from a fixture


def dump_golden(d: dict) -> str:
    """One line per top-level field and per layer: small fixtures and readable diffs."""
    fields = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in d.items() if k != "layers"]
    layers = ",\n".join("    " + json.dumps(layer) for layer in d["layers"])
    return "{\n" + ",\n".join(fields) + f',\n  "layers": [\n{layers}\n  ]\n}}\n'


def first_difference(actual: dict, expected: dict) -> str:
    for key in sorted(set(actual) | set(expected)):
        if key != "layers" and actual.get(key) != expected.get(key):
            return f"{key}: {actual.get(key)!r} != golden {expected.get(key)!r}"
    got, want = actual.get("layers", []), expected.get("layers", [])
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"layer {i} ({a.get('name')}):\n  now    {json.dumps(a)}\n  golden {json.dumps(b)}"
    return f"{len(got)} layers != golden {len(want)} layers"


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_golden_summary(path):
    fixture = GOLDEN / f"{path.stem}.json"
    actual = golden_dict(path)
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        fixture.write_text(dump_golden(actual), encoding="utf-8")
    assert fixture.exists(), f"no fixture for {path.name}: run ARCHLANG_REGEN=1 pytest {Path(__file__).name}"
    expected = json.loads(fixture.read_text(encoding="utf-8"))
    assert actual == expected, "summary differs from the golden fixture (ARCHLANG_REGEN=1 to accept):\n" + \
        first_difference(actual, expected)


def test_golden_fixtures_have_specs():
    stale = {p.stem for p in GOLDEN.glob("*.json")} - {p.stem for p in SPEC_FILES}
    assert not stale, f"fixtures without a spec in specs/: {sorted(stale)}"


def test_dump_golden_round_trips():
    d = golden_dict(SPECS / "lenet5.arch")
    assert json.loads(dump_golden(d)) == d
