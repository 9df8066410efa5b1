"""Reading request bodies safely and writing JSON responses."""

from __future__ import annotations

import json
import zlib
from typing import Any, NoReturn

from aiohttp import web

from memento_syncd.server.errors import ApiError

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


async def read_json(request: web.Request, max_bytes: int) -> object:
    """Return the parsed JSON body, or raise ``ApiError`` 413/400 naming what is wrong."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise _too_large(max_bytes) from exc
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
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ApiError(400, "malformed_json", "request body is nested too deeply") from exc
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from exc


def json_response(payload: Any, status: int = 200) -> web.Response:
    """A UTF-8 JSON response."""
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
        content_type="application/json",
    )
