"""A one-line progress display on a terminal, for transfers of more than a thousand items."""

from __future__ import annotations

import sys
import time
from typing import TextIO

THRESHOLD = 1000


class ProgressLine:
    """Rewrites one stderr line at most ten times a second; silent when not a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()
        self._last = 0.0
        self._shown = False
        self._latest: tuple[str, int, int | None] | None = None  # told, maybe not drawn

    def __call__(self, label: str, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` (or a running count) once the transfer is big enough."""
        big = (total or done) > THRESHOLD
        now = time.monotonic()
        if not (self._enabled and big):
            return
        self._latest = (label, done, total)
        if now - self._last < 0.1 and done != total:
            return
        self._last = now
        self._draw(label, done, total)

    def _draw(self, label: str, done: int, total: int | None) -> None:
        self._latest = None
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"{label} [{bar}] {done}/{total}"
        else:
            text = f"{label}: {done} observations"
        self._stream.write("\r\033[K" + text)
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        """Draw the last count told (the throttle may have skipped it), then end the line so
        the next output starts on a fresh one."""
        if self._latest is not None:
            self._draw(*self._latest)
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False
