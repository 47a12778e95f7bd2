"""Fuzzing in the test suite: a few hundred cases (`make fuzz` runs thousands; see tests/fuzz.py).

Every input must end as a valid graph (whose summary and JSON work) or an ArchError with a
known code, a span and a quoted line: never a traceback, never a hang. Each case's work is
bounded by archlang's own count (elaboration steps, WORK), not by a clock; a CPU-time guard far
above any case (HANG_GUARD) only keeps a runaway case from stalling the suite.

- a grammar-aware generator driven by hypothesis: random but mostly plausible specs (networks
  with parameters and lets, chains of layers from the registry with random arguments, repeats,
  `?`, `if`/`else`, branches, labels, blocks calling blocks), so a failure shrinks;
- a mutation fuzzer over specs/*.arch: tokens deleted, duplicated, inserted; numbers swapped
  for 0, -1, huge values, NaN, strings; lines dropped or repeated; bytes that are not UTF-8;
- the hostile-file family (tests/fuzz_hostile.py): special files, bombs, hostile strings;
- the inputs each fuzz-found bug was minimised to, as regression tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archlang
from archlang.errors import CODES, ArchError

try:
    from tests import fuzz, fuzz_hostile
except ImportError:  # pytest put tests/ itself on sys.path
    import fuzz
    import fuzz_hostile

ROOT = Path(__file__).resolve().parents[1]
WORK = fuzz.MAX_STEPS  # elaboration steps one case may take: past them a case is E606, not a hang
HANG_GUARD = 600.0  # CPU seconds: no speed check (cases take hundredths), only a stop for a runaway

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def sandbox():
    box = fuzz.Sandbox()  # a copy of specs/, so that mutated specs find what they import
    yield box
    box.close()


def assert_handled(outcome: fuzz.Outcome, source) -> None:
    shown = source if isinstance(source, str) else source.decode("utf-8", "backslashreplace")
    assert outcome.kind in ("valid", "error"), f"{outcome.kind}:\n{outcome.detail}\ninput:\n{shown[:3000]}"
    assert outcome.steps <= WORK, f"{outcome.steps} steps for:\n{shown[:3000]}"


def run(source, sandbox, max_steps: int | None = WORK, **kw) -> fuzz.Outcome:
    return fuzz.run_source(source, sandbox.case, limit=HANG_GUARD, max_steps=max_steps, **kw)


# ---- hypothesis: the grammar-aware generator and the mutation fuzzer


@FUZZ
@given(rnd=st.randoms(use_true_random=False))
def test_generated_specs(sandbox, rnd):
    source = fuzz.generate(rnd)
    assert_handled(run(source, sandbox), source)


@FUZZ
@given(rnd=st.randoms(use_true_random=False))
def test_generated_specs_as_text(sandbox, rnd):
    source = fuzz.generate(rnd)  # load(text) rather than load(path): the other way in
    assert_handled(run(source, sandbox, as_text=True), source)


@FUZZ
@given(spec=st.sampled_from(fuzz.SPECS), rnd=st.randoms(use_true_random=False))
def test_mutated_specs(sandbox, spec, rnd):
    source = fuzz.mutate(spec.read_text(encoding="utf-8"), rnd)
    assert_handled(run(source, sandbox), source)


@settings(FUZZ, max_examples=80)
@given(rnd=st.randoms(use_true_random=False), as_text=st.booleans())
def test_hostile_inputs(sandbox, rnd, as_text):
    source, overrides = fuzz_hostile.hostile(rnd)
    as_text = as_text and not source.startswith("import")  # (imports are relative to a file)
    # bombs meet the step limit: a lower one here, the same logic (test_limits checks the default)
    assert_handled(run(source, sandbox, 50_000, as_text=as_text, overrides=overrides, cli=not as_text), source)


@pytest.mark.parametrize("name", fuzz_hostile.SPECIAL_IMPORTS)
def test_imports_of_special_files(sandbox, name):
    outcome = run(f'\nimport "{name}"\nnetwork N:\n    input(3, 8, 8)\n', sandbox, cli=True)
    assert outcome.kind == "error" and outcome.code in ("E501", "E502", "E505", "E506"), outcome


@settings(FUZZ, max_examples=60)
@given(rnd=st.randoms(use_true_random=False), data=st.data())
def test_generated_specs_with_parameters_from_outside(sandbox, rnd, data):
    source = fuzz.generate(rnd)
    names = data.draw(st.lists(st.sampled_from(fuzz.OVERRIDE_NAMES), min_size=1, max_size=2, unique=True))
    values = st.sampled_from(fuzz.OVERRIDE_TEXT) | st.sampled_from(fuzz.OVERRIDE_VALUES[:-1])
    overrides = {name: data.draw(values) for name in names}
    outcome = run(source, sandbox, overrides=overrides, cli=all(isinstance(v, str) for v in overrides.values()))
    assert_handled(outcome, source)


# ---- the fuzz driver itself: deterministic cases, the CLI check, the report


def test_generator_stays_plausible(sandbox):
    """If the grammar changes under the generator, most specs turn into syntax errors and the
    fuzzing above tests little: keep a good share valid and many error codes reached."""
    report = fuzz.Report(seed=0)
    for index in range(120):
        source = fuzz.generate(fuzz.random.Random(f"plausible:{index}"))
        report.add(index, run(source, sandbox, cli=index % 4 == 0), HANG_GUARD)
    assert not report.failures, report.text(HANG_GUARD)
    assert report.valid >= 20, report.text(HANG_GUARD)
    assert report.errors["E101"] <= 20, report.text(HANG_GUARD)
    assert len(report.errors) >= 12, report.text(HANG_GUARD)


def test_cases_are_reproducible():
    assert fuzz.make_case(7, 123) == fuzz.make_case(7, 123)
    assert fuzz.make_case(7, 123) != fuzz.make_case(7, 124)


def test_fuzz_command_reports(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tests.fuzz", "--cases", "40", "--seed", "11", "--jobs", "2",
                             "--time-limit", str(HANG_GUARD)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "40 cases" in out and "crashes:          0" in out and "valid graphs:" in out and "slowest case:" in out


def test_a_crash_is_reported(monkeypatch, sandbox):
    """The driver's own check: an exception that is not an ArchError counts as a crash."""
    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(archlang, "load", broken)
    outcome = fuzz.run_source("network N:\n    input(1, 8, 8)\n", sandbox.case)
    assert outcome.kind == "crash" and "KeyError" in outcome.detail


def test_a_hang_is_reported(monkeypatch, sandbox):
    def slow(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr(archlang, "load", slow)
    outcome = fuzz.run_source("network N:\n    input(1, 8, 8)\n", sandbox.case, limit=0.2)
    assert outcome.kind == "hang"


# ---- regressions: each input a fuzz run found, minimised; None means a valid graph

REGRESSIONS = {
    # TypeError sorting a dict of mixed keys for the layer cache
    "dict_mixed_keys": ('input(1, 8, 8) -> conv({1: 2, "a": 3})', "E301"),
    # a 10^6-item argument: 2 s in pydantic and a 3 MB message
    "long_list_argument": ("input(1, 8, 8) -> maxpool(stride = [0] * 1000000)", "E301"),
    "long_string_argument": ('input(1, 8, 8) -> conv(8, padding = "x" * 100000)', "E301"),
    "long_string_condition": ('input(1, 8, 8) -> relu ? "x" * 1000000', "E306"),
    # a list of one big list repeated: 10^12 items behind 10^6 references
    "shared_nested_list": ("input(1, 8, 8) -> conv(len([[0] * 1000000] * 1000000))", "E605"),
    # complex numbers
    "negative_fractional_power": ("input(1, 8, 8) -> conv((-8) ** 0.5)", "E306"),
    # OverflowError from a float power
    "float_power_overflow": ("input(1, 8, 8) -> conv(1e15 ** 64)", "E605"),
    "float_power_overflow_negative": ("input(1, 8, 8) -> conv(0.5 ** -5000)", "E605"),
    # a small number was reported as "too large"
    "tiny_power": ("input(1, 8, 8) -> dropout(2 ** -100)", None),
    # ValueError: int() of more than 4300 digits
    "literal_of_5000_digits": ("input(1, 8, 8) -> conv(" + "9" * 5000 + ")", "E108"),
    # RecursionError, reported without a place
    "not_5000_deep": ("input(1, 8, 8) -> relu ? " + "not " * 5000 + "true", "E104"),
    # a repeat per factor: quadratic time and recursion
    "20000_factors": ("input(1, 8, 8) -> relu" + " * 1" * 20000, None),
    # nested repeats of nothing: 10^6 iterations took a minute
    "nested_empty_repeats": ("input(1, 8, 8) -> [[identity] * 1000] * 1000", "E601"),
    # softmax over a dimension the input lacks: built, then failed in PyTorch
    "softmax_dim": ("input(1, 8, 8) -> softmax(dim = 4)", "E301"),
}


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression(name, sandbox):
    body, code = REGRESSIONS[name]
    source = f"network N:\n    {body}\n"
    for as_text in (False, True):
        outcome = run(source, sandbox, None, as_text=as_text, cli=not as_text)  # archlang's own limits
        assert_handled(outcome, source)
        assert outcome.code == code, outcome


def test_parse_errors_in_text_quote_the_line():
    # `load(text)` lost the text when parsing failed: no quoted line, no caret
    with pytest.raises(ArchError) as info:
        archlang.load("network N:\n    input(1, 8, 8) -> )\n")
    assert "    2 |     input(1, 8, 8) -> )" in info.value.format()


def test_text_with_a_byte_order_mark():
    assert archlang.load("\ufeffnetwork N:\n    input(1, 8, 8) -> relu\n").layers[0].type == "relu"


@pytest.mark.parametrize("source", ["x" * 5000, "network N: " + "x" * 5000 + "(", "a\x00b"])
def test_one_line_text_that_is_no_file_name(source):
    # OSError (file name too long) and ValueError (NUL byte) from looking for a file of that name
    with pytest.raises(ArchError) as info:
        archlang.load(source)
    assert info.value.code in CODES


def test_import_of_an_impossible_file_name(tmp_path):
    for name in ["x" * 300 + ".arch", "a\x00b.arch"]:
        path = tmp_path / "a.arch"
        path.write_text(f'import "{name}"\nnetwork N:\n    input(1, 8, 8)\n', encoding="utf-8")
        with pytest.raises(ArchError) as info:
            archlang.load(path)
        assert info.value.code == "E502" and info.value.span.line == 1 and len(info.value.message) < 300


def test_overrides_that_are_no_spec_value():
    source = "network N(rate = 0.5, sizes = [1, 2]):\n    input(1, 8, 8) -> [relu] * int(rate * 2) -> conv(sizes[0])\n"
    for value in [float("nan"), float("inf"), 10**20]:
        with pytest.raises(ArchError) as info:
            archlang.load(source, rate=value)
        assert info.value.code == "E309"
    assert archlang.load(source, sizes=(4, 2)).settings["sizes"] == [4, 2]  # a tuple is a list


def test_no_parameters_hint():
    with pytest.raises(ArchError) as info:
        archlang.load("network N:\n    input(1, 8, 8)\n", width=3)
    assert info.value.hint == "`N` takes no parameters"


def test_a_big_valid_network_summarises(sandbox):
    outcome = run("network N:\n    input(3, 8, 8) -> [conv(8, 1) -> relu] * 5000\n", sandbox, cli=True)
    assert outcome.kind == "valid" and outcome.steps <= 6 * 5000 + 10  # 10,000 layers, 6 steps an iteration
    json.dumps(archlang.load("network N:\n    input(3, 8, 8) -> conv(8)\n").to_dict())
