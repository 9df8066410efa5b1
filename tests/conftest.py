"""Shared fixtures: a real sync server on 127.0.0.1 with a real SQLite file."""

from __future__ import annotations

import os

# Every twin look-up prepared outside the write lock is checked against a fresh one
# (store.index.CHECK_PROBES), here and in the daemons and commands the tests start.
os.environ["MEMENTO_SYNCD_CHECK_PROBES"] = "1"

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from memento_syncd.core.limits import Limits
from memento_syncd.server.app import make_app
from memento_syncd.server.http_io import SERVER_OPTIONS
from memento_syncd.server.storage.sqlite import SQLiteStore
from tests.faults import FaultProxy

_counter = itertools.count(1)


def obs(sync_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A pushable observation with sensible defaults; ``fields`` override them."""
    base: dict[str, Any] = {
        "sync_id": sync_id or f"obs-{next(_counter)}",
        "type": "decision",
        "title": "Use SQLite",
        "content": "We keep memory in SQLite because it is embedded.",
        "updated_at": "2025-01-15T10:30:00Z",
    }
    base.update(fields)
    return base


@dataclass
class Reply:
    """An HTTP reply: status and decoded JSON body."""

    status: int
    body: Any


class Api:
    """A thin HTTP client for tests; speaks to the real server over TCP."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, store: SQLiteStore, app: web.Application
    ) -> None:
        self.session = session
        self.url = url
        self.store = store
        self.app = app

    async def token(self, team: str = "acme", member: str = "alice") -> str:
        """A fresh token for a member, created in the server's store."""
        return await self.store.create_token(team, member, "2025-01-01T00:00:00Z")

    async def call(
        self,
        path: str,
        token: str | None,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        """Send a request and return its status and JSON body."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else aiohttp.JsonPayload(body))
        async with self.session.request(method, self.url + path, data=data, headers=sent) as resp:
            return Reply(resp.status, await resp.json(content_type=None))

    async def push(
        self, token: str, project: str, observations: list[dict[str, Any]], **extra: Any
    ) -> Reply:
        """POST /api/sync/push."""
        return await self.call(
            "/api/sync/push", token, {"project_id": project, "observations": observations, **extra}
        )

    async def pull(
        self, token: str, project: str, cursor: str | None = None, limit: int | None = None
    ) -> Reply:
        """POST /api/sync/pull."""
        body: dict[str, Any] = {"project_id": project, "cursor": cursor}
        if limit is not None:
            body["limit"] = limit
        return await self.call("/api/sync/pull", token, body)

    async def pull_all(
        self, token: str, project: str, cursor: str | None = None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """Pull every page; return all observations and the final cursor."""
        seen: list[dict[str, Any]] = []
        while True:
            reply = await self.pull(token, project, cursor, limit)
            assert reply.status == 200, reply.body
            seen.extend(reply.body["observations"])
            cursor = reply.body["cursor"]
            if not reply.body["has_more"]:
                return seen, cursor


@pytest.fixture
def limits() -> Limits:
    """Server limits for a test; override the fixture to tighten them."""
    return Limits()


@pytest.fixture
async def api(tmp_path: Path, limits: Limits) -> AsyncIterator[Api]:
    """A real server on 127.0.0.1 (random port) over a fresh SQLite file."""
    store = SQLiteStore(tmp_path / "server.db")
    server = TestServer(make_app(store, limits), host="127.0.0.1")
    await server.start_server(**SERVER_OPTIONS)
    async with aiohttp.ClientSession() as session:
        yield Api(session, str(server.make_url("")).rstrip("/"), store, server.app)
    await server.close()


@pytest.fixture
async def proxy(api: Api) -> AsyncIterator[FaultProxy]:
    """A fault-injecting TCP proxy in front of the test server."""
    host, port = api.url.removeprefix("http://").split(":")
    made = FaultProxy(host, int(port))
    await made.start()
    yield made
    await made.close()
