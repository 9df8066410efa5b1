"""When the server's database was replaced or restored: forget what it said, sync it all again.

The server answers 409 ``stale_cursor`` to a cursor of another database, or one past
its head (a restore from a backup). Its versions then mean nothing to this device:
every synced row of the project loses its server version and is queued to push again,
and the pull starts from the beginning. A pushed row the server already holds the same
is ``unchanged``; one it lacks is inserted; one it holds differently is a conflict,
settled by the project's strategy as any other. Nothing the device has is lost.
The same is done on the user's word by ``memento sync reset`` (after a 400
``invalid_cursor``: the device moved to another team).
"""

from __future__ import annotations

import sqlite3

from memento_syncd.store.db import applying, write

# Rows per transaction: short enough for the application's writes to get in between.
CHUNK = 2000

_SYNCED = """
SELECT so.obs_id FROM sync_objects so LEFT JOIN observations o ON o.id = so.obs_id
WHERE coalesce(o.project, json_extract(so.base, '$.project')) = ? AND so.obs_id > ?
ORDER BY so.obs_id LIMIT ?
"""


def forget_server(conn: sqlite3.Connection, project: str, chunk: int = CHUNK) -> int:
    """Queue every synced row of ``project`` for a fresh push, then reset its pull cursor.

    The cursor goes last: a crash halfway leaves it stale, so the server refuses it
    again and the work is redone (it is idempotent). Returns the rows queued.
    """
    done, last = 0, 0
    while True:
        with write(conn), applying(conn):
            ids = [row[0] for row in conn.execute(_SYNCED, (project, last, chunk))]
            pairs = [(obs_id,) for obs_id in ids]
            conn.executemany(
                "UPDATE sync_objects SET server_version = NULL WHERE obs_id = ?", pairs
            )
            conn.executemany("UPDATE sync_aliases SET server_version = 0 WHERE obs_id = ?", pairs)
            conn.executemany("INSERT INTO sync_changes (obs_id) VALUES (?)", pairs)
            if len(ids) < chunk:
                conn.execute(
                    "UPDATE sync_cursors SET pull_cursor = NULL WHERE project = ?", (project,)
                )
                return done + len(ids)
        done, last = done + len(ids), ids[-1]
