"""A server database replaced or restored from a backup: devices resync, losing nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from memento_syncd.server.app import make_app
from memento_syncd.server.http_io import SERVER_OPTIONS
from memento_syncd.server.storage.sqlite import SQLiteStore
from tests.client.devices import Device

STAMP = "2025-01-01T00:00:00Z"


class Servers:
    """Start and stop sync servers on database files, one at a time, as an operator would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: TestServer | None = None
        self.store: SQLiteStore | None = None

    async def start(self, db: Path) -> str:
        """Serve ``db``; returns the URL."""
        await self.stop()
        self.store = SQLiteStore(db)
        self.running = TestServer(make_app(self.store), host="127.0.0.1")
        await self.running.start_server(**SERVER_OPTIONS)
        return str(self.running.make_url("")).rstrip("/")

    async def token(self, member: str) -> str:
        """A token of team acme for ``member`` on the running server."""
        assert self.store is not None
        return await self.store.create_token("acme", member, STAMP)

    async def stop(self) -> None:
        """Stop the running server, if any."""
        if self.running is not None:
            await self.running.close()
            self.running = None


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Servers]:
    """Servers started by the test, stopped at its end."""
    made = Servers(tmp_path)
    yield made
    await made.stop()


async def _device(root: Path, name: str, url: str, token: str) -> Device:
    return Device(root / name, url, token)


def _move(device: Device, url: str, token: str) -> None:
    device.url, device.token = url, token


async def test_a_replaced_server_is_refilled_by_the_devices(
    tmp_path: Path, servers: Servers
) -> None:
    """The server starts over empty: devices push everything again and converge, losing nothing."""
    url = await servers.start(tmp_path / "old.db")
    a = await _device(tmp_path, "A", url, await servers.token("alice"))
    b = await _device(tmp_path, "B", url, await servers.token("bob"))
    a.save(title="x")
    y = a.save(title="y")
    await a.sync()
    await b.sync()
    assert len(b.live()) == 2

    url = await servers.start(tmp_path / "new.db")  # a new, empty database
    _move(a, url, await servers.token("alice"))
    _move(b, url, await servers.token("bob"))
    b.edit(b.find("y"), content="edited on B while the server was being replaced")
    pulled = await a.pull()
    assert pulled[0].outcomes["server_replaced"] == 1
    assert pulled[0].outcomes["requeued"] == 2
    pushed = await a.push()
    assert pushed[0].outcomes["inserted"] == 2
    b_pushed = await b.push()  # B's stale cursor goes with its push this time
    assert b_pushed[0].outcomes["server_replaced"] == 1
    await b.sync()
    await a.sync()
    assert a.live() == b.live()
    assert a.row(y)["content"] == "edited on B while the server was being replaced"
    c = await _device(tmp_path, "C", url, await servers.token("carol"))
    await c.pull()
    assert c.live() == a.live()
    assert a.pending() == b.pending() == 0


async def test_a_server_restored_from_a_backup_gets_back_what_it_lost(
    tmp_path: Path, servers: Servers
) -> None:
    """A restore rolls the server back: the device notices (cursor past the head) and re-pushes."""
    url = await servers.start(tmp_path / "live.db")
    token = await servers.token("alice")
    a = await _device(tmp_path, "A", url, token)
    x = a.save(title="x")
    await a.sync()
    backup = sqlite3.connect(tmp_path / "backup.db")
    with sqlite3.connect(tmp_path / "live.db") as live:
        live.backup(backup)
    backup.close()
    a.save(title="z, lost in the restore")
    a.edit(x, content="x edited, lost in the restore")
    await a.sync()

    url = await servers.start(tmp_path / "backup.db")  # the same database, an hour ago
    _move(a, url, token)
    reports = await a.pull()
    assert reports[0].outcomes["server_replaced"] == 1
    await a.sync()
    assert a.row(x)["content"] == "x edited, lost in the restore"
    c = await _device(tmp_path, "C", url, await servers.token("carol"))
    await c.pull()
    assert c.live() == a.live()
    assert len(c.live()) == 2


async def test_a_cursor_of_another_server_is_refused_once_then_recovered(
    tmp_path: Path, servers: Servers
) -> None:
    """Only the first stale cursor of a run is recovered: a pull then completes normally."""
    url = await servers.start(tmp_path / "one.db")
    a = await _device(tmp_path, "A", url, await servers.token("alice"))
    a.save(title="x")
    await a.sync()
    url = await servers.start(tmp_path / "two.db")
    _move(a, url, await servers.token("alice"))
    first = await a.pull()
    assert first[0].outcomes["server_replaced"] == 1
    await a.push()
    again = await a.pull()
    assert again[0].outcomes["server_replaced"] == 0
    assert a.pending() == 0
