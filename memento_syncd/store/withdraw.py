"""Withdrawals: a shared observation that its owner has made personal, as a teammate's
pull brings it (flagged ``withdrawn``: a tombstone without title, content or topic_key).

It is not the team deleting a note. The device deletes its copy and pushes nothing:
the identity is the owner's alone now, and the server would refuse a push of it. A fold
it belonged to keeps its other members; they are not deleted with it, as a deleted fold
would delete them. A row holding the teammate's own writing (an edit not pushed yet)
keeps it, under a new identity: pushed as a new observation, not into a refusal. A
teammate's deletion of it stands for the fold it showed. Everything runs inside the
caller's transaction, with capture off.
"""

from __future__ import annotations

import sqlite3

from memento_syncd.core.conflicts import same_record
from memento_syncd.core.observation import Observation
from memento_syncd.store import rows, twins
from memento_syncd.store.settle import Context, current, store_remote


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
    conn.execute(
        "UPDATE sync_conflicts SET resolved_at = ?, resolution = 'withdrawn'"
        " WHERE obs_id = ? AND resolved_at IS NULL",
        (ctx.now, obs_id),
    )
    local = current(conn, obs_id, remote.sync_id, ctx.now)
    readable = local is not None or rows.read_row(conn, obs_id) is None
    if local is not None and local.deleted_at is not None and twins.pending(conn, obs_id):
        # The teammate deleted it (and so the fold it shows): that stands for the others,
        # deleted under their own identities. A row deleted outright is not made again.
        if rows.read_row(conn, obs_id) is None:
            # While its changes are logged, its own version reads as deleted (from the
            # base), not as the live base: so they go only after the regroup.
            twins.regroup(conn, ctx, obs_id)
            conn.execute("DELETE FROM sync_skipped WHERE obs_id = ?", (obs_id,))
            conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))
        else:
            conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))
            obs_id = store_remote(conn, ctx.index, obs_id, remote, version)
            twins.regroup(conn, ctx, obs_id)
    elif not readable or _written(conn, obs_id, local):
        _fork(conn, ctx, obs_id, readable)
        return "withdrawn_kept_copy"
    else:
        conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))  # a touch, a reset
        obs_id = store_remote(conn, ctx.index, obs_id, remote, version)
        # Only now, the row deleted and out of the index: its twins are not folded back in.
        twins.release_members(conn, ctx, obs_id)
    # The identity is the owner's alone: this device keeps none of it, so nothing is ever
    # pushed under it (the application purging the tombstone, say); another withdrawal of
    # it is then news of nothing here, and a sharing again arrives as a new observation.
    conn.execute("DELETE FROM sync_objects WHERE obs_id = ?", (obs_id,))
    return "withdrawn"


def _written(conn: sqlite3.Connection, obs_id: int, local: Observation | None) -> bool:
    """Whether the row holds writing of this device's that the server never had: not just
    changes logged or a push refused (a write that changed nothing, ``sync reset``
    queueing every row again), but content other than the last synced version's."""
    if not twins.pending(conn, obs_id) or local is None:
        return False
    base = conn.execute("SELECT base FROM sync_objects WHERE obs_id = ?", (obs_id,)).fetchone()
    synced = rows.decode(base[0]) if base is not None else None
    return synced is None or not same_record(local, twins.synced_view(conn, obs_id, synced))


def _fork(conn: sqlite3.Connection, ctx: Context, obs_id: int, readable: bool) -> None:
    """The row holds the teammate's own writing (an edit not pushed yet, or bytes that
    cannot sync yet): it stays as it is, and gives up the withdrawn identity, so that it
    is pushed as a new observation (a copy, not a loss; the server would refuse it under
    the owner's identity)."""
    conn.execute("DELETE FROM sync_objects WHERE obs_id = ?", (obs_id,))
    conn.execute("INSERT INTO sync_changes (obs_id) VALUES (?)", (obs_id,))
    if readable:  # set aside for the old identity only (refused): the copy may sync
        conn.execute("DELETE FROM sync_skipped WHERE obs_id = ?", (obs_id,))
    twins.regroup(conn, ctx, obs_id)
