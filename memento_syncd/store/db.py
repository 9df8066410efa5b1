"""Opening the device database and running short transactions that survive SQLITE_BUSY."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from memento_syncd.store import backfill
from memento_syncd.store.schema import APP_COLUMNS, APP_TABLE, MIGRATIONS

T = TypeVar("T")

BUSY_TIMEOUT_S = 2.0
# Between the transactions of a backfill the lock is left free this long, for the
# application's busy handler to find it free (as store.inbox.SLICE_GAP_SECONDS).
BACKFILL_GAP_SECONDS = 0.02
BUSY_RETRIES = 2
# Values per ``IN (...)`` list: SQLite before 3.32 allows at most 999 host parameters.
IN_CHUNK = 500


class LocalStoreError(Exception):
    """The device database cannot be used; the message says which file and why."""


class LocalStoreBusy(LocalStoreError):
    """Another program held the database lock for too long."""


def connect(path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """Open the database in WAL mode with a busy timeout; create and migrate our tables."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # private, as ~/.ssh
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise LocalStoreError(f"cannot open database {path}: {exc}") from exc
    # The application may store text that is not UTF-8 (SQLite does not check): such a
    # value reads as a str holding lone surrogates instead of failing the whole query,
    # and the row is then set aside by name (``core.wire`` refuses it, ``store.index``
    # leaves it out), while every other row still syncs.
    conn.text_factory = _decode_text
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # No checkpoint inside COMMIT (see write): this connection checkpoints after it.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        migrate(conn, path)
        _backfill(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LocalStoreError(f"cannot use database {path}: {exc}") from exc
    except BaseException:  # LocalStoreBusy, or an interrupt: nothing half-open is left
        conn.close()
        raise
    return conn


def connect_reader(path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A read-only connection to a database ``connect`` has set up (status, listings): in
    WAL mode it never waits for a writer, nor makes one wait."""
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout,
            isolation_level=None, check_same_thread=False,
        )  # fmt: skip
    except (OSError, sqlite3.Error) as exc:
        raise LocalStoreError(f"cannot open database {path}: {exc}") from exc
    conn.text_factory = _decode_text
    return conn


def connect_to_read(path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection for commands that only read (listings, status): read-only when the
    database is already set up, so that an application holding its write lock does not
    make them wait; else ``connect``, which sets it up (and needs that lock once)."""
    if path.is_file():
        with suppress(LocalStoreError, sqlite3.Error):
            conn = connect_reader(path, busy_timeout)
            if _set_up(conn):
                return conn
            conn.close()
    return connect(path, busy_timeout)


def _set_up(conn: sqlite3.Connection) -> bool:
    """Whether ``connect`` has nothing left to do in this database (schema, backfill)."""
    try:
        row = conn.execute("SELECT value FROM sync_meta WHERE key = 'schema'").fetchone()
        return row is not None and row[0] == str(len(MIGRATIONS)) and not backfill.pending(conn)
    except sqlite3.Error:  # no sync_meta yet: a database memento-syncd never opened
        return False


def _decode_text(raw: bytes) -> str:
    """A TEXT value as SQLite holds it: UTF-8, anything else kept as lone surrogates."""
    return raw.decode("utf-8", "surrogateescape")


def check_app_table(conn: sqlite3.Connection, path: Path) -> None:
    """``LocalStoreError`` naming the columns the application's table lacks, if any."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(observations)")}
    missing = [name for name in ("id", *APP_COLUMNS) if name not in have]
    if missing:
        raise LocalStoreError(
            f"{path}: table observations has no column {', '.join(missing)}; memento-syncd"
            " needs the columns of Memento's table (id, " + ", ".join(APP_COLUMNS) + "):"
            " upgrade Memento, or point MEMENTO_HOME at its directory"
        )


@contextmanager
def write(conn: sqlite3.Connection, path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A write transaction (BEGIN IMMEDIATE), retried a few times while the lock is busy.

    Each attempt waits up to the connection's busy timeout; after the last one the
    error says the database stayed locked, rather than hanging on.
    """
    for attempt in range(BUSY_RETRIES + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if attempt == BUSY_RETRIES:
                where = f"database {path or _file_of(conn)}"
                raise LocalStoreBusy(
                    f"{where} stayed locked by another program; try again when it is idle"
                ) from exc
            time.sleep(0.05 * (2**attempt))
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    checkpoint(conn)


def _file_of(conn: sqlite3.Connection) -> str:
    """The file of the connection's main database ("" in memory)."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file)
    return ""


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy what the WAL holds into the database, once the write lock is let go.

    SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000
    pages; with our transactions writing hundreds of pages each, nearly every COMMIT
    ran one (about 30 ms of each ~60 ms first-sync transaction, measured at 100,000
    rows). This connection's automatic checkpoint is off (``connect``); a passive one
    after each of its commits (about 7 ms there) blocks no writer, and those commits
    take about 2 ms. It is only housekeeping: if another process is checkpointing, or
    the database is busy, it is skipped.
    """
    with suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


@contextmanager
def applying(conn: sqlite3.Connection) -> Iterator[None]:
    """Inside a write transaction: writes are not recorded as local changes (no echo)."""
    conn.execute("UPDATE sync_guard SET applying = 1 WHERE id = 1")
    try:
        yield
    finally:
        conn.execute("UPDATE sync_guard SET applying = 0 WHERE id = 1")


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Create the application's table if missing and bring our tables up to date."""
    with write(conn, path):
        conn.execute(APP_TABLE)
        check_app_table(conn, path)  # before anything of ours is added: rolled back
        conn.execute("CREATE TABLE IF NOT EXISTS sync_meta (key TEXT PRIMARY KEY, value TEXT)")
        row = conn.execute("SELECT value FROM sync_meta WHERE key = 'schema'").fetchone()
        current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise LocalStoreError(
                f"{path} was written by a newer memento-syncd (schema {current}); upgrade it"
            )
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO sync_meta (key, value) VALUES ('schema', ?)",
            (str(len(MIGRATIONS)),),
        )
        conn.execute(
            "INSERT OR IGNORE INTO sync_meta (key, value) VALUES ('device_id', ?)",
            (str(uuid.uuid4()),),
        )


def _backfill(conn: sqlite3.Connection, path: Path) -> None:
    """Mark the rows written before a migration (``store.backfill``), a batch at a time."""
    while backfill.pending(conn):
        with write(conn, path):
            more = backfill.step(conn)
        if more:
            time.sleep(BACKFILL_GAP_SECONDS)


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    """A value of ``sync_meta``."""
    row = conn.execute("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size``, one ``IN (...)`` list each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
