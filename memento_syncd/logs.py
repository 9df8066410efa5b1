"""structlog setup: JSON lines for machines, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


class _Tolerant:
    """A log stream that drops lines once its reader is gone (a closed pipe, say).

    A process must neither fail nor hang on its way out because nobody reads its log:
    a write that raised inside a shutdown path skipped closing the database, whose
    threads then kept the server alive.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._broken = False

    def write(self, text: str) -> int:
        """Write ``text`` unless the stream broke before or breaks now."""
        if not self._broken:
            try:
                return self._stream.write(text)
            except OSError:
                self._broken = True
        return len(text)

    def flush(self) -> None:
        """Flush unless the stream is broken."""
        if not self._broken:
            try:
                self._stream.flush()
            except OSError:
                self._broken = True


def configure_logging(level: str = "info", *, json_output: bool | None = None) -> None:
    """Configure structlog for the process; JSON unless stderr is a terminal."""
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # PrintLoggerFactory is typed for TextIO; it only calls write and flush.
        logger_factory=structlog.PrintLoggerFactory(_Tolerant(sys.stderr)),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
