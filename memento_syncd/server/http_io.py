"""Reading request bodies safely and writing JSON responses."""

from __future__ import annotations

import json
import zlib
from typing import Any, NoReturn

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from memento_syncd.server.errors import ApiError
from memento_syncd.server.log_safety import describe

# The server decodes request bodies itself (``SERVER_OPTIONS``): aiohttp's own decoding
# answered a bad gzip body with a 500 and an unknown encoding with a plain-text 400.
SERVER_OPTIONS: dict[str, Any] = {"auto_decompress": False}
_ENCODINGS = ("gzip", "deflate")


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"request body is larger than {max_bytes} bytes")


def _decode(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """The body without its ``Content-Encoding`` (gzip or deflate), at most ``max_bytes``."""
    if encoding in ("", "identity"):
        return body
    if encoding not in _ENCODINGS:
        raise ApiError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; send the body as is,"
            " or as gzip or deflate",
        )
    # 32 + MAX_WBITS reads a gzip or a zlib header; a raw deflate stream is tried next.
    for wbits in (32 + zlib.MAX_WBITS, -zlib.MAX_WBITS):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, max_bytes + 1)
        except zlib.error:
            continue
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise _too_large(max_bytes)
        if inflater.eof:
            return out
    raise ApiError(400, "malformed_body", f"request body is not valid {encoding} data")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


# No field takes a number anywhere near this long; CPython refuses to convert longer
# ones (its default int_max_str_digits) with a message about sys.set_int_max_str_digits.
MAX_INT_DIGITS = 4300


class _NumberTooLong(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise _NumberTooLong
    return int(text)


async def read_json(request: web.Request, max_bytes: int) -> object:
    """Return the parsed JSON body, or raise ``ApiError`` 413/400 naming what is wrong."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise _too_large(max_bytes) from exc
    except web.RequestPayloadError as exc:  # its text quotes the body's bytes: not shown
        cause = exc.__cause__
        problem = describe(cause) if isinstance(cause, HttpProcessingError) else "bad framing"
        raise ApiError(400, "bad_request", f"request body is not valid HTTP: {problem}") from exc
    except ConnectionError as exc:  # nobody reads the answer; it keeps a traceback out of the log
        raise ApiError(
            400, "bad_request", "the connection closed before the request body was complete"
        ) from exc
    body = _decode(body, request.headers.get("Content-Encoding", "").strip().lower(), max_bytes)
    if not body:
        raise ApiError(400, "malformed_json", "request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_utf8", f"request body is not valid UTF-8 (byte {exc.start})"
        ) from exc
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except RecursionError as exc:
        raise ApiError(400, "malformed_json", "request body is nested too deeply") from exc
    except _NumberTooLong as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"request body holds an integer of more than {MAX_INT_DIGITS} digits;"
            " no field takes a number that large",
        ) from exc
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from exc


def json_response(payload: Any, status: int = 200) -> web.Response:
    """A UTF-8 JSON response; text outside ASCII is written as UTF-8, not escaped (an
    emoji takes 4 bytes, not 12, and as fast for ASCII)."""
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
    )
