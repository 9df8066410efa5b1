"""The storage contract every ``ServerStore`` must keep; run against each implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from memento_syncd.core.limits import Limits
from memento_syncd.core.versioning import Verdict
from memento_syncd.core.wire import PushRequest, parse_push_request
from memento_syncd.server.storage.base import Forbidden, Principal, ServerStore
from memento_syncd.server.storage.sqlite import SQLiteStore
from tests.conftest import obs

MB = 1024 * 1024
StoreFactory = Callable[[Path], ServerStore]
FACTORIES: dict[str, StoreFactory] = {"sqlite": lambda tmp: SQLiteStore(tmp / "contract.db")}


@pytest.fixture(params=sorted(FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ServerStore]:
    """An opened store of each implementation."""
    made = FACTORIES[request.param](tmp_path)
    await made.open()
    yield made
    await made.close()


async def _principal(store: ServerStore, team: str = "t", member: str = "m") -> Principal:
    who = await store.authenticate(await store.create_token(team, member, "2025-01-01T00:00:00Z"))
    assert who is not None
    return who


def _request(*items: dict[str, object], device: str = "d") -> PushRequest:
    return parse_push_request(
        {"project_id": "p", "device_id": device, "observations": list(items)}, Limits()
    )


async def test_push_assigns_increasing_sequence_and_pull_follows_it(store: ServerStore) -> None:
    """Each written change advances the head; pull returns them in that order."""
    who = await _principal(store)
    first = await store.push(who, _request(obs("a"), obs("b")), 0)
    second = await store.push(who, _request(obs("c")), 0)
    assert (first.head_seq, second.head_seq) == (2, 3)
    page = await store.pull(who, "p", 0, 10, MB)
    assert [i.observation.sync_id for i in page.items] == ["a", "b", "c"]
    assert (page.last_seq, page.has_more) == (3, False)
    assert await store.head() == 3


async def test_unchanged_and_conflicting_changes_take_no_sequence(store: ServerStore) -> None:
    """Only inserts and updates consume sequence numbers."""
    who = await _principal(store)
    await store.push(who, _request(obs("a"), device="A"), 0)
    await store.push(who, _request(obs("a", content="x", base_version=1), device="B"), 0)
    outcome = await store.push(
        who, _request(obs("a", content="x"), obs("a2", content="y"), device="C"), 0
    )
    assert [r.verdict for r in outcome.results] == [Verdict.UNCHANGED, Verdict.INSERT]
    assert outcome.head_seq == 3
    stale = await store.push(who, _request(obs("a", content="z", base_version=1), device="C"), 0)
    assert stale.results[0].verdict is Verdict.CONFLICT
    assert stale.head_seq == 3


async def test_forbidden_change_writes_nothing_of_its_batch(store: ServerStore) -> None:
    """A batch with one forbidden change is rolled back whole."""
    alice = await _principal(store, member="alice")
    bob = await _principal(store, member="bob")
    await store.push(alice, _request(obs("mine", scope="personal")), 0)
    with pytest.raises(Forbidden):
        await store.push(bob, _request(obs("new"), obs("mine", content="steal")), 0)
    assert await store.head() == 1
    assert [i.observation.sync_id for i in (await store.pull(bob, "p", 0, 10, MB)).items] == []


async def test_authenticate_refuses_unknown_revoked_and_forged(store: ServerStore) -> None:
    """Only a live token with the right secret authenticates."""
    token = await store.create_token("t", "m", "2025-01-01T00:00:00Z")
    assert await store.authenticate(token) is not None
    assert await store.authenticate(token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert await store.authenticate("msd_nope_nope") is None
    assert await store.authenticate("") is None
    assert await store.revoke_token(token, "2025-01-02T00:00:00Z")
    assert not await store.revoke_token(token, "2025-01-03T00:00:00Z")
    assert await store.authenticate(token) is None


async def test_two_store_instances_on_one_database_keep_commit_order(tmp_path: Path) -> None:
    """Two servers sharing one SQLite file still give a puller every change exactly once."""
    path = tmp_path / "shared.db"
    one, two, reader = SQLiteStore(path), SQLiteStore(path), SQLiteStore(path)
    for s in (one, two, reader):
        await s.open()
    who = await _principal(one)
    done = asyncio.Event()
    seen: list[str] = []

    async def writer(s: SQLiteStore, prefix: str) -> None:
        for n in range(60):
            await s.push(
                who, _request(*(obs(f"{prefix}{n}-{k}") for k in range(5)), device=prefix), 0
            )

    async def puller() -> None:
        after = 0
        while True:
            finished = done.is_set()
            page = await reader.pull(who, "p", after, 13, MB)
            seen.extend(i.observation.sync_id for i in page.items)
            after = page.last_seq
            if finished and not page.has_more:
                return
            await asyncio.sleep(0)

    task = asyncio.create_task(puller())
    await asyncio.gather(writer(one, "x"), writer(two, "y"))
    done.set()
    await task
    for s in (one, two, reader):
        await s.close()
    assert len(seen) == 600
    assert len(set(seen)) == 600


async def test_pages_stop_at_the_byte_budget_but_hold_at_least_one(store: ServerStore) -> None:
    """Large observations end a page early; a single oversized one still comes alone."""
    who = await _principal(store)
    await store.push(who, _request(*(obs(f"big{n}", content="x" * 3000) for n in range(5))), 0)
    page = await store.pull(who, "p", 0, 100, 7000)
    assert [i.observation.sync_id for i in page.items] == ["big0", "big1", "big2"]
    assert page.has_more
    tiny = await store.pull(who, "p", page.last_seq, 100, 10)
    assert [i.observation.sync_id for i in tiny.items] == ["big3"]
    assert tiny.has_more
    rest = await store.pull(who, "p", tiny.last_seq, 100, MB)
    assert ([i.observation.sync_id for i in rest.items], rest.has_more) == (["big4"], False)
