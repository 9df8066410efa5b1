"""Conflicts kept for the user (strategy ``manual``), and the history of settled ones."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from memento_syncd.core.conflicts import same_record
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.observation import Observation, deleted_outright
from memento_syncd.core.timestamps import format_timestamp
from memento_syncd.core.wire import observation_to_wire
from memento_syncd.store import rows
from memento_syncd.store.db import applying, write
from memento_syncd.store.inbox import SLICE_GAP_SECONDS, index_slice
from memento_syncd.store.index import SimilarityIndex
from memento_syncd.store.settle import rebase, remember_loss, store_remote, text_of

KEEP_CHOICES = ("local", "remote", "both")


class NoSuchConflict(LookupError):
    """The id names no open conflict."""


class TwinsCannotBothStay(ValueError):
    """``both`` asked for two versions that dedup would fold back into one on other devices."""


def list_conflicts(
    conn: sqlite3.Connection, include_resolved: bool = False
) -> list[dict[str, Any]]:
    """Conflicts with both versions, oldest first."""
    query = (
        "SELECT id, obs_id, sync_id, project, local, remote, remote_version, created_at,"
        " resolved_at, resolution FROM sync_conflicts"
    )
    if not include_resolved:
        query += " WHERE resolved_at IS NULL"
    return [
        {
            "id": row[0], "local_id": row[1], "sync_id": row[2], "project": row[3],
            "local": _shown_local(conn, row[1], row[2], row[4], row[8]),
            "remote": json.loads(row[5]),
            "remote_version": row[6], "created_at": row[7], "resolved_at": row[8],
            "resolution": row[9],
        }
        for row in conn.execute(query + " ORDER BY id")
    ]  # fmt: skip


def history(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Automatically settled conflicts, newest first, with the losing version kept."""
    return [
        {"id": row[0], "local_id": row[1], "sync_id": row[2], "strategy": row[3],
         "kept": json.loads(row[4]), "lost": json.loads(row[5]), "at": row[6]}
        for row in conn.execute(
            "SELECT id, obs_id, sync_id, strategy, kept, lost, at FROM sync_history"
            " ORDER BY id DESC LIMIT ?", (limit,))
    ]  # fmt: skip


def resolve_conflict(
    conn: sqlite3.Connection, index: SimilarityIndex, conflict_id: int, keep: str, now: str
) -> None:
    """Settle an open conflict; the outcome is pushed at the next sync.

    ``local`` keeps the device's version (pushed over the server's), ``remote`` takes the
    server's, ``both`` takes the server's and saves the local one as a new observation.
    """
    if keep not in KEEP_CHOICES:
        raise ValueError(f"keep must be one of {', '.join(KEEP_CHOICES)}")
    if keep == "both":
        catch_up(conn, index)
    with write(conn):
        row = conn.execute(
            "SELECT obs_id, local, remote, remote_version FROM sync_conflicts"
            " WHERE id = ? AND resolved_at IS NULL",
            (conflict_id,),
        ).fetchone()
        if row is None:
            raise NoSuchConflict(conflict_id)
        obs_id, local_text, remote_text, version = row
        remote, snapshot = rows.decode(remote_text), rows.decode(local_text)
        assert remote is not None  # noqa: S101 - the column is NOT NULL
        assert snapshot is not None  # noqa: S101 - the column is NOT NULL
        local = _local_now(conn, obs_id, snapshot, now)
        if keep == "local":
            rebase(conn, obs_id, remote, version)
            conn.execute("INSERT INTO sync_changes (obs_id) VALUES (?)", (obs_id,))
        else:
            with applying(conn):  # (a row deleted outright is made again: a new id)
                obs_id = store_remote(conn, index, obs_id, remote, version)
            conn.execute("DELETE FROM sync_changes WHERE obs_id = ?", (obs_id,))
            if keep == "remote" and not same_record(local, remote):
                remember_loss(conn, obs_id, remote.sync_id, "manual", remote, local, now)
            if keep == "both" and local.deleted_at is None:
                _refuse_twins(index, conflict_id, local)
                rows.insert_row(conn, local)  # captured: pushed as a new observation
        conn.execute(  # with the local side the user settled, as it stood then
            "UPDATE sync_conflicts SET resolved_at = ?, resolution = ?, local = ? WHERE id = ?",
            (now, keep, rows.encode(local), conflict_id),
        )


def _local_now(
    conn: sqlite3.Connection, obs_id: int, snapshot: Observation, now: str
) -> Observation:
    """The device's side of a conflict as it stands: the row, which the application may
    have written again since the conflict opened; a row deleted outright since reads as
    a tombstone (``deleted_outright``, as a push sends it); ``snapshot`` (what the row held when
    the conflict opened) for a row that cannot be read as an observation."""
    row = rows.read_row(conn, obs_id)
    if row is None:
        return deleted_outright(snapshot, now)
    try:
        return rows.to_observation(snapshot.sync_id, row)
    except InvalidInput:
        return snapshot


def _shown_local(
    conn: sqlite3.Connection, obs_id: int, sync_id: str, snapshot: str, resolved_at: str | None
) -> dict[str, Any]:
    """A conflict's local side as listed: as it stands while open (what ``keep local``
    pushes), as it was when settled."""
    if resolved_at is not None:
        return dict(json.loads(snapshot))
    decoded = rows.decode(snapshot)
    assert decoded is not None  # noqa: S101 - the column is NOT NULL
    now = format_timestamp(datetime.now(UTC))
    shown = _local_now(conn, obs_id, dataclasses.replace(decoded, sync_id=sync_id), now)
    return observation_to_wire(shown)


def catch_up(conn: sqlite3.Connection, index: SimilarityIndex) -> None:
    """Index the rows waiting for it in short transactions, the application writing in
    between (after an upgrade that emptied the index, that is every row)."""
    while index_slice(conn, index):
        time.sleep(SLICE_GAP_SECONDS)


def _refuse_twins(index: SimilarityIndex, conflict_id: int, local: Observation) -> None:
    """Devices that pull the copy dedup it as any pulled observation: if it has a live twin
    here (the server's version, usually), they would merge it and keep one row where this
    device keeps two. Refuse, so that every device ends with the same observations."""
    index.refresh_dirty()  # what the application wrote since catch_up: a few rows at most
    if index.find_twin(text_of(local)) is not None:
        raise TwinsCannotBothStay(
            f"the two versions of conflict {conflict_id} are near twins (dedup would merge"
            " them again on other devices); keep local or remote, or edit one first"
        )


def restore_lost(conn: sqlite3.Connection, history_id: int, now: str) -> int:
    """Bring back a version that lost a conflict, as a new local edit; returns the row id.

    The restored text is recorded like any edit of the application, so it syncs.
    """
    with write(conn):
        row = conn.execute(
            "SELECT obs_id, lost FROM sync_history WHERE id = ?", (history_id,)
        ).fetchone()
        if row is None or row[0] is None:
            raise NoSuchConflict(history_id)
        lost = rows.decode(row[1])
        assert lost is not None  # noqa: S101 - the column is NOT NULL
        if rows.read_row(conn, row[0]) is None:
            raise NoSuchConflict(history_id)
        rows.write_row(conn, row[0], dataclasses.replace(lost, updated_at=now))
        return int(row[0])
