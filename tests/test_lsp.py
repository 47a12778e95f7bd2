"""`archlang lsp` driven as an editor drives it: the server in a subprocess, a real LSP client
(pygls's) over stdio JSON-RPC. The answers are checked against `archlang summary --json` and
`archlang check` run on the same text: diagnostics, inlay hints (which follow the workspace's
settings), hover, definition and references (across imports), symbols, rename, completion,
formatting; an edit that breaks the spec and one that mends it; a spec over the limits and one
over the time budget, while the server keeps answering.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from archlang.fmt import format_text
from archlang.layers import lookup

try:
    from tests import fuzz
    from tests.lsp_client import Editor, apply
except ImportError:  # pytest put tests/ itself on sys.path
    import fuzz
    from lsp_client import Editor, apply

ROOT = Path(__file__).resolve().parents[1]
RESNET = ROOT / "specs" / "resnet.arch"
SETTINGS = {"settings": {"depth": 18}}


@pytest.fixture(scope="module")
def editor():
    ed = Editor(settings=dict(SETTINGS), cwd=ROOT)
    yield ed
    ed.close()


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlang", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def summary(path: Path, *sets: str) -> dict:
    done = cli("summary", "--json", str(path), *[f"--set={s}" for s in sets])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def at(text: str, needle: str, nth: int = 0, offset: int = 0) -> tuple[int, int]:
    """(line, character), 0-based, of the nth occurrence of `needle` (plus `offset` characters)."""
    index = [m.start() for m in re.finditer(re.escape(needle), text)][nth] + offset
    return text.count("\n", 0, index), index - text.rfind("\n", 0, index) - 1


def si(n: int) -> str:
    return next((f"{n / size:.1f}{unit}" for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)) if n >= size),
                str(n))


def shape(dims) -> str:
    return "×".join(map(str, dims))


def opened(editor: Editor, path: Path, text: str | None = None) -> tuple[str, list]:
    uri = path.resolve().as_uri()
    before = editor.seen(uri)
    editor.open(path, text)
    return uri, editor.diagnostics(uri, before)


@pytest.fixture(scope="module")
def resnet(editor):
    uri, diagnostics = opened(editor, RESNET)
    assert diagnostics == []
    return uri, RESNET.read_text(encoding="utf-8"), summary(RESNET, "depth=18")


# ---- what the analysis says, against `archlang summary --json`


def test_inlay_hints_show_each_lines_shape_and_params(resnet, editor):
    uri, text, ref = resnet
    hints = editor.inlay_hints(uri)
    layers = {layer["name"]: layer for layer in ref["layers"]}
    line, _ = at(text, "-> conv1: conv(")
    mine = [layers[n] for n in ("conv1", "bn1", "relu1")]
    assert hints[line] == f"▸ {shape(mine[-1]['output_shape'])} · {si(sum(x['params'] for x in mine))}"
    for stage in ("layer1", "layer2", "layer3", "layer4"):  # a block call: the call's totals
        inside = [x for x in ref["layers"] if x["name"].startswith(stage + ".")]
        line, _ = at(text, f"-> {stage}: stage(")
        assert hints[line] == (f"▸ {shape(inside[-1]['output_shape'])} · {si(sum(x['params'] for x in inside))}"
                               f" · {len(inside)} layers")
    line, _ = at(text, "network ResNet(")
    assert hints[line] == f"▸ {shape(ref['output_shape'])} · {si(ref['params'])} · {si(ref['macs'])} MACs"
    line, _ = at(text, "    conv(c, k, stride")  # inside a block: one instance per call
    calls = [x for x in ref["layers"] if re.search(r"conv_bn\d+\.bn1$", x["name"])]
    assert hints[line].endswith(f" · ×{len(calls)}")
    assert hints[line].startswith(f"▸ {shape(calls[0]['output_shape'])} … {shape(calls[-1]['output_shape'])}")


def test_hints_follow_the_workspace_settings(resnet, editor):
    uri, text, _ = resnet
    line, _ = at(text, "-> layer3: stage(")
    before = editor.seen(uri)
    editor.configure({"settings": {"depth": 34, "classes": 10, "no_such_parameter": 1}})
    try:
        assert editor.diagnostics(uri, before) == []  # names another network lacks are not its errors
        ref = summary(RESNET, "depth=34", "classes=10")
        inside = [x for x in ref["layers"] if x["name"].startswith("layer3.")]
        assert editor.inlay_hints(uri)[line] == (f"▸ {shape(inside[-1]['output_shape'])} · "
                                                 f"{si(sum(x['params'] for x in inside))} · {len(inside)} layers")
    finally:
        before = editor.seen(uri)
        editor.configure(dict(SETTINGS))
        editor.diagnostics(uri, before)


def test_settings_given_at_initialization():
    ed = Editor(init_options={"archlang": {"settings": {"depth": 101}}}, cwd=ROOT, configuration=False)
    try:
        uri, diagnostics = opened(ed, RESNET)
        assert diagnostics == []
        ref = summary(RESNET, "depth=101")
        line, _ = at(RESNET.read_text(encoding="utf-8"), "network ResNet(")
        assert ed.inlay_hints(uri)[line] == f"▸ {shape(ref['output_shape'])} · {si(ref['params'])} · {si(ref['macs'])} MACs"
    finally:
        ed.close()


def test_hover_on_a_layer(resnet, editor):
    uri, text, ref = resnet
    conv1 = next(x for x in ref["layers"] if x["name"] == "conv1")
    shown = editor.hover(uri, *at(text, "conv(64, 7", offset=1))
    assert f"**conv1** `{conv1['description']}`" in shown
    assert f"input {shape(ref['input_shape'])} → output {shape(conv1['output_shape'])}" in shown
    assert f"params {conv1['params']:,} · MACs {conv1['macs']:,} · receptive field {conv1['receptive_field'][0]}" \
        in shown


def test_hover_on_a_layer_made_many_times(resnet, editor):
    uri, text, ref = resnet
    convs = [x for x in ref["layers"] if re.search(r"conv_bn\d+\.conv1$", x["name"])]
    shown = editor.hover(uri, *at(text, "    conv(c, k", offset=5))
    assert f"made {len(convs)} times" in shown
    assert f"**{convs[0]['name']}** `{convs[0]['description']}`" in shown


def test_hover_on_a_block_call_and_on_the_network(resnet, editor):
    uri, text, ref = resnet
    inside = [x for x in ref["layers"] if x["name"].startswith("layer2.")]
    shown = editor.hover(uri, *at(text, "layer2: stage", offset=9))
    assert "block stage(unit, c, blocks, stride)" in shown
    assert "The first unit of a stage changes the stride" in shown  # the doc comment above the block
    assert f"params {sum(x['params'] for x in inside):,}" in shown and "`stage(basic, 128, 2, 2)`" in shown
    shown = editor.hover(uri, *at(text, "network ResNet", offset=9))
    assert f"params {ref['params']:,}" in shown and f"MACs {ref['macs']:,}" in shown
    assert f"{len(ref['layers']) - 1} layers" in shown


def test_hover_on_names_gives_their_values(resnet, editor):
    uri, text, ref = resnet
    assert "value: `[2, 2, 2, 2]`" in editor.hover(uri, *at(text, "blocks[0]"))
    assert "value: `18`" in editor.hover(uri, *at(text, "depth <"))
    assert "value: `basic`" in editor.hover(uri, *at(text, "unit, 64"))  # a let holding a block
    assert "`stage(basic, 64, 2, 1)`" in editor.hover(uri, *at(text, "unit(c, stride)", offset=6))


# ---- names: definition, references, rename, outline


def test_definition_and_references(resnet, editor):
    uri, text, _ = resnet
    found = editor.definition(uri, *at(text, "stage(unit, 64"))
    assert (found.uri, found.range.start.line) == (uri, at(text, "block stage")[0])
    assert editor.definition(uri, *at(text, "unit, 64")).range.start.line == at(text, "let unit")[0]
    assert editor.definition(uri, *at(text, "stride, dilation) -> relu")).range.start.line == at(text, "block basic")[0]
    refs = editor.references(uri, *at(text, "conv_bn"))
    assert len(refs) == len(re.findall(r"\bconv_bn\b", text))
    assert {r.range.start.line for r in refs} == {i for i, ln in enumerate(text.splitlines()) if "conv_bn" in ln}
    assert len(editor.references(uri, *at(text, "conv_bn"), declaration=False)) == len(refs) - 1


def test_definition_across_imports(editor):
    path = ROOT / "specs" / "resnet18.arch"
    uri, diagnostics = opened(editor, path)
    assert diagnostics == []
    text = path.read_text(encoding="utf-8")
    base, resnet = editor.definition(uri, *at(text, "ResNet(")), RESNET.read_text(encoding="utf-8")
    assert (base.uri, base.range.start.line) == (RESNET.as_uri(), at(resnet, "network ResNet")[0])
    param = editor.definition(uri, *at(text, "depth ="))
    assert (param.uri, param.range.start) == (RESNET.as_uri(), types.Position(*at(resnet, "depth = 50")))
    assert editor.definition(uri, *at(text, '"resnet.arch"', offset=2)).uri == RESNET.as_uri()
    ref = summary(path)
    assert editor.inlay_hints(uri)[1] == f"▸ {shape(ref['output_shape'])} · {si(ref['params'])} · {si(ref['macs'])} MACs"
    assert f"params {ref['params']:,}" in editor.hover(uri, *at(text, "ResNet18"))


def test_document_symbols(resnet, editor):
    uri, text, _ = resnet
    symbols = editor.symbols(uri)
    assert [(s.name, s.kind) for s in symbols] == [
        ("conv_bn", types.SymbolKind.Function), ("basic", types.SymbolKind.Function),
        ("bottleneck", types.SymbolKind.Function), ("stage", types.SymbolKind.Function),
        ("dilated_stage", types.SymbolKind.Function), ("resnet_blocks", types.SymbolKind.Constant),
        ("ResNet", types.SymbolKind.Class), ("resnet_backbone", types.SymbolKind.Function)]
    assert [c.name for c in symbols[-2].children] == ["depth", "classes", "unit", "blocks"]


def test_rename_a_block_and_a_let(resnet, editor, tmp_path):
    uri, text, ref = resnet
    edit = editor.rename(uri, *at(text, "conv_bn(c, 3, stride, dilation)"), "cbr")
    renamed = apply(text, edit.changes[uri])
    assert "conv_bn" not in renamed and renamed.count("cbr") == text.count("conv_bn")
    (tmp_path / "renamed.arch").write_text(renamed)
    after = summary(tmp_path / "renamed.arch", "depth=18")
    assert [x["name"] for x in after["layers"]] == [x["name"].replace("conv_bn", "cbr") for x in ref["layers"]]
    assert (after["params"], after["macs"]) == (ref["params"], ref["macs"])
    edit = editor.rename(uri, *at(text, "blocks[0]"), "counts")
    (tmp_path / "renamed.arch").write_text(apply(text, edit.changes[uri]))
    assert summary(tmp_path / "renamed.arch", "depth=18")["layers"] == ref["layers"]
    assert editor.rename(uri, *at(text, "conv_bn"), "basic") is None  # taken
    assert editor.rename(uri, *at(text, "conv_bn"), "not") is None  # a keyword
    assert editor.rename(uri, *at(text, "conv(c, k"), "convolution") is None  # a layer


# ---- completion and formatting


def test_completion_of_arguments_layers_blocks_and_names(resnet, editor):
    uri, text, _ = resnet
    labels = {c.label: c for c in editor.completion(uri, *at(text, "conv(64, ", offset=9))}
    conv = lookup("conv")
    for name in [*conv.Args.model_fields, *conv.arg_aliases]:
        assert f"{name} =" in labels
    items = {c.label: c for c in editor.completion(uri, *at(text, "-> maxpool", offset=3))}
    for name in ("conv", "maxpool", "bn", "stage", "bottleneck", "unit", "blocks", "depth", "min", "if", "network"):
        assert name in items, name
    for name, field in conv.Args.model_fields.items():  # the layer's signature, from the registry
        assert name in items["conv"].detail
    assert items["stage"].detail.startswith("```arch\nblock stage(unit, c, blocks, stride)")
    assert {c.label for c in editor.completion(uri, *at(text, "in.channels", offset=3))} >= {"channels", "c", "h"}


def test_formatting(editor, tmp_path):
    messy = "network N :\n  input(1,8,8)->conv(4,pad=1) ->\n relu # act\n"
    uri, _ = opened(editor, tmp_path / "messy.arch", messy)
    assert apply(messy, editor.formatting(uri)) == format_text(messy)
    assert editor.formatting(RESNET.as_uri()) == []  # already canonical


# ---- errors as the user types


def test_an_edit_that_breaks_the_spec_and_one_that_mends_it(editor, tmp_path):
    path = tmp_path / "net.arch"
    text = "network N:\n    input(1, 28, 28) -> conv(6, 5) -> relu\n"
    uri, diagnostics = opened(editor, path, text)
    assert diagnostics == []
    line, char = at(text, "conv(6")
    before = editor.seen(uri)
    editor.edit(uri, line, char, char + 4, "cnov")
    (diag,) = editor.diagnostics(uri, before)
    path.write_text(editor.texts[uri])
    expected = cli("check", str(path)).stderr.splitlines()
    assert (diag.code, diag.severity, diag.source) == ("E201", types.DiagnosticSeverity.Error, "archlang")
    assert (diag.range.start, diag.range.end) == (types.Position(line, char), types.Position(line, char + 4))
    assert expected[0].endswith(diag.message.splitlines()[0]) and expected[-1] == diag.message.splitlines()[-1]
    before = editor.seen(uri)
    editor.edit(uri, line, char, char + 4, "conv")
    assert editor.diagnostics(uri, before) == []


def test_an_error_inside_a_block_carries_the_call_trace(editor, tmp_path):
    path = tmp_path / "trace.arch"
    text = "block proj(c) =\n    conv(c) -> fc(10) -> conv(c)\n\nnetwork N:\n    input(3, 8, 8) -> proj(4)\n"
    path.write_text(text)
    uri, (diag,) = opened(editor, path)
    expected = cli("check", str(path)).stderr
    assert f"error[{diag.code}]: {diag.message.splitlines()[0]}" in expected
    assert diag.range.start == types.Position(*at(text, "conv(c)", nth=1))
    (call,) = diag.related_information
    assert (call.location.uri, call.location.range.start) == (uri, types.Position(*at(text, "proj(4)")))
    assert call.message == "call of block `proj`" and "call of block `proj`" in expected


def test_an_error_in_an_imported_file(editor, tmp_path):
    for name in ("resnet.arch", "resnet18.arch"):
        (tmp_path / name).write_text((ROOT / "specs" / name).read_text())
    alias, diagnostics = opened(editor, tmp_path / "resnet18.arch")
    assert diagnostics == []
    family, diagnostics = opened(editor, tmp_path / "resnet.arch")
    assert diagnostics == []
    text = editor.texts[family]
    line, char = at(text, "relu -> conv_bn(c, 3, 1, dilation)", offset=len("relu -> conv_bn(c, 3, 1, dilation"))
    before = editor.seen(alias)
    editor.edit(family, line, char, char, ", 1")  # an unsaved edit of the imported file: too many arguments
    (diag,) = editor.diagnostics(alias, before)
    assert diag.code == "E303" and diag.range.start.line == 0  # shown at the import
    assert diag.related_information[0].location.uri == family
    assert diag.related_information[0].location.range.start.line == line


def test_a_spec_over_the_limits_is_an_error_and_the_server_keeps_answering(editor, tmp_path):
    path = tmp_path / "big.arch"
    path.write_text("network Big:\n    input(1, 8, 8) -> [[relu] * 1000] * 1000\n")
    uri = path.resolve().as_uri()
    before = editor.seen(uri)
    editor.open(path)
    assert "relu" in {c.label for c in editor.completion(uri, 1, 24)}  # answered while the analysis runs
    (diag,) = editor.diagnostics(uri, before)
    expected = cli("check", str(path)).stderr
    assert diag.code == "E601" and f"error[E601]: {diag.message.splitlines()[0]}" in expected
    relu = lookup("relu")  # no network was made: the registry's word on the layer
    assert editor.hover(uri, 1, 24) == f"```arch\n{relu.name}\n```\n{relu.doc}"
    before = editor.seen(uri)
    editor.change(uri, "network Big:\n    input(1, 8, 8) -> [[relu] * 10] * 10\n")
    assert editor.diagnostics(uri, before) == []


def test_an_analysis_over_the_time_budget_stops(editor, tmp_path):
    path = tmp_path / "slow.arch"
    path.write_text("network Slow:\n    input(1, 8, 8) -> [relu] * 99000\n")  # within the layer limit
    uri = path.resolve().as_uri()
    editor.configure({**SETTINGS, "timeBudget": 0.2})
    try:
        before = editor.seen(uri)
        editor.open(path)
        (diag,) = editor.diagnostics(uri, before)
        assert diag.code == "E921" and "archlang.timeBudget" in diag.message
        assert editor.completion(uri, 1, 24)  # still answering
    finally:
        editor.configure(dict(SETTINGS))


# ---- every request on fuzzed specs: an answer or nothing, never an exception


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(rnd=st.randoms(use_true_random=False), mutated=st.booleans())
def test_requests_on_fuzzed_specs(tmp_path_factory, rnd, mutated):
    from archlang.lsp import navigate
    from archlang.lsp.analysis import Settings, Sources, analyse
    from archlang.lsp.complete import complete
    from archlang.lsp.hover import hover_at

    text = fuzz.generate(rnd)
    if mutated:
        text = fuzz.mutate(text, rnd).decode("utf-8", "replace")
    path = tmp_path_factory.mktemp("fuzz") / "case.arch"
    a = analyse(path, text, Settings(), Sources())
    assert a.crash is None, a.crash
    if a.error is not None:
        from archlang.lsp.server import diagnostics

        assert diagnostics(a)[0].code == a.error.code
    lines = text.splitlines()
    navigate.symbols(a)
    navigate.inlay_hints(a, 1, len(lines) + 1)
    for n, line in enumerate(lines[:40], start=1):
        for column in sorted({1, len(line) // 3 + 1, len(line) // 2 + 1, len(line) + 1}):
            if a.index is not None:
                hover_at(a, n, column)
                navigate.definition(a, n, column)
                navigate.references(a, n, column, True)
                navigate.rename(a, n, column, "renamed")
            offset = sum(len(x) + 1 for x in lines[:n - 1]) + column - 1
            assert complete(a if a.program else None, text[:offset])


@pytest.mark.parametrize("index", range(300))
def test_parsing_by_definition_is_parsing_the_whole(index):
    """The server parses a file definition by definition (an edit re-parses one): the same
    definitions as one parse of the whole text, or the same error."""
    from archlang.errors import ArchError
    from archlang.lsp.analysis import Sources
    from archlang.syntax.parser import parse

    specs = sorted((ROOT / "specs").glob("*.arch")) + sorted((ROOT / "tests" / "specs").glob("*.arch"))
    if index < len(specs):
        text = specs[index].read_text(encoding="utf-8")
    else:
        _, source, _, _ = fuzz.make_case(11, index)
        text = source if isinstance(source, str) else source.decode("utf-8", "replace")
        text = text.removeprefix("\ufeff")
    try:
        whole = parse(text, "a.arch")
    except ArchError as e:
        with pytest.raises(ArchError) as again:
            Sources().parse(text, "a.arch")
        assert (again.value.code, again.value.span) == (e.code, e.span)
        return
    assert Sources().parse(text, "a.arch").items == whole.items
