"""Talking to a running daemon over its Unix socket; standard library only (fast status)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class NoDaemon(Exception):
    """Nothing answers on the socket: no daemon runs for this home."""


class DaemonError(Exception):
    """The daemon answered with an error; ``code`` and the message say which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def request(path: Path, payload: dict[str, Any], timeout: float = 120.0) -> Any:
    """Send one request and return the ``result`` of the daemon's answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, NotADirectoryError, ConnectionRefusedError) as exc:
            # (NotADirectoryError: the home is a file, so no daemon can listen in it.)
            raise NoDaemon(f"no memento-syncd daemon is running (no answer on {path})") from exc
        sock.sendall(json.dumps(payload).encode("utf-8") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise DaemonError("malformed", f"the daemon's answer was not JSON: {data[:80]!r}") from exc
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise DaemonError(str(error.get("code", "error")), str(error.get("message", "failed")))
    return answer.get("result")
