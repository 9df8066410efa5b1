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
from memento_syncd.store import rows, twins, withdraw
from memento_syncd.store.db import applying, write
from memento_syncd.store.index import Probe, SimilarityIndex
from memento_syncd.store.settle import (
    Context,
    rebase,
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


Parsed = tuple[Observation, int] | None  # a pulled observation and its version; None: invalid


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

    Before each transaction, the twins of the next new observations are looked up
    without the lock (``SimilarityIndex.prepare``) for up to ``gap_seconds``; the lock
    stays free at least that long after each slice but the last.
    """
    parsed = [_parse(item) for item in items]
    withdrawn = [item.get("withdrawn") is True for item in items]
    outcomes: Counter[str] = Counter()
    position = 0
    committed: float | None = None
    while True:
        probes = _prepare(conn, ctx, parsed[position:], gap_seconds)
        if committed is not None:
            time.sleep(max(0.0, gap_seconds - (time.monotonic() - committed)))
        try:
            with write(conn), applying(conn):
                ctx.index.validate()
                started = time.monotonic()
                # What the application wrote since: usually a few rows. Many (another
                # process forgot the index, say: store.reset) wait for the next slices.
                ctx.index.refresh_dirty(limit=500, seconds=slice_seconds)
                for probe in probes:  # the observations looked up; then the lock is let go
                    entry = parsed[position]
                    if entry is not None and withdrawn[position]:
                        outcomes[withdraw.apply(conn, ctx, *entry)] += 1
                    else:
                        outcomes[_apply_parsed(conn, ctx, entry, probe)] += 1
                    position += 1
                    if time.monotonic() - started >= slice_seconds:
                        break
                if position == len(parsed):
                    _advance(conn, ctx, project, cursor, len(items))
                    return outcomes
        finally:
            ctx.index.release()
        committed = time.monotonic()


def index_slice(conn: sqlite3.Connection, index: SimilarityIndex) -> int:
    """Index up to 500 rows the application wrote, in one short write transaction; returns
    how many (0: none was waiting)."""
    with write(conn):
        return index.refresh_dirty(limit=500, seconds=SLICE_SECONDS)


def _prepare(
    conn: sqlite3.Connection, ctx: Context, parsed: list[Parsed], seconds: float
) -> list[Probe | None]:
    """Twin look-ups for the next observations, as many as ``seconds`` allow (at least
    one); None for those that are not new here (known, deleted or invalid)."""
    texts = (
        None
        if entry is None or entry[0].deleted_at is not None or _known(conn, entry[0].sync_id)
        else text_of(entry[0])
        for entry in parsed
    )
    return ctx.index.prepare(texts, seconds)


def _known(conn: sqlite3.Connection, sync_id: str) -> bool:
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sync_objects WHERE sync_id = ?)"
        " OR EXISTS (SELECT 1 FROM sync_aliases WHERE sync_id = ?)",
        (sync_id, sync_id),
    ).fetchone()
    return bool(found[0])


def _advance(conn: sqlite3.Connection, ctx: Context, project: str, cursor: str, count: int) -> None:
    if count:  # an empty page of a project never seen here (a mistyped --project) adds none
        conn.execute("INSERT OR IGNORE INTO sync_cursors (project) VALUES (?)", (project,))
    conn.execute(
        "UPDATE sync_cursors SET pull_cursor = ?, last_pull = ?,"
        " pull_count = pull_count + ? WHERE project = ?",
        (cursor, ctx.now, count, project),
    )


def _parse(item: dict[str, Any]) -> Parsed:
    try:
        return rows.from_wire(item)
    except InvalidInput:
        return None


def _apply_parsed(
    conn: sqlite3.Connection, ctx: Context, entry: Parsed, probe: Probe | None
) -> str:
    if entry is None:
        return "invalid"
    return _apply_one(conn, ctx, *entry, probe=probe)


def _apply_one(
    conn: sqlite3.Connection,
    ctx: Context,
    remote: Observation,
    version: int,
    probe: Probe | None = None,
) -> str:
    known = conn.execute(
        "SELECT obs_id, server_version FROM sync_objects WHERE sync_id = ?", (remote.sync_id,)
    ).fetchone()
    if known is not None:
        obs_id, seen = known
        if seen is not None and version <= seen:
            return "already_had"
        if seen is None and _gone_before_ack(conn, obs_id):
            return _delete_again(conn, ctx, obs_id, remote, version)
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
        kind = twins.fold_in(conn, ctx, remote, version, probe)
        if kind is not None:
            return f"dedup_{kind}"
    obs_id = rows.insert_row(conn, remote)
    conn.execute(
        "INSERT INTO sync_objects (obs_id, sync_id) VALUES (?, ?)", (obs_id, remote.sync_id)
    )
    rebase(conn, obs_id, remote, version)
    if remote.deleted_at is None:
        ctx.index.put(obs_id, text_of(remote), probe)
    else:  # a deletion of an observation never seen here: a row, but nothing to index
        ctx.index.remove(obs_id)
    return "inserted"


def _gone_before_ack(conn: sqlite3.Connection, obs_id: int) -> bool:
    """Whether the application deleted the row outright after a push read it and before
    the server's answer came (it never did: the answer was lost). Nothing of it is kept
    here but its identity: its deletion could not be pushed without a version to delete."""
    base = conn.execute("SELECT base FROM sync_objects WHERE obs_id = ?", (obs_id,)).fetchone()
    return base is not None and base[0] is None and rows.read_row(conn, obs_id) is None


def _delete_again(
    conn: sqlite3.Connection, ctx: Context, obs_id: int, remote: Observation, version: int
) -> str:
    """The server kept a row this device deleted outright before hearing it was stored:
    ``remote`` becomes its base, and the deletion is queued (pushed as a tombstone of it,
    ``outbox``) rather than the row coming back.

    Version 1 is what this device pushed (the identity is its own). A later one is
    another device's edit made since, which the deletion meets as any deletion would:
    the project's strategy settles the two (``settle``; the deletion reads as a
    tombstone stamped now, as the push would send it).
    """
    rebase(conn, obs_id, remote, version)
    if remote.deleted_at is not None:
        return "already_had"
    if version == 1:
        conn.execute("INSERT INTO sync_changes (obs_id) VALUES (?)", (obs_id,))
        return "deleted_here"
    return "conflict_" + settle(conn, ctx, obs_id, remote, version)
