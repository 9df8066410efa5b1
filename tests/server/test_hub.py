"""The post-commit hub: publish wakes the waiters of one team's project, and only them."""

from __future__ import annotations

import asyncio

import pytest

from memento_syncd.server.hub import Hub

TEAM, OTHER_TEAM = 1, 2


async def _settle() -> None:
    """Let every ready task run a few steps."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _waiting(hub: Hub, team: int, project: str, seq: int) -> asyncio.Task[int]:
    """Start a waiter and let it register before returning its task."""
    task = asyncio.create_task(hub.wait_after(team, project, seq))
    await _settle()
    assert not task.done()
    return task


def _registered(hub: Hub) -> int:
    """How many waiters the hub holds, over all keys."""
    return sum(len(waiters) for waiters in hub._waiters.values())


async def test_publish_wakes_a_waiter_with_the_new_seq() -> None:
    """A waiter on a team's project returns the seq published for it."""
    hub = Hub()
    task = await _waiting(hub, TEAM, "memento", 0)
    hub.publish(TEAM, "memento", 1)
    assert await asyncio.wait_for(task, 1) == 1


async def test_publish_wakes_every_waiter_of_the_key() -> None:
    """All waiters on the same team's project wake with the same seq."""
    hub = Hub()
    tasks = [await _waiting(hub, TEAM, "memento", 0) for _ in range(5)]
    hub.publish(TEAM, "memento", 3)
    assert await asyncio.wait_for(asyncio.gather(*tasks), 1) == [3] * 5
    assert _registered(hub) == 0
    assert not hub._waiters


async def test_publish_wakes_only_that_team_and_project() -> None:
    """Waiters of another project, or of the same project in another team, keep waiting."""
    hub = Hub()
    mine = await _waiting(hub, TEAM, "memento", 0)
    other_project = await _waiting(hub, TEAM, "other", 0)
    other_team = await _waiting(hub, OTHER_TEAM, "memento", 0)
    hub.publish(TEAM, "memento", 7)
    assert await asyncio.wait_for(mine, 1) == 7
    await _settle()
    assert not other_project.done()
    assert not other_team.done()
    hub.publish(OTHER_TEAM, "memento", 2)
    assert await asyncio.wait_for(other_team, 1) == 2
    await _settle()
    assert not other_project.done()
    other_project.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other_project


async def test_wait_returns_at_once_when_newer_already_committed() -> None:
    """If something after seq already committed, wait_after returns it without waiting."""
    hub = Hub()
    hub.publish(TEAM, "memento", 5)
    assert await asyncio.wait_for(hub.wait_after(TEAM, "memento", 0), 0.5) == 5
    assert await asyncio.wait_for(hub.wait_after(TEAM, "memento", 4), 0.5) == 5
    assert _registered(hub) == 0


async def test_wait_at_latest_seq_waits_for_the_next() -> None:
    """A waiter already at the latest seq waits for a later one."""
    hub = Hub()
    hub.publish(TEAM, "memento", 5)
    task = await _waiting(hub, TEAM, "memento", 5)
    hub.publish(TEAM, "memento", 6)
    assert await asyncio.wait_for(task, 1) == 6


async def test_wait_ahead_of_latest_waits() -> None:
    """A waiter whose seq is beyond anything published keeps waiting."""
    hub = Hub()
    hub.publish(TEAM, "memento", 5)
    task = await _waiting(hub, TEAM, "memento", 9)
    hub.publish(TEAM, "memento", 10)
    assert await asyncio.wait_for(task, 1) == 10


async def test_older_or_equal_seq_does_not_regress_or_wake() -> None:
    """Publishing a seq at or below the latest changes nothing and wakes nobody."""
    hub = Hub()
    hub.publish(TEAM, "memento", 5)
    task = await _waiting(hub, TEAM, "memento", 5)
    hub.publish(TEAM, "memento", 3)
    hub.publish(TEAM, "memento", 5)
    await _settle()
    assert not task.done()
    assert await asyncio.wait_for(hub.wait_after(TEAM, "memento", 3), 0.5) == 5
    hub.publish(TEAM, "memento", 8)
    assert await asyncio.wait_for(task, 1) == 8


async def test_latest_is_kept_per_key() -> None:
    """Each team's project has its own latest seq."""
    hub = Hub()
    hub.publish(TEAM, "a", 9)
    hub.publish(TEAM, "b", 2)
    hub.publish(OTHER_TEAM, "a", 4)
    assert await hub.wait_after(TEAM, "a", 0) == 9
    assert await hub.wait_after(TEAM, "b", 0) == 2
    assert await hub.wait_after(OTHER_TEAM, "a", 0) == 4


async def test_publish_without_waiters_is_remembered() -> None:
    """A publish with nobody waiting is still seen by a later waiter."""
    hub = Hub()
    hub.publish(TEAM, "memento", 1)
    assert not hub._waiters
    assert await hub.wait_after(TEAM, "memento", 0) == 1


async def test_seq_zero_is_not_news() -> None:
    """Publishing seq 0 (nothing committed) wakes nobody."""
    hub = Hub()
    task = await _waiting(hub, TEAM, "memento", 0)
    hub.publish(TEAM, "memento", 0)
    await _settle()
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_waiter_is_removed() -> None:
    """Cancelling the only waiter removes it and its key from the hub."""
    hub = Hub()
    task = await _waiting(hub, TEAM, "memento", 0)
    assert _registered(hub) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _registered(hub) == 0
    assert not hub._waiters
    hub.publish(TEAM, "memento", 1)


async def test_cancelling_one_waiter_leaves_the_others() -> None:
    """Cancelling one of several waiters keeps the rest registered and wakeable."""
    hub = Hub()
    first = await _waiting(hub, TEAM, "memento", 0)
    second = await _waiting(hub, TEAM, "memento", 0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert _registered(hub) == 1
    hub.publish(TEAM, "memento", 4)
    assert await asyncio.wait_for(second, 1) == 4
    assert not hub._waiters


async def test_timed_out_waiter_is_removed() -> None:
    """A waiter abandoned by wait_for's timeout leaves nothing behind."""
    hub = Hub()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(hub.wait_after(TEAM, "memento", 0), 0.01)
    assert not hub._waiters


async def test_cancel_after_publish_before_resume_is_clean() -> None:
    """A waiter cancelled after being woken but before it runs leaves the hub clean."""
    hub = Hub()
    task = await _waiting(hub, TEAM, "memento", 0)
    hub.publish(TEAM, "memento", 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not hub._waiters


async def test_waiters_registered_after_a_wake_are_kept() -> None:
    """A woken waiter's cleanup does not drop waiters that registered after the wake."""
    hub = Hub()
    early = asyncio.create_task(hub.wait_after(TEAM, "memento", 0))
    await _settle()
    hub.publish(TEAM, "memento", 1)
    late = asyncio.create_task(hub.wait_after(TEAM, "memento", 1))
    assert await asyncio.wait_for(early, 1) == 1
    await _settle()
    assert not late.done()
    assert _registered(hub) == 1
    hub.publish(TEAM, "memento", 2)
    assert await asyncio.wait_for(late, 1) == 2
    assert not hub._waiters


async def test_many_rounds_leave_no_waiters() -> None:
    """Repeated wait/publish rounds do not accumulate waiters or keys."""
    hub = Hub()
    for seq in range(1, 50):
        tasks = [asyncio.create_task(hub.wait_after(TEAM, f"p{n}", seq - 1)) for n in range(3)]
        await _settle()
        for n in range(3):
            hub.publish(TEAM, f"p{n}", seq)
        assert await asyncio.gather(*tasks) == [seq] * 3
    assert not hub._waiters


async def test_wait_after_never_returns_a_seq_not_after_its_own() -> None:
    """A waiter after seq 5 is not woken by a publish of seq 3, only by a later one."""
    hub = Hub()
    task = await _waiting(hub, TEAM, "memento", 5)
    hub.publish(TEAM, "memento", 3)
    await _settle()
    assert not task.done()
    hub.publish(TEAM, "memento", 6)
    assert await asyncio.wait_for(task, 1) == 6
