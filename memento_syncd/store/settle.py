"""Settling a conflict on the device: a local unpushed edit met a newer remote version.

Used by pull (a pulled version meets a pending local edit) and by push (the server
answered "conflict" with its copy). The decision is the pure ``core.conflicts.resolve``;
this module reads the current row and writes the outcome, inside the caller's
transaction with capture off.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from memento_syncd.core.conflicts import Resolution, Strategy, resolve, same_record
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.observation import Observation, deleted_outright
from memento_syncd.store import rows
from memento_syncd.store.index import SimilarityIndex, Text


@dataclass(frozen=True, slots=True)
class Context:
    """What applying pulled or refused data needs besides the connection."""

    index: SimilarityIndex
    strategy: Strategy
    now: str


def current(conn: sqlite3.Connection, obs_id: int, sync_id: str, now: str) -> Observation | None:
    """The row as it stands now; a row deleted outright reads as a tombstone of its base
    (``deleted_outright``: as the push sends it, so a conflict settles alike whether the
    deletion or the other device's edit reaches the server first)."""
    row = rows.read_row(conn, obs_id)
    if row is not None:
        try:
            return rows.to_observation(sync_id, row)
        except InvalidInput:
            return None
    base = _base(conn, obs_id)
    return None if base is None else deleted_outright(base, now)


def _base(conn: sqlite3.Connection, obs_id: int) -> Observation | None:
    row = conn.execute("SELECT base FROM sync_objects WHERE obs_id = ?", (obs_id,)).fetchone()
    return None if row is None else rows.decode(row[0])


def store_remote(
    conn: sqlite3.Connection,
    index: SimilarityIndex,
    obs_id: int,
    remote: Observation,
    version: int,
) -> int:
    """Make the row hold ``remote`` at ``version`` (re-creating it if it was deleted outright).

    Returns the row's id, which is new when the row had to be re-created.
    """
    if rows.read_row(conn, obs_id) is None:
        new_id = rows.insert_row(conn, remote)
        conn.execute("UPDATE sync_objects SET obs_id = ? WHERE obs_id = ?", (new_id, obs_id))
        conn.execute("UPDATE sync_aliases SET obs_id = ? WHERE obs_id = ?", (new_id, obs_id))
        conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))
        obs_id = new_id
    else:
        rows.write_row(conn, obs_id, remote)
    rebase(conn, obs_id, remote, version)
    reindex(index, obs_id, remote)
    conn.execute("DELETE FROM sync_skipped WHERE obs_id = ?", (obs_id,))  # synced now
    return obs_id


def rebase(conn: sqlite3.Connection, obs_id: int, remote: Observation, version: int) -> None:
    """Record ``remote`` at ``version`` as the last synced version of the row."""
    conn.execute(
        "UPDATE sync_objects SET server_version = ?, base = ? WHERE obs_id = ?",
        (version, rows.encode(remote), obs_id),
    )


def text_of(obs: Observation) -> Text:
    """The indexed parts of an observation."""
    return Text(obs.project, obs.scope, obs.topic_key, obs.title, obs.content)


def reindex(index: SimilarityIndex, obs_id: int, obs: Observation) -> None:
    """Keep the similarity index in step with a row memento-syncd wrote."""
    if obs.deleted_at is None:
        index.put(obs_id, text_of(obs))
    else:
        index.remove(obs_id)


def settle(
    conn: sqlite3.Connection, ctx: Context, obs_id: int, remote: Observation, version: int
) -> str:
    """Resolve the row's pending edit against ``remote``; returns remote, local or manual."""
    index, strategy, now, sync_id = ctx.index, ctx.strategy, ctx.now, remote.sync_id
    local = current(conn, obs_id, sync_id, now)
    if local is None and (raw := rows.read_row(conn, obs_id)) is not None:
        return _keep_unsyncable(conn, ctx, obs_id, raw, remote, version)
    if local is None or same_record(local, remote):
        store_remote(conn, index, obs_id, remote, version)
        conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))
        return "remote"
    resolution = resolve(strategy, _base(conn, obs_id), local, remote)
    if resolution.manual:
        _open_conflict(conn, obs_id, local, remote, version, now)
        return "manual"
    _remember(conn, obs_id, sync_id, ctx, resolution)
    if same_record(resolution.kept, remote):
        store_remote(conn, index, obs_id, remote, version)
        conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))
        return "remote"
    if not same_record(resolution.kept, local):
        rows.write_row(conn, obs_id, resolution.kept)
        reindex(index, obs_id, resolution.kept)
    rebase(conn, obs_id, remote, version)
    conn.execute("INSERT INTO sync_changes (obs_id) VALUES (?)", (obs_id,))
    return "local"


def _keep_unsyncable(  # noqa: PLR0917 - settle's arguments and the row it read
    conn: sqlite3.Connection,
    ctx: Context,
    obs_id: int,
    raw: dict[str, object],
    remote: Observation,
    version: int,
) -> str:
    """The application's row cannot be read as an observation (text that is not UTF-8, a
    BLOB, a bad timestamp): it stays as the application wrote it, set aside, and no pulled
    version overwrites it. The remote version becomes its base (once the application
    fixes the row, that is pushed over it) and is kept in the history, where
    ``conflicts restore`` takes it."""
    kept = rows.encode_raw(raw, remote.sync_id)
    _history(conn, obs_id, remote.sync_id, "unsyncable_local", kept, rows.encode(remote), ctx.now)
    rebase(conn, obs_id, remote, version)
    return "local"


def _remember(
    conn: sqlite3.Connection, obs_id: int, sync_id: str, ctx: Context, resolution: Resolution
) -> None:
    if resolution.loser is not None:
        remember_loss(
            conn, obs_id, sync_id, ctx.strategy.value, resolution.kept, resolution.loser, ctx.now
        )


def remember_loss(  # noqa: PLR0917 - the columns of one history row
    conn: sqlite3.Connection,
    obs_id: int,
    sync_id: str,
    why: str,
    kept: Observation,
    lost: Observation,
    now: str,
) -> None:
    """Keep a version that lost (to a strategy or a twin) so it can be recovered."""
    _history(conn, obs_id, sync_id, why, rows.encode(kept), rows.encode(lost), now)


def _history(  # noqa: PLR0917 - the columns of one history row
    conn: sqlite3.Connection, obs_id: int, sync_id: str, why: str, kept: str, lost: str, now: str
) -> None:
    conn.execute(
        "INSERT INTO sync_history (obs_id, sync_id, strategy, kept, lost, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (obs_id, sync_id, why, kept, lost, now),
    )


def _open_conflict(  # noqa: PLR0917 - the columns of one conflict row
    conn: sqlite3.Connection,
    obs_id: int,
    local: Observation,
    remote: Observation,
    version: int,
    now: str,
) -> None:
    updated = conn.execute(
        "UPDATE sync_conflicts SET remote = ?, remote_version = ?, local = ?"
        " WHERE obs_id = ? AND resolved_at IS NULL",
        (rows.encode(remote), version, rows.encode(local), obs_id),
    )
    if updated.rowcount == 0:
        conn.execute(
            "INSERT INTO sync_conflicts (obs_id, sync_id, project, local, remote,"
            " remote_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (obs_id, remote.sync_id, local.project, rows.encode(local), rows.encode(remote),
             version, now),
        )  # fmt: skip
