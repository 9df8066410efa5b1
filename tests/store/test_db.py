"""The device database: schema, capture triggers, busy handling."""

from __future__ import annotations

import io
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from memento_syncd.cli.progress import ProgressLine
from memento_syncd.store.db import LocalStoreBusy, LocalStoreError, applying, connect, write
from memento_syncd.store.index import SimilarityIndex, Text, Twin
from memento_syncd.store.manual import catch_up
from memento_syncd.store.schema import APP_TABLE, MIGRATIONS


def test_opening_creates_the_app_table_and_keeps_existing_rows(tmp_path: Path) -> None:
    """A database the app already uses keeps its rows, which become pending changes."""
    path = tmp_path / "memento.db"
    app = sqlite3.connect(path)
    app.execute(
        "CREATE TABLE observations (id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL,"
        " type TEXT NOT NULL, title TEXT NOT NULL, content TEXT NOT NULL, topic_key TEXT,"
        " scope TEXT NOT NULL DEFAULT 'project', created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, deleted_at TEXT)"
    )
    app.execute(
        "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
        " VALUES ('p', 'note', 't', 'c', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
    )
    app.commit()
    conn = connect(path)
    assert conn.execute("SELECT count(*) FROM sync_changes").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM observations").fetchone()[0] == 1
    conn.close()
    again = connect(path)  # reopening migrates nothing twice
    assert again.execute("SELECT count(*) FROM sync_changes").fetchone()[0] == 1


def test_app_writes_are_captured_but_applied_ones_are_not(tmp_path: Path) -> None:
    """Triggers record inserts, updates and deletes, except while memento-syncd applies."""
    conn = connect(tmp_path / "memento.db")
    insert = (
        "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
        " VALUES ('p', 'note', 't', 'c', 'x', 'x')"
    )
    conn.execute(insert)
    conn.execute("UPDATE observations SET title = 'u'")
    conn.execute("DELETE FROM observations")
    assert conn.execute("SELECT count(*) FROM sync_changes").fetchone()[0] == 3
    with write(conn), applying(conn):
        conn.execute(insert)
    assert conn.execute("SELECT count(*) FROM sync_changes").fetchone()[0] == 3
    conn.execute(insert)
    assert conn.execute("SELECT count(*) FROM sync_changes").fetchone()[0] == 4


def test_a_database_locked_too_long_gives_a_clear_error(tmp_path: Path) -> None:
    """Another program holding the write lock ends in LocalStoreBusy naming the file."""
    path = tmp_path / "memento.db"
    connect(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    mine = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    with pytest.raises(LocalStoreBusy, match=re.escape(str(path))), write(mine, path):
        pass
    # Without the path given, the message still names the file (it asks the connection).
    with pytest.raises(LocalStoreBusy, match=re.escape(str(path))), write(mine):
        pass
    holder.execute("ROLLBACK")
    with write(mine, path):
        pass


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    """Garbage where memento.db should be is reported with its path."""
    path = tmp_path / "memento.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LocalStoreError, match=r"memento\.db"):
        connect(path)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_only_for_big_transfers() -> None:
    """Above a thousand observations a terminal gets a bar; small ones and pipes get nothing."""
    tty = _Terminal()
    progress = ProgressLine(tty)
    progress("push p", 10, 20)
    assert tty.getvalue() == ""
    progress("push p", 1500, 3000)
    progress.finish()
    assert "push p [" in tty.getvalue()
    assert "1500/3000" in tty.getvalue()
    pipe = io.StringIO()
    quiet = ProgressLine(pipe)
    quiet("pull p", 5000, None)
    assert pipe.getvalue() == ""


def test_progress_ends_on_the_last_count_told() -> None:
    """Counts told faster than the line is redrawn are skipped, but the line ends on the
    last one told, not on the last one drawn."""
    tty = _Terminal()
    progress = ProgressLine(tty)
    for done in range(1001, 9500):  # within 0.1 s: only the first is drawn
        progress("push p", done, 10_001)
    progress.finish()
    assert tty.getvalue().rstrip("\n").endswith("9499/10001")


def test_an_index_of_schema_3_is_rebuilt_from_the_rows(tmp_path: Path) -> None:
    """Upgrading a schema-3 database drops its row-per-posting index and indexes every row
    again, after which near twins are found as before."""
    path = tmp_path / "memento.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.execute(APP_TABLE)
        old.execute("CREATE TABLE sync_meta (key TEXT PRIMARY KEY, value TEXT)")
        for statement in (s for migration in MIGRATIONS[:3] for s in migration):
            old.execute(statement)
        old.execute("INSERT INTO sync_meta (key, value) VALUES ('schema', '3')")
        old.executemany(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES ('p', 'note', 't', ?, 'x', 'x')",
            [("alpha beta gamma delta epsilon",), ("one two three",)],
        )
        old.execute("DELETE FROM sync_dirty")  # as if schema 3 had indexed them
        old.execute(
            "INSERT INTO sync_sets (obs_id, project, scope, content_hash, size, tokens)"
            " VALUES (1, 'p', 'project', 'h', 5, x'00')"
        )
        old.execute("INSERT INTO sync_prefix (token, obs_id) VALUES (42, 1)")
    with closing(connect(path)) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "sync_prefix" not in tables
        assert "sync_postings" in tables
        assert conn.execute("SELECT count(*) FROM sync_sets").fetchone() == (0,)
        dirty = [obs_id for (obs_id,) in conn.execute("SELECT obs_id FROM sync_dirty")]
        assert dirty == [1, 2]
        index = SimilarityIndex(conn, 0.5)
        with write(conn):
            assert index.refresh_dirty() == 2
        near = Text("p", "project", None, "t", "alpha beta gamma delta zeta")
        assert index.find_twin(near) == Twin(1, "similar")


def test_catching_up_with_many_unindexed_rows_takes_short_transactions(tmp_path: Path) -> None:
    """Rows waiting for the index (every row after an upgrade) are indexed 500 at most per
    transaction before a conflict is resolved, not all in the resolving one."""
    with closing(connect(tmp_path / "memento.db")) as conn:
        with write(conn):
            conn.executemany(
                "INSERT INTO observations (project, type, title, content, created_at,"
                " updated_at) VALUES ('p', 'note', 't', ?, 'x', 'x')",
                [(f"row {n} words",) for n in range(1200)],
            )
        commits: list[str] = []
        conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        catch_up(conn, SimilarityIndex(conn, 0.5))
        conn.set_trace_callback(None)
        assert conn.execute("SELECT count(*) FROM sync_dirty").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM sync_sets").fetchone() == (1200,)
        assert len(commits) >= 3


def test_the_wal_is_checkpointed_after_each_write_transaction(tmp_path: Path) -> None:
    """Our connection checkpoints after each of its commits (never inside one), so the
    WAL stays short however much is written: 200 transactions of 64 KB leave it small."""
    path = tmp_path / "memento.db"
    with closing(connect(path)) as conn:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        for n in range(200):
            with write(conn):
                conn.execute(
                    "INSERT INTO observations (project, type, title, content, created_at,"
                    " updated_at) VALUES ('p', 'note', 't', ?, 'x', 'x')",
                    (f"{n} " + "x" * 65_536,),
                )
        wal = path.with_name(path.name + "-wal").stat().st_size
        assert wal < 2_000_000, wal  # without the checkpoints: 18 MB
