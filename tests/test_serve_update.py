"""The playground's answers, checked against the rest of archlang: the folded
table against `archlang summary --json` and the diagram's own folds, the
controls against `--set`, the error marks against the compiler's spans, the
diff against two real versions, the vocabulary against the grammar and the
layer registry. Every spec of the zoo and of tests/specs takes part.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import archlang
from archlang.backends.diagram.view import build_view
from archlang.backends.diagram.options import ViewOptions
from archlang.errors import CODES
from archlang.ir.build import coerce
from archlang.layers import REGISTRY
from archlang.serve.controls import controls, literal, setting_text
from archlang.serve.digest import diff, digest
from archlang.serve.dotproc import DotProcess
from archlang.serve.protocol import Update
from archlang.serve.table import table_rows
from archlang.serve.update import Session, update
from archlang.serve.vocab import vocabulary

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.arch")) + sorted((ROOT / "tests" / "specs").glob("*.arch"))
IDS = [p.stem for p in SPECS]


@pytest.fixture(scope="module")
def session():
    s = Session(DotProcess())
    yield s
    s.dot.close()


def leaves(rows):
    for row in rows:
        if "children" in row:
            yield from leaves(row["children"])
        else:
            yield row


def ask(session, text, base=ROOT / "specs", **fields) -> dict:
    req = Update.model_validate_json(json.dumps({"text": text, **fields}))
    return json.loads(json.dumps(update(session, req, "net.arch", str(base), 100_000)))


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_the_table_holds_every_layer_once_in_order_with_the_summary_figures(spec):
    net = archlang.load(spec)
    rows = table_rows(net)
    summary = net.to_dict()["layers"]
    layers = list(leaves(rows))
    assert [r["path"] or r["name"] for r in layers] == [s["name"] for s in summary]
    assert [r["shape"] for r in layers] == [s["output_shape"] for s in summary]
    assert [(r["params"], r["macs"], r["rf"]) for r in layers] == \
        [(s["params"], s["macs"], s["receptive_field"]) for s in summary]
    assert sum(r["params"] for r in rows) == net.params and sum(r["macs"] for r in rows) == net.macs
    assert rows[-1]["shape"] == list(net.output_shape)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_the_top_rows_are_the_overview_boxes(spec):
    net = archlang.load(spec)
    top = [b for b in build_view(net, ViewOptions()).boxes if b.cluster is None and b.kind != "output"]
    rows = table_rows(net)
    opened = [r for r in rows if r["path"] not in {b.path for b in top}]
    # Every overview box is a top row; a top row that is not a box is one the overview opened.
    assert {b.path for b in top} <= {r["path"] for r in rows}
    clusters = {c.path for c in build_view(net, ViewOptions()).clusters}
    assert {r["path"] for r in opened} <= clusters
    folds = {b.path: b.count for b in top if b.kind == "fold"}
    assert folds == {r["path"]: r["count"] for r in rows if r["kind"] == "fold"}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_control_reads_back_as_its_value_through_set(spec):
    net = archlang.load(spec)
    shown = controls(net.program, net.name, net.settings, net.switches)
    assert shown["network"] == net.name and net.name in shown["networks"]
    for item in shown["params"]:
        if not item["editable"]:
            continue
        value = net.settings.get(item["name"], net.switches.get(item["name"], True))
        assert coerce(item["name"], item["value"], value, None, text=True) == value
        again = archlang.load(spec, overrides={item["name"]: item["value"]})
        assert again.params == net.params


def test_setting_texts_read_back_through_set():
    for value in (0, -3, 2.5, 1e-05, True, False, "same", 'say "hi"', [1, [2, 3]], ["a", 'b"'],
                  {11: [1, 1], 13: [2, 2]}):
        assert coerce("x", setting_text(value), value, None, text=True) == value
    assert literal(["both ' and \""]) is None and setting_text("two\nlines") is None


def test_an_update_answers_what_the_page_shows(session):
    text = (ROOT / "specs" / "resnet50.arch").read_text()
    here = os.getcwd()
    answer = ask(session, text)
    assert os.getcwd() == here  # imports resolved from the document's folder, and the process stays where it was
    net = archlang.load(ROOT / "specs" / "resnet50.arch")
    assert answer["ok"] and answer["totals"]["params"] == net.params == 25_557_032
    assert answer["totals"]["output"] == [1000]
    assert answer["diagram"]["svg"].startswith("<svg") and answer["diagram"]["svg"].rstrip().endswith("</svg>")
    assert {"layer1", "layer2", "layer3", "layer4"} <= set(answer["diagram"]["expandable"])
    assert 'id="p:layer3"' in answer["diagram"]["svg"]
    assert [c["name"] for c in answer["controls"]["params"]] == ["depth", "classes"]
    assert answer["controls"]["networks"] == ["ResNet50", "ResNet"]
    assert set(answer["timings"]) >= {"check", "table", "view", "layout", "total"}
    assert answer["diff"] == []  # nothing to compare with yet


def test_the_diff_names_what_an_edit_changed(session):
    text = (ROOT / "specs" / "resnet.arch").read_text()
    before = ask(session, text)
    strided = text.replace("layer3: stage(unit, 256, blocks[2], 2)", "layer3: stage(unit, 256, blocks[2], 4)")
    after = ask(session, strided, baseline=before["digest"])
    changes = {c["what"]: (c["old"], c["new"]) for c in after["diff"]}
    assert changes["layer3 output"] == ("1024×14×14", "1024×7×7")
    assert changes["layer4 output"] == ("2048×7×7", "2048×4×4")
    assert "params" not in changes  # a stride adds no weights
    macs = archlang.load(ROOT / "specs" / "resnet50.arch").macs
    assert changes["MACs"][0] == f"{macs / 1e9:.3g} G"
    assert diff(after["digest"], after["digest"]) == []


def test_view_clicks_reuse_the_loaded_network_and_drop_paths_an_edit_removed(session):
    text = (ROOT / "specs" / "resnet50.arch").read_text()
    opened = ask(session, text, expand=["layer3", "layer9"])
    assert opened["diagram"]["expand"] == ["layer3"] and "layer3" in opened["diagram"]["clusters"]
    assert opened["timings"]["check"] < opened["timings"]["total"]
    every = ask(session, text, view="layers")
    assert every["diagram"]["expandable"] == [] and len(every["diagram"]["clusters"]) > 10


@pytest.mark.parametrize("text,code,marked", [
    ("network N:\n    input(1, 28, 28) -> cnov(6)\n", "E201", "cnov"),
    ("# é ü — a comment with wide characters 🙂\nnetwork N:\n    input(1, 28, 28) -> cnov(6)\n", "E201", "cnov"),
    ("network N:\n    input(1, 28, 28) -> conv(6, 5 -> relu\n", "E103", ""),
    ("block b(c) = conv(c) -> fc(-1)\nnetwork N:\n    input(1, 8, 8) -> b(4)\n", "E301", "fc"),
])
def test_an_error_is_marked_where_the_compiler_points_in_utf16_offsets(session, text, code, marked):
    answer = ask(session, text)
    error = answer["error"]
    assert not answer["ok"] and error["code"] == code and error["title"] == CODES[code][0]
    assert error["text"].startswith("net.arch:")  # the document's name, not <string>
    units = text.encode("utf-16-le")
    shown = units[2 * error["mark"]["from"]:2 * error["mark"]["to"]].decode("utf-16-le")
    assert shown.startswith(marked)


def test_an_error_in_an_imported_file_is_marked_at_the_import(session):
    answer = ask(session, 'import "resnet.arch"\nnetwork R = ResNet(depth = 17)\n')
    assert answer["error"]["code"] == "E307" and answer["error"]["mark_at"] == "import"
    assert answer["error"]["where"].startswith("resnet.arch:")
    assert answer["controls"]["network"] == "R"  # the controls stay usable


def test_an_error_inside_an_imported_block_is_marked_at_the_call(session, tmp_path):
    (tmp_path / "lib.arch").write_text("block head(n) =\n    flatten -> fc(n) -> fc(-n)\n")
    text = 'import "lib.arch"\nnetwork N:\n    input(1, 8, 8) -> head(10)\n'
    error = ask(session, text, base=tmp_path)["error"]
    assert error["code"] == "E301" and error["where"].startswith("lib.arch:2:") and error["mark_at"] == "call"
    assert text[error["mark"]["from"]:error["mark"]["to"]].startswith("head")


def test_settings_the_text_no_longer_has_are_dropped_and_bad_ones_reported(session):
    text = "network N(width = 8):\n    input(3, 8, 8) -> conv(width)\n"
    assert ask(session, text, settings={"gone": "3", "width": "4"}, network="Gone")["totals"]["params"] == 3 * 9 * 4 + 4
    bad = ask(session, text, settings={"width": "wide"})
    assert bad["error"]["code"] == "E309" and "width" in bad["error"]["message"]
    assert ask(session, text, input="3x16x16")["totals"]["input"] == [3, 16, 16]


def test_the_vocabulary_is_the_grammars_and_the_registrys():
    words = vocabulary()
    grammar = (ROOT / "grammars" / "arch.lark").read_text()
    for keyword in words["keywords"] + words["constants"]:
        assert f'"{keyword}"' in grammar
    assert {"network", "block", "import", "let", "as", "in"} <= set(words["keywords"])
    assert set(words["layers"]) == set(REGISTRY)
    for name, layer in words["layers"].items():
        assert layer["signature"].startswith(REGISTRY[name].name)


def test_digest_rows_do_not_depend_on_what_the_picture_opened(session):
    net = archlang.load(ROOT / "specs" / "vgg16.arch")
    rows = table_rows(net)
    shown = digest(net, rows)["rows"]
    assert "features" in shown and "classifier" in shown
    assert any(key.startswith("features.") for key in shown)  # a labelled group's rows count too
