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
from typing import Any

from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.observation import Observation
from memento_syncd.store import rows, twins
from memento_syncd.store.db import applying, write
from memento_syncd.store.settle import (
    Context,
    rebase,
    reindex,
    settle,
    store_remote,
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
    known = conn.execute(
        "SELECT obs_id, server_version FROM sync_objects WHERE sync_id = ?", (remote.sync_id,)
    ).fetchone()
    if known is not None:
        obs_id, seen = known
        if seen is not None and version <= seen:
            return "already_had"
        if twins.pending(conn, obs_id):
            outcome = "conflict_" + settle(conn, ctx, obs_id, remote, version)
            twins.regroup_identity(conn, ctx, remote.sync_id)
            return outcome
        obs_id = store_remote(conn, ctx.index, obs_id, remote, version)
        twins.regroup(conn, ctx, obs_id)
        return "twin_joined" if twins.join(conn, ctx, obs_id) else "updated"
    alias = conn.execute(
        "SELECT obs_id, server_version FROM sync_aliases WHERE sync_id = ?", (remote.sync_id,)
    ).fetchone()
    if alias is not None:
        return twins.update_alias(conn, ctx, alias, remote, version)
    if remote.deleted_at is None:
        kind = twins.fold_in(conn, ctx, remote, version)
        if kind is not None:
            return f"dedup_{kind}"
    obs_id = rows.insert_row(conn, remote)
    conn.execute(
        "INSERT INTO sync_objects (obs_id, sync_id) VALUES (?, ?)", (obs_id, remote.sync_id)
    )
    rebase(conn, obs_id, remote, version)
    reindex(ctx.index, obs_id, remote)
    return "inserted"
