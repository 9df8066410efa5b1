"""GET /api/sync/stream: a WebSocket that names the project right after each commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from memento_syncd.server.app import make_app
from memento_syncd.server.http_io import SERVER_OPTIONS
from memento_syncd.server.storage.sqlite import SQLiteStore
from tests.conftest import Api, obs

STAMP = "2025-01-01T00:00:00Z"


async def test_a_commit_is_announced_to_the_team(api: Api) -> None:
    """A teammate's push arrives as {project, seq}; another team hears nothing."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    other = await api.token("umbrella", "carol")
    url = api.url + "/api/sync/stream"
    async with (
        api.session.ws_connect(url, headers={"Authorization": f"Bearer {bob}"}) as ours,
        api.session.ws_connect(url, headers={"Authorization": f"Bearer {other}"}) as theirs,
    ):
        await asyncio.sleep(0.05)
        await api.push(alice, "web", [obs("a")])
        message = await asyncio.wait_for(ours.receive_json(), 5)
        assert message["project"] == "web"
        assert isinstance(message["seq"], int)
        try:
            await asyncio.wait_for(theirs.receive(), 0.3)
            heard = True
        except TimeoutError:
            heard = False
        assert not heard


async def test_unchanged_pushes_announce_nothing(api: Api) -> None:
    """A replayed push writes nothing and so wakes nobody."""
    alice = await api.token()
    await api.push(alice, "p", [obs("a")])
    url = api.url + "/api/sync/stream"
    async with api.session.ws_connect(url, headers={"Authorization": f"Bearer {alice}"}) as ws:
        await asyncio.sleep(0.05)
        await api.push(alice, "p", [obs("a")])
        try:
            await asyncio.wait_for(ws.receive(), 0.3)
            heard = True
        except TimeoutError:
            heard = False
        assert not heard


async def test_the_stream_needs_a_token(api: Api) -> None:
    """Without a valid token the upgrade is refused with 401."""
    try:
        async with api.session.ws_connect(api.url + "/api/sync/stream"):
            refused = None
    except aiohttp.WSServerHandshakeError as exc:
        refused = exc.status
    assert refused == 401


async def test_a_device_is_not_told_of_its_own_pushes(api: Api) -> None:
    """With ?device_id=, the subscriber hears teammates' commits but not its own."""
    alice = await api.token()
    url = api.url + "/api/sync/stream"
    headers = {"Authorization": f"Bearer {alice}"}
    async with api.session.ws_connect(url, headers=headers, params={"device_id": "laptop"}) as ws:
        await asyncio.sleep(0.05)
        await api.push(alice, "p", [obs("mine")], device_id="laptop")
        try:
            await asyncio.wait_for(ws.receive(), 0.3)
            heard_own = True
        except TimeoutError:
            heard_own = False
        assert not heard_own
        await api.push(alice, "p", [obs("theirs")], device_id="desktop")
        message = await asyncio.wait_for(ws.receive_json(), 5)
        assert message["project"] == "p"


async def test_a_revoked_token_loses_its_stream(tmp_path: Path) -> None:
    """Revoking the token closes an open stream (1008) at the next check; others stay open."""
    store = SQLiteStore(tmp_path / "server.db")
    server = TestServer(make_app(store, stream_recheck=0.2), host="127.0.0.1")
    await server.start_server(**SERVER_OPTIONS)
    url = str(server.make_url("/api/sync/stream"))
    alice = await store.create_token("acme", "alice", STAMP)
    bob = await store.create_token("acme", "bob", STAMP)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, headers={"Authorization": f"Bearer {alice}"}) as revoked,
            session.ws_connect(url, headers={"Authorization": f"Bearer {bob}"}) as kept,
        ):
            assert await store.revoke_token(alice, STAMP)
            closing = await asyncio.wait_for(revoked.receive(), 5)
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == aiohttp.WSCloseCode.POLICY_VIOLATION
            assert closing.extra == "token revoked"
            await asyncio.sleep(0.5)  # two more checks
            assert not kept.closed
    finally:
        await server.close()
