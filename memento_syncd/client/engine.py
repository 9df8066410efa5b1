"""Push and pull sessions: decisions come from core, data from the store, bytes from HTTP."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memento_syncd.client import refusals
from memento_syncd.client.localdb import LocalDB
from memento_syncd.client.transport import ServerRefused, Transport
from memento_syncd.core.config import SyncConfig
from memento_syncd.core.conflicts import Strategy
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.timestamps import format_timestamp
from memento_syncd.core.wire import check_identifier
from memento_syncd.store import outbox, posting_rows, reseed, reset, rows, twins
from memento_syncd.store.db import applying, write
from memento_syncd.store.inbox import SLICE_GAP_SECONDS, SLICE_SECONDS, apply_page, index_slice
from memento_syncd.store.index import SimilarityIndex, learn_order
from memento_syncd.store.settle import Context, settle

PULL_PAGE = 200
# How rows whose project is not UTF-8 text (or a BLOB) are reported.
UNNAMED_PROJECT = "(project not UTF-8 text)"

Progress = Callable[[str, int, int | None], None]
# Told of each row set aside as it is (project, local id, reason): a push that fails later
# loses its report, and the rows it set aside are not read again until they change.
Skipped = Callable[[str, int, str], None]


@dataclass
class Report:
    """What one push or pull of one project did."""

    project: str
    sent: int = 0
    received: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    # A pull that stopped between pages for another project's (``SyncEngine.pull``).
    interrupted: bool = False


class SyncEngine:
    """Cursor-based push and pull of a device database against one server."""

    def __init__(
        self, db: LocalDB, transport: Transport, config: SyncConfig,
        clock: Callable[[], datetime], progress: Progress | None = None,
        *, on_skipped: Skipped | None = None,
    ) -> None:  # fmt: skip
        self.db = db
        self.transport = transport
        self.config = config
        self._clock = clock
        self._progress = progress
        self._on_skipped = on_skipped
        self._index: SimilarityIndex | None = None
        # Bytes per push batch; halved when a server refuses a batch as too large.
        self._batch_bytes = outbox.BATCH_BYTES

    def _now(self) -> str:
        return format_timestamp(self._clock())

    def _strategy(self, project: str) -> Strategy:
        return Strategy(self.config.strategy_for(project))

    async def _similarity(self) -> SimilarityIndex:
        if self._index is None:
            self._index = await self.db.run(_open_index, self.config.similarity_threshold)
        return self._index

    # ---- push -------------------------------------------------------------------------

    async def push(self, project: str | None = None) -> list[Report]:
        """Push every pending change (of ``project``, or of all projects)."""
        if not project:  # rows whose project itself cannot be named: set aside, told
            await self.db.run(outbox.forget_gone)
            unnamed = await self.db.run(outbox.set_aside_unnamed)
            self._skipped(Report(UNNAMED_PROJECT), unnamed)
        projects = [project] if project else await self.db.run(outbox.pending_projects)
        return await refusals.each_project(projects, self._push_project)

    async def _push_project(self, project: str) -> Report:
        report = Report(project)
        total = await self.db.run(outbox.pending_count, project)
        index = await self._similarity()
        rounds = 3 * total + 10  # each round acknowledges or settles; no busy loop
        ahead: asyncio.Task[outbox.Batch] | None = None  # the next batch, read meanwhile
        waiting: set[int] = set()  # conflicts the server sent no copy of: for the pull
        try:
            while rounds > 0:
                rounds -= 1
                read, ahead = ahead, None  # _next_batch owns it now: its rows told once
                batch = await self._next_batch(project, read, report, frozenset(waiting))
                if not batch.items:
                    break
                cursor = await self.db.run(_pull_cursor, project)
                body = {
                    "project_id": project,
                    "device_id": await self.db.run(_device_id),
                    "cursor": cursor,
                    "observations": [item.wire() for item in batch.items],
                }
                # While the server stores this batch, the next one is read: the device's
                # work and the server's overlap. The rows in flight are still pending
                # (until acknowledged), so the read leaves them out.
                in_flight = frozenset(item.obs_id for item in batch.items).union(waiting)
                ahead = asyncio.ensure_future(self._read_batch(project, in_flight))
                try:
                    answer = await self.transport.push(body)
                except ServerRefused as exc:
                    # The batch read ahead is read again (its rows are still pending).
                    self._skipped(report, (await ahead).skipped)
                    ahead = None
                    if await self._server_replaced(project, exc, report):
                        total = await self.db.run(outbox.pending_count, project)
                        rounds = 3 * total + 10
                        continue
                    if refusals.too_big(batch, exc):  # a server set lower than we thought
                        self._batch_bytes = max(1, refusals.batch_bytes(batch) // 2)
                        continue  # the same rows, read again in smaller batches
                    set_aside = await self._set_aside(batch, exc)
                    if set_aside is None:
                        raise
                    self._skipped(report, [set_aside])
                    continue
                ctx = Context(index, self._strategy(project), self._now())
                counts = await self.db.run(_acknowledge, ctx, batch, answer, cursor, waiting)
                report.sent += len(batch.items)
                report.outcomes.update(counts)
                self._tell("push", project, report.sent, total)
        finally:
            if ahead is not None:  # rounds ran out, or the push failed
                await self._let_go(ahead, report)
        return report

    async def _let_go(self, ahead: asyncio.Task[outbox.Batch], report: Report) -> None:
        """A batch read ahead and not sent. Reading it set aside the rows that cannot sync
        (committed as it read), so it is waited for, one batch read, and they are reported;
        its rows to send stay pending for the next push. Its own failure is not this
        push's: the push's outcome stands. (A push that is itself cancelled lets it go
        untold; the rows it set aside are still listed by ``status``.)"""
        try:
            batch = await asyncio.shield(ahead)
        except asyncio.CancelledError:
            _drop(ahead)
            raise
        except Exception:  # noqa: BLE001 - see the docstring: the push's outcome stands
            return
        self._skipped(report, batch.skipped)

    async def _next_batch(
        self,
        project: str,
        ahead: asyncio.Task[outbox.Batch] | None,
        report: Report,
        waiting: frozenset[int],
    ) -> outbox.Batch:
        """The batch read ahead, unless it is empty: then a fresh read, since rows that were
        in flight while it was read may be pending again (edited meanwhile). A read whose
        rows were all set aside is followed by another: rows that can sync may wait behind
        them (each read sets its rows aside for good, so this ends)."""
        if ahead is not None:
            batch = await ahead
            self._skipped(report, batch.skipped)
            if batch.items:
                return batch
        while True:
            batch = await self._read_batch(project, waiting)
            self._skipped(report, batch.skipped)
            if batch.items or not batch.skipped:
                return batch

    def _skipped(self, report: Report, rows: Iterable[tuple[int, str]]) -> None:
        """Rows set aside (they cannot sync until changed): in the report, and told now."""
        for obs_id, reason in rows:
            report.skipped.append((obs_id, reason))
            if self._on_skipped is not None:
                self._on_skipped(report.project, obs_id, reason)

    async def _read_batch(
        self, project: str, in_flight: frozenset[int] = frozenset()
    ) -> outbox.Batch:
        """The next batch of ``project`` to push, leaving out the rows ``in_flight``."""
        size, most = self.config.push_batch_size, self._batch_bytes
        return await self.db.run(outbox.next_batch, project, size, self._now(), in_flight, most)

    async def _set_aside(self, batch: outbox.Batch, exc: ServerRefused) -> tuple[int, str] | None:
        """A row the server refuses (403, 413 or 422) is skipped so the rest still syncs;
        its id and the reason, or None if the refusal names no row."""
        culprit = refusals.culprit(batch, exc)
        if culprit is None:
            return None
        await self.db.run(_skip, culprit, str(exc))
        return culprit.obs_id, str(exc)

    # ---- pull -------------------------------------------------------------------------

    async def pull(
        self, project: str | None = None, yield_to: Callable[[str], bool] | None = None
    ) -> list[Report]:
        """Pull every page (of ``project``, or of every project known here or on the server).

        With ``yield_to``, asked between pages with the project being pulled: when it says
        so, the pull stops there (each page applied comes with its cursor, so the next
        pull goes on from it) and the last report is marked ``interrupted``. The daemon
        lets a long pull of one project give way to news of another.
        """
        if project:
            projects = [project]
        else:
            local = set(await self.db.run(_known_projects))
            # A row's project the server cannot take (blank, say) is reported by push as
            # a row that cannot sync; pulling it would fail for every project.
            projects = sorted(p for p in local | set(await self.transport.projects()) if _valid(p))
        return await refusals.each_project(
            projects,
            lambda name: self._pull_project(name, yield_to),
            stop=lambda report: report.interrupted,
        )

    async def _pull_project(
        self, project: str, yield_to: Callable[[str], bool] | None = None
    ) -> Report:
        report = Report(project)
        index = await self._similarity()
        await self._refresh_index(index)
        ahead: asyncio.Task[dict[str, Any]] | None = None  # the next page, fetched meanwhile
        try:
            while True:
                if ahead is None:
                    ahead = self._fetch(project, await self.db.run(_pull_cursor, project))
                try:
                    answer = await ahead
                except ServerRefused as exc:
                    if await self._server_replaced(project, exc, report):
                        continue  # the cursor was forgotten: fetched again from the start
                    raise
                finally:
                    ahead = None
                items = answer.get("observations") or []
                if answer.get("has_more"):
                    # While this page is applied, the server reads the next one and it
                    # crosses the wire. Only the answer's cursor is sent before the page
                    # is stored here: the stored cursor never runs ahead of the data.
                    ahead = self._fetch(project, str(answer["cursor"]))
                ctx = Context(index, self._strategy(project), self._now())
                counts = await self.db.run(apply_page, ctx, project, items, str(answer["cursor"]))
                report.received += len(items)
                report.outcomes.update(counts)
                self._tell("pull", project, report.received, None)
                if ahead is None:
                    await self._rejoin(ctx, report)  # after the news: it can take a while
                    return report
                if yield_to is not None and yield_to(project):
                    report.interrupted = True  # (the page asked for ahead is dropped)
                    return report
                await self._refresh_index(index)
        finally:
            _drop(ahead)

    def _fetch(self, project: str, cursor: str | None) -> asyncio.Task[dict[str, Any]]:
        """Ask for the page of ``project`` after ``cursor``, in the background."""
        body = {"project_id": project, "cursor": cursor, "limit": PULL_PAGE}
        return asyncio.ensure_future(self.transport.pull(body))

    async def _server_replaced(self, project: str, exc: ServerRefused, report: Report) -> bool:
        """On the first ``stale_cursor`` of a run: queue everything again (see store.reseed).

        An ``invalid_cursor`` (the cursor kept here is another team's: the device logged
        in with another team's token) is not done so: that would copy what this device
        holds of the old team, teammates' observations included, into the new team. It
        is an error saying how to choose (``memento sync reset``).
        """
        if exc.code == "invalid_cursor":
            message = refusals.foreign_cursor_message(self.transport.base_url, project)
            raise ServerRefused(message, exc.status, exc.code, {}) from exc
        if exc.code != "stale_cursor" or report.outcomes["server_replaced"]:
            return False
        queued = await self.db.run(reseed.forget_server, project)
        report.outcomes["server_replaced"] += 1
        report.outcomes["requeued"] += queued
        return True

    async def _refresh_index(self, index: SimilarityIndex) -> None:
        """Index rows the application wrote, in short transactions; learn a new order if due.

        Each transaction is its own call into the database thread, so other work (the
        daemon's status, say) is not held behind a long first indexing. When the order
        must change (a new threshold), the index is forgotten first, in slices
        (``store.reset``); then, as on a first run over many existing rows, the order is
        learnt from the waiting rows (a read, then one short write) before each is indexed
        once, so no long rebuild blocks the app.
        """
        if await self.db.run(_reset_due, index):
            await self._slices(_reset_slice)
        await self.db.run(learn_order, index)
        # The rows waiting now; those the app writes meanwhile wait for the next refresh.
        left = await self.db.run(_count_dirty)
        while left > 0:
            done = await self.db.run(index_slice, index)
            left = 0 if done == 0 else left - done
            if left > 0:
                await asyncio.sleep(SLICE_GAP_SECONDS)  # the application's writes go in here
        if await self.db.run(posting_rows.compact_due):
            await self._slices(_compact_slice)  # stored postings of older buckets merged

    async def _slices(self, work: Callable[[sqlite3.Connection], bool]) -> None:
        """Run ``work`` (a short write transaction: is more left?) until done, leaving the
        application's writes room between calls."""
        more = await self.db.run(work)
        while more:
            await asyncio.sleep(SLICE_GAP_SECONDS)
            more = await self.db.run(work)

    async def _rejoin(self, ctx: Context, report: Report) -> None:
        """Fold rows pushed since the last pull that became twins of others (store.twins)."""
        total = await self.db.run(twins.rejoin_waiting)
        done, more, free_since = 0, total > 0, None
        while more:
            checked, joined, more = await self.db.run(
                twins.rejoin_slice, ctx, SLICE_SECONDS, SLICE_GAP_SECONDS, free_since
            )  # the look-ups before each slice leave the application's writes room
            free_since = time.monotonic()
            done += checked
            if joined:
                report.outcomes["twin_joined"] += joined
            self._tell("twin check", report.project, done, total)

    def _tell(self, what: str, project: str, done: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress(f"{what} {project}", done, total)


def _drop(ahead: asyncio.Task[Any] | None) -> None:
    """A read-ahead no longer wanted: cancelled if it has not finished, else its outcome
    (an error too) let go. A read it cancels only leaves rows pending: they are read again."""
    if ahead is None:
        return
    if not ahead.done():
        ahead.cancel()
    elif not ahead.cancelled():
        ahead.exception()  # retrieved: no "exception never retrieved" warning


# ---- store calls run in the database thread ------------------------------------------


def _open_index(conn: sqlite3.Connection, threshold: float) -> SimilarityIndex:
    return SimilarityIndex(conn, threshold)


def _count_dirty(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM sync_dirty").fetchone()[0])


def _reset_due(conn: sqlite3.Connection, index: SimilarityIndex) -> bool:
    """Whether the index is being forgotten (``store.reset``); starts it if its order is stale."""
    if reset.underway(conn):
        return True
    if not index.order_stale():  # a read first: most syncs take no write lock here
        return False
    with write(conn):
        stale = index.order_stale()  # another process may have just learnt a new order
        if stale:
            reset.start(conn)
    return stale


def _reset_slice(conn: sqlite3.Connection) -> bool:
    with write(conn):
        return reset.step(conn, reset.STEP_SECONDS)


def _compact_slice(conn: sqlite3.Connection) -> bool:
    with write(conn):
        return posting_rows.compact(conn, SLICE_SECONDS)


def _pull_cursor(conn: sqlite3.Connection, project: str) -> str | None:
    row = conn.execute(
        "SELECT pull_cursor FROM sync_cursors WHERE project = ?", (project,)
    ).fetchone()
    return None if row is None else row[0]


def _device_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT value FROM sync_meta WHERE key = 'device_id'").fetchone()
    return str(row[0])


def _known_projects(conn: sqlite3.Connection) -> list[str]:
    query = "SELECT project FROM sync_cursors UNION SELECT DISTINCT project FROM observations"
    return [row[0] for row in conn.execute(query)]


def _valid(project: str) -> bool:
    try:
        check_identifier(project, "project")
    except InvalidInput:
        return False
    return True


def _skip(conn: sqlite3.Connection, item: outbox.Outgoing, reason: str) -> None:
    with write(conn):
        outbox.set_aside(conn, item.obs_id, item.max_seq, reason)


def _holder(conn: sqlite3.Connection, item: outbox.Outgoing) -> int:
    """The row that holds the pushed item's identity now: a pull that ran while the push
    flew may have re-created a row the application had deleted outright under a new id
    (``settle.store_remote``); settling the old id would create it a second time."""
    row = conn.execute(
        "SELECT obs_id FROM sync_objects WHERE sync_id = ?", (item.observation.sync_id,)
    ).fetchone()
    return item.obs_id if row is None else int(row[0])


def _settled_since(conn: sqlite3.Connection, obs_id: int, version: int) -> bool:
    """Whether this row already holds server ``version`` or newer as its base.

    Then a pull applied or settled that version while the push was in flight; the
    local edit, if it won, is pending again and is pushed on the new base.
    """
    row = conn.execute(
        "SELECT server_version FROM sync_objects WHERE obs_id = ?", (obs_id,)
    ).fetchone()
    return row is not None and row[0] is not None and row[0] >= version


def _acknowledge(  # noqa: PLR0917 - the batch, its answer, and what the caller keeps
    conn: sqlite3.Connection,
    ctx: Context,
    batch: outbox.Batch,
    answer: dict[str, Any],
    request_cursor: str | None,
    deferred: set[int],
) -> Counter[str]:
    """Record what the server stored, settle what it refused, and move the cursors; the
    rows of conflicts the server sent no copy of are added to ``deferred``."""
    results = {r.get("sync_id"): r for r in answer.get("results") or [] if isinstance(r, dict)}
    counts: Counter[str] = Counter()
    with write(conn), applying(conn):
        for item in batch.items:
            result = results.get(item.observation.sync_id)
            status = result.get("status") if result else None
            if result is None or status is None:
                counts["unanswered"] += 1
            elif status == "conflict" and not isinstance(result.get("server"), dict):
                # The server left its copy out (a large answer): the row stays pending, and
                # the pull that brings that version settles it (not sent again meanwhile).
                counts["conflict_deferred"] += 1
                deferred.add(item.obs_id)
            elif status == "conflict":
                remote, version = rows.from_wire(result["server"])
                obs_id = _holder(conn, item)
                if _settled_since(conn, obs_id, version):
                    counts["conflict_settled"] += 1  # a pull met it while this push flew
                    continue
                outcome = settle(conn, ctx, obs_id, remote, version)
                counts["conflict_" + outcome] += 1
            else:
                outbox.acknowledge(conn, item, int(result["version"]))
                counts[str(status)] += 1
        for item in batch.items:  # folds follow what the server now holds
            twins.regroup_identity(conn, ctx, item.observation.sync_id)
        # Whether a pushed row became a twin of another is asked at the next pull, once
        # the index has caught up with the application's writes (indexing here would
        # make a first push of many rows several times slower).
        conn.executemany(
            "INSERT OR IGNORE INTO sync_rejoin (obs_id) VALUES (?)",
            ((item.obs_id,) for item in batch.items),
        )
        conn.execute("INSERT OR IGNORE INTO sync_cursors (project) VALUES (?)", (batch.project,))
        conn.execute(
            "UPDATE sync_cursors SET last_push = ?, push_count = push_count + ? WHERE project = ?",
            (ctx.now, int(answer.get("synced") or 0), batch.project),
        )
        conn.execute(
            "UPDATE sync_cursors SET pull_cursor = ? WHERE project = ? AND pull_cursor IS ?",
            (answer.get("cursor"), batch.project, request_cursor),
        )
    return counts
