"""The wheel a user installs (`pip install .`) works away from the checkout: it carries every
package, the grammar (top-level grammars/, shipped as `archlang.grammars`), the zoo (top-level
specs/, shipped as `archlang.specs`: the playground's examples) and the playground's page."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "archlang").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == {"archlang.grammars", "archlang.specs"}


def test_the_wheel_works_outside_the_checkout(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("archlang", "grammars", "specs"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    build = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; "
                            f"print(b.build_wheel({str(tmp_path / 'dist')!r}))"],
                           cwd=src, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    names = zipfile.ZipFile(wheel).namelist()
    assert "archlang/grammars/arch.lark" in names
    assert {f"archlang/specs/{p.name}" for p in (ROOT / "specs").glob("*.arch")} <= set(names)
    static = {f"archlang/serve/static/{p.name}" for p in (ROOT / "archlang" / "serve" / "static").iterdir()}
    assert static <= set(names) and "archlang/serve/static/editor.js" in static
    assert not [n for n in names if "frontend" in n]  # the editor's sources and node_modules stay out

    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    # Only the unpacked wheel and the dependencies: no checkout on the path, run from elsewhere.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *deps])}
    spec = tmp_path / "net.arch"
    spec.write_text("network N:\n    input(1, 28, 28) -> conv(6, 5) -> relu -> flatten -> fc(10)\n")
    done = subprocess.run([sys.executable, "-S", "-c", "import archlang, sys; "
                           f"net = archlang.load({str(spec)!r}); print(archlang.__file__, net.params); "
                           "from archlang.serve.files import ZOO; from archlang.serve.app import STATIC_DIR; "
                           "print(ZOO, STATIC_DIR)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    where, params, zoo, static_dir = done.stdout.split()
    assert Path(where).is_relative_to(target)
    assert int(params) == 6 * 25 + 6 + 6 * 28 * 28 * 10 + 10  # conv pads "same" by default
    assert Path(zoo) == target / "archlang" / "specs" and Path(static_dir) == target / "archlang" / "serve" / "static"
