"""Post-commit notifications: tells subscribers that a team's project has news.

Push handlers publish after their transaction commits. Subscribers (the realtime
endpoint of the daemon issue) wait on the latest sequence of a team's project.
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

    def publish(self, team_id: int, project: str, seq: int) -> None:
        """Record that ``seq`` committed for a team's project and wake its waiters."""
        key = (team_id, project)
        if seq <= self._latest.get(key, 0):
            return
        self._latest[key] = seq
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
