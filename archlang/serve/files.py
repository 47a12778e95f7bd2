"""The files the playground may read and write: the one file it was given, and
the spec zoo (read only). Nothing else: the page names documents, never paths.

Saving is atomic (a temporary file in the same folder, then a rename over the
file, keeping its permissions; through a symbolic link, the link's target is
written), refuses to overwrite a version the page has not seen (E904), and
keeps the file's line endings and byte-order mark.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from archlang.errors import ArchError

_HERE = Path(__file__).resolve().parent
# Installed from a wheel: archlang/specs/ (shipped as the data package archlang.specs); in a checkout: specs/.
ZOO = next((p for p in (_HERE.parent / "specs", _HERE.parents[1] / "specs") if p.is_dir()), _HERE.parents[1] / "specs")
PATTERN = "pattern.arch"  # the scratch buffer's first text: the textbook pattern


def version(data: bytes | None) -> str:
    """A version stamp of a file's bytes ("" for no file): equal stamps, equal contents."""
    return "" if data is None else hashlib.sha256(data).hexdigest()[:20]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def decode(data: bytes) -> str:
    return data.decode("utf-8", "replace").removeprefix("\ufeff").replace("\r\n", "\n")


class EditedFile:
    """The file given on the command line."""

    def __init__(self, path: str | Path):
        self.path = Path(os.path.abspath(path))
        self.name = self.path.name
        why = ("it is a folder" if self.path.is_dir() else
               "its folder does not exist" if not self.path.parent.is_dir() else
               "the playground edits .arch files" if self.path.suffix != ".arch" else None)
        data = self.data() if not why else None
        if data is not None and not _is_utf8(data):
            why = "it is not UTF-8 text, and saving it from the page would change its bytes"
        if why:
            raise ArchError("E903", f"cannot edit {path}: {why}", None,
                            hint="give a .arch file in a folder that exists (a new file is created by the first save)")

    @property
    def folder(self) -> str:
        return str(self.path.parent)

    def data(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ArchError("E903", f"cannot read {self.name}: {e.strerror}", None) from None

    def read(self) -> dict:
        data = self.data()
        return {"text": decode(data) if data is not None else None, "version": version(data),
                "exists": data is not None, "name": self.name}

    def save(self, text: str, base: str | None, force: bool) -> dict:
        """Write `text`; `base` is the version the page started from (E904 when the disk moved on)."""
        old = self.data()
        if not force and base is not None and version(old) != base:
            raise ArchError("E904", f"{self.name} changed on disk since the page loaded it", None,
                            hint="load the disk version, or save again to overwrite it")
        data = _encoded(text, old)
        try:
            atomic_write(self.path, data)
        except OSError as e:
            raise ArchError("E906", f"cannot save {self.name}: {e.strerror or e}", None) from None
        return {"version": version(data)}


def _encoded(text: str, old: bytes | None) -> bytes:
    """The page's text (lines end in \\n) in the old file's style: CRLF and a byte-order mark if it had them."""
    if old is not None and b"\r\n" in old:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if old is not None and old.startswith(b"\xef\xbb\xbf") else data


def atomic_write(path: Path, data: bytes) -> None:
    target = path.resolve()  # through a symbolic link: replace its target, not the link
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def zoo_specs(folder: Path = ZOO) -> dict[str, Path]:
    """The zoo's specs by name: plain .arch files directly in the folder (no links out of it)."""
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".arch" and path.is_file() and not path.is_symlink():
            out[path.name] = path
    return out
