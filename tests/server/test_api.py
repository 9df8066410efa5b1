"""The HTTP contract of interfaces.md section 5, end to end over TCP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from memento_syncd.core.hashing import content_hash
from memento_syncd.server.app import make_app
from memento_syncd.server.http_io import SERVER_OPTIONS
from memento_syncd.server.storage.sqlite import SQLiteStore
from tests.conftest import Api, obs


async def test_health_answers_without_a_token(api: Api) -> None:
    """GET /api/health needs no token and says ok."""
    reply = await api.call("/api/health", None, method="GET")
    assert reply.status == 200
    assert reply.body["status"] == "ok"


async def test_push_then_pull_returns_every_wire_field(api: Api) -> None:
    """A pushed observation comes back with all wire fields, normalized timestamps and hash."""
    token = await api.token()
    sent = obs(
        "s-1",
        topic_key="architecture/db",
        created_at="2025-01-14 09:00:00",
        updated_at="2025-01-15T11:30:00+01:00",
    )
    reply = await api.push(token, "my-app", [sent])
    assert reply.status == 200
    assert reply.body["synced"] == 1
    assert reply.body["conflicts"] == 0
    assert isinstance(reply.body["cursor"], str)
    pulled, _ = await api.pull_all(token, "my-app")
    assert len(pulled) == 1
    got = pulled[0]
    assert got["sync_id"] == "s-1"
    assert got["project"] == "my-app"
    assert got["scope"] == "project"
    assert got["topic_key"] == "architecture/db"
    assert got["created_at"] == "2025-01-14T09:00:00Z"
    assert got["updated_at"] == "2025-01-15T10:30:00Z"
    assert got["deleted_at"] is None
    assert got["content_hash"] == content_hash(sent["content"])
    assert got["version"] == 1
    assert got["author"] == "alice"


async def test_pull_after_cursor_returns_only_newer_changes(api: Api) -> None:
    """A pull from a cursor returns what committed after it, and nothing again."""
    token = await api.token()
    await api.push(token, "p", [obs("a"), obs("b")])
    first, cursor = await api.pull_all(token, "p")
    assert [o["sync_id"] for o in first] == ["a", "b"]
    await api.push(token, "p", [obs("c")])
    second, cursor = await api.pull_all(token, "p", cursor)
    assert [o["sync_id"] for o in second] == ["c"]
    third, _ = await api.pull_all(token, "p", cursor)
    assert third == []


async def test_an_edit_moves_the_observation_after_the_cursor(api: Api) -> None:
    """An edited observation is pulled again, in its newest version, after the old cursor."""
    token = await api.token()
    await api.push(token, "p", [obs("a"), obs("b")])
    _, cursor = await api.pull_all(token, "p")
    await api.push(token, "p", [obs("a", content="changed", base_version=1)])
    again, _ = await api.pull_all(token, "p", cursor)
    assert [(o["sync_id"], o["content"], o["version"]) for o in again] == [("a", "changed", 2)]


async def test_project_defaults_to_project_id(api: Api) -> None:
    """An observation without ``project`` lands in the request's project."""
    token = await api.token()
    await api.push(token, "alpha", [obs("x")])
    assert [o["project"] for o in (await api.pull_all(token, "alpha"))[0]] == ["alpha"]
    assert (await api.pull_all(token, "beta"))[0] == []


async def test_unknown_fields_are_ignored(api: Api) -> None:
    """Extra fields such as the local ``id`` of the product description are accepted."""
    token = await api.token()
    reply = await api.push(token, "p", [obs("x", id=42, extra={"a": 1})], future="yes")
    assert reply.status == 200
    assert reply.body["synced"] == 1


async def test_empty_push_is_fine(api: Api) -> None:
    """A push with no observations succeeds and changes nothing."""
    token = await api.token()
    reply = await api.push(token, "p", [])
    assert reply.status == 200
    assert (reply.body["synced"], reply.body["conflicts"]) == (0, 0)


async def test_push_accepts_its_own_cursor_back(api: Api) -> None:
    """The cursor a response gave is accepted in the next request."""
    token = await api.token()
    first = await api.push(token, "p", [obs("a")])
    second = await api.push(token, "p", [obs("b")], cursor=first.body["cursor"])
    assert second.status == 200


async def test_results_report_each_change(api: Api) -> None:
    """Every pushed change gets a result with its status and server version."""
    token = await api.token()
    await api.push(token, "p", [obs("a")])
    reply = await api.push(token, "p", [obs("a"), obs("b"), obs("a2")])
    statuses = {r["sync_id"]: (r["status"], r["version"]) for r in reply.body["results"]}
    assert statuses == {"a": ("unchanged", 1), "b": ("inserted", 1), "a2": ("inserted", 1)}


async def test_database_locked_by_another_process_answers_503_and_recovers(
    tmp_path: Path,
) -> None:
    """A writer holding the database too long gives a retryable 503, then service resumes."""
    store = SQLiteStore(tmp_path / "locked.db", busy_timeout_ms=200)
    server = TestServer(make_app(store), host="127.0.0.1")
    await server.start_server(**SERVER_OPTIONS)
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), store, server.app)
        token = await api.token()
        blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        reply = await api.push(token, "p", [obs("a")])
        assert (reply.status, reply.body["error"]["code"]) == (503, "unavailable")
        blocker.execute("ROLLBACK")
        blocker.close()
        assert (await api.push(token, "p", [obs("a")])).status == 200
    await server.close()
