"""The control socket's protocol: one JSON object per line each way, typed and small.

Requests: ``{"op": OP, "project": P?, "id": N?, "keep": K?}``. Responses:
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {"code": C, "message": M}}``
(the same error shape as the HTTP API). This module imports only the standard library:
``memento-syncd status`` loads it and little else.
"""

from __future__ import annotations

import json
from typing import Any

OPS = ("status", "push", "pull", "sync", "pause", "resume", "reload", "conflicts", "resolve")
MAX_LINE = 64 * 1024


class ProtocolError(ValueError):
    """A request that is not well formed; ``code`` goes into the error response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_request(line: bytes) -> dict[str, Any]:
    """Validate one request line."""
    try:
        request = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("malformed", f"request is not a JSON line: {exc}") from exc
    if not isinstance(request, dict):
        raise ProtocolError("malformed", "request must be a JSON object")
    op = request.get("op")
    if op not in OPS:
        raise ProtocolError("unknown_op", f"op must be one of {', '.join(OPS)}")
    project = request.get("project")
    if project is not None and (not isinstance(project, str) or not project):
        raise ProtocolError("invalid", "project must be a non-empty string")
    return request


def ok(result: Any) -> bytes:
    """A success response line."""
    return json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode() + b"\n"


def error(code: str, message: str) -> bytes:
    """An error response line, in the API's one error shape."""
    body = {"ok": False, "error": {"code": code, "message": message}}
    return json.dumps(body, ensure_ascii=False).encode() + b"\n"
