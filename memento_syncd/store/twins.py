"""Folds of twins on the device: one row for several identities, kept in step with them.

Dedup folds a pulled observation into the local row it duplicates and records the
pulled identity as an alias of that row, with the alias's latest version. After any
change to a member of a fold (pulled, pushed, settled), ``regroup`` makes the row show
``core.twins.fold`` of the members that are still twins of the row's own identity; a
member that is no longer one leaves the fold as a row of its own (what devices that
never folded the two show), and a fold whose own identity is deleted takes its
members with it, as deletions pushed under their own identities so that every device
agrees. ``join`` does the reverse: a row whose identity has become a twin of another
row's (after a pulled update, or for pushed rows at the next pull) is folded into it.
All of it runs inside the caller's transaction with capture off.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, replace

from memento_syncd.core.conflicts import newer, same_record
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.observation import Observation
from memento_syncd.core.twins import fold, twin_kind
from memento_syncd.store import rows
from memento_syncd.store.db import applying, write
from memento_syncd.store.index import Probe, Text
from memento_syncd.store.settle import Context, current, reindex, remember_loss, text_of


@dataclass(frozen=True, slots=True)
class _Member:
    """An alias of a row: its identity, server version and latest version (if known)."""

    sync_id: str
    version: int
    latest: Observation | None


def pending(conn: sqlite3.Connection, obs_id: int) -> bool:
    """Whether the row has local changes not yet acknowledged, an open conflict, or was
    set aside (the application's write that cannot sync: never overwritten or folded
    away by what is pulled, see ``settle``)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sync_changes WHERE obs_id = ?)"
        " OR EXISTS (SELECT 1 FROM sync_conflicts WHERE obs_id = ? AND resolved_at IS NULL)"
        " OR EXISTS (SELECT 1 FROM sync_skipped WHERE obs_id = ?)",
        (obs_id, obs_id, obs_id),
    ).fetchone()
    return bool(row[0])


def fold_in(
    conn: sqlite3.Connection,
    ctx: Context,
    remote: Observation,
    version: int,
    probe: Probe | None = None,
) -> str | None:
    """Fold the newly pulled ``remote`` into the local row it duplicates; its twin kind,
    or None if no row does.

    The index finds rows by what they show; a row is taken only if ``remote`` is a twin
    of the row's own identity too, so that it would not split off again at once.
    """
    found = _twin_row(conn, ctx, remote, exclude=0, probe=probe)
    if found is None:
        return None
    obs_id, kind = found
    conn.execute(
        "INSERT INTO sync_aliases (sync_id, obs_id, server_version, kind, latest)"
        " VALUES (?, ?, ?, ?, ?)",
        (remote.sync_id, obs_id, version, kind, rows.encode(remote)),
    )
    regroup(conn, ctx, obs_id)
    return kind


def _twin_row(
    conn: sqlite3.Connection,
    ctx: Context,
    obs: Observation,
    exclude: int,
    probe: Probe | None = None,
) -> tuple[int, str] | None:
    """The row (other than ``exclude``) whose own identity ``obs`` is a twin of, and how."""
    kinds: dict[int, str] = {}

    def accept(obs_id: int, _: str) -> bool:
        own = _own(conn, obs_id, ctx.now)
        kind = None if own is None else twin_kind(own, obs, ctx.index.threshold)
        if kind is not None:
            kinds[obs_id] = kind
        return kind is not None

    twin = ctx.index.find_twin(text_of(obs), exclude=exclude, accept=accept, probe=probe)
    return None if twin is None else (twin.obs_id, kinds[twin.obs_id])


def update_alias(
    conn: sqlite3.Connection,
    ctx: Context,
    alias: tuple[int, int],
    remote: Observation,
    version: int,
) -> str:
    """A new version of a folded twin: record it, then bring its row in step."""
    obs_id, seen = alias
    if version <= seen:
        return "already_had"
    conn.execute(
        "UPDATE sync_aliases SET server_version = ?, latest = ? WHERE sync_id = ?",
        (version, rows.encode(remote), remote.sync_id),
    )
    outcome = "twin_updated"
    if remote.deleted_at is not None:
        outcome = _delete_fold(conn, ctx, obs_id, remote)
    regroup(conn, ctx, obs_id)
    return outcome


def rejoin_waiting(conn: sqlite3.Connection) -> int:
    """How many pushed rows wait for ``rejoin_slice``."""
    return int(conn.execute("SELECT count(*) FROM sync_rejoin").fetchone()[0])


def regroup_identity(conn: sqlite3.Connection, ctx: Context, sync_id: str) -> None:
    """``regroup`` the row that holds identity ``sync_id``, if any."""
    row = conn.execute("SELECT obs_id FROM sync_objects WHERE sync_id = ?", (sync_id,)).fetchone()
    if row is not None:
        regroup(conn, ctx, row[0])


def rejoin_slice(
    conn: sqlite3.Connection,
    ctx: Context,
    seconds: float = 0.03,
    gap: float = 0.0,
    free_since: float | None = None,
) -> tuple[int, int, bool]:
    """``join`` rows pushed since the last pull (``sync_rejoin``) for about ``seconds`` in
    one transaction; how many were checked, how many folded away, and whether more wait.

    Each row costs a dedup probe, as a pulled one does; the probes are made first,
    without the write lock, for up to ``gap`` seconds, and the lock is taken no sooner
    than ``gap`` after ``free_since`` (when the caller last let it go).
    """
    queued = [obs_id for (obs_id,) in conn.execute("SELECT obs_id FROM sync_rejoin LIMIT 500")]
    if not queued:
        return 0, 0, False
    probes = ctx.index.prepare((_rejoin_text(conn, ctx, obs_id) for obs_id in queued), gap)
    if free_since is not None:
        time.sleep(max(0.0, gap - (time.monotonic() - free_since)))
    joined, done = 0, 0
    try:
        with write(conn), applying(conn):
            ctx.index.validate()
            started = time.monotonic()
            for obs_id, probe in zip(queued, probes, strict=False):
                regroup(conn, ctx, obs_id)
                joined += join(conn, ctx, obs_id, probe)
                done += 1
                if time.monotonic() - started >= seconds:
                    break
            conn.executemany(
                "DELETE FROM sync_rejoin WHERE obs_id = ?", ((i,) for i in queued[:done])
            )
            more = conn.execute("SELECT 1 FROM sync_rejoin LIMIT 1").fetchone() is not None
    finally:
        ctx.index.release()
    return done, joined, more


def _rejoin_text(conn: sqlite3.Connection, ctx: Context, obs_id: int) -> Text | None:
    """What ``join`` will look up for the row, as it stands now (None: nothing to look up)."""
    joinable = _joinable(conn, ctx, obs_id)
    return None if joinable is None else text_of(joinable[2])


def _joinable(
    conn: sqlite3.Connection, ctx: Context, obs_id: int
) -> tuple[str, int, Observation] | None:
    """The row's synced identity, its server version and its own live version, if ``join``
    may fold it: synced, no unpushed edit, not deleted."""
    found = conn.execute(
        "SELECT sync_id, server_version FROM sync_objects WHERE obs_id = ?", (obs_id,)
    ).fetchone()
    if found is None or found[1] is None or pending(conn, obs_id):
        return None
    own = _own(conn, obs_id, ctx.now)
    if own is None or own.deleted_at is not None:
        return None
    return str(found[0]), int(found[1]), own


def regroup(conn: sqlite3.Connection, ctx: Context, obs_id: int) -> None:
    """Make row ``obs_id`` show the fold of its members; split off or delete those that left."""
    members = _members(conn, obs_id)
    if not members:
        return
    own = _own(conn, obs_id, ctx.now)
    if own is None:
        return
    live = [m for m in members if m.latest is not None and m.latest.deleted_at is None]
    if own.deleted_at is not None:
        for member in live:
            _split(conn, ctx, member, gone=own)
        return
    staying: list[Observation] = []
    for member in live:
        assert member.latest is not None  # noqa: S101 - filtered above
        if twin_kind(own, member.latest, ctx.index.threshold) is None:
            _split(conn, ctx, member, gone=None)
        else:
            staying.append(member.latest)
    _show(conn, ctx, obs_id, fold(own, staying))


def join(conn: sqlite3.Connection, ctx: Context, obs_id: int, probe: Probe | None = None) -> bool:
    """If row ``obs_id``'s identity has become a twin of another row, fold it in there.

    Dedup decides when an observation arrives; an edit can make two rows twins later
    (on any device), and devices that saw them arrive in another order folded them.
    So after a row's identity changes, it is folded like a new arrival would be: its
    identity and any twins it held become aliases of the other row, which then shows
    the fold, and the row is hidden (soft-deleted, recorded in ``sync_folded``), not
    removed: if the application writes to it later, the push unfolds it
    (``outbox``), so that write is not lost. A row with unpushed edits is left alone
    until they are pushed. True if the row was folded away. ``probe``: a look-up
    prepared for the row (``SimilarityIndex.prepare``), used if it still holds.
    """
    joinable = _joinable(conn, ctx, obs_id)
    if joinable is None:
        return False
    sync_id, version, own = joinable
    twin = _twin_row(conn, ctx, own, exclude=obs_id, probe=probe)
    if twin is None:
        return False
    target, kind = twin
    conn.execute("DELETE FROM sync_objects WHERE obs_id = ?", (obs_id,))
    conn.execute("UPDATE sync_aliases SET obs_id = ? WHERE obs_id = ?", (target, obs_id))
    conn.execute(
        "INSERT INTO sync_aliases (sync_id, obs_id, server_version, kind, latest)"
        " VALUES (?, ?, ?, ?, ?)",
        (sync_id, target, version, kind, rows.encode(own)),
    )
    conn.execute("UPDATE observations SET deleted_at = ? WHERE id = ?", (ctx.now, obs_id))
    conn.execute(
        "INSERT OR REPLACE INTO sync_folded (obs_id, sync_id, hidden_at) VALUES (?, ?, ?)",
        (obs_id, sync_id, ctx.now),
    )
    ctx.index.remove(obs_id)
    regroup(conn, ctx, target)
    return True


def leave_fold(conn: sqlite3.Connection, ctx: Context, sync_id: str, obs_id: int) -> None:
    """Identity ``sync_id`` leaves the fold of row ``obs_id`` without deleting anything
    (a withdrawal, ``store.withdraw``): the row shows the fold of those left."""
    conn.execute("DELETE FROM sync_aliases WHERE sync_id = ?", (sync_id,))
    hidden = conn.execute(
        "SELECT obs_id, hidden_at FROM sync_folded WHERE sync_id = ?", (sync_id,)
    ).fetchone()
    conn.execute("DELETE FROM sync_folded WHERE sync_id = ?", (sync_id,))
    if hidden is not None and pending(conn, hidden[0]):
        # The application wrote to the row it was hidden in: that write comes back to
        # life as a new observation of its own (the push would have unfolded it).
        rows.unhide(conn, *hidden)
    if _members(conn, obs_id):
        regroup(conn, ctx, obs_id)
        return
    own = _own(conn, obs_id, ctx.now)
    if own is not None and own.deleted_at is None:
        _show(conn, ctx, obs_id, fold(own, []))


def show_own_if_alone(conn: sqlite3.Connection, obs_id: int) -> None:
    """Row ``obs_id`` lost its last member other than by ``regroup`` (the application wrote
    to the row that member was hidden in: ``outbox``): it shows its own synced version
    again, as devices that never folded them do, unless the application's own writing
    is pending there. It is indexed again with the next pull (``sync_dirty``)."""
    if _members(conn, obs_id) or pending(conn, obs_id) or rows.read_row(conn, obs_id) is None:
        return
    found = conn.execute("SELECT base FROM sync_objects WHERE obs_id = ?", (obs_id,)).fetchone()
    own = None if found is None else rows.decode(found[0])
    if own is None or own.deleted_at is not None:
        return
    with applying(conn):
        rows.write_row(conn, obs_id, own)
    conn.execute("INSERT OR IGNORE INTO sync_dirty (obs_id) VALUES (?)", (obs_id,))


def synced_view(conn: sqlite3.Connection, obs_id: int, own: Observation) -> Observation:
    """What row ``obs_id`` shows untouched when its own identity's synced version is
    ``own``: ``own`` folded with its live members' latest versions."""
    live = [m.latest for m in _members(conn, obs_id) if m.latest and m.latest.deleted_at is None]
    return fold(own, live) if live else own


def release_members(conn: sqlite3.Connection, ctx: Context, obs_id: int) -> None:
    """Every live twin folded into row ``obs_id`` gets a row of its own again (placed as
    any, ``join``), and the row keeps no alias: its own identity was withdrawn."""
    for member in _members(conn, obs_id):
        if member.latest is not None and member.latest.deleted_at is None:
            _split(conn, ctx, member, gone=None)
        else:
            conn.execute("DELETE FROM sync_aliases WHERE sync_id = ?", (member.sync_id,))


def _members(conn: sqlite3.Connection, obs_id: int) -> list[_Member]:
    found = conn.execute(
        "SELECT sync_id, server_version, latest FROM sync_aliases WHERE obs_id = ?", (obs_id,)
    ).fetchall()
    return [_Member(sync_id, version, rows.decode(latest)) for sync_id, version, latest in found]


def _own(conn: sqlite3.Connection, obs_id: int, now: str) -> Observation | None:
    """The row's own identity's latest version: the row while it has unpushed edits (or
    was never synced), else what the server last said."""
    found = conn.execute(
        "SELECT sync_id, base FROM sync_objects WHERE obs_id = ?", (obs_id,)
    ).fetchone()
    sync_id, base = found if found is not None else ("local", None)
    if base is not None and not pending(conn, obs_id):
        return rows.decode(base)
    return current(conn, obs_id, sync_id, now)


def _show(conn: sqlite3.Connection, ctx: Context, obs_id: int, shown: Observation) -> None:
    """Write ``shown`` into the row unless it already holds it; a pending edit that gives
    way is kept in the history."""
    row = rows.read_row(conn, obs_id)
    if row is None:
        return
    try:
        held = rows.to_observation(shown.sync_id, row)
    except InvalidInput:
        return
    if same_record(shown, held) and shown.created_at == held.created_at:
        return
    if not same_record(shown, held) and pending(conn, obs_id):
        remember_loss(conn, obs_id, shown.sync_id, "twin", shown, held, ctx.now)
    rows.write_row(conn, obs_id, shown)
    reindex(ctx.index, obs_id, shown)


def _split(
    conn: sqlite3.Connection, ctx: Context, member: _Member, gone: Observation | None
) -> None:
    """Give ``member`` a row of its own; with ``gone`` (the deleted fold), a deleted one
    whose deletion is pushed under the member's identity."""
    latest = member.latest
    assert latest is not None  # noqa: S101 - callers pass live members only
    shown = latest
    if gone is not None:
        shown = replace(latest, deleted_at=gone.deleted_at, updated_at=gone.updated_at)
    new_id = _hidden_row(conn, member.sync_id)
    if new_id is None:
        new_id = rows.insert_row(conn, shown)
    else:  # the row it was hidden in comes back
        rows.write_row(conn, new_id, shown)
    conn.execute(
        "INSERT INTO sync_objects (obs_id, sync_id, server_version, base) VALUES (?, ?, ?, ?)",
        (new_id, member.sync_id, member.version, rows.encode(latest)),
    )
    conn.execute("DELETE FROM sync_aliases WHERE sync_id = ?", (member.sync_id,))
    reindex(ctx.index, new_id, shown)
    if gone is not None:
        conn.execute("INSERT INTO sync_changes (obs_id) VALUES (?)", (new_id,))
    else:
        join(conn, ctx, new_id)


def _hidden_row(conn: sqlite3.Connection, sync_id: str) -> int | None:
    """The row identity ``sync_id`` was hidden in by ``join``, if it is still there and
    the application has not written to it since (then the push unfolds it instead)."""
    found = conn.execute("SELECT obs_id FROM sync_folded WHERE sync_id = ?", (sync_id,)).fetchone()
    if found is None or pending(conn, found[0]) or rows.read_row(conn, found[0]) is None:
        return None
    conn.execute("DELETE FROM sync_folded WHERE obs_id = ?", (found[0],))
    return int(found[0])


def _delete_fold(conn: sqlite3.Connection, ctx: Context, obs_id: int, remote: Observation) -> str:
    """A folded twin was deleted: the twins are one, so the row goes too, and syncs that.

    The deletion is recorded as a local change of the row, so its own identity is
    deleted on the server as well (``regroup`` then deletes the other members), and
    every device, new ones included, agrees. A pending local edit newer than the
    deletion keeps the row.
    """
    row = rows.read_row(conn, obs_id)
    if row is None or row["deleted_at"] is not None:
        return "twin_deleted"
    try:
        local = rows.to_observation(remote.sync_id, row)
    except InvalidInput:
        return "twin_deleted"
    if pending(conn, obs_id) and newer(local, remote) is local:
        return "twin_kept"
    gone = replace(local, deleted_at=remote.deleted_at, updated_at=remote.updated_at)
    rows.write_row(conn, obs_id, gone)
    conn.execute("INSERT INTO sync_changes (obs_id) VALUES (?)", (obs_id,))
    reindex(ctx.index, obs_id, gone)
    return "twin_deleted"
