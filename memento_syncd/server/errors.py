"""The API's single error shape: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class ApiError(Exception):
    """An error the client should see, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, **details: Any) -> web.Response:
    """A JSON error response in the one shape every endpoint uses."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return web.Response(
        status=status,
        body=json.dumps({"error": body}, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
    )


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}
