"""The application keeps writing while a pull applies pages: it gets the lock between slices."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import closing
from itertools import pairwise
from pathlib import Path
from typing import Any

from memento_syncd.core.conflicts import Strategy
from memento_syncd.store.db import connect
from memento_syncd.store.inbox import apply_page
from memento_syncd.store.index import SimilarityIndex
from memento_syncd.store.settle import Context
from tests.conftest import Api
from tests.faults import Fault, FaultProxy

_APP_INSERT = (
    "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
    " VALUES ('app', 'note', 'app write', 'x', '2025-01-15T10:30:00Z', '2025-01-15T10:30:00Z')"
)


class AppWriter(threading.Thread):
    """The application: an INSERT every few ms through SQLite's own busy handler."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.stop = threading.Event()
        self.waits: list[float] = []
        self.failed = 0

    def run(self) -> None:
        with closing(sqlite3.connect(self.db, timeout=10)) as conn:
            while not self.stop.wait(0.005):
                started = time.monotonic()
                try:
                    with conn:
                        conn.execute(_APP_INSERT)
                except sqlite3.OperationalError:
                    self.failed += 1
                self.waits.append(time.monotonic() - started)


async def test_the_application_writes_between_the_slices_of_a_page(
    make_device: Any, api: Api
) -> None:
    """App inserts waiting on the lock go in between our one-item slices, none starved."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(40):
        a.save(title=f"o{n}", content=f"pulled observation number {n}")
    await a.push()
    page, cursor = await api.pull_all(a.token, "p")
    conn = connect(b.db_path)
    writer = AppWriter(b.db_path)
    writer.start()
    try:
        context = Context(SimilarityIndex(conn, 0.85), Strategy.LAST_WRITE_WINS, b.stamp())
        outcomes = apply_page(conn, context, "p", page, cursor, slice_seconds=0.0)
    finally:
        writer.stop.set()
        writer.join()
        conn.close()
    assert outcomes == {"inserted": 40}
    assert writer.failed == 0
    assert max(writer.waits) < 2.0
    order = [row[0] for row in b.app.execute("SELECT project FROM observations ORDER BY id")]
    pulled = [i for i, project in enumerate(order) if project == "p"]
    between = sum(1 for i, j in pairwise(pulled) if j > i + 1)
    assert between >= len(pulled) // 2  # app rows between most pairs of consecutive slices


async def test_a_backlog_of_rows_to_index_is_spread_over_the_slices(
    make_device: Any, api: Api
) -> None:
    """Rows waiting to be indexed when a page is applied are indexed a few per slice, not
    all in the first transaction (where the application would wait for all of them)."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(3):
        a.save(title=f"o{n}", content=f"pulled observation number {n}")
    await a.push()
    page, cursor = await api.pull_all(a.token, "p")
    b.app.execute("BEGIN")
    for n in range(600):
        b.save(project="app", title=f"w{n}", content=f"written by the application {n}")
    b.app.execute("COMMIT")
    with closing(connect(b.db_path)) as conn:
        context = Context(SimilarityIndex(conn, 0.85), Strategy.LAST_WRITE_WINS, b.stamp())
        outcomes = apply_page(conn, context, "p", page, cursor, slice_seconds=0.0)
    assert outcomes == {"inserted": 3}
    waiting = b.app.execute("SELECT count(*) FROM sync_dirty").fetchone()[0]
    assert waiting == 600 - 3  # one slice per observation, one row indexed in each


async def test_a_row_deleted_outright_before_any_push_leaves_nothing_pending(
    make_device: Any,
) -> None:
    """The application inserts a row and deletes it outright before it was ever pushed:
    the next push drops its logged changes (nothing to send), so nothing stays pending
    (it did for good: no project named it, so no push ever read it)."""
    a = await make_device("A")
    a.save(title="kept")
    await a.push()
    gone = a.save(title="short-lived")
    a.app.execute("DELETE FROM observations WHERE id = ?", (gone,))
    assert a.pending() == 1
    await a.push()
    assert a.pending() == 0


async def test_a_row_deleted_outright_while_its_push_is_in_flight_is_deleted_everywhere(
    make_device: Any, proxy: FaultProxy
) -> None:
    """The application deletes a row outright while the push carrying it waits for its
    answer, and another push of all projects runs meanwhile (the command beside the
    daemon): the deletion is not dropped as a row never synced, and once that answer is
    recorded it reaches the other device."""
    a, b = await make_device("A"), await make_device("B")
    doomed = a.save(title="x", content="to be deleted")
    async with a.two_engines(proxy.url) as (pusher, other):
        proxy.fault, proxy.delay = Fault.DELAY, 0.7
        push = asyncio.create_task(pusher.push("p"))
        await proxy.connected.wait()
        await asyncio.sleep(0.2)
        a.app.execute("DELETE FROM observations WHERE id = ?", (doomed,))
        await other.push()
        assert a.pending() == 1
        await push
    proxy.fault = Fault.PASS
    for device in (a, b, a, b):
        await device.sync()
    assert a.live() == b.live() == []
