"""Writing what the backends make (pictures, source, ONNX): the output path is checked first,
its folder created, and the file replaced atomically, so a failure leaves no half-written file
and says what went wrong (E704) instead of an internal error.

>>> import tempfile, pathlib
>>> from archlang.backends.files import write_output
>>> out = pathlib.Path(tempfile.mkdtemp()) / "sub" / "model.py"
>>> write_output(out, b"x = 1\\n") == out, out.read_text()
(True, 'x = 1\\n')
"""

from __future__ import annotations

import os
from pathlib import Path

from archlang.errors import ArchError


def output_path(path: str | Path, example: str = "out.svg") -> Path:
    """`path` as a file that can be written (its folder created), or ArchError E704 saying why."""
    path = Path(path)
    if path.is_dir():
        raise ArchError("E704", f"the output {_show(path)} is a directory", None,
                        hint=f"name a file in it, e.g. {_show(path / example)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:
        raise _cannot(path, e) from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ArchError("E704", f"cannot write {_show(path)}: its folder is not writable", None,
                        hint="choose another place with -o")
    return path


def write_output(path: str | Path, data: bytes | str, example: str = "out.svg") -> Path:
    """Write `data` to `path` through a temporary file in the same folder, then rename it."""
    path = output_path(path, example)
    data = data.encode("utf-8") if isinstance(data, str) else data
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except OSError as e:
        temp.unlink(missing_ok=True)
        raise _cannot(path, e) from None
    return path


def _cannot(path: Path, e: Exception) -> ArchError:
    reason = getattr(e, "strerror", None) or str(e)
    return ArchError("E704", f"cannot write {_show(path)}: {reason}", None,
                     hint="check the path and the free space, or choose another place with -o")


def _show(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:80] + "..." + text[-37:]
