"""Faults between device and server: lost answers, cut pages, writes in flight, kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from memento_syncd.client.transport import Unreachable
from memento_syncd.core.conflicts import Strategy
from memento_syncd.store.db import connect, write
from memento_syncd.store.inbox import apply_page
from memento_syncd.store.index import SimilarityIndex
from memento_syncd.store.manual import history, list_conflicts
from memento_syncd.store.settle import Context
from tests.conftest import Api
from tests.faults import Fault, FaultProxy


async def _server_count(api: Api, token: str, project: str = "p") -> int:
    rows, _ = await api.pull_all(token, project)
    return len(rows)


def _pull_count(device: Any, project: str = "p") -> int:
    query = "SELECT pull_count FROM sync_cursors WHERE project = ?"
    return int(device.app.execute(query, (project,)).fetchone()[0])


@pytest.mark.parametrize("fault", [Fault.DROP_RESPONSE, Fault.CUT_RESPONSE])
async def test_push_whose_answer_is_lost_is_resent_harmlessly(
    make_device: Any, proxy: FaultProxy, api: Api, fault: Fault
) -> None:
    """The server stored the batch but the device never heard: the resend duplicates nothing."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(30):
        a.save(title=f"o{n}")
    proxy.fault = fault
    with pytest.raises(Unreachable):
        await a.push(url=proxy.url)
    assert a.pending() == 30
    proxy.fault = Fault.PASS
    reports = await a.push(url=proxy.url)
    assert reports[0].outcomes == {"unchanged": 30}
    assert a.pending() == 0
    await b.pull()
    assert b.live() == a.live()
    assert await _server_count(api, a.token) == 30


@pytest.mark.parametrize("how", ["outright", "soft"])
async def test_a_row_deleted_after_its_push_answer_was_lost_stays_deleted(
    make_device: Any, proxy: FaultProxy, api: Api, how: str
) -> None:
    """The server stored a new row but the device never heard, then the application
    deleted it (outright or soft): the deletion reaches the server and every device, and
    the next pull does not bring the row back."""
    a, b = await make_device("A"), await make_device("B")
    kept, doomed = a.save(title="kept"), a.save(title="doomed")
    proxy.fault = Fault.DROP_RESPONSE
    with pytest.raises(Unreachable):
        await a.push(url=proxy.url)
    if how == "outright":
        a.app.execute("DELETE FROM observations WHERE id = ?", (doomed,))
    else:
        a.delete(doomed)
    for _ in range(2):
        await a.sync()
    await b.pull()
    assert [row[2] for row in a.live()] == ["kept"]
    assert b.live() == a.live()
    assert a.pending() == 0
    server = {row["title"]: row["deleted_at"] for row in (await api.pull_all(a.token, "p"))[0]}
    assert server["kept"] is None
    assert server["doomed"] is not None
    assert a.row(kept)["deleted_at"] is None


@pytest.mark.parametrize("answer", ["heard", "lost"])
@pytest.mark.parametrize("strategy", ["manual", "last_write_wins"])
async def test_an_outright_deletion_after_a_lost_answer_meets_an_edit_as_any_deletion(
    make_device: Any, proxy: FaultProxy, answer: str, strategy: str
) -> None:
    """Another device edited the row before the application deleted it outright here,
    after a push whose answer was lost: the strategy settles it as when the answer was
    heard (manual asks the user; last-write-wins keeps the losing edit in the history)."""
    a = await make_device("A", conflict_strategy=strategy)
    b = await make_device("B", conflict_strategy=strategy)
    a_id = a.save(title="t", content="base content", at=a.stamp_ago(7200))
    if answer == "lost":
        proxy.fault = Fault.DROP_RESPONSE
        with pytest.raises(Unreachable):
            await a.push(url=proxy.url)
    else:
        await a.push()
    await b.pull()
    b.edit(b.find("t"), content="B edit", at=b.stamp_ago(60))
    await b.push()
    a.app.execute("DELETE FROM observations WHERE id = ?", (a_id,))
    for device in (a, a, b):
        await device.sync()
    if strategy == "manual":
        (conflict,) = list_conflicts(a.app)
        assert conflict["remote"]["content"] == "B edit"
        assert conflict["local"]["deleted_at"] is not None
        return
    assert [h["lost"]["content"] for h in history(a.app)] == ["B edit"]
    assert a.live() == b.live() == []


async def test_a_cut_page_is_not_applied_and_the_retry_completes(
    make_device: Any, proxy: FaultProxy
) -> None:
    """A pull cut off mid-answer leaves data and cursor as they were; the next pull finishes."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(50):
        a.save(title=f"o{n}")
    await a.push()
    proxy.fault = Fault.CUT_RESPONSE
    proxy.cut_after = 3000
    with pytest.raises(Unreachable):
        await b.pull("p", url=proxy.url)
    assert b.live() == []
    proxy.fault = Fault.PASS
    await b.pull("p", url=proxy.url)
    assert b.live() == a.live()


async def test_a_later_page_cut_off_leaves_the_pages_before_it_and_their_cursor(
    make_device: Any, proxy: FaultProxy
) -> None:
    """A pull of three pages is cut off in a later one: it fails having applied whole
    pages only, each with its cursor, and the next pull brings the rest, once."""
    a, b, c = await make_device("A"), await make_device("B"), await make_device("C")
    for n in range(450):  # pages of 200, 200 and 50
        a.save(title=f"o{n}", content=f"note number {n} " + "words " * n)
    await a.push()
    await c.pull("p", url=proxy.url)  # how many bytes the three answers take
    assert len(c.live()) == 450
    proxy.fault = Fault.CUT_RESPONSE
    # Contents grow with n, so a third of all bytes is more than the first answer and
    # less than the second, on one connection or on a new one for each page.
    proxy.cut_after = proxy.forwarded // 3
    with pytest.raises(Unreachable):
        await b.pull("p", url=proxy.url)
    assert len(b.live()) == 200
    assert _pull_count(b) == 200  # the cursor went with the page, no further
    proxy.fault = Fault.PASS
    await b.pull("p", url=proxy.url)
    assert b.live() == a.live()
    assert _pull_count(b) == 450


async def test_a_conflict_settled_by_a_pull_during_the_push_is_not_settled_twice(
    make_device: Any, proxy: FaultProxy
) -> None:
    """A push answer reporting a conflict that a pull settled meanwhile adds no second history."""
    a, b = await make_device("A"), await make_device("B")
    first = a.save(title="x")
    await a.push()
    await b.pull()
    a.edit(first, title="from a")
    b.edit(b.find("x"), title="from b")
    await a.push()
    proxy.fault, proxy.delay = Fault.DELAY, 0.5  # B's push answer is held back ...
    pushing = asyncio.ensure_future(b.push(url=proxy.url))
    await asyncio.sleep(0.2)
    pulled = await b.pull()  # ... while a pull meets A's edit and settles the conflict
    pushed = await pushing
    assert pulled[0].outcomes == {"conflict_local": 1}
    assert pushed[0].outcomes == {
        "conflict_settled": 1,
        "updated": 1,
    }  # then pushed on its new base
    history = b.app.execute("SELECT count(*) FROM sync_history").fetchone()[0]
    assert history == 1
    proxy.fault = Fault.PASS
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert [row[2] for row in b.live()] == ["from b"]


async def test_slices_committed_before_a_crash_are_recognised_on_the_next_pull(
    make_device: Any, api: Api
) -> None:
    """A page whose first slices committed before a crash (cursor not moved) completes once."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(40):
        a.save(title=f"o{n}")
    await a.push()
    page, cursor = await api.pull_all(a.token, "p")
    conn = connect(b.db_path)
    try:  # what a crash after some slices leaves: their rows, and the cursor where it was
        context = Context(SimilarityIndex(conn, 0.85), Strategy.LAST_WRITE_WINS, b.stamp())
        apply_page(conn, context, "p", page[:15], cursor, slice_seconds=0.0)
        with write(conn):
            conn.execute("UPDATE sync_cursors SET pull_cursor = NULL, pull_count = 0")
    finally:
        conn.close()
    assert len(b.live()) == 15
    reports = await b.pull("p")
    assert reports[0].outcomes == {"already_had": 15, "inserted": 25}
    assert b.live() == a.live()


async def test_a_page_applied_in_one_item_slices_equals_one_slice(
    make_device: Any, api: Api
) -> None:
    """Applying a page one observation per transaction gives the rows and cursor of one go."""
    a = await make_device("A")
    for n in range(12):
        a.save(title=f"o{n}")
    await a.push()
    page, cursor = await api.pull_all(a.token, "p")
    results = []
    for name, seconds in (("B", 0.0), ("C", 60.0)):
        device = await make_device(name)
        conn = connect(device.db_path)
        try:
            context = Context(SimilarityIndex(conn, 0.85), Strategy.MERGE, device.stamp())
            outcomes = apply_page(conn, context, "p", page, cursor, slice_seconds=seconds)
            stored = conn.execute("SELECT pull_cursor, pull_count FROM sync_cursors").fetchall()
        finally:
            conn.close()
        results.append((outcomes, stored, device.live()))
    assert results[0] == results[1]
    assert results[0][0] == {"inserted": 12}
    assert results[0][1] == [(cursor, 12)]
    assert results[0][2] == a.live()


async def test_an_edit_made_while_a_push_is_in_flight_is_pushed_too(
    make_device: Any, proxy: FaultProxy
) -> None:
    """The app writes during a slow push; the acknowledgement does not swallow that edit."""
    a, b = await make_device("A"), await make_device("B")
    obs_id = a.save(title="x", content="first")
    proxy.fault, proxy.delay = Fault.DELAY, 0.4
    push = asyncio.create_task(a.push(url=proxy.url))
    await asyncio.sleep(0.15)
    a.edit(obs_id, content="written during the push")
    reports = await push
    assert reports[0].sent == 2  # the first version, then the edit made in flight
    assert a.pending() == 0
    await b.pull()
    assert [r[3] for r in b.live()] == ["written during the push"]


async def test_a_push_of_many_batches_reads_ahead_without_sending_a_row_twice(
    make_device: Any, proxy: FaultProxy, api: Api
) -> None:
    """While a batch is in flight the next is read without its rows; edits made meanwhile,
    to rows sent, read ahead or not read yet, are all pushed, each version once."""
    a, b = await make_device("A", push_batch_size=5), await make_device("B")
    ids = [a.save(title=f"o{n}", content=f"first {n}") for n in range(12)]
    proxy.fault, proxy.delay = Fault.DELAY, 0.4
    push = asyncio.create_task(a.push(url=proxy.url))
    await asyncio.sleep(0.15)
    for n in (0, 6, 11):
        a.edit(ids[n], content=f"edited {n} during the push")
    reports = await push
    assert 12 <= reports[0].sent <= 15  # an edit made once its row was read goes again
    assert set(reports[0].outcomes) <= {"inserted", "updated"}  # no resend, no conflict
    assert reports[0].outcomes["inserted"] == 12
    assert a.pending() == 0
    await b.pull()
    assert b.live() == a.live()
    assert await _server_count(api, a.token) == 12
    assert sorted(r[3] for r in b.live() if r[3].startswith("edited")) == [
        f"edited {n} during the push" for n in (0, 11, 6)
    ]


@pytest.mark.parametrize("others", [0, 5])
async def test_a_pull_beside_a_push_that_brings_back_a_deleted_row_leaves_one_copy(
    make_device: Any, proxy: FaultProxy, api: Api, others: int
) -> None:
    """The daemon pulls while it pushes: a row the app deleted outright, brought back by a
    newer remote edit while its tombstone is in flight (others=0) or read ahead behind
    another batch (others=5), ends as one live row, not two."""
    a, b = await make_device("A", push_batch_size=5), await make_device("B")
    y = a.save(title="y", content="the row both devices know")
    await a.push()
    await b.pull()
    b.edit(b.find("y"), content="edited on B", at="2030-01-01T00:00:00Z")
    await b.push()
    for n in range(others):
        a.save(title=f"other {n}", content=f"unrelated text {n}")
    a.app.execute("DELETE FROM observations WHERE id = ?", (y,))  # outright, changed last
    async with a.two_engines(proxy.url) as (pusher, puller):
        proxy.fault, proxy.delay = Fault.DELAY, 0.5
        push = asyncio.create_task(pusher.push("p"))
        await proxy.connected.wait()  # the first batch is sent (and y read)
        await puller.pull("p")
        (report,) = await push
    copies = a.app.execute("SELECT content FROM observations WHERE title = 'y'").fetchall()
    assert copies == [("edited on B",)]
    # The stale tombstone meets the server's newer version, which the pull settled already.
    assert report.outcomes["conflict_settled"] == 1
    proxy.fault = Fault.PASS
    await a.sync()
    await b.pull()
    assert b.live() == a.live()


async def test_unreachable_server_names_the_url(make_device: Any) -> None:
    """A refused connection says which server could not be reached."""
    a = await make_device("A")
    a.save(title="x")
    with pytest.raises(Unreachable, match=r"127\.0\.0\.1:9"):
        await a.push(url="http://127.0.0.1:9")
    assert a.pending() == 1


async def test_client_killed_between_send_and_ack_resends_harmlessly(
    make_device: Any, proxy: FaultProxy, api: Api, tmp_path: Path
) -> None:
    """kill -9 of 'memento sync push' while the answer is on its way: no loss, no duplicate."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(40):
        a.save(title=f"o{n}")
    (a.root / "config.json").write_text(json.dumps({"sync": {"server_url": proxy.url}}))
    env = {**os.environ, "MEMENTO_HOME": str(a.root), "MEMENTO_SYNC_TOKEN": a.token}
    proxy.fault, proxy.delay = Fault.DELAY, 5.0
    exe = str(Path(sys.executable).parent / "memento")
    proc = await asyncio.create_subprocess_exec(exe, "sync", "push", env=env)
    for _ in range(100):  # until the request has reached the server
        if await _server_count(api, a.token) == 40:
            break
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert a.pending() == 40
    proxy.fault = Fault.PASS
    await a.push()
    assert a.pending() == 0
    await b.pull()
    assert b.live() == a.live()
    assert await _server_count(api, a.token) == 40
