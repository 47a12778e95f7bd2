"""Generated source cannot be injected: hostile file names, string values and names in every
place that reaches `archlang compile`'s output leave a module that parses to the expected
statements only, imports, and builds the same network as `archlang.compile`.

Names Python cannot use for a module attribute are refused by `check` (E703), before any
backend runs."""

from __future__ import annotations

import ast
import os

import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import archlang  # noqa: E402
from archlang.backends.pysource import python_source  # noqa: E402
from archlang.errors import ArchError  # noqa: E402
from archlang.ir.pynames import MODULE_ATTRIBUTES, unusable  # noqa: E402
from archlang.syntax.parser import HOSTILE as CONTROL_CHARS  # noqa: E402

# Characters that end comments, docstrings and strings, or drive terminals and editors.
NASTY = st.sampled_from(['"""', "'''", '"', "'", "\\", "\n", "\r", "\r\n", "\x1b]0;x\x07", "\x00", "\u2028",
                         "\u2029", "\x85", "\x0c", "#", "import os; os.system('echo PWNED')", "é", "\t"])
HOSTILE = st.lists(st.one_of(NASTY, st.text(max_size=4)), max_size=8).map("".join)
SPECIAL_NAMES = ["self", "super", "torch", "nn", "x", "main", "skip", "print", "getattr", "model", "__x", "__init__x", "_x", "__",
                 "__class__", "forward", "training", "graph", "code", "class", "None", "lambda", "match", "type"]
NAMES = st.one_of(st.sampled_from(SPECIAL_NAMES), st.from_regex(r"\A_{0,3}[A-Za-z][A-Za-z0-9_]{0,5}\Z"))

SPEC = """
block unit(tag, c) = conv(c, 1) -> relu
network {net}(tag = "t"):
    input(3, 8, 8)
    -> {a}: unit(tag, 4)
    -> add({b}: conv(4) -> relu, {c}: identity)
    -> {d}: [conv(4, 1) -> bn]
"""


def statements_are_only_the_module(source: str, class_name: str) -> None:
    """The docstring, the two imports, the classes of the scopes (a base with __init__, the
    others a forward each), the network's class with __init__ and forward, the __main__ guard."""
    tree = ast.parse(source)
    kinds = [type(node).__name__ for node in tree.body]
    assert kinds[:3] == ["Expr", "Import", "ImportFrom"] and kinds[-1] == "If", kinds
    assert set(kinds[3:-1]) == {"ClassDef"}, kinds
    assert isinstance(tree.body[0].value, ast.Constant) and isinstance(tree.body[0].value.value, str)
    *scopes, cls = tree.body[3:-1]
    assert cls.name == class_name
    assert [type(n).__name__ for n in cls.body] == ["FunctionDef", "FunctionDef"]
    assert [n.name for n in cls.body] == ["__init__", "forward"]
    if scopes:
        base, *kinds_of_scope = scopes
        assert [n.name for n in base.body if isinstance(n, ast.FunctionDef)] == \
               ["__init__", "__getitem__", "__len__", "__iter__"]
        for scope in kinds_of_scope:
            assert [b.id for b in scope.bases] == [base.name]
            assert [getattr(n, "name", None) or ast.unparse(n) for n in scope.body] in \
                   (["forward"], ["_scope_chain = True", "forward"])


def same_as_compiled(net, source: str) -> None:
    namespace: dict = {"__name__": "generated"}
    exec(compile(source, "generated.py", "exec"), namespace)
    class_name = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)][-1]
    generated, model = namespace[class_name](), net.to_torch()
    assert [(k, v.shape) for k, v in generated.state_dict().items()] == \
           [(k, v.shape) for k, v in model.state_dict().items()]
    archlang.transfer_weights(model, generated)
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), model.eval()(x))
    statements_are_only_the_module(source, class_name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag=HOSTILE, file=HOSTILE)
def test_hostile_strings_and_file_names(tmp_path, tag, file):
    name = file.replace("/", "_").replace("\x00", "_")[:100]
    path = tmp_path / f"{name}.arch"
    try:
        path.write_text(SPEC.format(net="Net", a="a", b="b", c="c", d="d"), encoding="utf-8")
    except (OSError, UnicodeEncodeError):  # a name this file system refuses is not an attack on us
        return
    if CONTROL_CHARS.search(tag):  # strings hold printable text only: refused before they reach any output
        with pytest.raises(ArchError) as refused:
            archlang.load(path, tag=tag)
        assert refused.value.code == "E309" and "control character" in refused.value.message
        tag = CONTROL_CHARS.sub("", tag)
    net = archlang.load(path, tag=tag)
    same_as_compiled(net, python_source(net))
    os.unlink(path)


@settings(max_examples=80, deadline=None)
@given(names=st.lists(NAMES, min_size=5, max_size=5, unique=True))
def test_hostile_names_work_or_are_refused_by_check(names):
    net_name, a, b, c, d = names
    text = SPEC.format(net=net_name, a=a, b=b, c=c, d=d)
    try:
        net = archlang.load(text)
    except ArchError as e:
        # (`c` labels an identity branch: no module, so no name to refuse)
        refused = [n for n in (a, b, d) if unusable(n)]
        assert e.code in ("E703", "E101", "E207", "E105"), e.format()  # E101: an archlang keyword as a name
        if e.code == "E703":
            assert any(f"`{n}`" in e.message for n in refused), e.message
        return
    assert not any(unusable(n) for n in (a, b, d))
    same_as_compiled(net, python_source(net))


def test_every_module_attribute_of_this_torch_is_refused():
    # The list is written out so that `check` needs no torch; it must cover the installed torch.
    from torch import fx, nn

    have = set(dir(nn.Module())) | set(dir(fx.GraphModule(nn.Module(), fx.Graph())))
    have = {name for name in have if not name.startswith("__")}  # refused as a class of names
    assert have <= MODULE_ATTRIBUTES, sorted(have - MODULE_ATTRIBUTES)


@pytest.mark.parametrize("name", ["forward", "training", "graph", "state_dict", "class", "None"])
def test_check_refuses_a_label_pytorch_cannot_use(name):
    with pytest.raises(ArchError) as info:
        archlang.load(f"network N:\n    input(3, 8, 8) -> {name}: conv(4) -> relu\n")
    assert info.value.code == "E703" and info.value.span.line == 2
    assert f"choose another label, like `{name}_`" in info.value.format()


def test_names_python_and_torch_keep_for_themselves_are_refused():
    for name in ("__hidden", "__init__", "___needs_generation_tag_patch"):
        with pytest.raises(ArchError, match="names starting with `__`"):
            archlang.load(f"network N:\n    input(3, 8, 8) -> {name}: conv(4) -> relu\n")
