"""The control socket protocol: typed requests, one error shape."""

from __future__ import annotations

import json

import pytest

from memento_syncd.daemon.protocol import OPS, ProtocolError, error, ok, parse_request


@pytest.mark.parametrize("op", OPS)
def test_every_operation_parses(op: str) -> None:
    """Each documented op is accepted."""
    assert parse_request(json.dumps({"op": op}).encode())["op"] == op


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"not json", "malformed"),
        (b"\xff\xfe", "malformed"),
        (b"[1, 2]", "malformed"),
        (b'{"op": "explode"}', "unknown_op"),
        (b'{"op": 5}', "unknown_op"),
        (b'{"op": "push", "project": ""}', "invalid"),
        (b'{"op": "push", "project": 7}', "invalid"),
    ],
)
def test_bad_requests_name_their_problem(line: bytes, code: str) -> None:
    """Malformed lines, unknown ops and wrong project types get a coded error."""
    with pytest.raises(ProtocolError) as caught:
        parse_request(line)
    assert caught.value.code == code


def test_answers_are_one_json_line_each() -> None:
    """Success and error answers are single lines in the API's error shape."""
    good = json.loads(ok({"a": 1}))
    bad = json.loads(error("paused", "the daemon is paused"))
    assert good == {"ok": True, "result": {"a": 1}}
    assert bad == {"ok": False, "error": {"code": "paused", "message": "the daemon is paused"}}
    assert ok(None).count(b"\n") == 1
