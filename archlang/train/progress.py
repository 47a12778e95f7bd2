"""Terminal output: a carriage-return progress bar per epoch, plain lines otherwise."""
from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1  # redrawing every step would cost more than a LeNet step


class Reporter:
    """Prints only on rank 0; the bar goes to stderr, results to stdout."""

    def __init__(self, enabled: bool = True, out: TextIO | None = None, err: TextIO | None = None):
        self.enabled = enabled
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def info(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        if self.enabled:
            print(f"note: {text}", file=self.err, flush=True)

    def bar(self, label: str, total_steps: int) -> Bar:
        interactive = self.enabled and _isatty(self.err)
        return Bar(self.err if self.enabled else None, label, total_steps, interactive)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Bar:
    """One epoch's bar. Without a TTY it stays silent until ``close``'s summary line."""

    def __init__(self, stream: TextIO | None, label: str, total: int, interactive: bool):
        self.stream, self.label, self.total = stream, label, max(1, total)
        self.interactive = interactive
        self.last_draw = 0.0
        self.width = 0

    def update(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        if not self.interactive:
            return
        now = time.monotonic()
        if now - self.last_draw < REDRAW_SECONDS and step < self.total:
            return
        self.last_draw = now
        filled = BAR_WIDTH * step // self.total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self._draw(f"{self.label} [{bar}] {step}/{self.total} loss {loss:.4f} "
                   f"acc {100 * acc:.1f}% {images_per_s:,.0f} img/s")

    def count(self, step: int, unit: str) -> None:
        """Draw ``[####----] step/total unit`` (a bar that is not an epoch)."""
        if not self.interactive or (time.monotonic() - self.last_draw < REDRAW_SECONDS and step < self.total):
            return
        self.last_draw = time.monotonic()
        filled = BAR_WIDTH * step // self.total
        self._draw(f"{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {step}/{self.total} {unit}")

    def close(self, summary: str) -> None:
        """Replace the bar with the epoch's summary line."""
        if self.stream is None:
            return
        if self.interactive:
            self._draw(summary)
            self.stream.write("\n")
        else:
            self.stream.write(summary + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the bar's line (nothing stays of a bar that only showed progress)."""
        if self.interactive and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def abandon(self) -> None:
        """End the bar's line so an error message starts on a fresh one."""
        if self.interactive and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0

    def _draw(self, text: str) -> None:
        # Pad to the previous width so a shorter line erases the longer one.
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)
