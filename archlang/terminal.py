"""Text for a terminal: untrusted text (file and folder names, spec lines, strings) may hold
escape sequences (ESC, OSC, CSI) that retitle, recolour or rewrite a terminal. The command
line writes through `SafeStream`, which shows every control character as a visible escape.

>>> from archlang.terminal import visible
>>> visible("cat\\x1b]0;owned\\x07")
'cat\\\\x1b]0;owned\\\\x07'
"""

from __future__ import annotations

import sys
import unicodedata

# Kept as they are: line breaks and tabs.
_KEEP = frozenset("\n\t")


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def _unsafe(char: str) -> bool:
    # C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
    return char not in _KEEP and unicodedata.category(char) in ("Cc", "Cf") and char != "\u200d"


_TABLE: dict[int, str] = {}


def visible(text: str) -> str:
    """`text` with every control character written as its escape (`\\x1b`), line breaks kept."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        code = ord(char)
        if code not in _TABLE:
            _TABLE[code] = _escape(char) if _unsafe(char) else char
        out.append(_TABLE[code])
    return "".join(out)


class SafeStream:
    """A text stream that writes `visible(text)`. A carriage return that starts a write is kept:
    the progress bar redraws its line that way, and it moves the cursor, nothing more."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        lead = "\r" if text.startswith("\r") else ""
        self._stream.write(lead + visible(text[len(lead):]))
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class safe_output:
    """`with safe_output():` - sys.stdout and sys.stderr write visible text, then are restored."""

    def __enter__(self):
        self._saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = (s if isinstance(s, SafeStream) else SafeStream(s) for s in self._saved)
        return self

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self._saved
        return False
