"""The realtime subscription: a WebSocket to the server that says which project changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp


class RealtimeLink:
    """Connects to ``/api/sync/stream`` and calls ``on_news(project)`` for each message.

    ``run`` returns when the connection ends (or raises when it cannot be made); the
    caller reconnects with backoff. ``on_connect`` runs after each (re)connection, to
    catch up on whatever was missed while disconnected.
    """

    def __init__(self, base_url: str, token: str, device_id: str = "") -> None:
        self._url = base_url.rstrip("/") + "/api/sync/stream"
        self._params = {"device_id": device_id} if device_id else {}
        self._token = token
        self.connected = False

    async def run(
        self,
        on_news: Callable[[str], None],
        on_connect: Callable[[], Awaitable[None]],
    ) -> None:
        """Hold the connection until it ends."""
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_connect=10.0)
        headers = {"Authorization": f"Bearer {self._token}"}
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=headers) as session,
            session.ws_connect(self._url, heartbeat=30.0, params=self._params) as socket,
        ):
            self.connected = True
            try:
                await on_connect()
                async for message in socket:
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        break
                    data = message.json()
                    project = data.get("project") if isinstance(data, dict) else None
                    if isinstance(project, str):
                        on_news(project)
            finally:
                self.connected = False


async def sleep_or(event: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True if ``event`` was set meanwhile."""
    try:
        async with asyncio.timeout(max(0.0, seconds)):  # unlike wait_for, never eats a cancel
            await event.wait()
    except TimeoutError:
        return False
    return True
