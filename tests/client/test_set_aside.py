"""Rows that cannot sync are told as they are set aside, even when the push then fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from memento_syncd.client.transport import Unreachable
from memento_syncd.store.status import skipped_rows
from tests.client.devices import Device
from tests.faults import Fault, FaultProxy


def _bad(device: Device) -> int:
    """A row the server would refuse: its timestamps cannot be read."""
    return device.save(title="bad", at="yesterday-ish")


@pytest.mark.parametrize(
    "first", [True, False], ids=["in the batch sent", "in the batch read ahead"]
)
async def test_a_row_set_aside_is_told_though_the_push_then_fails(
    make_device: Any, proxy: FaultProxy, first: bool
) -> None:
    """The push fails on its first request: the row set aside while reading the batch it
    sent, or the batch read meanwhile, is told all the same; the next push sends the rest
    and does not set it aside twice."""
    a = await make_device("A", push_batch_size=5)
    if first:
        bad = _bad(a)
    for n in range(5):
        a.save(title=f"o{n}")
    if not first:
        bad = _bad(a)  # the sixth row changed: in the second batch, read while the first flies
    for n in range(5, 8):
        a.save(title=f"o{n}")
    told: list[tuple[str, int, str]] = []
    proxy.fault = Fault.REFUSE
    with pytest.raises(Unreachable):
        await a.push(url=proxy.url, on_skipped=lambda *row: told.append(row))
    assert [(project, obs_id) for project, obs_id, _ in told] == [("p", bad)]
    assert "updated_at" in told[0][2]
    assert [row["id"] for row in skipped_rows(a.app)] == [bad]
    proxy.fault = Fault.PASS
    again: list[tuple[str, int, str]] = []
    reports = await a.push(url=proxy.url, on_skipped=lambda *row: again.append(row))
    assert (again, reports[0].skipped, reports[0].sent) == ([], [], 8)
    assert a.pending() == 0


async def test_a_push_that_succeeds_tells_each_row_set_aside_once(make_device: Any) -> None:
    """Told as they are set aside, and listed in the report, once each."""
    a = await make_device("A", push_batch_size=2)
    bad = [_bad(a), a.save(title="ok"), _bad(a), a.save(title="fine"), _bad(a)]
    told: list[tuple[str, int, str]] = []
    reports = await a.push(on_skipped=lambda *row: told.append(row))
    assert [obs_id for _, obs_id, _ in told] == [bad[0], bad[2], bad[4]]
    assert [obs_id for obs_id, _ in reports[0].skipped] == [bad[0], bad[2], bad[4]]
    assert reports[0].sent == 2


@pytest.fixture
async def forgetful_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A server on 127.0.0.1 that answers every push 200 and stores nothing (no result per
    observation): a broken or hostile server. Yields its URL and each push's batch size."""
    sizes: list[int] = []

    async def push(request: web.Request) -> web.Response:
        body = await request.json()
        sizes.append(len(body["observations"]))
        return web.json_response({"cursor": None, "synced": 0, "conflicts": 0, "results": []})

    app = web.Application()
    app.router.add_post("/api/sync/push", push)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", sizes
    finally:
        await runner.cleanup()


async def test_a_server_that_never_acknowledges_ends_the_push_in_bounded_rounds(
    make_device: Any, forgetful_server: tuple[str, list[int]]
) -> None:
    """Every answer leaves the rows unacknowledged: the push stops after 3 x pending + 10
    rounds instead of looping for ever, says so in its outcomes, and the rows stay
    pending."""
    url, sizes = forgetful_server
    a = await make_device("A", push_batch_size=2)
    for n in range(3):
        a.save(title=f"o{n}")
    told: list[tuple[str, int, str]] = []
    reports = await a.push(url=url, on_skipped=lambda *row: told.append(row))
    rounds = 3 * 3 + 10
    assert len(sizes) == rounds
    assert set(sizes) <= {1, 2}
    assert reports[0].outcomes == {"unanswered": sum(sizes)}
    assert reports[0].sent == sum(sizes)
    assert (told, a.pending()) == ([], 3)


async def test_rows_that_can_sync_behind_a_full_batch_set_aside_are_pushed_too(
    make_device: Any,
) -> None:
    """The first batch read is all rows that cannot sync: the push reads on, sends the
    rows behind them, and tells each row set aside once."""
    a, b = await make_device("A", push_batch_size=3), await make_device("B")
    bad = [_bad(a) for _ in range(4)]
    for n in range(2):
        a.save(title=f"o{n}")
    told: list[tuple[str, int, str]] = []
    reports = await a.push(on_skipped=lambda *row: told.append(row))
    assert [obs_id for _, obs_id, _ in told] == bad
    assert reports[0].sent == 2
    assert a.pending() == 0
    await b.pull()
    assert sorted(row[2] for row in b.live()) == ["o0", "o1"]
