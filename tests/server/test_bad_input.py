"""Bad input gets a clear 4xx in the one error shape, applies nothing, and the server serves on."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

from memento_syncd.core.cursor import encode_cursor
from memento_syncd.core.limits import Limits
from tests.conftest import Api, obs

SMALL = Limits(
    max_body_bytes=64 * 1024, max_batch=10, max_observation_bytes=4096, max_page=50, default_page=20
)


@pytest.fixture
def limits() -> Limits:
    """Tight limits so that oversize cases stay small."""
    return SMALL


def _push(*items: Any, **top: Any) -> bytes:
    body: dict[str, Any] = {"project_id": "p", "observations": list(items)}
    body.update(top)
    return json.dumps(body).encode()


GOOD = obs("good-1")
FOREIGN_CURSOR = encode_cursor("feedfacefeedface", "1\np", 5)

# (name, path, raw body, status, error code, field the message must name)
CASES: list[tuple[str, str, bytes, int, str, str]] = [
    ("empty body", "push", b"", 400, "malformed_json", ""),
    ("truncated json", "push", b'{"project_id": "p", "observations": [', 400, "malformed_json", ""),
    ("not utf-8", "push", b'{"project_id": "\xff\xfe"}', 400, "invalid_utf8", ""),
    (
        "NaN literal",
        "push",
        _push(obs(), base_version=1).replace(b'"p"', b"NaN", 1),
        400,
        "malformed_json",
        "",
    ),
    ("deep nesting", "push", b"[" * 100_000 + b"]" * 100_000, 413, "too_large", ""),
    (
        "5000-digit integer",
        "pull",
        b'{"project_id": "p", "limit": 1' + b"0" * 4999 + b"}",
        400,
        "malformed_json",
        "",
    ),
    ("array body", "push", b"[]", 422, "invalid", "body"),
    ("string body", "pull", b'"hello"', 422, "invalid", "body"),
    ("missing project_id", "push", b'{"observations": []}', 422, "invalid", "project_id"),
    ("project_id number", "pull", b'{"project_id": 7}', 422, "invalid", "project_id"),
    ("project_id empty", "pull", b'{"project_id": ""}', 422, "invalid", "project_id"),
    (
        "project_id control char",
        "pull",
        b'{"project_id": "a\\u0000b"}',
        422,
        "invalid",
        "project_id",
    ),
    (
        "observations not array",
        "push",
        b'{"project_id": "p", "observations": {}}',
        422,
        "invalid",
        "observations",
    ),
    ("observation not object", "push", _push(GOOD, "x"), 422, "invalid", "observations[1]"),
    (
        "missing sync_id",
        "push",
        _push(GOOD, {k: v for k, v in obs().items() if k != "sync_id"}),
        422,
        "invalid",
        "observations[1].sync_id",
    ),
    (
        "title wrong type",
        "push",
        _push(GOOD, obs(title=["x"])),
        422,
        "invalid",
        "observations[1].title",
    ),
    (
        "content null",
        "push",
        _push(GOOD, obs(content=None)),
        422,
        "invalid",
        "observations[1].content",
    ),
    (
        "bad timestamp",
        "push",
        _push(GOOD, obs(updated_at="yesterday")),
        422,
        "invalid",
        "observations[1].updated_at",
    ),
    (
        "impossible date",
        "push",
        _push(GOOD, obs(updated_at="2025-02-30T00:00:00Z")),
        422,
        "invalid",
        "observations[1].updated_at",
    ),
    ("bad scope", "push", _push(GOOD, obs(scope="world")), 422, "invalid", "observations[1].scope"),
    (
        "base_version string",
        "push",
        _push(GOOD, obs(base_version="1")),
        422,
        "invalid",
        "observations[1].base_version",
    ),
    (
        "base_version boolean",
        "push",
        _push(GOOD, obs(base_version=True)),
        422,
        "invalid",
        "observations[1].base_version",
    ),
    (
        "base_version zero",
        "push",
        _push(GOOD, obs(base_version=0)),
        422,
        "invalid",
        "observations[1].base_version",
    ),
    (
        "huge integer",
        "push",
        _push(GOOD, obs(base_version=10**40)),
        422,
        "invalid",
        "observations[1].base_version",
    ),
    (
        "integer too long to parse",
        "push",
        _push(GOOD).replace(b'"observations"', b'"x": ' + b"9" * 5000 + b', "observations"'),
        400,
        "malformed_json",
        "",
    ),
    (
        "lone surrogate",
        "push",
        _push(GOOD).replace(b"Use SQLite", b"\\ud800"),
        422,
        "invalid",
        "observations[0].title",
    ),
    (
        "wrong content_hash",
        "push",
        _push(GOOD, obs(content_hash="0" * 64)),
        422,
        "invalid",
        "observations[1].content_hash",
    ),
    (
        "project differs from project_id",
        "push",
        _push(GOOD, obs(project="other")),
        422,
        "invalid",
        "observations[1].project",
    ),
    (
        "duplicate sync_id",
        "push",
        _push(GOOD, obs("good-1")),
        422,
        "invalid",
        "observations[1].sync_id",
    ),
    (
        "batch too long",
        "push",
        _push(*[obs() for _ in range(11)]),
        413,
        "too_large",
        "observations",
    ),
    (
        "content too large",
        "push",
        _push(GOOD, obs(content="x" * 5000)),
        413,
        "too_large",
        "observations[1].content",
    ),
    (
        "observation too large",
        "push",
        _push(GOOD, obs(content="x" * 3000, title="t" * 1500)),
        413,
        "too_large",
        "observations[1]",
    ),
    (
        "body too large",
        "push",
        _push(*[obs(content="y" * 4000) for _ in range(20)]),
        413,
        "too_large",
        "",
    ),
    ("limit zero", "pull", b'{"project_id": "p", "limit": 0}', 422, "invalid", "limit"),
    ("limit float", "pull", b'{"project_id": "p", "limit": 2.5}', 422, "invalid", "limit"),
    (
        "garbage cursor",
        "pull",
        b'{"project_id": "p", "cursor": "2025-01-15T10:30:00Z"}',
        400,
        "invalid_cursor",
        "",
    ),
    ("cursor wrong type", "pull", b'{"project_id": "p", "cursor": 5}', 422, "invalid", "cursor"),
    (
        "cursor of another server",
        "pull",
        json.dumps({"project_id": "p", "cursor": FOREIGN_CURSOR}).encode(),
        409,
        "stale_cursor",
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "raw", "status", "code", "field"), CASES, ids=[c[0] for c in CASES]
)
async def test_bad_input_is_rejected_cleanly(
    api: Api, name: str, path: str, raw: bytes, status: int, code: str, field: str
) -> None:
    """Each malformed request gets its 4xx and code, names the field, and writes nothing."""
    token = await api.token()
    reply = await api.call(
        f"/api/sync/{path}", token, raw=raw, headers={"Content-Type": "application/json"}
    )
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == code
    assert isinstance(reply.body["error"]["message"], str)
    assert reply.body["error"]["message"]
    if field:
        assert reply.body["error"]["details"]["field"] == field
        assert field in reply.body["error"]["message"]
    assert await api.store.head() == 0
    rows, _ = await api.pull_all(token, "p")
    assert rows == []


async def test_a_huge_integer_gets_a_plain_message(api: Api) -> None:
    """A 5000-digit number is a 400 saying the number is too large, not naming Python internals."""
    token = await api.token()
    raw = b'{"project_id": "p", "limit": -' + b"9" * 5000 + b"}"
    reply = await api.call("/api/sync/pull", token, raw=raw)
    assert (reply.status, reply.body["error"]["code"]) == (400, "malformed_json")
    message = reply.body["error"]["message"]
    assert "more than 4300 digits" in message
    assert "sys." not in message
    assert "int_max_str_digits" not in message


def test_the_table_covers_at_least_twenty_cases() -> None:
    """The issue asks for a table of at least twenty bad inputs."""
    assert len(CASES) >= 20


async def test_hostile_strings_round_trip_byte_for_byte(api: Api) -> None:
    """NUL, RTL marks, emoji, SQL and HTML in fields are stored and returned unchanged."""
    token = await api.token()
    hostile = (
        "'); DROP TABLE observations;--\x00<script>alert(1)</script>"
        '\u202e\U0001f600 \u00e9\u0301 \r\n\t\\"'
    )
    reply = await api.push(
        token, "p", [obs("h", title=hostile, content=hostile, topic_key=hostile, type="note")]
    )
    assert reply.status == 200
    rows, _ = await api.pull_all(token, "p")
    assert (rows[0]["title"], rows[0]["content"], rows[0]["topic_key"]) == (hostile,) * 3


async def test_server_keeps_serving_after_a_burst_of_garbage(api: Api) -> None:
    """After every bad case in a row, a good push and pull still work."""
    token = await api.token()
    for _, path, raw, *_ in CASES:
        await api.call(f"/api/sync/{path}", token, raw=raw)
    assert (await api.push(token, "p", [obs("after")])).status == 200
    rows, _ = await api.pull_all(token, "p")
    assert [o["sync_id"] for o in rows] == ["after"]


async def test_limit_above_the_page_size_is_lowered(api: Api) -> None:
    """A client asking for more than the server's page gets a full page and has_more."""
    token = await api.token()
    for start in range(0, 60, 10):
        await api.push(token, "p", [obs(f"o{i}") for i in range(start, start + 10)])
    reply = await api.pull(token, "p", limit=10_000)
    assert len(reply.body["observations"]) == SMALL.max_page
    assert reply.body["has_more"] is True


async def test_a_cursor_past_the_head_is_stale(api: Api) -> None:
    """A cursor beyond what the database holds (it was restored from a backup) is a 409."""
    token = await api.token()
    who = await api.store.authenticate(token)
    assert who is not None
    await api.call("/api/sync/push", token, raw=_push(GOOD))
    ahead = encode_cursor(api.store.epoch, f"{who.team_id}\np", 1 + await api.store.head())
    for path in ("pull", "push"):
        reply = await api.call(
            f"/api/sync/{path}", token, raw=json.dumps({"project_id": "p", "cursor": ahead,
                                                         "observations": []}).encode(),
        )  # fmt: skip
        assert reply.status == 409, path
        assert reply.body["error"]["code"] == "stale_cursor"
        assert "backup" in reply.body["error"]["message"]
    at_head = encode_cursor(api.store.epoch, f"{who.team_id}\np", await api.store.head())
    reply = await api.call("/api/sync/pull", token, body={"project_id": "p", "cursor": at_head})
    assert reply.status == 200


@pytest.mark.parametrize(
    ("encoding", "raw", "status", "code"),
    [
        ("gzip", b"{}", 400, "malformed_body"),
        ("deflate", b"not deflate", 400, "malformed_body"),
        ("br", b"{}", 415, "unsupported_encoding"),
        ("compress", b"{}", 415, "unsupported_encoding"),
        ("gzip", gzip.compress(b"\0" * (SMALL.max_body_bytes + 1)), 413, "too_large"),
    ],
)
async def test_a_body_in_a_bad_or_unknown_encoding_gets_a_json_4xx(
    api: Api, encoding: str, raw: bytes, status: int, code: str
) -> None:
    """Content-Encoding that is wrong, unknown or inflates past the limit is a 4xx in JSON."""
    token = await api.token()
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    reply = await api.call("/api/sync/push", token, raw=raw, headers=headers)
    assert (reply.status, reply.body["error"]["code"]) == (status, code)
    assert await api.store.head() == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
async def test_a_compressed_push_is_taken(api: Api, encoding: str) -> None:
    """A push sent as gzip or deflate is decoded and stored like a plain one."""
    token = await api.token()
    raw = _push(obs("zipped"))
    if encoding == "gzip":
        raw = gzip.compress(raw)
    elif encoding == "deflate":
        raw = zlib.compress(raw)
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    reply = await api.call("/api/sync/push", token, raw=raw, headers=headers)
    assert reply.status == 200, reply.body
    rows, _ = await api.pull_all(token, "p")
    assert [o["sync_id"] for o in rows] == ["zipped"]
