"""Rows written before memento-syncd are marked as changes and to index, a batch per
transaction, and a stop half-way is finished by the next open."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from memento_syncd.store import backfill
from memento_syncd.store.db import connect, migrate, write
from memento_syncd.store.schema import APP_TABLE, MIGRATIONS

ROWS = 2 * backfill.BATCH + 7


def _app_db(path: Path, rows: int) -> None:
    """The application's database, before memento-syncd ever opened it."""
    with closing(sqlite3.connect(path, isolation_level=None)) as app:
        app.execute(APP_TABLE)
        app.execute("BEGIN")
        app.executemany(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES ('p', 'note', 't', ?, 'x', 'x')",
            ((f"row {n}",) for n in range(rows)),
        )
        app.execute("COMMIT")


def _ids(conn: sqlite3.Connection, table: str) -> list[int]:
    query = f"SELECT obs_id FROM {table} ORDER BY rowid"  # noqa: S608 - a test's own names
    return [obs_id for (obs_id,) in conn.execute(query)]


def test_existing_rows_become_changes_in_id_order_a_batch_per_transaction(
    tmp_path: Path,
) -> None:
    """Opening a database of existing rows records each once, in id order, as a change
    and as waiting to be indexed, in transactions of at most ``BATCH`` rows."""
    path = tmp_path / "memento.db"
    _app_db(path, ROWS)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        migrate(conn, path)
        assert _ids(conn, "sync_changes") == []  # the migration itself marks nothing
        marked = []
        while backfill.pending(conn):
            with write(conn):
                backfill.step(conn)
            marked.append(len(_ids(conn, "sync_changes")))
    assert marked == [backfill.BATCH, 2 * backfill.BATCH, ROWS]  # no second pass for the index
    with closing(connect(path)) as conn:
        assert _ids(conn, "sync_changes") == list(range(1, ROWS + 1))
        assert sorted(_ids(conn, "sync_dirty")) == list(range(1, ROWS + 1))


def test_a_backfill_stopped_half_way_is_finished_by_the_next_open(tmp_path: Path) -> None:
    """After one batch and an application write (its row captured by the triggers), the
    next open marks the rest: every row once, the new one too."""
    path = tmp_path / "memento.db"
    _app_db(path, ROWS)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        migrate(conn, path)
        with write(conn):
            assert backfill.step(conn)  # more left: then the process stops
        conn.execute(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES ('p', 'note', 't', 'new', 'x', 'x')"
        )
        conn.execute("UPDATE observations SET content = 'edited' WHERE id = ?", (ROWS,))
    with closing(connect(path)) as conn:
        assert not backfill.pending(conn)
        changes = _ids(conn, "sync_changes")
        assert sorted(set(changes)) == list(range(1, ROWS + 2))
        assert changes.count(ROWS) == 2  # edited before it was marked: two changes, one row
        assert len(changes) == ROWS + 2
        assert sorted(_ids(conn, "sync_dirty")) == list(range(1, ROWS + 2))


def test_an_upgrade_that_empties_the_index_marks_every_row_to_index_again(
    tmp_path: Path,
) -> None:
    """Upgrading to schema 4 (which empties the index) marks every existing row as
    waiting to be indexed, in batches, and records no change to push."""
    path = tmp_path / "memento.db"
    _app_db(path, ROWS)
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.execute("CREATE TABLE sync_meta (key TEXT PRIMARY KEY, value TEXT)")
        for statement in (s for migration in MIGRATIONS[:3] for s in migration):
            old.execute(statement)
        old.execute("INSERT INTO sync_meta (key, value) VALUES ('schema', '3')")
        while backfill.pending(old):  # what schema 3 did on its first open
            with write(old):  # a transaction per step, as the client runs it (not one per row)
                backfill.step(old)
        old.execute("DELETE FROM sync_dirty")  # as if schema 3 had indexed every row
        old.execute("DELETE FROM sync_changes")  # and pushed them
    with closing(connect(path)) as conn:
        assert sorted(_ids(conn, "sync_dirty")) == list(range(1, ROWS + 1))
        assert _ids(conn, "sync_changes") == []


def test_an_empty_database_has_nothing_to_mark(tmp_path: Path) -> None:
    """A database with no rows opens with no backfill left and no change recorded."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        assert not backfill.pending(conn)
        assert _ids(conn, "sync_changes") == []
