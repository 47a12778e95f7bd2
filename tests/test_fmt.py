"""`archlang fmt`: the shipped specs and the docs' spec snippets are in canonical form; the
layout rules on small cases; formatting keeps every token and comment, never changes what a
spec means (fuzzed specs: same elaborated graph, params and names) and is idempotent; text
inside a rule the formatter does not know is kept as written; the command's modes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlang.cli import main
from archlang.errors import ArchError
from archlang.fmt import format_text, token_stream, tokens
from archlang.ir.loader import load_program
from archlang.network import build_network

try:
    from tests import fuzz
except ImportError:  # pytest put tests/ itself on sys.path
    import fuzz

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.arch"))
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))


def doc_snippets():
    """The fenced blocks of the docs that are specs (a plain fence whose first line that is not a
    comment starts a definition); `text` fences hold outlines, not specs."""
    for doc in ("docs/language.md", "README.md"):
        lines = (ROOT / doc).read_text(encoding="utf-8").splitlines(keepends=True)
        i = 0
        while i < len(lines):
            fence = re.match(r"( *)```(\w*)\s*$", lines[i])
            if fence:
                end = next(j for j in range(i + 1, len(lines)) if re.match(r" *```\s*$", lines[j]))
                block = "".join(line[len(fence.group(1)):] for line in lines[i + 1:end])
                first = next((ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")), "")
                if not fence.group(2) and first.split(" ")[0] in ("network", "block", "import"):
                    yield pytest.param(block, id=f"{doc}:{i + 1}")
                i = end
            i += 1


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_specs_are_canonical(path):
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text


@pytest.mark.parametrize("block", list(doc_snippets()))
def test_doc_snippets_are_canonical(block):
    assert format_text(block) == block


def test_docs_have_spec_snippets():
    assert len(list(doc_snippets())) >= 8


def test_fmt_check_of_specs_passes(capsys):
    assert main(["fmt", "--check", str(ROOT / "specs")]) == 0
    assert f"0 files would be reformatted, {len(SPECS)} files left unchanged" in capsys.readouterr().err


# ---- the layout rules, case by case: (written, canonical)

CASES = {
    "spacing": ("network N :\n  input( 1,8,8 )->conv(4,pad=1,stride = [1,1])\n",
                "network N:\n    input(1, 8, 8) -> conv(4, pad = 1, stride = [1, 1])\n"),
    "arrow at the end of a line moves to the next": (
        "network N:\n    input(1, 8, 8) ->\n        conv(4) ->\n  relu\n",
        "network N:\n    input(1, 8, 8)\n    -> conv(4)\n    -> relu\n"),
    "an arrow line lines up with its chain's first element": (
        "block b(c) =\n  add(\n   main: conv(c)\n   -> bn,\n  skip: identity\n  ) -> relu\n",
        "block b(c) =\n    add(\n        main: conv(c)\n              -> bn,\n        skip: identity\n    ) -> relu\n"),
    "visual indent after an open bracket": (
        "network N(a = 1,\n   b = 2):\n    input(1, 8, 8) -> concat(identity,\n  relu)\n",
        "network N(a = 1,\n          b = 2):\n    input(1, 8, 8) -> concat(identity,\n"
        "                             relu)\n"),
    "operators, signs, switches and conditions": (
        "network N(k=3):\n  let x=-k*2+ (k**2)//4\n  input(1,8,8)->POOL ?->relu?k>1 and not false->[relu]*2 as i\n",
        "network N(k = 3):\n    let x = -k * 2 + (k ** 2) // 4\n"
        "    input(1, 8, 8) -> POOL? -> relu ? k > 1 and not false -> [relu] * 2 as i\n"),
    "in, index, dict, strings": (
        "network N:\n let d={1 :[ 2 ] , 'a':\"s\"}\n input(1,8,8)->conv(in . c*d [1][0])\n",
        "network N:\n    let d = {1: [2], 'a': \"s\"}\n    input(1, 8, 8) -> conv(in.c * d[1][0])\n"),
    "comments: kept, own lines indented as the code, two spaces before a trailing one": (
        "# head\n\n\n\nnetwork N:   # trailing\n# before the chain\n  input(1, 8, 8)\n      # before an arrow\n"
        "  -> relu    # end\n   # the last\n",
        "# head\n\nnetwork N:  # trailing\n    # before the chain\n    input(1, 8, 8)\n    # before an arrow\n"
        "    -> relu  # end\n    # the last\n"),
    "a comment inside brackets before the closing one": (
        "network N:\n    input(1, 8, 8) -> add(\n  relu,\n # last branch\n  identity\n )\n",
        "network N:\n    input(1, 8, 8) -> add(\n        relu,\n        # last branch\n        identity\n    )\n"),
    "blank lines: at most one, none at the ends": (
        "\n\nimport \"a.arch\"\nblock b() = relu\n\n\n\nnetwork N:\n\n\n    input(1)\n\n\n",
        "import \"a.arch\"\nblock b() = relu\n\nnetwork N:\n\n    input(1)\n"),
    "a let's value that goes on lines up with its start": (
        "block b(s) =\n    let m = relu if s else\n  bn\n    m\n",
        "block b(s) =\n    let m = relu if s else\n            bn\n    m\n"),
    "an alias and a block body on the next line": (
        "network A =\n B(depth=1)\nblock c(x)=\nconv(x)\n",
        "network A =\n    B(depth = 1)\nblock c(x) =\n    conv(x)\n"),
    "functions, comprehensions, slices, input attributes, keyword labels": (
        "let div(v,d=8)=max(d,int(v+d//2)//d*d)\nnetwork N(ws=[8,16]):\n let xs=[div(w*1.5) for w in ws if w>0]\n"
        "  input(1,8,8)->block:conv(xs[ : 1][0]+input . channels)->(a:relu) if xs[::2] == [16] else (b:bn)\n",
        "let div(v, d = 8) = max(d, int(v + d // 2) // d * d)\nnetwork N(ws = [8, 16]):\n"
        "    let xs = [div(w * 1.5) for w in ws if w > 0]\n"
        "    input(1, 8, 8) -> block: conv(xs[:1][0] + input.channels) -> (a: relu) if xs[::2] == [16] else (b: bn)\n"),
    "a backslash continuation is kept": ("network N:\n  input(1, 8, 8) \\\n -> relu\n",
                                          "network N:\n    input(1, 8, 8) \\\n    -> relu\n"),
    "tabs and a byte-order mark": ("\ufeffnetwork N:\n\tinput(1,\t8, 8)\t->\trelu\n",
                                   "\ufeffnetwork N:\n    input(1, 8, 8) -> relu\n"),
    "CRLF line endings stay": ("network N:\r\n  input(1, 8, 8)\r\n  -> relu\r\n",
                               "network N:\r\n    input(1, 8, 8)\r\n    -> relu\r\n"),
}


@pytest.mark.parametrize("written,canonical", CASES.values(), ids=list(CASES))
def test_layout(written, canonical):
    assert format_text(written) == canonical
    assert format_text(canonical) == canonical


def test_long_chains_break_before_arrows_where_they_fit():
    body = " -> ".join(f"conv({8 + i}, 3, stride = 1)" for i in range(12))
    out = format_text(f"network N:\n    input(1, 64, 64) -> {body}\n", line_length=80)
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert [line.split("->")[0] for line in lines[2:]] == ["    "] * (len(lines) - 2)  # arrows lead
    # Each line is filled: the next element would not have fitted on it.
    for line, after in zip(lines[1:], lines[2:]):
        assert len(line) + len(after.split(" -> ")[1]) + 4 > 80
    assert format_text(out, line_length=80) == out


def test_a_nested_chain_breaks_at_its_own_column():
    spec = ("block b(c) =\n    add(main: " + " -> ".join(["conv(c, 3, stride = 1, pad = 1)"] * 5) +
            ", skip: identity)\n")
    out = format_text(spec, line_length=100)
    assert out == ("block b(c) =\n    add(main: conv(c, 3, stride = 1, pad = 1) -> conv(c, 3, stride = 1, pad = 1)\n"
                   "              -> conv(c, 3, stride = 1, pad = 1) -> conv(c, 3, stride = 1, pad = 1)\n"
                   "              -> conv(c, 3, stride = 1, pad = 1), skip: identity)\n")


def test_an_element_longer_than_the_line_stays_whole():
    spec = "network N:\n    input(1, 8, 8) -> conv(" + ", ".join(["1"] * 60) + ") -> relu\n"
    out = format_text(spec, line_length=60)
    assert out == spec.replace(" -> conv", "\n    -> conv").replace(" -> relu", "\n    -> relu")


def test_a_rule_the_formatter_does_not_know_is_kept_as_written(monkeypatch):
    monkeypatch.setattr(tokens, "KNOWN_RULES", tokens.KNOWN_RULES - {"dict"})
    spec = "network N:\n  let d = {1:  [ 2 ],\n      3 :4}\n  input(1 , 8,8)\n"
    assert format_text(spec) == "network N:\n    let d = {1:  [ 2 ],\n      3 :4}\n    input(1, 8, 8)\n"


def test_a_change_of_tokens_is_refused(monkeypatch):
    import archlang.fmt as fmt

    monkeypatch.setattr(fmt, "layout", lambda toks, gaps, n: "network N:\n    input(1, 8, 8) -> relu\n")
    with pytest.raises(ArchError) as err:
        format_text("network N:\n    input(1, 8, 8)\n")
    assert err.value.code == "E920"


def test_a_syntax_error_is_reported_not_formatted():
    with pytest.raises(ArchError) as err:
        format_text("network N:\n    input(1, 8, 8) -> -> relu\n", "bad.arch")
    assert (err.value.code, err.value.span.line, err.value.span.column) == ("E101", 2, 23)


# ---- formatting never changes what a spec means


def load_text(text: str):
    return build_network(load_program(text, "<string>"))


def same_meaning(text: str) -> None:
    try:
        out = format_text(text)
    except ArchError as e:  # not even a parse: formatting refuses, as parsing does
        assert e.code != "E920", e.format()
        with pytest.raises(ArchError):
            load_text(text)
        return
    assert format_text(out) == out, "not idempotent"
    plain = [t.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff") for t in (text, out)]
    assert token_stream(plain[1]) == token_stream(plain[0])  # every token and comment, in order
    try:
        before = load_text(text).to_dict()
    except ArchError as e:
        with pytest.raises(ArchError) as again:
            load_text(out)
        assert (again.value.code, again.value.message) == (e.code, e.message)
        return
    assert load_text(out).to_dict() == before  # the same layers, names, shapes, params, edges


@FUZZ
@given(rnd=st.randoms(use_true_random=False))
def test_formatting_generated_specs_keeps_their_meaning(rnd):
    same_meaning(fuzz.generate(rnd))


@settings(FUZZ, max_examples=100)
@given(rnd=st.randoms(use_true_random=False))
def test_formatting_plausible_specs_keeps_their_meaning(rnd):
    same_meaning(fuzz.SpecGen(rnd, evil=0.0).module())  # no odd values: more of them elaborate


@pytest.mark.parametrize("index", range(150))
def test_formatting_fuzz_cases_keeps_their_meaning(index):
    kind, source, _, _ = fuzz.make_case(7, index)  # generated and mutated specs
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            return
    if "import" not in source:  # (imports are relative to a file; the fuzz sandbox holds them)
        same_meaning(source)


# ---- the command


def test_fmt_rewrites_checks_and_diffs(tmp_path, capsys):
    messy, clean = tmp_path / "messy.arch", tmp_path / "clean.arch"
    messy.write_text("network N:\n  input(1,8,8)->relu\n")
    clean.write_text("network N:\n    input(1, 8, 8) -> relu\n")
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    assert f"would reformat {messy}" in capsys.readouterr().err
    assert main(["fmt", "--diff", str(messy)]) == 0
    out = capsys.readouterr().out
    assert "-  input(1,8,8)->relu\n+    input(1, 8, 8) -> relu\n" in out
    assert messy.read_text() == "network N:\n  input(1,8,8)->relu\n"  # --check and --diff write nothing
    assert main(["fmt", str(tmp_path)]) == 0
    assert messy.read_text() == clean.read_text()
    assert "1 file reformatted, 1 file left unchanged" in capsys.readouterr().err


def test_fmt_reports_a_broken_file_and_goes_on(tmp_path, capsys):
    (tmp_path / "a.arch").write_text("network N:\n    input(1, 8, 8) -> -> relu\n")
    (tmp_path / "b.arch").write_text("network N:\n  input(1, 8, 8)\n")
    assert main(["fmt", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "a.arch:2:23: error[E101]: unexpected `->`" in err and "    2 |     input(1, 8, 8) -> -> relu" in err
    assert (tmp_path / "b.arch").read_text() == "network N:\n    input(1, 8, 8)\n"
    assert main(["fmt", str(tmp_path / "missing.arch")]) == 1
    assert "error[E501]: file not found" in capsys.readouterr().err


def test_fmt_of_standard_input(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("network N:\n input(1,8,8)\n"))
    assert main(["fmt"]) == 0
    assert capsys.readouterr().out == "network N:\n    input(1, 8, 8)\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("network N:\n input(1,8,8\n"))
    assert main(["fmt", "-", "--check"]) == 1
    assert "<stdin>:2:13: error[E103]: unexpected end of file\n    2 |  input(1,8,8\n" in capsys.readouterr().err


def test_formatting_functions_comprehensions_and_slices_keeps_their_meaning():
    written, canonical = CASES["functions, comprehensions, slices, input attributes, keyword labels"]
    same_meaning(written)
    assert load_text(written).to_dict() == load_text(canonical).to_dict()
