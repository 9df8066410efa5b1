"""Pages, and pulls racing concurrent pushes: every observation seen exactly once."""

from __future__ import annotations

import asyncio

from memento_syncd.core.limits import Limits
from tests.conftest import Api, obs


async def test_paging_walks_many_pages_in_order(api: Api) -> None:
    """2,500 observations come back over many pages, in push order, each once."""
    token = await api.token()
    ids = [f"o{i:05d}" for i in range(2500)]
    for start in range(0, len(ids), 500):
        reply = await api.push(token, "p", [obs(i) for i in ids[start : start + 500]])
        assert reply.body["synced"] == 500
    pages = 0
    seen: list[str] = []
    cursor: str | None = None
    while True:
        reply = await api.pull(token, "p", cursor, limit=97)
        pages += 1
        assert len(reply.body["observations"]) <= 97
        seen.extend(o["sync_id"] for o in reply.body["observations"])
        cursor = reply.body["cursor"]
        if not reply.body["has_more"]:
            break
    assert seen == ids
    assert pages == 26


async def test_default_page_size_applies_without_limit(api: Api) -> None:
    """Without ``limit`` a pull returns the server's default page."""
    token = await api.token()
    await api.push(token, "p", [obs(f"x{i}") for i in range(Limits().default_page + 5)])
    reply = await api.pull(token, "p")
    assert len(reply.body["observations"]) == Limits().default_page
    assert reply.body["has_more"] is True


async def test_last_page_exactly_full_reports_no_more(api: Api) -> None:
    """When the rows end on a page boundary, has_more is false on that page."""
    token = await api.token()
    await api.push(token, "p", [obs(f"x{i}") for i in range(10)])
    reply = await api.pull(token, "p", limit=10)
    assert (len(reply.body["observations"]), reply.body["has_more"]) == (10, False)


async def test_concurrent_pushers_and_a_looping_puller_see_everything_once(api: Api) -> None:
    """Four pushers commit while a puller loops until quiet; nothing is skipped or repeated."""
    tokens = [await api.token("acme", f"m{n}") for n in range(4)]
    reader = await api.token("acme", "reader")
    per_pusher, batch = 600, 20
    done = asyncio.Event()

    async def pusher(n: int) -> None:
        for start in range(0, per_pusher, batch):
            items = [obs(f"p{n}-{i}") for i in range(start, start + batch)]
            reply = await api.push(tokens[n], "p", items, device_id=f"dev{n}")
            assert reply.body["synced"] == batch

    seen: list[str] = []

    async def puller() -> None:
        cursor: str | None = None
        while True:
            finished = done.is_set()
            reply = await api.pull(reader, "p", cursor, limit=37)
            seen.extend(o["sync_id"] for o in reply.body["observations"])
            cursor = reply.body["cursor"]
            if finished and not reply.body["has_more"]:
                return
            await asyncio.sleep(0)

    pull_task = asyncio.create_task(puller())
    await asyncio.gather(*(pusher(n) for n in range(4)))
    done.set()
    await pull_task
    expected = {f"p{n}-{i}" for n in range(4) for i in range(per_pusher)}
    assert len(seen) == len(expected)
    assert set(seen) == expected


async def test_concurrent_editors_of_one_observation_get_versions_or_conflicts(api: Api) -> None:
    """Racing edits on one base version: exactly one applies, the rest are conflicts."""
    token = await api.token()
    await api.push(token, "p", [obs("hot")], device_id="origin")
    replies = await asyncio.gather(
        *(
            api.push(
                token, "p", [obs("hot", content=f"edit {n}", base_version=1)], device_id=f"d{n}"
            )
            for n in range(8)
        )
    )
    statuses = sorted(r.body["results"][0]["status"] for r in replies)
    assert statuses == ["conflict"] * 7 + ["updated"]
    rows, _ = await api.pull_all(token, "p")
    assert rows[0]["version"] == 2
