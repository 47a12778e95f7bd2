"""The TextMate grammar (editors/vscode/syntaxes/arch.tmLanguage.json) and the VS Code
extension folder.

The grammar is run by a real TextMate tokenizer, babi's (Oniguruma regexes, as VS Code's),
over every shipped spec; each token the language's own lexer finds must get the scope its
place in the parse tree calls for: comments, keywords, layer names, numbers, strings,
operators, labels, block and network names, arguments.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archlang.ir.evaluate import BUILTINS
from archlang.layers import lookup
from archlang.syntax.parser import keywords, parse_concrete

highlight = pytest.importorskip("babi.highlight")

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "arch.tmLanguage.json"
SPECS = sorted((ROOT / "specs").glob("*.arch")) + sorted((ROOT / "tests" / "specs").glob("*.arch"))
OPERATORS = {"_ARROW": "keyword.operator.arrow.arch", "QMARK": "keyword.operator.optional.arch",
             "ADD_OP": "keyword.operator.arch", "MUL_OP": "keyword.operator.arch", "COMP_OP": "keyword.operator.arch",
             "POW": "keyword.operator.arch", "EQUAL": "keyword.operator"}
# NAME tokens by the rule they sit in (and their place in it).
NAME_SCOPES = {"labelled": "entity.name.tag.label.arch", "branch_label": "entity.name.tag.label.arch",
               "labelled_first": "entity.name.tag.label.arch", "block_def": "entity.name.function.block.arch",
               "network_def": "entity.name.type.network.arch", "let_stmt": "variable.other.definition.arch",
               "kwarg": "variable.parameter.arch", "in_shape": "variable.other.property.arch",
               "label": "entity.name.tag.label.arch", "func_def": "variable.other.definition.arch"}


def gen():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_grammar", VSCODE / "gen_grammar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_grammar_is_current():
    assert GRAMMAR.read_text(encoding="utf-8") == gen().render(), \
        "the grammar is stale: run `.venv/bin/python editors/vscode/gen_grammar.py`"


@pytest.fixture(scope="module")
def compiler(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grammars")
    shutil.copy(GRAMMAR, folder / "source.arch.json")  # babi finds a grammar by its scope name
    return highlight.Grammars(str(folder)).compiler_for_scope("source.arch")


def scopes_of(compiler, text: str) -> dict[tuple[int, int], tuple[str, ...]]:
    """(line, column) of each region's start (1-based) -> its scopes."""
    state, found = compiler.root_state, {}
    for n, line in enumerate(text.splitlines(keepends=True)):
        state, regions = highlight.highlight_line(compiler, state, line, n == 0)
        for start, end, scope in regions:
            for col in range(start, end):
                found[(n + 1, col + 1)] = scope
    return found


def expected(tok, parent, index, siblings) -> str | None:
    kind = tok.type
    if kind == "NAME":
        rule = str(parent.data)
        if rule == "param":
            return "variable.parameter.arch" if len(siblings) > 1 and siblings[1] is not None else "variable.other.arch"
        if rule == "network_alias":
            return "entity.name.type.network.arch" if index == 1 else "variable.other.arch"
        if rule in NAME_SCOPES:
            return NAME_SCOPES[rule]
        if lookup(str(tok)):
            return "support.function.layer.arch"
        return "support.function.builtin.arch" if str(tok) in BUILTINS and rule == "name" else "variable.other.arch"
    if str(tok).lower() in keywords():
        if NAME_SCOPES.get(str(parent.data)) == "entity.name.tag.label.arch":  # `block: ...`, a keyword as a label
            return "entity.name.tag.label.arch"
        return gen().KEYWORD_SCOPES.get(str(tok).lower(), "keyword.other.arch")
    return {"NUMBER": "constant.numeric.arch", "STRING": "string.quoted"}.get(kind) or OPERATORS.get(kind)


def tokens_with_parents(tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        children = [c for c in node.children]
        for i, child in enumerate(children):
            if child is None:
                continue
            if hasattr(child, "data"):
                stack.append(child)
            elif child.type != "_NL":
                yield child, node, i, children


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_every_token_of_the_specs_gets_its_scope(compiler, path):
    text = path.read_text(encoding="utf-8")
    scopes = scopes_of(compiler, text)
    concrete = parse_concrete(text, str(path))
    checked = 0
    for tok in concrete.comments:
        assert "comment.line.number-sign.arch" in scopes[(tok.line, tok.column)], tok
    for tok, parent, index, siblings in tokens_with_parents(concrete.tree):
        want = expected(tok, parent, index, siblings)
        if want is None:  # punctuation: brackets, commas, colons, dots
            continue
        if tok.type == "NAME" and str(parent.data) == "name" and str(tok) in BUILTINS:
            after = text.splitlines()[tok.line - 1][tok.end_column - 1:].lstrip()
            want = want if after.startswith("(") else "variable.other.arch"
        got = scopes[(tok.line, tok.column)]
        assert any(s.startswith(want) for s in got), f"{path.name}:{tok.line}:{tok.column} `{tok}`: {got}, not {want}"
        checked += 1
    assert checked > 5


def test_keywords_layers_and_builtins_are_all_in_the_grammar(compiler):
    text = "\n".join(f"{word} x" for word in keywords()) + "\n"
    scopes = scopes_of(compiler, text)
    for n, word in enumerate(keywords()):
        assert not any("variable.other.arch" == s for s in scopes[(n + 1, 1)]), word
    from archlang.layers import REGISTRY

    text = " -> ".join(REGISTRY) + "\n" + " -> ".join(name.upper() for name in REGISTRY) + "\n"
    scopes = scopes_of(compiler, text)
    for line in (1, 2):
        col = 1
        for name in REGISTRY:
            assert "support.function.layer.arch" in scopes[(line, col)], name
            col += len(name) + 4


# ---- the VS Code extension folder


def test_the_extension_declares_the_language_grammar_and_server():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (language,) = package["contributes"]["languages"]
    assert language["id"] == "arch" and ".arch" in language["extensions"]
    (grammar,) = package["contributes"]["grammars"]
    assert (grammar["language"], grammar["scopeName"]) == ("arch", json.loads(GRAMMAR.read_text())["scopeName"])
    assert (VSCODE / grammar["path"]).resolve() == GRAMMAR
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    settings = package["contributes"]["configuration"]["properties"]
    assert settings["archlang.command"]["default"] == ["archlang", "lsp"]
    assert {"archlang.settings", "archlang.network", "archlang.input", "archlang.maxLayers",
            "archlang.timeBudget"} <= set(settings)
    main = VSCODE / package["main"]
    assert main.is_file() and "archlang" in main.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_bundled_extension_is_valid_javascript():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    done = subprocess.run(["node", "--check", str(VSCODE / package["main"])], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_python_tokenizer_is_the_tested_one():
    assert sys.modules["babi.highlight"] is highlight
