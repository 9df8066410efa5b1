"""A pull asks for the next page while it applies the one it has: one page ahead, never more."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from memento_syncd.store.db import LocalStoreBusy
from tests.client.devices import Device
from tests.faults import FaultProxy

PULL = "/api/sync/pull"


async def _pushed(make_device: Any, count: int) -> tuple[Device, Device]:
    """Device A with ``count`` observations pushed (three pages of 200 for 450), and B with
    its database created (B's next connection needs no write lock to open)."""
    a, b = await make_device("A"), await make_device("B")
    await b.pull()
    for n in range(count):
        a.save(title=f"o{n}", content=f"note number {n} about topic {n % 7}")
    await a.push()
    return a, b


async def _wait_for(proxy: FaultProxy, path: str, count: int, seconds: float) -> int:
    """Wait up to ``seconds`` for ``count`` requests to ``path``; how many came."""
    deadline = time.monotonic() + seconds
    while proxy.requests.count(path) < count and (left := deadline - time.monotonic()) > 0:
        proxy.requested.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proxy.requested.wait(), left)
    return proxy.requests.count(path)


async def test_the_next_page_is_asked_for_while_a_page_waits_for_the_database(
    make_device: Any, proxy: FaultProxy
) -> None:
    """While the application holds the write lock, the first page cannot be applied, yet the
    second is already asked for (and no third); once the lock is free every page lands once."""
    a, b = await _pushed(make_device, 450)
    db = await b.open_db()
    b.app.execute("BEGIN IMMEDIATE")  # the application writes and holds the lock
    try:
        pull = asyncio.create_task(b.pull("p", url=proxy.url, db=db))
        asked = await _wait_for(proxy, PULL, 2, seconds=4.0)
        await asyncio.sleep(0.2)  # time for a third request, if one were sent too early
        while_locked = proxy.requests.count(PULL)
        stored = b.app.execute("SELECT pull_count FROM sync_cursors WHERE project = 'p'")
        assert stored.fetchall() == []  # nothing applied yet: the cursor is not ahead either
    finally:
        b.app.execute("COMMIT")
    try:
        reports = await pull
    finally:
        await db.close()
    assert (asked, while_locked) == (2, 2)
    assert reports[0].received == 450
    assert reports[0].outcomes == {"inserted": 450}
    assert proxy.requests.count(PULL) == 3
    assert b.live() == a.live()


async def test_a_page_that_cannot_be_applied_drops_the_page_fetched_ahead(
    make_device: Any, proxy: FaultProxy
) -> None:
    """The database stays locked past the busy timeout: the pull fails with a clear error,
    the page fetched meanwhile is let go unapplied, and the next pull brings all, once."""
    a, b = await _pushed(make_device, 450)
    db = await b.open_db()
    b.app.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LocalStoreBusy, match="stayed locked"):
            await b.pull("p", url=proxy.url, db=db)
        assert proxy.requests.count(PULL) == 2
    finally:
        b.app.execute("COMMIT")
        await db.close()
    assert b.live() == []
    reports = await b.pull("p", url=proxy.url)
    assert reports[0].outcomes == {"inserted": 450}
    assert b.live() == a.live()
    count = b.app.execute("SELECT pull_count FROM sync_cursors WHERE project = 'p'")
    assert count.fetchone() == (450,)
