"""The pull side: apply a page of pulled observations in short transactions, then its cursor.

Per observation: a known ``sync_id`` updates its row (or meets a pending local edit:
a conflict); a known twin (alias) updates the row it was merged into; otherwise dedup
looks for an exact twin (same project, topic_key and content hash) or a near twin
(Jaccard of word sets above the threshold, topic_keys compatible), and only then is a
new row inserted. Nothing written here is recorded as a local change.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from dataclasses import replace
from typing import Any

from memento_syncd.core.conflicts import newer, same_record
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.observation import Observation
from memento_syncd.core.timestamps import parse_timestamp
from memento_syncd.store import rows
from memento_syncd.store.db import applying, write
from memento_syncd.store.settle import (
    Context,
    rebase,
    reindex,
    remember_loss,
    settle,
    store_remote,
    text_of,
)

# A write transaction holds SQLite's write lock and the application waits for it, so a
# page is applied in slices of about this long. The cursor moves with the last slice:
# never ahead of the data. A crash between slices leaves some of the page applied; the
# next pull brings the page again and those observations are recognised (same or older
# server version: already had; a twin: its alias), so nothing is applied twice.
SLICE_SECONDS = 0.03
# Between slices the lock is left free this long. SQLite's busy handler, which the
# application's writes wait in, polls at growing intervals (1, 2, 5, 10, 15, 20 ms ...);
# a slice begun right after the last commit would catch the lock before it looks again,
# and back-to-back slices could starve it for seconds.
SLICE_GAP_SECONDS = 0.02


def apply_page(
    conn: sqlite3.Connection,
    ctx: Context,
    project: str,
    items: list[dict[str, Any]],
    cursor: str,
    *,
    slice_seconds: float = SLICE_SECONDS,
    gap_seconds: float = SLICE_GAP_SECONDS,
) -> Counter[str]:
    """Apply ``items`` in short transactions, the cursor with the last; counts by outcome.

    After each slice but the last, the lock stays free for ``gap_seconds``.
    """
    outcomes: Counter[str] = Counter()
    position = 0
    while True:
        with write(conn), applying(conn):
            ctx.index.refresh_dirty()
            started = time.monotonic()
            while position < len(items):
                outcomes[_apply_item(conn, ctx, items[position])] += 1
                position += 1
                if time.monotonic() - started >= slice_seconds:
                    break
            if position == len(items):
                conn.execute("INSERT OR IGNORE INTO sync_cursors (project) VALUES (?)", (project,))
                conn.execute(
                    "UPDATE sync_cursors SET pull_cursor = ?, last_pull = ?,"
                    " pull_count = pull_count + ? WHERE project = ?",
                    (cursor, ctx.now, len(items), project),
                )
                return outcomes
        time.sleep(gap_seconds)


def _apply_item(conn: sqlite3.Connection, ctx: Context, item: dict[str, Any]) -> str:
    try:
        remote, version = rows.from_wire(item)
    except InvalidInput:
        return "invalid"
    return _apply_one(conn, ctx, remote, version)


def _apply_one(conn: sqlite3.Connection, ctx: Context, remote: Observation, version: int) -> str:
    index = ctx.index
    known = conn.execute(
        "SELECT obs_id, server_version FROM sync_objects WHERE sync_id = ?", (remote.sync_id,)
    ).fetchone()
    if known is not None:
        obs_id, seen = known
        if seen is not None and version <= seen:
            return "already_had"
        if _pending(conn, obs_id):
            return "conflict_" + settle(conn, ctx, obs_id, remote, version)
        store_remote(conn, index, obs_id, remote, version)
        return "updated"
    alias = conn.execute(
        "SELECT obs_id, server_version FROM sync_aliases WHERE sync_id = ?", (remote.sync_id,)
    ).fetchone()
    if alias is not None:
        if version <= alias[1]:
            return "already_had"
        conn.execute(
            "UPDATE sync_aliases SET server_version = ? WHERE sync_id = ?",
            (version, remote.sync_id),
        )
        if remote.deleted_at is not None:
            return _delete_twin(conn, ctx, alias[0], remote)
        _merge_twin(conn, ctx, alias[0], remote)
        return "twin_updated"
    if remote.deleted_at is None:
        twin = index.find_twin(text_of(remote))
        if twin is not None:
            conn.execute(
                "INSERT INTO sync_aliases (sync_id, obs_id, server_version, kind)"
                " VALUES (?, ?, ?, ?)",
                (remote.sync_id, twin.obs_id, version, twin.kind),
            )
            _merge_twin(conn, ctx, twin.obs_id, remote)
            return f"dedup_{twin.kind}"
    obs_id = rows.insert_row(conn, remote)
    conn.execute(
        "INSERT INTO sync_objects (obs_id, sync_id) VALUES (?, ?)", (obs_id, remote.sync_id)
    )
    rebase(conn, obs_id, remote, version)
    reindex(index, obs_id, remote)
    return "inserted"


def _pending(conn: sqlite3.Connection, obs_id: int) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sync_changes WHERE obs_id = ?)"
        " OR EXISTS (SELECT 1 FROM sync_conflicts WHERE obs_id = ? AND resolved_at IS NULL)",
        (obs_id, obs_id),
    ).fetchone()
    return bool(row[0])


def _delete_twin(conn: sqlite3.Connection, ctx: Context, obs_id: int, remote: Observation) -> str:
    """A twin was deleted: the two are one, so the merged row goes too, and syncs that.

    The deletion is recorded as a local change of the row, so its own identity is
    deleted on the server as well and every device, new ones included, agrees. A
    pending local edit newer than the deletion keeps the row.
    """
    row = rows.read_row(conn, obs_id)
    if row is None or row["deleted_at"] is not None:
        return "twin_deleted"
    try:
        local = rows.to_observation(remote.sync_id, row)
    except InvalidInput:
        return "twin_deleted"
    if _pending(conn, obs_id) and newer(local, remote) is local:
        return "twin_kept"
    gone = replace(local, deleted_at=remote.deleted_at, updated_at=remote.updated_at)
    rows.write_row(conn, obs_id, gone)
    conn.execute("INSERT INTO sync_changes (obs_id) VALUES (?)", (obs_id,))
    reindex(ctx.index, obs_id, gone)
    return "twin_deleted"


def _merge_twin(conn: sqlite3.Connection, ctx: Context, obs_id: int, remote: Observation) -> None:
    """Fold a twin into the local row: the newer content, the older creation time.

    A pending local edit that is older than the twin gives way, and is kept in the history.
    """
    row = rows.read_row(conn, obs_id)
    if row is None or row["deleted_at"] is not None or remote.deleted_at is not None:
        return
    try:
        local = rows.to_observation("local", row)
    except InvalidInput:
        return
    winner = newer(local, replace(remote, sync_id="local"))
    merged = replace(
        winner, project=local.project, scope=local.scope, deleted_at=None,
        created_at=min(local.created_at, remote.created_at, key=parse_timestamp),
    )  # fmt: skip
    if same_record(merged, local) and merged.created_at == local.created_at:
        return
    if not same_record(merged, local) and _pending(conn, obs_id):
        remember_loss(conn, obs_id, remote.sync_id, "twin", merged, local, ctx.now)
    rows.write_row(conn, obs_id, merged)
    reindex(ctx.index, obs_id, merged)
