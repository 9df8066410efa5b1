"""A fault-injecting TCP proxy for tests: sits between a client and a real server."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re

_REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|DELETE) (/\S*) HTTP/1\.[01]\r\n")


class Fault(enum.Enum):
    """What the proxy does to the server's answers."""

    PASS = "pass"  # noqa: S105 - a fault mode, not a password
    DROP_RESPONSE = "drop_response"  # forward the request, swallow the answer, hang up
    CUT_RESPONSE = "cut_response"  # forward ``cut_after`` bytes of answers, then hang up
    DELAY = "delay"  # hold each answer chunk for ``delay`` seconds
    REFUSE = "refuse"  # hang up at once, before the request reaches the server


class FaultProxy:
    """Forwards 127.0.0.1 connections to ``upstream``, injecting the current ``fault``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.fault = Fault.PASS
        self.delay = 0.0
        self.cut_after = 64  # bytes of a connection's answers forwarded in CUT_RESPONSE
        self.connections = 0
        self.connected = asyncio.Event()  # set at the first connection
        self.forwarded = 0  # bytes of answers forwarded, every connection together
        self.requests: list[str] = []  # the path of each request forwarded, in order
        self.requested = asyncio.Event()  # set at each request (clear it to wait for more)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connected.set()
        if self.fault is Fault.REFUSE:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, downstream=False)),
            asyncio.create_task(self._pipe(up_reader, writer, downstream=True)),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
                self._tasks.discard(task)
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        sent = 0
        seen = b""  # the tail of the requests sent upstream not yet scanned
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while chunk := await src.read(65536):
                if not downstream:
                    seen += chunk
                    ends = 0
                    for found in _REQUEST_LINE.finditer(seen):
                        self.requests.append(found.group(1).decode("ascii"))
                        self.requested.set()
                        ends = found.end()
                    seen = seen[ends:][-256:]  # a request line cut between two reads
                if downstream:
                    if self.fault is Fault.DROP_RESPONSE:
                        return
                    if self.fault is Fault.DELAY:
                        await asyncio.sleep(self.delay)
                    if self.fault is Fault.CUT_RESPONSE and sent + len(chunk) > self.cut_after:
                        dst.write(chunk[: max(0, self.cut_after - sent)])
                        await dst.drain()
                        return
                    self.forwarded += len(chunk)
                dst.write(chunk)
                sent += len(chunk)
                await dst.drain()
