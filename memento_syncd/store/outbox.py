"""The push side: what changed locally since the server last acknowledged it.

Pending work is the change log ``sync_changes``: an entry is removed only once the
server has acknowledged the version read after it, so an edit made while a push is in
flight (a later entry) is pushed next time, and a crash before the acknowledgement
only causes a harmless resend.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from memento_syncd.core.conflicts import same_record
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.observation import Observation, deleted_outright
from memento_syncd.core.wire import check_identifier, observation_to_wire, utf8_text
from memento_syncd.store import rows, twins
from memento_syncd.store.db import write


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One observation to push: its local row, the log position read, and the wire form."""

    obs_id: int
    max_seq: int
    observation: Observation
    base_version: int | None

    def wire(self) -> dict[str, Any]:
        """The JSON object sent to the server."""
        body = observation_to_wire(self.observation)
        body["base_version"] = self.base_version
        return body


@dataclass(frozen=True, slots=True)
class Batch:
    """Observations of one project to push, and rows that could not be synced."""

    project: str
    items: tuple[Outgoing, ...]
    skipped: tuple[tuple[int, str], ...]


# Rows whose local edit waits for the user to settle a conflict: not pushed until then.
_HELD = "SELECT obs_id FROM sync_conflicts WHERE resolved_at IS NULL"
# Every row with changes not yet acknowledged, and its project (held ones included).
_UNPUSHED = """
SELECT c.obs_id AS obs_id, min(c.seq) AS first_seq, max(c.seq) AS last_seq,
       coalesce(o.project, json_extract(so.base, '$.project')) AS project
FROM sync_changes c
LEFT JOIN observations o ON o.id = c.obs_id
LEFT JOIN sync_objects so ON so.obs_id = c.obs_id
GROUP BY c.obs_id
"""
# Those a push may send now.
_PENDING = f"SELECT * FROM ({_UNPUSHED}) WHERE obs_id NOT IN ({_HELD})"  # noqa: S608
_LOG_IN_ORDER = """
SELECT c.obs_id, coalesce(o.project, json_extract(so.base, '$.project'))
FROM sync_changes c
LEFT JOIN observations o ON o.id = c.obs_id
LEFT JOIN sync_objects so ON so.obs_id = c.obs_id
ORDER BY c.seq
"""


_PENDING_PROJECTS = f"SELECT DISTINCT project FROM ({_PENDING}) WHERE project IS NOT NULL"  # noqa: S608


def pending_projects(conn: sqlite3.Connection) -> list[str]:
    """Projects with local changes waiting to be pushed (those named in UTF-8 text: see
    ``set_aside_unnamed`` for the others)."""
    return sorted(row[0] for row in conn.execute(_PENDING_PROJECTS) if _nameable(row[0]))


def set_aside_unnamed(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """Set aside the pending rows whose project is not UTF-8 text (a BLOB, or bytes that
    are not UTF-8): no push can name their project. Returns each one's id and reason."""
    if all(_nameable(row[0]) for row in conn.execute(_PENDING_PROJECTS)):
        return []  # the usual case: one read, nothing written
    skipped: list[tuple[int, str]] = []
    with write(conn):
        for obs_id, _, max_seq, project in conn.execute(_PENDING).fetchall():
            if project is not None and not _nameable(project):
                reason = _refusal(project)
                set_aside(conn, obs_id, max_seq, reason)
                skipped.append((obs_id, reason))
    return skipped


# Changes of rows that are gone and have no identity (the application inserted and then
# deleted them outright before any push read them, or their identity was withdrawn):
# there is nothing to push for them. A row with an identity but no base yet may be in a
# push whose answer has not come: its deletion is pushed once that base is recorded.
_GONE = """
SELECT c.obs_id FROM sync_changes c
LEFT JOIN observations o ON o.id = c.obs_id
LEFT JOIN sync_objects so ON so.obs_id = c.obs_id
WHERE o.id IS NULL AND so.obs_id IS NULL
"""


def forget_gone(conn: sqlite3.Connection) -> int:
    """Drop the changes of rows gone before any push (no project names them, so no push
    would ever read them, and they would count as pending for good); how many rows."""
    if conn.execute(_GONE + " LIMIT 1").fetchone() is None:
        return 0  # the usual case: one read, nothing written
    with write(conn):
        gone = {row[0] for row in conn.execute(_GONE)}
        conn.executemany("DELETE FROM sync_changes WHERE obs_id = ?", ((i,) for i in gone))
    return len(gone)


def _refusal(project: object) -> str:
    """Why a project value cannot be sent (it is not UTF-8 text)."""
    try:
        check_identifier(project, "project")
    except InvalidInput as exc:
        return str(exc)
    return "project: is not UTF-8 text"  # (check_identifier refuses every such value)


def set_aside(conn: sqlite3.Connection, obs_id: int, max_seq: int, reason: str) -> None:
    """Record that a row cannot sync, and why; its changes up to ``max_seq`` are dropped, so
    it waits for the application to change it again (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO sync_skipped (obs_id, reason) VALUES (?, ?)", (obs_id, reason)
    )
    _forget_changes(conn, obs_id, max_seq)


def _nameable(project: object) -> bool:
    """A project value that SQL can bind and a push can send (it may still be refused)."""
    return isinstance(project, str) and utf8_text((project,))


def pending_count(
    conn: sqlite3.Connection, project: str | None = None, *, held: bool = False
) -> int:
    """How many observations have changes not yet acknowledged by the server; with
    ``held``, those an open conflict holds back too."""
    query = f"SELECT count(*) FROM ({_UNPUSHED if held else _PENDING})"  # noqa: S608
    if project is None:
        return int(conn.execute(query).fetchone()[0])
    return int(conn.execute(query + " WHERE project = ?", (project,)).fetchone()[0])


# A batch's observations stop at about this many bytes of JSON (at least one is read):
# a quarter of the server's default body limit (core.limits), room for a server set
# lower; one that refuses a batch as too large (413) halves it (client.engine).
BATCH_BYTES = 4 * 1024 * 1024


def wire_bytes(obs: Observation) -> int:
    """At least the bytes ``obs`` takes in a request body: its texts as JSON writes them
    (``ensure_ascii``, as the transport sends: escapes included, in C), and 400 bytes for
    the field names, the timestamps, the identifiers and the separators."""
    texts = (obs.project, obs.type, obs.title, obs.content, obs.topic_key or "")
    return 400 + sum(len(encode_basestring_ascii(text)) for text in texts)


def next_batch(  # noqa: PLR0917 - what to read, and the bounds of one batch
    conn: sqlite3.Connection,
    project: str,
    limit: int,
    now: str,
    in_flight: AbstractSet[int] = frozenset(),
    max_bytes: int = BATCH_BYTES,
) -> Batch:
    """Read up to ``limit`` pending observations of ``project`` (and about ``max_bytes``
    of them, at least one) in one short transaction, leaving out the rows ``in_flight``
    (sent, not acknowledged yet).

    Rows without a ``sync_id`` get one. A row the server would refuse (say, an
    unparseable timestamp) is set aside in ``sync_skipped`` until the application
    changes it again; a row deleted outright is pushed as a tombstone of what was synced.
    """
    items: list[Outgoing] = []
    skipped: list[tuple[int, str]] = []
    size = 0
    with write(conn):
        for obs_id, max_seq in _oldest_pending(conn, project, limit, in_flight):
            try:
                outgoing = _outgoing(conn, obs_id, max_seq, now)
            except InvalidInput as exc:
                reason = str(exc).removeprefix("observation.")
                set_aside(conn, obs_id, max_seq, reason)
                skipped.append((obs_id, reason))
                continue
            if outgoing is None:
                _forget_changes(conn, obs_id, max_seq)
                continue
            more = wire_bytes(outgoing.observation)
            if items and size + more > max_bytes:
                break  # it and the rest stay pending, for the next batch (its sync_id kept)
            items.append(outgoing)
            size += more
    return Batch(project, tuple(items), tuple(skipped))


def _oldest_pending(
    conn: sqlite3.Connection, project: str, limit: int, in_flight: AbstractSet[int]
) -> list[tuple[int, int]]:
    """The ``limit`` observations of ``project`` changed longest ago (not ``in_flight``),
    with their last entry.

    Walks the log in sequence order and stops as soon as it has enough, so a batch costs
    the same whether ten or a hundred thousand changes wait.
    """
    held = {row[0] for row in conn.execute(_HELD)}.union(in_flight)
    chosen: dict[int, None] = {}
    cur = conn.execute(_LOG_IN_ORDER)
    try:
        for obs_id, owner in cur:
            if owner == project and obs_id not in held and obs_id not in chosen:
                chosen[obs_id] = None
                if len(chosen) == limit:
                    break
    finally:
        cur.close()
    last = "SELECT max(seq) FROM sync_changes WHERE obs_id = ?"
    return [(obs_id, conn.execute(last, (obs_id,)).fetchone()[0]) for obs_id in chosen]


def _outgoing(conn: sqlite3.Connection, obs_id: int, max_seq: int, now: str) -> Outgoing | None:
    found = conn.execute(
        "SELECT sync_id, server_version, base FROM sync_objects WHERE obs_id = ?", (obs_id,)
    ).fetchone()
    if found is None:
        found = _unfold(conn, obs_id)
    if found is None:
        sync_id, version, base = str(uuid.uuid4()), None, None
        conn.execute("INSERT INTO sync_objects (obs_id, sync_id) VALUES (?, ?)", (obs_id, sync_id))
    else:
        sync_id, version, base = found
    row = rows.read_row(conn, obs_id)
    if row is None:  # deleted outright by the application: push a tombstone if ever synced
        synced = rows.decode(base)
        if synced is None:
            return None
        return Outgoing(obs_id, max_seq, deleted_outright(synced, now), version)
    shown = rows.to_observation(sync_id, row)
    return Outgoing(obs_id, max_seq, _own_version(conn, obs_id, shown, base), version)


def _own_version(
    conn: sqlite3.Connection, obs_id: int, shown: Observation, base: str | None
) -> Observation:
    """What to push for a row that shows ``shown``: that, unless it is a fold of twins the
    application left as it showed it (a write that changed nothing, ``sync reset``
    queueing it again). Then the row's own identity's synced version: the fold shows
    another twin's newer text, which is not this identity's."""
    synced = rows.decode(base)
    if synced is None:
        return shown
    view = twins.synced_view(conn, obs_id, synced)
    if view is synced or not same_record(shown, view):
        return shown
    return synced


def _unfold(conn: sqlite3.Connection, obs_id: int) -> tuple[str, int, str] | None:
    """The application wrote to a row hidden by a fold (``store.twins.join``): the row takes
    its identity back from the fold, and comes back to life unless the application
    deleted it itself. Returns the identity, its server version and base; None when the
    row was not hidden, or its identity lives in another row by now (then the write is
    pushed as a new observation: a copy, not a loss)."""
    hidden = conn.execute(
        "SELECT sync_id, hidden_at FROM sync_folded WHERE obs_id = ?", (obs_id,)
    ).fetchone()
    if hidden is None:
        return None
    sync_id, hidden_at = hidden
    conn.execute("DELETE FROM sync_folded WHERE obs_id = ?", (obs_id,))
    alias = conn.execute(
        "SELECT obs_id, server_version, latest FROM sync_aliases WHERE sync_id = ?", (sync_id,)
    ).fetchone()
    if alias is None or alias[2] is None:  # a copy: live, as the application wrote it
        rows.unhide(conn, obs_id, hidden_at)
        return None
    fold_row, version, latest = alias
    conn.execute("DELETE FROM sync_aliases WHERE sync_id = ?", (sync_id,))
    conn.execute(
        "INSERT INTO sync_objects (obs_id, sync_id, server_version, base) VALUES (?, ?, ?, ?)",
        (obs_id, sync_id, version, latest),
    )
    rows.unhide(conn, obs_id, hidden_at)
    # The fold it left shows its own version at once if no member is left, else the fold
    # of those left at the next pull (and this row is checked for twins once pushed).
    twins.show_own_if_alone(conn, fold_row)
    conn.execute("INSERT OR IGNORE INTO sync_rejoin (obs_id) VALUES (?)", (fold_row,))
    return sync_id, version, latest


def _forget_changes(conn: sqlite3.Connection, obs_id: int, max_seq: int) -> None:
    conn.execute("DELETE FROM sync_changes WHERE obs_id = ? AND seq <= ?", (obs_id, max_seq))


def acknowledge(conn: sqlite3.Connection, item: Outgoing, version: int) -> None:
    """The server holds ``item`` at ``version``: it becomes the base; its log entries go."""
    conn.execute(
        "UPDATE sync_objects SET server_version = ?, base = ? WHERE obs_id = ?",
        (version, rows.encode(item.observation), item.obs_id),
    )
    _forget_changes(conn, item.obs_id, item.max_seq)
    conn.execute("DELETE FROM sync_skipped WHERE obs_id = ?", (item.obs_id,))


def changed_since(conn: sqlite3.Connection, item: Outgoing) -> bool:
    """True if the application wrote the row again after ``item`` was read."""
    row = conn.execute(
        "SELECT 1 FROM sync_changes WHERE obs_id = ? AND seq > ? LIMIT 1",
        (item.obs_id, item.max_seq),
    ).fetchone()
    return row is not None
