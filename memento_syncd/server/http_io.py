"""Reading request bodies safely and writing JSON responses."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from aiohttp import web

from memento_syncd.server.errors import ApiError


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request, max_bytes: int) -> object:
    """Return the parsed JSON body, or raise ``ApiError`` 413/400 naming what is wrong."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise ApiError(413, "too_large", f"request body is larger than {max_bytes} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "too_large", f"request body is larger than {max_bytes} bytes") from exc
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
