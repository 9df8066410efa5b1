"""Marking the rows the application wrote before a migration, in short transactions.

A database that already holds observations when memento-syncd first opens it must push
and index all of them: each becomes a change (``sync_changes``, in id order) and waits
to be indexed (``sync_dirty``); an upgrade that empties the index (migration 4) makes
every row wait to be indexed again. Done in the migration's own transaction, that held
the write lock for 165 ms at 100,000 rows, while the application's writes waited. So a
migration only records the range to mark (``sync_meta``: ``backfill_changes`` or
``backfill_dirty``, the value "next last" in row ids), and ``store.db.connect`` marks it
``BATCH`` rows per transaction. Rows written after the migration are captured by the
triggers; a row changed meanwhile may be recorded twice, which pushes it once.
A stop half-way leaves the range's rest recorded, and the next ``connect`` goes on.
"""

from __future__ import annotations

import sqlite3

BATCH = 5000
# What each kind of backfill marks: the change log and the index's to-do, or the latter.
_KINDS = (
    ("backfill_changes", ("sync_changes", "sync_dirty")),
    ("backfill_dirty", ("sync_dirty",)),
)
_INSERT = {
    "sync_changes": "INSERT INTO sync_changes (obs_id) VALUES (?)",
    "sync_dirty": "INSERT OR IGNORE INTO sync_dirty (obs_id) VALUES (?)",
}


_KEYS = tuple(key for key, _ in _KINDS)
_PENDING = f"SELECT 1 FROM sync_meta WHERE key IN ({', '.join('?' * len(_KEYS))}) LIMIT 1"  # noqa: S608 - only '?' marks


def pending(conn: sqlite3.Connection) -> bool:
    """Whether some range of rows is still to be marked."""
    return conn.execute(_PENDING, _KEYS).fetchone() is not None


def step(conn: sqlite3.Connection) -> bool:
    """Mark up to ``BATCH`` rows of the first range left (inside a write transaction);
    returns whether any range is left after it."""
    for key, tables in _KINDS:
        row = conn.execute("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            continue
        first, last = (int(part) for part in str(row[0]).split())
        ids = [
            (obs_id,)
            for (obs_id,) in conn.execute(
                "SELECT id FROM observations WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?",
                (first, last, BATCH),
            )
        ]
        for table in tables:
            conn.executemany(_INSERT[table], ids)
        if len(ids) < BATCH:
            conn.execute("DELETE FROM sync_meta WHERE key = ?", (key,))
        else:
            value = f"{ids[-1][0] + 1} {last}"
            conn.execute("UPDATE sync_meta SET value = ? WHERE key = ?", (value, key))
        break
    return pending(conn)
