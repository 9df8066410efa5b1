"""The embedded SQLite store: WAL, one serialized writer, a small pool of readers."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite

from memento_syncd.core.observation import Observation, StoredObservation, withdrawn
from memento_syncd.core.planning import Pusher, Write, plan_push
from memento_syncd.core.wire import PushRequest, utf8_size
from memento_syncd.server import tokens
from memento_syncd.server.storage.base import (
    ChangeResult,
    Forbidden,
    Principal,
    PullPage,
    PushOutcome,
    StoreBusy,
    TokenInfo,
)
from memento_syncd.server.storage.sqlite_schema import MIGRATIONS

_OBS_COLUMNS = (
    "o.sync_id, o.project, o.type, o.title, o.content, o.topic_key, o.scope, o.content_hash,"
    " o.created_at, o.updated_at, o.deleted_at, o.version, o.owner_member_id, m.name,"
    " o.writer, o.based_on"
)
_INSERT = (
    "INSERT INTO observations (team_id, sync_id, project, type, title, content, topic_key,"
    " scope, content_hash, created_at, updated_at, deleted_at, version, seq, owner_member_id,"
    " writer, based_on, shared) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, ?8 = 'project')"
)
_UPDATE = (
    "UPDATE observations SET project=?, type=?, title=?, content=?, topic_key=?, scope=?,"
    " content_hash=?, created_at=?, updated_at=?, deleted_at=?, version=?, seq=?, writer=?,"
    " based_on=?, shared = max(shared, ?6 = 'project') WHERE team_id=? AND sync_id=?"
)
# What a member may pull: the team's shared observations, their own personal ones, and
# (as withdrawals, see ``_visible``) those once shared and made personal since.
_SEEN_BY = "(o.scope = 'project' OR o.owner_member_id = ? OR o.shared = 1)"
_BUSY_TIMEOUT_MS = 10_000
_READERS = 2


def _visible(stored: StoredObservation, who: Principal) -> StoredObservation:
    """``stored`` as ``who`` may see it: another member's personal observation (once
    shared) only as a withdrawal, so the copies teammates hold are deleted too."""
    obs = stored.observation
    if obs.scope == "project" or stored.owner_member_id == who.member_id:
        return stored
    return replace(stored, observation=withdrawn(obs), withdrawn=True)


def _row_to_stored(row: Sequence[Any]) -> StoredObservation:
    return StoredObservation(
        observation=Observation(*row[:11]),
        version=row[11],
        owner_member_id=row[12],
        author=row[13],
        writer=row[14],
        based_on=row[15],
    )


class SQLiteStore:
    """A ``ServerStore`` on one SQLite file in WAL mode."""

    def __init__(self, path: Path, busy_timeout_ms: int = _BUSY_TIMEOUT_MS) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._epoch = ""

    @property
    def epoch(self) -> str:
        """A random id of this database, written into cursors."""
        return self._epoch

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self._path, isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            await conn.close()  # its thread would keep the process alive
            raise
        return conn

    async def open(self) -> None:
        """Create or migrate the schema, then open the reader pool.

        On failure every connection opened so far is closed again (each has a thread
        that would otherwise keep the process from exiting).
        """
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            await self._writer.execute("PRAGMA journal_mode = WAL")
            await self._writer.execute("PRAGMA synchronous = NORMAL")
            await self._migrate()
            for _ in range(_READERS):
                self._readers.put_nowait(await self._connect())
        except BaseException:
            await self.close()
            raise

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            async with db.execute("PRAGMA user_version") as cur:
                row = await cur.fetchone()
            current = int(row[0]) if row else 0
            if current > len(MIGRATIONS):
                raise sqlite3.DatabaseError(
                    f"{self._path} has schema version {current}, newer than this server knows;"
                    " upgrade memento-syncd"
                )
            for number, statements in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in statements:
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {number}")
            await db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?), ('seq', '0')",
                (secrets.token_hex(8),),
            )
            async with db.execute("SELECT value FROM meta WHERE key = 'epoch'") as cur:
                row = await cur.fetchone()
            assert row is not None  # noqa: S101 - inserted just above in this transaction
            self._epoch = str(row[0])

    async def close(self) -> None:
        """Close every connection."""
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        while not self._readers.empty():
            await self._readers.get_nowait().close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time: BEGIN IMMEDIATE, COMMIT, or ROLLBACK on error."""
        if self._writer is None:
            raise RuntimeError("store is not open")
        async with self._write_lock:
            db = self._writer
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreBusy(f"database is busy: {exc}") from exc
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    await asyncio.shield(db.execute("ROLLBACK"))
                raise

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def authenticate(self, token: str) -> Principal | None:
        """Return who ``token`` speaks for, or None if it is unknown or revoked."""
        parts = tokens.split(token)
        if parts is None:
            return None
        token_id, secret = parts
        query = (
            "SELECT t.secret_hash, t.revoked_at, m.id, m.name, tm.id, tm.name FROM tokens t"
            " JOIN members m ON m.id = t.member_id JOIN teams tm ON tm.id = m.team_id"
            " WHERE t.token_id = ?"
        )
        async with self._reader() as db, db.execute(query, (token_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            tokens.matches(secret, "0" * 64)  # same work whether or not the id exists
            return None
        if not tokens.matches(secret, row[0]) or row[1] is not None:
            return None
        return Principal(token_id, row[4], row[5], row[2], row[3])

    async def create_token(self, team: str, member: str, now: str) -> str:
        """Create team and member if needed; return a new token's plaintext (shown once)."""
        new = tokens.mint()
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO teams (name, created_at) VALUES (?, ?)", (team, now)
            )
            await db.execute(
                "INSERT OR IGNORE INTO members (team_id, name, created_at)"
                " SELECT id, ?, ? FROM teams WHERE name = ?",
                (member, now, team),
            )
            await db.execute(
                "INSERT INTO tokens (token_id, member_id, secret_hash, created_at)"
                " SELECT ?, m.id, ?, ? FROM members m JOIN teams t ON t.id = m.team_id"
                " WHERE t.name = ? AND m.name = ?",
                (new.token_id, new.secret_hash, now, team, member),
            )
        return new.text

    async def revoke_token(self, token_or_id: str, now: str) -> bool:
        """Revoke a token given as plaintext or id; False if there was none to revoke."""
        parts = tokens.split(token_or_id)
        token_id = parts[0] if parts else token_or_id
        async with self._transaction() as db:
            cur = await db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (now, token_id),
            )
            return cur.rowcount > 0

    async def list_tokens(self) -> list[TokenInfo]:
        """All tokens, newest first."""
        query = (
            "SELECT t.token_id, tm.name, m.name, t.created_at, t.revoked_at FROM tokens t"
            " JOIN members m ON m.id = t.member_id JOIN teams tm ON tm.id = m.team_id"
            " ORDER BY t.created_at DESC, t.token_id"
        )
        async with self._reader() as db, db.execute(query) as cur:
            rows = await cur.fetchall()
        return [TokenInfo(*row) for row in rows]

    async def projects(self, who: Principal) -> list[str]:
        """Names of the team's projects holding observations visible to ``who``."""
        query = (
            "SELECT DISTINCT project FROM observations WHERE team_id = ?"
            " AND (scope = 'project' OR owner_member_id = ?) ORDER BY project"
        )
        async with self._reader() as db, db.execute(query, (who.team_id, who.member_id)) as cur:
            return [str(row[0]) for row in await cur.fetchall()]

    async def head(self) -> int:
        """The highest sequence number committed so far."""
        async with (
            self._reader() as db,
            db.execute("SELECT value FROM meta WHERE key = 'seq'") as cur,
        ):
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _existing(
        self, db: aiosqlite.Connection, team_id: int, sync_ids: list[str]
    ) -> dict[str, StoredObservation]:
        found: dict[str, StoredObservation] = {}
        for start in range(0, len(sync_ids), 500):
            chunk = sync_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = (
                f"SELECT {_OBS_COLUMNS} FROM observations o"  # noqa: S608 - only '?' marks
                " JOIN members m ON m.id = o.owner_member_id"
                f" WHERE o.team_id = ? AND o.sync_id IN ({marks})"
            )
            async with db.execute(query, (team_id, *chunk)) as cur:
                for row in await cur.fetchall():
                    found[row[0]] = _row_to_stored(row)
        return found

    async def push(self, who: Principal, request: PushRequest, after_seq: int) -> PushOutcome:
        """Apply a push in one transaction; sequence numbers are taken inside it."""
        writer = f"{who.member_id}:{request.device_id}" if request.device_id else None
        pusher = Pusher(who.member_id, who.member, writer)
        async with self._transaction() as db:
            ids = [c.observation.sync_id for c in request.changes]
            existing = await self._existing(db, who.team_id, ids)
            async with db.execute("SELECT value FROM meta WHERE key = 'seq'") as cur:
                row = await cur.fetchone()
            first = int(row[0]) if row else 0
            plan = plan_push(existing, request.changes, pusher, first)
            if plan.forbidden is not None:
                raise Forbidden(*plan.forbidden)
            inserts = [_insert_row(who.team_id, w) for w in plan.writes if w.insert]
            updates = [_update_row(who.team_id, w) for w in plan.writes if not w.insert]
            if inserts:
                await db.executemany(_INSERT, inserts)
            if updates:
                await db.executemany(_UPDATE, updates)
            seq = plan.last_seq
            await db.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (str(seq),))
            cursor_seq = await self._cursor_after_own_writes(
                db, who, request.project_id, after_seq, own=(first, seq)
            )
        results = tuple(ChangeResult(*result) for result in plan.results)
        return PushOutcome(results, seq, cursor_seq)

    async def _cursor_after_own_writes(
        self,
        db: aiosqlite.Connection,
        who: Principal,
        project: str,
        after: int,
        *,
        own: tuple[int, int],
    ) -> int:
        """Skip past this push's own writes (sequence ``own[0]+1..own[1]``) but nobody else's."""
        first, last = own
        query = (
            "SELECT min(seq) FROM observations o WHERE team_id = ? AND project = ?"  # noqa: S608 - a constant clause
            f" AND seq > ? AND (seq <= ? OR seq > ?) AND {_SEEN_BY}"
        )
        args = (who.team_id, project, after, first, last, who.member_id)
        async with db.execute(query, args) as cur:
            row = await cur.fetchone()
        other = row[0] if row else None
        return max(after, last if other is None or other > last else other - 1)

    async def pull(
        self, who: Principal, project: str, after_seq: int, limit: int, max_bytes: int
    ) -> PullPage:
        """Observations visible to ``who`` after ``after_seq``, in sequence order.

        The page ends after ``limit`` rows or once its titles and contents pass
        ``max_bytes`` in UTF-8, as the answer carries them (always at least one row),
        whichever comes first.
        """
        query = (
            f"SELECT {_OBS_COLUMNS}, o.seq FROM observations o"  # noqa: S608 - constant columns
            " JOIN members m ON m.id = o.owner_member_id"
            f" WHERE o.team_id = ? AND o.project = ? AND o.seq > ? AND {_SEEN_BY}"
            " ORDER BY o.seq LIMIT ?"
        )
        args = (who.team_id, project, after_seq, who.member_id, limit + 1)
        page: list[Any] = []
        size = 0
        has_more = False
        async with self._reader() as db, db.execute(query, args) as cur:
            while not has_more and (batch := await cur.fetchmany(100)):
                for row in batch:
                    if len(page) == limit or (page and size > max_bytes):
                        has_more = True
                        break
                    page.append(row)
                    size += utf8_size(row[3], row[4])
        last_seq = int(page[-1][16]) if page else after_seq
        items = tuple(_visible(_row_to_stored(r), who) for r in page)
        return PullPage(items, last_seq, has_more)


def _fields(obs: Observation) -> tuple[Any, ...]:
    return (
        obs.sync_id,
        obs.project,
        obs.type,
        obs.title,
        obs.content,
        obs.topic_key,
        obs.scope,
        obs.content_hash,
        obs.created_at,
        obs.updated_at,
        obs.deleted_at,
    )


def _insert_row(team_id: int, write: Write) -> tuple[Any, ...]:
    s = write.stored
    return (
        team_id,
        *_fields(s.observation),
        s.version,
        write.seq,
        s.owner_member_id,
        s.writer,
        s.based_on,
    )


def _update_row(team_id: int, write: Write) -> tuple[Any, ...]:
    s = write.stored
    return (
        *_fields(s.observation)[1:],
        s.version,
        write.seq,
        s.writer,
        s.based_on,
        team_id,
        s.observation.sync_id,
    )
