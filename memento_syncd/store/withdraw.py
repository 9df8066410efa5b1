"""Withdrawals: a shared observation that its owner has made personal, as a teammate's
pull brings it (flagged ``withdrawn``: a tombstone without title, content or topic_key).

It is not the team deleting a note. The device deletes its copy and pushes nothing:
the identity is the owner's alone now, and the server would refuse a push of it. A fold
it belonged to keeps its other members; they are not deleted with it, as a deleted fold
would delete them. A local edit of it is kept in the history (``conflicts list
--history``, strategy ``withdrawn``) instead of going into a push the server refuses.
Everything runs inside the caller's transaction, with capture off.
"""

from __future__ import annotations

import sqlite3

from memento_syncd.core.conflicts import same_record
from memento_syncd.core.observation import Observation
from memento_syncd.store import rows, twins
from memento_syncd.store.settle import (
    Context,
    current,
    keep_unsyncable,
    remember_loss,
    store_remote,
)


def apply(conn: sqlite3.Connection, ctx: Context, remote: Observation, version: int) -> str:
    """Apply the withdrawal ``remote`` at ``version``; the outcome's name."""
    alias = conn.execute(
        "SELECT obs_id, server_version FROM sync_aliases WHERE sync_id = ?", (remote.sync_id,)
    ).fetchone()
    if alias is not None and version <= alias[1]:
        return "already_had"
    if alias is not None:  # a twin folded into another row: that row goes on without it
        twins.leave_fold(conn, ctx, remote.sync_id, int(alias[0]))
        return "withdrawn"
    known = conn.execute(
        "SELECT obs_id, server_version FROM sync_objects WHERE sync_id = ?", (remote.sync_id,)
    ).fetchone()
    if known is None:
        return "withdrawn"  # never seen here: nothing to delete
    obs_id, seen = int(known[0]), known[1]
    if seen is not None and version <= seen:
        return "already_had"
    local = current(conn, obs_id, remote.sync_id, ctx.now)
    if local is None and (raw := rows.read_row(conn, obs_id)) is not None:
        keep_unsyncable(conn, ctx, obs_id, raw, remote, version)  # its bytes stay
        return "withdrawn"
    if local is not None and twins.pending(conn, obs_id) and not same_record(local, remote):
        remember_loss(conn, obs_id, remote.sync_id, "withdrawn", remote, local, ctx.now)
    conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))
    conn.execute(
        "UPDATE sync_conflicts SET resolved_at = ?, resolution = 'withdrawn'"
        " WHERE obs_id = ? AND resolved_at IS NULL",
        (ctx.now, obs_id),
    )
    obs_id = store_remote(conn, ctx.index, obs_id, remote, version)
    # Only now, the row deleted and out of the index: its twins are not folded back into it.
    twins.release_members(conn, ctx, obs_id)
    return "withdrawn"
