"""Post-commit notifications: tells subscribers that a team's project has news.

Push handlers publish after their transaction commits. A waiter waits on the latest
sequence of one team's project; a subscriber (the realtime stream a daemon keeps open)
gets every ``(project, seq)`` of its team, newest state only if it falls behind.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Hub:
    """In-process broadcast of ``(team_id, project) -> latest committed seq``."""

    def __init__(self) -> None:
        self._latest: dict[tuple[int, str], int] = {}
        self._waiters: defaultdict[tuple[int, str], dict[asyncio.Future[int], int]] = defaultdict(
            dict
        )
        self._subscribers: dict[int, set[Subscription]] = {}

    def subscribe(self, team_id: int, device_id: str = "") -> Subscription:
        """Follow every commit of a team (but a device's own); close it when done."""
        subscription = Subscription(self, team_id, device_id)
        self._subscribers.setdefault(team_id, set()).add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        team = self._subscribers.get(subscription.team_id, set())
        team.discard(subscription)
        if not team:
            self._subscribers.pop(subscription.team_id, None)

    def publish(self, team_id: int, project: str, seq: int, origin: str = "") -> None:
        """Record that ``seq`` committed for a team's project and wake its waiters.

        ``origin`` is the pushing device: its own subscription is not told.
        """
        key = (team_id, project)
        if seq <= self._latest.get(key, 0):
            return
        self._latest[key] = seq
        for subscription in self._subscribers.get(team_id, ()):
            if not origin or subscription.device_id != origin:
                subscription.notify(project, seq)
        for waiter, after in list(self._waiters.get(key, {}).items()):
            if seq > after and not waiter.done():
                waiter.set_result(seq)

    async def wait_after(self, team_id: int, project: str, seq: int) -> int:
        """Wait until something after ``seq`` commits for the project; return its seq."""
        key = (team_id, project)
        latest = self._latest.get(key, 0)
        if latest > seq:
            return latest
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters[key][waiter] = seq
        try:
            return await waiter
        finally:
            waiters = self._waiters.get(key, {})
            waiters.pop(waiter, None)
            if not waiters:
                self._waiters.pop(key, None)


class Subscription:
    """Commits of one team as ``(project, seq)``; a slow reader sees each project's latest."""

    def __init__(self, hub: Hub, team_id: int, device_id: str = "") -> None:
        self._hub = hub
        self.team_id = team_id
        self.device_id = device_id
        self._pending: dict[str, int] = {}
        self._ready = asyncio.Event()

    def notify(self, project: str, seq: int) -> None:
        """Called by the hub on a commit."""
        self._pending[project] = max(seq, self._pending.get(project, 0))
        self._ready.set()

    async def next(self) -> list[tuple[str, int]]:
        """Wait for news; returns every project that changed since the last call."""
        await self._ready.wait()
        self._ready.clear()
        news, self._pending = sorted(self._pending.items()), {}
        return news

    def close(self) -> None:
        """Stop following the team."""
        self._hub._unsubscribe(self)
