"""Keep request bytes and bearer tokens out of what aiohttp logs.

aiohttp answers a request it cannot parse (a header line over 8190 bytes, a bad chunk
size, bytes after a body's Content-Length) itself, before any middleware runs, and logs
``Error handling request`` on ``aiohttp.server`` with the parser's exception, whose
message quotes up to 100 bytes of the offending line: for an oversized
``Authorization`` header, the whole bearer token. ``install`` puts a filter on
aiohttp's loggers that turns such a record into one ``bad http request`` line naming
the peer and the problem, without the bytes and without a traceback, and blanks
anything shaped like a token in every other record they log.
"""

from __future__ import annotations

import logging
import re

import structlog
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentEncodingError,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)

log = structlog.get_logger("memento_syncd.server")

# The loggers aiohttp's server side writes to; asyncio's reports a protocol that raised.
LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.internal", "asyncio")

_TOKEN = re.compile(r"(?i)(bearer)(\s+)\S+|msd_[0-9A-Za-z_-]+")
# The first line of llhttp's error messages is a fixed reason ("Invalid header token:");
# the request's bytes follow on later lines. Only a line of plain words is kept.
_REASON = re.compile(r"[A-Za-z][A-Za-z ]{2,60}:?")
_BY_CLASS: tuple[tuple[type[HttpProcessingError], str], ...] = (
    (InvalidURLError, "invalid URL"),
    (BadHttpMethod, "invalid HTTP method"),
    (BadStatusLine, "invalid request line"),
    (InvalidHeader, "invalid header"),
    (TransferEncodingError, "invalid chunked body"),
    (ContentLengthError, "body shorter than its Content-Length"),
    (ContentEncodingError, "invalid Content-Encoding"),
)


def describe(exc: HttpProcessingError) -> str:
    """What is wrong with a request aiohttp could not parse, without the request's bytes."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        return "request line or header too long" + (f" (over {limit} bytes)" if limit else "")
    if exc.message == "Received HTTPS traffic on an HTTP port":
        return "HTTPS traffic on the plain HTTP port"
    first, newline, _ = exc.message.partition("\n")
    if newline and _REASON.fullmatch(first):
        return first.rstrip(":").lower()
    for kind, text in _BY_CLASS:
        if isinstance(exc, kind):
            return text
    return "malformed HTTP request"


def scrub(text: str) -> str:
    """``text`` with bearer tokens and anything shaped like one replaced."""
    return _TOKEN.sub(lambda m: f"{m[1]}{m[2]}[redacted]" if m[1] else "[redacted]", text)


class RequestBytesFilter(logging.Filter):
    """Replaces a parse error's record by one safe line; scrubs tokens from the others."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for a parse error (logged anew, safely); True for the rest."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            peer = None
            if str(record.msg).startswith("Error handling request from") and record.args:
                peer = record.args[0] if isinstance(record.args, tuple) else None
            emit = log.warning if record.levelno >= logging.WARNING else log.debug
            emit("bad http request", peer=str(peer) if peer else None, problem=describe(exc))
            return False
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            clean = scrub(text)
            if clean != text:
                record.exc_info, record.exc_text = None, clean
        return True


_FILTER = RequestBytesFilter()


def install() -> None:
    """Put the filter on aiohttp's loggers (and asyncio's); doing it again changes nothing."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
