"""Error fixtures: each `tests/errors/NAME.arch` is checked with `archlang check`
and its stderr compared, as exact text, with `NAME.txt`. A first line
`# args: ...` adds command-line arguments. Regenerate after a reviewed change
with `ARCHLANG_REGEN=1 pytest tests/test_errors.py`.
"""

import os
import shlex
from pathlib import Path

import pytest

from archlang.cli import main
from archlang.errors import CODES

HERE = Path(__file__).parent / "errors"
CASES = sorted(p for p in HERE.glob("*.arch") if p.is_file())
# Codes raised by the backends; tests/test_torch_backend.py and tests/test_outputs.py cover them.
BACKEND_CODES = {"E701", "E702", "E703", "E704", "E705", "E711", "E712", "E713",
                 "E714", "E715"}  # --checkpoint: tests/test_checkpoint_exports.py
# The Python API's and the summary options' codes (E75x), not a spec's: tests/test_net_api.py covers them.
API_CODES = {code for code in CODES if code.startswith("E75")}
# Codes of the playground (E90x) and the editor tooling (E92x), not of a spec;
# tests/test_serve*.py, tests/test_fmt.py and tests/test_lsp.py cover them.
SERVE_CODES = {code for code in CODES if code.startswith("E9")}
# Limits a fixture would need a megabyte or dozens of files to reach: tests/test_limits.py covers them.
FILE_LIMIT_CODES = {"E505", "E506"}


def run_check(path: Path, capsys) -> tuple[int, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    extra = shlex.split(first.removeprefix("# args:")) if first.startswith("# args:") else []
    cwd = os.getcwd()
    os.chdir(HERE)
    try:
        code = main(["check", "-q", path.name, *extra])
    finally:
        os.chdir(cwd)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_error_fixture(path, capsys):
    code, err = run_check(path, capsys)
    expected = path.with_suffix(".txt")
    if os.environ.get("ARCHLANG_REGEN"):
        expected.write_text(err, encoding="utf-8")
    assert code == 1, err
    assert "Traceback" not in err
    assert err == expected.read_text(encoding="utf-8")


def test_fixtures_cover_every_code(capsys):
    seen = set()
    for path in CASES:
        _, err = run_check(path, capsys)
        seen |= {code for code in CODES if f"error[{code}]" in err}
    assert set(CODES) - BACKEND_CODES - SERVE_CODES - FILE_LIMIT_CODES - API_CODES - seen == set()


def test_at_least_25_distinct_mistakes():
    assert len(CASES) >= 25


def test_errors_doc_is_current():
    import importlib.util

    path = Path(__file__).parents[1] / "docs" / "gen_errors.py"
    spec = importlib.util.spec_from_file_location("gen_errors", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    current = (Path(__file__).parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    assert current == gen.render(), "docs/errors.md is stale: run `python docs/gen_errors.py`"
