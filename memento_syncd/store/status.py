"""Read-only views of the sync state: per-project cursors, pending work, skipped rows."""

from __future__ import annotations

import sqlite3
from typing import Any

from memento_syncd.core.wire import utf8_text
from memento_syncd.store.outbox import pending_count


def project_status(conn: sqlite3.Connection, project: str | None = None) -> list[dict[str, Any]]:
    """The cursor storage of each project: last push and pull, counts, pending changes
    (those a conflict holds back included)."""
    known = {row[0] for row in conn.execute("SELECT project FROM sync_cursors")}
    known |= {row[0] for row in conn.execute("SELECT DISTINCT project FROM observations")}
    # (A project the application wrote as a BLOB or bytes that are not UTF-8 has no name
    # to show: its rows are listed by id among those that cannot sync, once pushed.)
    known = {name for name in known if isinstance(name, str) and utf8_text((name,))}
    if project is not None:
        known = {project}
    result = []
    for name in sorted(known):
        row = conn.execute(
            "SELECT last_push, last_pull, push_count, pull_count, pull_cursor FROM sync_cursors"
            " WHERE project = ?",
            (name,),
        ).fetchone() or (None, None, 0, 0, None)
        result.append(
            {
                "project_id": name,
                "last_push": row[0],
                "last_pull": row[1],
                "push_count": row[2],
                "pull_count": row[3],
                "pending": pending_count(conn, name, held=True),
                "cursor": row[4],
            }
        )
    return result


def skipped_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Rows that cannot be synced until the application fixes them, with the reason."""
    return [
        {"id": obs_id, "reason": reason}
        for obs_id, reason in conn.execute("SELECT obs_id, reason FROM sync_skipped ORDER BY 1")
    ]


def open_conflict_count(conn: sqlite3.Connection) -> int:
    """How many conflicts wait for the user."""
    row = conn.execute("SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL").fetchone()
    return int(row[0])
