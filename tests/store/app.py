"""The application's side of a device database, as the store tests need it."""

from __future__ import annotations

import sqlite3

from memento_syncd.store.db import write


def app_rows(conn: sqlite3.Connection, count: int) -> list[int]:
    """Ids of ``count`` new application rows (the index only needs them to exist)."""
    with write(conn):
        return [
            int(
                conn.execute(
                    "INSERT INTO observations (project, type, title, content, created_at,"
                    " updated_at) VALUES ('p', 'note', '', 'x', 'x', 'x')"
                ).lastrowid
                or 0
            )
            for _ in range(count)
        ]
