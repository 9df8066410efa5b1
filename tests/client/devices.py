"""Devices for client tests: separate MEMENTO_HOMEs, the application simulated by raw SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from memento_syncd.client.engine import Report, Skipped, SyncEngine
from memento_syncd.client.localdb import LocalDB
from memento_syncd.client.transport import Transport
from memento_syncd.core.config import ProjectConfig, SyncConfig
from memento_syncd.server.app import make_app
from memento_syncd.server.http_io import SERVER_OPTIONS
from memento_syncd.server.storage.sqlite import SQLiteStore
from memento_syncd.store.schema import APP_TABLE

LIVE_FIELDS = "project, type, title, content, topic_key, scope"


class Device:
    """One device: its own database, a clock that may be wrong, and sync through the engine."""

    def __init__(self, root: Path, url: str, token: str, **settings: Any) -> None:
        self.root = root
        self.url = url
        self.token = token
        root.mkdir(parents=True, exist_ok=True)
        self.db_path = root / "memento.db"
        self.app = sqlite3.connect(self.db_path, isolation_level=None, timeout=5)
        self.app.execute("PRAGMA journal_mode = WAL")
        self.app.execute(APP_TABLE)
        self.skew = timedelta(0)
        strategies = settings.pop("strategies", {})
        self.config = SyncConfig(
            server_url=url,
            projects={p: ProjectConfig(s) for p, s in strategies.items()},
            **settings,
        )

    def clock(self) -> datetime:
        """This device's idea of now (``skew`` makes it wrong)."""
        return datetime.now(UTC) + self.skew

    def stamp(self) -> str:
        """A timestamp as the application would write it, from this device's clock."""
        return self.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def stamp_ago(self, seconds: float) -> str:
        """A timestamp ``seconds`` before this device's now."""
        return (self.clock() - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def save(
        self, project: str = "p", title: str = "t", content: str | None = None, **extra: Any
    ) -> int:
        """INSERT as the application does; returns the local id (content defaults per title)."""
        now = extra.pop("at", None) or self.stamp()
        content = f"notes about {title}" if content is None else content
        values = {"project": project, "type": "note", "title": title, "content": content,
                  "created_at": now, "updated_at": now, **extra}  # fmt: skip
        cols = ", ".join(values)
        marks = ", ".join("?" * len(values))
        cur = self.app.execute(
            f"INSERT INTO observations ({cols}) VALUES ({marks})",  # noqa: S608
            tuple(values.values()),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def edit(self, obs_id: int, at: str | None = None, **fields: Any) -> None:
        """UPDATE as the application does, stamping updated_at."""
        fields.setdefault("updated_at", at or self.stamp())
        sets = ", ".join(f"{name} = ?" for name in fields)
        self.app.execute(
            f"UPDATE observations SET {sets} WHERE id = ?",  # noqa: S608
            (*fields.values(), obs_id),
        )

    def delete(self, obs_id: int) -> None:
        """Soft delete, as the application does."""
        self.edit(obs_id, deleted_at=self.stamp())

    def find(self, title: str) -> int:
        """The local id of the live row with ``title``."""
        row = self.app.execute(
            "SELECT id FROM observations WHERE title = ? AND deleted_at IS NULL", (title,)
        ).fetchone()
        assert row is not None, f"no live row titled {title!r}"
        return int(row[0])

    def row(self, obs_id: int) -> dict[str, Any]:
        """A row by id, as a dict."""
        cur = self.app.execute("SELECT * FROM observations WHERE id = ?", (obs_id,))
        names = [d[0] for d in cur.description]
        found = cur.fetchone()
        assert found is not None
        return dict(zip(names, found, strict=True))

    def live(self) -> list[tuple[Any, ...]]:
        """The live observations' content, sorted: what must converge across devices."""
        query = f"SELECT {LIVE_FIELDS} FROM observations WHERE deleted_at IS NULL"  # noqa: S608
        return sorted(self.app.execute(query).fetchall(), key=repr)

    def pending(self) -> int:
        """Observations with changes not yet acknowledged."""
        row = self.app.execute("SELECT count(DISTINCT obs_id) FROM sync_changes").fetchone()
        return int(row[0])

    async def open_db(self) -> LocalDB:
        """The sync side's connection, opened (opening takes the write lock: migrations)."""
        db = LocalDB(self.db_path)
        await db.open()
        return db

    async def _run(
        self, work: Callable[[SyncEngine], Any], url: str | None, db: LocalDB | None,
        on_skipped: Skipped | None,
    ) -> Any:  # fmt: skip
        """``work`` with an engine on ``db`` (left open) or on a connection of its own."""
        own = db is None
        used = await self.open_db() if db is None else db
        try:
            async with Transport(url or self.url, self.token) as transport:
                engine = SyncEngine(used, transport, self.config, self.clock, on_skipped=on_skipped)
                return await work(engine)
        finally:
            if own:
                await used.close()

    async def push(
        self, project: str | None = None, url: str | None = None, *,
        db: LocalDB | None = None, on_skipped: Skipped | None = None,
    ) -> list[Report]:  # fmt: skip
        """One push of everything pending (through ``url``, on ``db``, telling ``on_skipped``
        of each row set aside, when given)."""
        result: list[Report] = await self._run(lambda e: e.push(project), url, db, on_skipped)
        return result

    async def pull(
        self, project: str | None = None, url: str | None = None, *, db: LocalDB | None = None
    ) -> list[Report]:
        """One pull of every page (through ``url``, on ``db``, when given)."""
        result: list[Report] = await self._run(lambda e: e.pull(project), url, db, None)
        return result

    async def sync(self) -> None:
        """Push, then pull."""
        await self.push()
        await self.pull()

    def close(self) -> None:
        """Close the application's connection."""
        self.app.close()

    @asynccontextmanager
    async def two_engines(self, slow_url: str) -> AsyncIterator[tuple[SyncEngine, SyncEngine]]:
        """Two engines on one sync connection of this device, as the daemon and a command
        beside it: the first talks through ``slow_url`` (a fault proxy), the second
        straight to the server."""
        db = await self.open_db()
        try:
            async with (
                Transport(slow_url, self.token) as slow,
                Transport(self.url, self.token) as fast,
            ):
                yield (SyncEngine(db, slow, self.config, self.clock),
                       SyncEngine(db, fast, self.config, self.clock))  # fmt: skip
        finally:
            await db.close()


@asynccontextmanager
async def served_devices(root: Path, count: int, **settings: Any) -> AsyncIterator[list[Device]]:
    """A real server on 127.0.0.1 over a fresh store in ``root`` and ``count`` devices, one
    member each, of one team (for tests that make many scenarios: hypothesis)."""
    store = SQLiteStore(root / "server.db")
    server = TestServer(make_app(store), host="127.0.0.1")
    await server.start_server(**SERVER_OPTIONS)
    url = str(server.make_url("")).rstrip("/")
    devices: list[Device] = []
    try:
        for n in range(count):
            token = await store.create_token("team", f"member{n}", "2025-01-01T00:00:00Z")
            devices.append(Device(root / f"d{n}", url, token, **settings))
        yield devices
    finally:
        for device in devices:
            device.close()
        await server.close()
