"""Requests that are not valid HTTP get a 4xx, and neither their bytes nor a token reach the log."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import structlog
from aiohttp import streams, web
from aiohttp.http_exceptions import TransferEncodingError
from aiohttp.test_utils import make_mocked_request

from memento_syncd.server.errors import ApiError
from memento_syncd.server.http_io import read_json
from memento_syncd.server.log_safety import LOGGERS
from tests.conftest import Api
from tests.server.proc import ServerProcess, run, start_server

BODY = b'{"project_id": "p"}'
# Bytes that stand for "the request's own data": none of them may reach a log line.
MARK = b"QQmarkQQ"


def _pull(headers: bytes, body: bytes = BODY, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (
        b"POST /api/sync/pull HTTP/1.1\r\nHost: x\r\n"
        + headers
        + b"Content-Length: %d\r\n\r\n" % size
        + body
    )


def _exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _statuses(answer: bytes) -> list[int]:
    """The status codes of every response in ``answer``."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer)]


def _oversized(token: str) -> bytes:
    return b"Authorization: Bearer " + token.encode() + b" " + b"x" * 9000 + b"\r\n"


def _token(db: Path) -> str:
    made = run("server", "create-token", "--db", str(db), "--team", "acme", "--member", "alice")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A ``memento-syncd server serve`` subprocess whose stderr is a file."""
    proc = start_server(tmp_path / "server.db", tmp_path / "server.log")
    yield proc
    proc.stop(signal.SIGKILL)


def test_an_oversized_authorization_header_keeps_the_token_out_of_the_log(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A 9000-byte Authorization header is a 400 and the log names the problem, not the token."""
    token = _token(tmp_path / "server.db")
    port = int(server.url.rsplit(":", 1)[1])
    assert _statuses(_exchange(port, _pull(_oversized(token)))) == [400]
    assert server.request("/api/sync/pull", token, {"project_id": "p"})[0] == 200
    assert server.stop() == 0
    log = server.log()
    assert token.rsplit("_", 1)[1][:16] not in log
    assert "xxxxxxxx" not in log
    assert "Traceback" not in log
    bad = [line for line in log.splitlines() if '"event": "bad http request"' in line]
    assert len(bad) == 1, log
    assert '"problem": "request line or header too long (over 8190 bytes)"' in bad[0]
    assert '"peer": "127.0.0.1"' in bad[0]


@pytest.mark.parametrize(
    "shape", ["msd_{id}_{secret}\xff", "msd_\xff{id}_{secret}", "msd_{id}_\xe9t\xe9"]
)
def test_a_token_with_bytes_that_are_not_ascii_is_a_401(
    server: ServerProcess, tmp_path: Path, shape: str
) -> None:
    """A bearer token holding bytes outside ASCII gets the JSON 401 of a bad token, not a 500."""
    _, token_id, secret = _token(tmp_path / "server.db").split("_", 2)
    bad = shape.format(id=token_id, secret=secret).encode("latin-1")
    port = int(server.url.rsplit(":", 1)[1])
    answer = _exchange(port, _pull(b"Authorization: Bearer " + bad + b"\r\nConnection: close\r\n"))
    assert _statuses(answer) == [401], answer
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "unauthorized", body
    assert server.stop() == 0
    assert "Traceback" not in server.log()


# (name, raw request with MARK in it, status, problem the log line names or "")
FRAMING: list[tuple[str, bytes, int, str]] = [
    (
        "oversized header",
        _pull(b"Authorization: Bearer " + MARK + b"x" * 9000 + b"\r\n"),
        400,
        "request line or header too long (over 8190 bytes)",
    ),
    (
        "oversized request line",
        b"GET /" + MARK + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        "request line or header too long (over 8190 bytes)",
    ),
    (
        "control byte in a header",
        _pull(b"Authorization: Bearer " + MARK + b"\r\nBad Header: \x01" + MARK + b"\r\n"),
        400,
        "invalid header token",
    ),
    (
        "bad chunk size",
        b"POST /api/sync/pull HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + MARK
        + b"\r\nabc\r\n0\r\n\r\n",
        400,
        "invalid character in chunk size",
    ),
    ("body longer than its Content-Length", _pull(b"", b"{}" + MARK, length=2), 400, ""),
    ("TLS on the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARK, 400, ""),
]


@pytest.mark.parametrize(("name", "raw", "status", "problem"), FRAMING, ids=[c[0] for c in FRAMING])
async def test_a_request_that_is_not_valid_http_logs_one_line_without_its_bytes(
    api: Api, caplog: pytest.LogCaptureFixture, name: str, raw: bytes, status: int, problem: str
) -> None:
    """Each framing error is a 4xx; no log shows its bytes or a traceback; one line names it."""
    caplog.set_level(logging.DEBUG)
    port = int(api.url.rsplit(":", 1)[1])
    with structlog.testing.capture_logs() as events:
        answer = await asyncio.to_thread(_exchange, port, raw)
        await asyncio.sleep(0.05)  # the log line follows the answer
    assert _statuses(answer)[-1] == status, answer[:300]
    assert all(400 <= code < 500 for code in _statuses(answer)), answer[:300]
    logged = caplog.text + "\n".join(map(repr, events))
    assert MARK.decode() not in logged
    assert "Traceback" not in logged
    if problem:
        bad = [e for e in events if e["event"] == "bad http request"]
        assert [(e["problem"], e["log_level"], e["peer"]) for e in bad] == [
            (problem, "warning", "127.0.0.1")
        ]


def test_a_connection_closed_mid_body_logs_a_4xx_without_a_traceback(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A client that hangs up before its body is complete is logged as a 400, not a 500 error."""
    token = _token(tmp_path / "server.db")
    port = int(server.url.rsplit(":", 1)[1])
    head = _pull(b"Authorization: Bearer " + token.encode() + b"\r\n", BODY[:5], length=500)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        time.sleep(0.3)  # the handler is reading the body when the client hangs up
    assert server.request("/api/health", None)[0] == 200
    assert server.stop() == 0
    requests = [json.loads(line) for line in server.log().splitlines() if '"request"' in line]
    assert [(r["path"], r["status"]) for r in requests] == [
        ("/api/sync/pull", 400),
        ("/api/health", 200),
    ]
    assert "Traceback" not in server.log()
    assert '"level": "error"' not in server.log()


async def test_a_body_aiohttp_cannot_deframe_is_a_json_400_without_its_bytes() -> None:
    """A payload error while reading the body is a 400 bad_request that does not quote the body."""
    payload = streams.StreamReader(
        mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop()
    )
    request = make_mocked_request("POST", "/api/sync/pull", payload=payload)
    reading = asyncio.create_task(read_json(request, 1024))
    await asyncio.sleep(0)  # the handler waits for the body, as it does when the bytes arrive
    cause = TransferEncodingError("Invalid chunk:\n\n  b'" + MARK.decode() + "'\n  ^")
    payload.set_exception(web.RequestPayloadError(str(cause)), cause)
    with pytest.raises(ApiError) as caught:
        await reading
    assert (caught.value.status, caught.value.code) == (400, "bad_request")
    assert caught.value.message == "request body is not valid HTTP: invalid chunk"
    assert MARK.decode() not in caught.value.message


def test_a_token_in_any_aiohttp_record_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """Bearer tokens in the message or traceback of other aiohttp records are blanked out."""
    from memento_syncd.server import log_safety

    log_safety.install()
    caplog.set_level(logging.DEBUG)
    secret = "msd_0123abcd_" + "f" * 64
    header = f"Bearer {secret}"

    def fail() -> None:
        raise RuntimeError(header)

    for name in LOGGERS:
        try:
            fail()
        except RuntimeError:
            logging.getLogger(name).exception("Unhandled exception for %s", header)
    assert secret not in caplog.text
    assert "0123abcd" not in caplog.text
    assert caplog.text.count("Bearer [redacted]") == 2 * len(LOGGERS)
    assert caplog.text.count("Traceback") == len(LOGGERS)


def test_a_token_pasted_as_a_project_name_is_redacted_in_the_request_log(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A request whose project_id is a token (pasted in the wrong place) is served, and
    its request log line shows the project as [redacted], never the token."""
    token = _token(tmp_path / "server.db")
    status, _ = server.request("/api/sync/pull", token, {"project_id": token})
    assert status == 200
    assert server.stop() == 0
    log = server.log()
    assert token.split("_", 2)[2][:16] not in log
    assert token.split("_", 2)[1] not in log
    lines = [line for line in log.splitlines() if '"event": "request"' in line]
    assert any('"project": "[redacted]"' in line for line in lines), log
