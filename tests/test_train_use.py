"""Using what was trained: `archlang predict`, `eval RUN_DIR`, `train --init/--freeze`, the run
directory policy from the command line, and the networks the trainer refuses."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import archlang
from archlang.cli import main
from archlang.train import checkpoint as ckpt
from archlang.train import init
from archlang.train.data import Normalization, prepare
from archlang.train.predict import find_images, load_predictor
from train_helpers import digits_npz, image_folder, read_metrics

ROOT = Path(__file__).resolve().parents[1]
LENET = str(ROOT / "specs" / "lenet5.arch")


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def save_pngs(dataset, folder: Path, scale: float = 255.0) -> list[Path]:
    """A prepared split's raw images as 8-bit grey PNGs named INDEX_LABEL.png."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(len(dataset)):
        pixels = dataset.x[i, 0].float().numpy()
        pixels = pixels * scale if dataset.x.dtype != torch.uint8 else pixels
        path = folder / f"{i:03d}_{int(dataset.y[i])}.png"
        Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8), "L").save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """LeNet-5 trained on the real digits for two epochs through the CLI."""
    run = tmp_path_factory.mktemp("digits") / "run"
    assert main(["train", LENET, "--epochs", "2", "--out", str(run)]) == 0
    return run


# ---------------------------------------------------------------- predict

def test_predict_classifies_pngs_as_eval_scores_the_checkpoint(digits_run, tmp_path, capsys):
    code, out, _ = cli(capsys, "eval", digits_run)
    assert code == 0
    accuracy = float(out.split("accuracy: ")[1].split("%")[0])
    # The validation images, written as the PNG files a user would have.
    val = prepare("digits", (1, 28, 28)).val
    save_pngs(val, tmp_path / "val")
    code, out, _ = cli(capsys, "predict", digits_run, tmp_path / "val", "--json", "--top-k", "3")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(val) == 359
    right = sum(r["predictions"][0]["class"] == Path(r["image"]).stem.split("_")[1] for r in rows)
    # 8-bit PNGs of 0..1 pixels: predictions agree with eval's to the image
    assert abs(100 * right / len(rows) - accuracy) <= 100 / len(rows)
    for row in rows:
        probs = [p["probability"] for p in row["predictions"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-5
        assert {p["class"] for p in row["predictions"]} <= {str(d) for d in range(10)}
    # the table: one line per image, the class and its probability
    code, out, _ = cli(capsys, "predict", digits_run / "best.pt", tmp_path / "val" / "000_7.png")
    assert code == 0 and out.startswith(str(tmp_path / "val" / "000_7.png")) and out.rstrip().endswith("%")


def test_predict_reports_unreadable_and_missing_images_and_goes_on(digits_run, tmp_path, capsys):
    val = prepare("digits", (1, 28, 28)).val
    good = save_pngs(torch.utils.data.Subset(val, range(2)).dataset, tmp_path / "imgs")[:2]
    (tmp_path / "imgs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code, out, err = cli(capsys, "predict", digits_run, good[0], tmp_path / "imgs" / "broken.png",
                         tmp_path / "missing.png")
    assert code == 1
    assert f"error: cannot read image {tmp_path / 'imgs' / 'broken.png'}" in err
    assert f"error: {tmp_path / 'missing.png'} does not exist" in err
    assert out.count("\n") == 1 and "Traceback" not in err


def test_predict_refuses_a_decompression_bomb_before_decoding_it(digits_run, tmp_path, capsys):
    from PIL import Image
    bomb = tmp_path / "bomb.png"  # a few KB that declare 10,000 × 10,000 pixels
    Image.new("L", (10_000, 10_000)).save(bomb, optimize=True)
    assert bomb.stat().st_size < 200_000
    code, out, err = cli(capsys, "predict", digits_run, bomb)
    assert code == 1 and f"error: refusing image {bomb}" in err and "Traceback" not in err


def test_predict_shows_a_progress_bar_for_a_folder(digits_run, tmp_path):
    from archlang.train.predict import add_predict_parser, run_predict

    val = prepare("digits", (1, 28, 28)).val
    save_pngs(val, tmp_path / "val")
    import argparse

    parser = argparse.ArgumentParser()
    add_predict_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["predict", str(digits_run), str(tmp_path / "val"), "--batch-size", "50"])

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out, err = io.StringIO(), Tty()
    assert run_predict(args, out=out, err=err) == 0
    assert "predict [" in err.getvalue() and "359/359 images" in err.getvalue()
    assert out.getvalue().count("\n") == 359


def test_predict_prepares_folder_images_as_training_did(tmp_path, capsys):
    """RGB photos of mixed sizes into a grey 12×12 network: predict's probabilities equal the model's
    on the tensors training fed it."""
    root = image_folder(tmp_path / "pets", classes=("cat", "dog", "emu"), per_class=4)
    spec = tmp_path / "small.arch"
    spec.write_text("network Small(classes = 3):\n    input(1, 12, 12)\n    -> conv(4, 3) -> relu -> flatten"
                    " -> fc(classes)\n")
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", spec, "--data", f"folder:{root}", "--epochs", "1", "--out", run)
    assert code == 0, err
    predictor = load_predictor(str(run))
    assert predictor.classes == ["cat", "dog", "emu"] and predictor.pil_resize
    prepared = prepare(f"folder:{root}", (1, 12, 12), Normalization(**ckpt.load(run)["normalization"]))
    images = sorted(root.rglob("*.png"))
    expected = predictor.model(torch.cat([prepared.train.adapter((prepared.train.x[i:i + 1], None))[0]
                                          for i in range(len(prepared.train))] +
                                         [prepared.val.adapter((prepared.val.x[i:i + 1], None))[0]
                                          for i in range(len(prepared.val))])).softmax(1)
    got = predictor.probabilities([predictor.load_image(p) for p in images])
    # the same images, in another order: compare the sets of rows
    assert sorted(got.sum(1).tolist()) == pytest.approx([1.0] * len(images))
    key = lambda t: sorted(tuple(round(v, 5) for v in row) for row in t.tolist())  # noqa: E731
    assert key(got) == key(expected.detach())


def test_find_images_searches_folders_and_names_what_is_missing(tmp_path):
    image_folder(tmp_path / "a", per_class=2)
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "fifo.png")
    images, errors = find_images([str(tmp_path / "a"), str(tmp_path / "empty"), str(tmp_path / "nope"),
                                  str(tmp_path / "fifo.png")])
    assert len(images) == 4 and images == sorted(images)
    assert "no images in this folder" in errors[0] and "does not exist" in errors[1]
    assert "is not a regular file" in errors[2]


# ---------------------------------------------------------------- eval RUN_DIR

SMALL_CNN = """\
network SmallCNN(classes = 10):
    input(1, 16, 16)
    -> conv(16, 3, pad = 1) -> relu -> maxpool(2)
    -> conv(32, 3, pad = 1) -> relu -> maxpool(2)
    -> flatten -> fc(64) -> relu
    -> fc(classes)
"""


@pytest.fixture(scope="module")
def five_class_run(tmp_path_factory):
    """A small ReLU CNN with --set classes=5 on the digits 0-4 (an npz), at 12×12 input."""
    base = tmp_path_factory.mktemp("five")
    full = np.load(digits_npz(base / "all.npz"))
    keep = full["y"] < 5
    np.savez(base / "five.npz", x=full["x"][keep], y=full["y"][keep])
    (base / "cnn.arch").write_text(SMALL_CNN)
    run = base / "run"
    assert main(["train", str(base / "cnn.arch"), "--data", f"npz:{base / 'five.npz'}", "--set", "classes=5",
                 "--input", "1x12x12", "--epochs", "3", "--out", str(run)]) == 0
    return run


def test_eval_run_dir_reuses_data_overrides_and_input_shape(five_class_run, capsys):
    code, out, err = cli(capsys, "eval", five_class_run)
    assert code == 0, err
    assert "npz:" in out and "5 classes" in out and "→ 1×12×12" in out
    # a spec file and the run's checkpoint: --set classes=5 and --input 1x12x12 come from config.json
    spec = five_class_run.parent / "cnn.arch"
    code, again, err = cli(capsys, "eval", spec, "--checkpoint", five_class_run)
    assert code == 0, err
    assert again.split("accuracy: ")[1] == out.split("accuracy: ")[1]
    # given again, a value wins: 10 classes do not fit the 5-class data
    code, _, err = cli(capsys, "eval", spec, "--checkpoint", five_class_run, "--set", "classes=10")
    assert code == 1 and "outputs 10 classes" in err


# ---------------------------------------------------------------- --init and --freeze

def test_fine_tuning_five_digit_classes_to_ten(five_class_run, tmp_path, capsys):
    five = ckpt.load(five_class_run)["model"]
    spec = five_class_run.parent / "cnn.arch"
    run, scratch = tmp_path / "ten", tmp_path / "scratch"
    code, out, err = cli(capsys, "train", spec, "--input", "1x12x12", "--init", five_class_run,
                         "--epochs", "2", "--out", run)
    assert code == 0, err
    # every entry but the 5-class head's loaded by name; the head (10 classes now) is fresh
    assert f"init: {five_class_run}: loaded 6 of 8 entries (6 by name, 0 by position)" in out
    assert "initialised (no source entry fits): fc2.weight (10×64), fc2.bias (10)" in out
    assert "skipped from the source: fc2.weight (5×64), fc2.bias (5)" in out
    assert cli(capsys, "train", spec, "--input", "1x12x12", "--epochs", "2", "--out", scratch)[0] == 0
    tuned, fresh = read_metrics(run), read_metrics(scratch)
    # the features it learned carry over: ahead of the same network from scratch after one epoch
    assert tuned[0]["val_acc"] > fresh[0]["val_acc"] and tuned[0]["val_loss"] < fresh[0]["val_loss"]
    assert tuned[-1]["val_acc"] > 0.85  # and it learned the other five classes too
    # the same start with everything but the head frozen: only the head changes
    frozen = tmp_path / "frozen"
    code, out, err = cli(capsys, "train", spec, "--input", "1x12x12", "--init", five_class_run / "best.pt",
                         "--freeze", "*", "--unfreeze", "fc2", "--epochs", "1", "--out", frozen)
    assert code == 0, err
    total = sum(t.numel() for t in five.values()) + 5 * 65
    assert f"frozen: {total - 650:,} of {total:,} parameters" in out
    after = ckpt.load(frozen)["model"]
    for name, tensor in five.items():
        if not name.startswith("fc2"):
            assert torch.equal(after[name], tensor), name
    assert ckpt.load(frozen / "checkpoint.pt")["config"]["freeze"] == ["*"]


def test_init_from_a_torchvision_pth_pairs_by_position_and_reinitialises_the_head(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = archlang.compile(str(ROOT / "specs" / "resnet18.arch"), classes=10)
    fresh_head = model.state_dict()["fc.weight"].clone()
    report = init.load_initial(model, str(path))
    ours, theirs = model.state_dict(), reference.state_dict()
    assert report.initialised == ["fc.weight", "fc.bias"] and report.skipped == ["fc.weight", "fc.bias"]
    assert len(report.by_name) + len(report.by_position) == len(theirs) - 2
    for dst, src in report.by_position:
        assert torch.equal(ours[dst], theirs[src]), (dst, src)
    pairs = dict(report.by_position)
    assert pairs[next(k for k in ours if k.startswith("layer1.") and k.endswith("conv1.weight"))] == \
        "layer1.0.conv1.weight"
    assert torch.equal(ours["fc.weight"], fresh_head)


def test_init_refuses_files_that_are_not_weights(tmp_path):
    from archlang.train import TrainError

    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    torch.save({"epoch": 3}, tmp_path / "meta.pth")
    torch.save({"a.weight": torch.zeros(7, 7)}, tmp_path / "other.pth")
    for name, message in (("junk.pth", "load checkpoint .*junk.pth"), ("meta.pth", "holds no state_dict"),
                          ("other.pth", "no entry of"), ("missing.pth", "does not exist")):
        with pytest.raises(TrainError, match=message):
            init.load_initial(model, str(tmp_path / name))


def test_freeze_names_unknown_scopes():
    from archlang.train import TrainError

    model = archlang.compile(LENET)
    with pytest.raises(TrainError, match="--freeze fc9: no parameter") as info:
        init.freeze(model, ["fc9"])
    assert "did you mean fc1" in info.value.hint or "did you mean fc3" in info.value.hint
    with pytest.raises(TrainError, match="leaves no parameter to train"):
        init.freeze(model, ["*"])
    assert init.freeze(model, ["conv*"]).startswith("frozen: 2,572 of 61,706")


# ---------------------------------------------------------------- initialisation schemes

def _conv_linear_stats(module):
    rows = []
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            rows.append((type(m).__name__, tuple(m.weight.shape), m.weight.std().item(),
                         None if m.bias is None else m.bias.abs().max().item()))
        elif isinstance(m, torch.nn.BatchNorm2d):
            rows.append(("bn", tuple(m.weight.shape), m.weight.std().item(), m.bias.abs().max().item()))
            assert torch.all(m.weight == 1)
    return rows


@pytest.mark.parametrize("name, spec", [("resnet18", "resnet18.arch"), ("vgg11", "vgg11.arch"),
                                        ("densenet121", "densenet121.arch")])
def test_fresh_weights_follow_torchvision_per_layer(name, spec):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None)
    net = archlang.load(str(ROOT / "specs" / spec))
    ours = net.to_torch()
    assert init.apply_scheme(ours, "auto", net.name) == name.rstrip("0123456789")
    a, b = _conv_linear_stats(ours), _conv_linear_stats(reference)
    assert [r[:2] for r in a] == [r[:2] for r in b]
    for (kind, shape, std, bias), (_, _, ref_std, ref_bias) in zip(a, b):
        if kind != "bn":
            assert std == pytest.approx(ref_std, rel=0.1), (kind, shape)
        if ref_bias is not None and ref_bias == 0:
            assert bias == 0, (kind, shape)
    # PyTorch's defaults are far off: the comparison can tell the schemes apart
    default = _conv_linear_stats(net.to_torch())
    assert any(abs(d[2] / r[2] - 1) > 0.3 for d, r in zip(default, b))


def test_the_auto_scheme_goes_by_family_name():
    assert [init.scheme_for(n) for n in ("ResNet50", "resnext50_32x4d", "VGG16", "DenseNet121", "LeNet5")] == \
        ["resnet", "resnet", "vgg", "densenet", "pytorch"]


# ---------------------------------------------------------------- run directory from the CLI

def test_train_refuses_an_existing_run_before_reading_data(digits_run, capsys):
    before = (digits_run / "checkpoint.pt").read_bytes()
    code, out, err = cli(capsys, "train", LENET, "--data", "folder:/nonexistent", "--out", digits_run)
    assert code == 1 and "already holds a run (epoch 2" in err and "--force replaces it" in err
    assert (digits_run / "checkpoint.pt").read_bytes() == before and "data:" not in out


ARCHLANG = [str(Path(sys.executable).with_name("archlang"))]
if not Path(ARCHLANG[0]).is_file():
    ARCHLANG = [sys.executable, "-m", "archlang"]


def _interrupt(argv, ready, logs: Path) -> subprocess.CompletedProcess:
    """Run ``archlang ARGV``, send SIGINT once ``ready(proc, stdout_file)`` holds, collect the output."""
    out, err = logs / "out.txt", logs / "err.txt"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([*ARCHLANG, *map(str, argv)], stdout=o, stderr=e, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for _ in range(60_000):
        if ready(proc, out) or proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())


def _importing_torch(proc, out) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


def _data_read(proc, out) -> bool:
    return "data:" in out.read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="watches the process through /proc")
@pytest.mark.parametrize("command, moment", [("train", "importing"), ("eval", "importing"), ("train", "data read"),
                                             ("train --force", "data read")])
def test_ctrl_c_in_the_first_seconds_prints_one_line(digits_run, tmp_path, command, moment):
    run = tmp_path / "run"
    argv = ["eval", digits_run] if command == "eval" else ["train", LENET, "--out", run, "--epochs", "1"]
    if command == "train --force":
        run = digits_run
        argv = ["train", LENET, "--out", run, "--epochs", "1", "--force"]
    before = {p.name: p.read_bytes() for p in run.iterdir()} if run.exists() else {}
    done = _interrupt(argv, _importing_torch if moment == "importing" else _data_read, tmp_path)
    assert done.returncode == 130, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    if command == "train --force":
        assert lines[0] == f"interrupted before this run saved an epoch; the earlier run in {run} is unchanged"
    elif moment == "data read":
        assert lines[0] == f"interrupted before the first epoch was saved; {run} holds no checkpoint"
    else:
        assert lines[0] == "archlang: interrupted"
    after = {p.name: p.read_bytes() for p in run.iterdir()} if run.exists() else {}
    assert after == before if before else not ckpt.holds_run(run)


# ---------------------------------------------------------------- what the trainer refuses or warns about

@pytest.mark.parametrize("spec, message", [
    ("dcgan_generator.arch", "outputs 3×64×64: an image or a per-pixel map"),
    ("dcgan_discriminator.arch", "outputs a single value"),
])
def test_generators_and_single_outputs_are_refused(spec, message, capsys):
    code, _, err = cli(capsys, "train", ROOT / "specs" / spec, "--data", "folder:/nonexistent")
    assert code == 1 and message in err and "Traceback" not in err


def test_a_segmentation_map_is_refused(tmp_path, capsys):
    spec = tmp_path / "seg.arch"
    spec.write_text("network Seg(classes = 3):\n    input(3, 16, 16)\n    -> conv(8, 3, pad = 1) -> relu"
                    " -> conv(classes, 1)\n")
    code, _, err = cli(capsys, "train", spec, "--data", "digits")
    assert code == 1 and "outputs 3×16×16" in err and "segmentation" in err
    spec.write_text("network Pooled:\n    input(1, 8, 8)\n    -> conv(10, 3) -> gap\n")
    code, _, err = cli(capsys, "train", spec, "--data", "digits")
    assert code == 1 and "outputs 10×1×1" in err and "end the network with a flatten" in err


def test_a_final_softmax_and_a_class_count_get_their_fix(tmp_path, capsys):
    spec = tmp_path / "soft.arch"
    spec.write_text("network Soft(classes = 10):\n    input(1, 8, 8)\n    -> flatten -> fc(classes)"
                    " -> softmax\n")
    code, _, err = cli(capsys, "train", spec, "--epochs", "1", "--out", tmp_path / "run")
    assert code == 0 and "ends in softmax" in err and "remove the final softmax" in err
    # predict takes a softmax's outputs as the probabilities (not the softmax of probabilities)
    predictor = load_predictor(str(tmp_path / "run"))
    assert predictor.output == "probabilities"
    image = torch.randint(0, 256, (1, 1, 8, 8), dtype=torch.uint8)
    with torch.no_grad():
        direct = predictor.model(predictor.adapter((image, None))[0])
    assert torch.allclose(predictor.probabilities([image]), direct)
    three = tmp_path / "three.npz"
    np.savez(three, x=np.zeros((30, 8, 8), np.uint8), y=np.arange(30) % 3)
    code, _, err = cli(capsys, "train", spec, "--data", f"npz:{three}", "--out", tmp_path / "other")
    assert code == 1 and "outputs 10 classes" in err and "hint: add --set classes=3" in err


def test_a_data_path_with_dollar_signs_draws_its_curves(tmp_path, capsys):
    folder = tmp_path / "$x$ and $\\frac{a"
    folder.mkdir()
    data = digits_npz(folder / "d.npz", 200)
    spec = tmp_path / "s.arch"
    spec.write_text("network S:\n    input(1, 8, 8)\n    -> flatten -> fc(10)\n")
    code, _, err = cli(capsys, "train", spec, "--data", f"npz:{data}", "--epochs", "2", "--out", tmp_path / "r")
    assert code == 0, err
    assert (tmp_path / "r" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = cli(capsys, "train", spec, "--data", f"npz:{data}", "--epochs", "2", "--out", tmp_path / "r",
                       "--resume")
    assert code == 0, err


def test_curves_are_plain_text_even_when_rcparams_ask_for_tex(tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    from archlang.train.plot import draw_curves

    monkeypatch.setitem(matplotlib.rcParams, "text.usetex", True)  # and no TeX installed, say
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e, "train_acc": e / 3, "val_acc": e / 4}
               for e in (1, 2, 3)]
    assert draw_curves(history, tmp_path / "c.png", r"Net on npz:/data/$x$/$\frac{a/b.npz")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.rcParams["text.usetex"] is True  # the user's setting is left as it was


def test_train_from_a_torchvision_pth_with_the_backbone_frozen(tmp_path, capsys):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    pth = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), pth)
    data = digits_npz(tmp_path / "d.npz", 120)
    run = tmp_path / "run"
    code, out, err = cli(capsys, "train", ROOT / "specs" / "resnet18.arch", "--set", "classes=10",
                         "--input", "3x32x32", "--data", f"npz:{data}", "--init", pth,
                         "--freeze", "*", "--unfreeze", "fc", "--epochs", "1", "--out", run)
    assert code == 0, err
    entries = len(reference.state_dict())
    # conv1 and bn1 have torchvision's names; the rest pair by position
    assert f"loaded {entries - 2} of {entries} entries (6 by name, {entries - 8} by position)" in out
    assert "initialised (no source entry fits): fc.weight (10×512), fc.bias (10)" in out
    assert "skipped from the source: fc.weight (1000×512), fc.bias (1000)" in out
    trained = ckpt.load(run)["model"]
    theirs = list(reference.state_dict().values())
    for (name, tensor), ref in zip(trained.items(), theirs):
        if not name.startswith("fc.") and not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(tensor, ref), name  # frozen: exactly torchvision's weights
