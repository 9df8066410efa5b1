"""Where a push and a pull spend their time: the real app, in one process, step by step.

Serves the real aiohttp application (``make_app`` on a ``SQLiteStore``) on a loopback
port inside this process, drives it with one aiohttp client request at a time, and
wraps the server's steps with timers: JSON parsing and serialization (the ``json`` of
``memento_syncd.server.http_io``), validation (``parse_push_request`` and
``parse_pull_request`` of ``memento_syncd.core.wire``), the store's ``push`` and
``pull`` (SQLite through aiosqlite), and ``stored_to_wire``. The client's own JSON work
is timed too. What is left of the wall time is aiohttp (both ends), the event loop,
authentication and handler glue.

Same data as ``bench/server_bench.py`` (``bench/dataset.py``, same seed). Run::

    .venv/bin/python bench/server_phases.py [--count N] [--batch B]

Client and server share one core here, so the totals are lower than the two-process
benchmark's; the split between steps is the point.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
import types
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aiohttp
from aiohttp import web
from dataset import MEMBER, PAGE, PROJECT, TEAM, batches, make_observations

# Run as a script, this file's directory is on sys.path: harness and data come from there.
from harness import BenchError, create_token, exit_on_signals, run_script, temp_workdir

from memento_syncd.core import wire
from memento_syncd.logs import configure_logging
from memento_syncd.server import handlers, http_io
from memento_syncd.server.app import make_app
from memento_syncd.server.http_io import SERVER_OPTIONS
from memento_syncd.server.storage.sqlite import SQLiteStore

P = ParamSpec("P")
R = TypeVar("R")


class Clock:
    """Seconds and calls per named step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def reset(self) -> None:
        """Forget everything measured so far."""
        self.seconds.clear()
        self.calls.clear()

    def charge(self, step: str, spent: float) -> None:
        """Add ``spent`` seconds to ``step``."""
        self.seconds[step] += spent
        self.calls[step] += 1

    def timed(self, step: str, fn: Callable[P, R]) -> Callable[P, R]:
        """``fn``, charging each call's duration to ``step``."""

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.charge(step, time.perf_counter() - started)

        return wrapper

    def timed_async(self, step: str, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """The coroutine function ``fn``, charging each await's duration to ``step``."""

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.charge(step, time.perf_counter() - started)

        return wrapper


@contextmanager
def patched(target: object, name: str, value: object) -> Iterator[None]:
    """Replace ``target.name`` for the duration of the block."""
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


@contextmanager
def instrument(clock: Clock, store: SQLiteStore) -> Iterator[None]:
    """Wrap the server's steps with timers."""
    server_json = types.SimpleNamespace(
        loads=clock.timed("server: json.loads request", json.loads),
        dumps=clock.timed("server: json.dumps response", json.dumps),
    )
    with (
        patched(http_io, "json", server_json),
        patched(
            handlers,
            "parse_push_request",
            clock.timed("server: wire.parse_push_request", wire.parse_push_request),
        ),
        patched(
            handlers,
            "parse_pull_request",
            clock.timed("server: wire.parse_pull_request", wire.parse_pull_request),
        ),
        patched(
            handlers,
            "stored_to_wire",
            clock.timed("server: stored_to_wire", handlers.stored_to_wire),
        ),
        patched(store, "push", clock.timed_async("server: store.push (SQLite)", store.push)),
        patched(store, "pull", clock.timed_async("server: store.pull (SQLite)", store.pull)),
    ):
        yield


async def post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], clock: Clock
) -> dict[str, Any]:
    """One request, timing the client's JSON work."""
    started = time.perf_counter()
    data = json.dumps(body).encode("utf-8")
    clock.charge("client: json.dumps request", time.perf_counter() - started)
    async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as resp:
        raw = await resp.read()
        if resp.status != 200:
            raise BenchError(f"HTTP {resp.status}: {raw[:300]!r}")
    started = time.perf_counter()
    answer: dict[str, Any] = json.loads(raw)
    clock.charge("client: json.loads response", time.perf_counter() - started)
    return answer


@asynccontextmanager
async def in_process(store: SQLiteStore) -> AsyncIterator[str]:
    """The real app on ``store``, served on a loopback port for the block; its base URL."""
    runner = web.AppRunner(make_app(store), access_log=None, **SERVER_OPTIONS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def time_push(
    session: aiohttp.ClientSession, base: str, groups: list[list[dict[str, Any]]], clock: Clock
) -> float:
    """Push every batch, one request at a time; the wall time."""
    started = time.perf_counter()
    for group in groups:
        body = {"project_id": PROJECT, "observations": group}
        answer = await post(session, f"{base}/api/sync/push", body, clock)
        if answer["synced"] != len(group):
            raise BenchError(f"synced {answer['synced']} of {len(group)}")
    return time.perf_counter() - started


async def time_pull(
    session: aiohttp.ClientSession, base: str, clock: Clock, expected: int
) -> float:
    """Pull the whole project page by page; the wall time."""
    cursor: str | None = None
    seen = 0
    started = time.perf_counter()
    while True:
        body = {"project_id": PROJECT, "cursor": cursor, "limit": PAGE}
        answer = await post(session, f"{base}/api/sync/pull", body, clock)
        seen += len(answer["observations"])
        cursor = answer["cursor"]
        if not answer["has_more"]:
            break
    wall = time.perf_counter() - started
    if seen != expected:
        raise BenchError(f"pulled {seen}, expected {expected}")
    return wall


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, tuple[float, Clock]]:
    """Push then pull through the in-process server; wall time and steps of each."""
    groups = batches(make_observations(args.count), args.batch)
    db = workdir / "server.db"
    token = create_token(db, TEAM, MEMBER)
    store = SQLiteStore(db)
    out: dict[str, tuple[float, Clock]] = {}
    async with (
        in_process(store) as base,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session,
    ):
        clock = Clock()
        with instrument(clock, store):
            out["push"] = (await time_push(session, base, groups, clock), clock)
        clock = Clock()
        with instrument(clock, store):
            out["pull"] = (await time_pull(session, base, clock, args.count), clock)
    return out


def show(title: str, wall: float, clock: Clock, count: int) -> None:
    """One table of steps, with the remainder charged to aiohttp and glue."""
    print(f"\n{title}: {wall:.2f} s for {count:,} observations ({count / wall:,.0f} obs/s)")
    steps = dict(clock.seconds)
    steps["rest: aiohttp both ends, event loop, auth, glue"] = wall - sum(steps.values())
    width = max(len(k) for k in steps)
    for step, spent in steps.items():
        calls = clock.calls.get(step)
        note = f"  ({calls:,} calls)" if calls else ""
        print(f"  {step:<{width}}  {spent:6.2f} s  {100 * spent / wall:5.1f} %{note}")


def main(argv: list[str] | None = None) -> int:
    """Run the step timings."""
    parser = argparse.ArgumentParser(description="per-step timings of push and pull")
    parser.add_argument("--count", type=int, default=100_000, help="observations (100000)")
    parser.add_argument("--batch", type=int, default=1000, help="observations per push (1000)")
    args = parser.parse_args(argv)
    exit_on_signals()
    configure_logging("warning")  # the server's one line per request would drown the figures
    with temp_workdir("memento-phases-") as workdir:
        results = asyncio.run(measure(args, workdir))
    for name, (wall, clock) in results.items():
        show(f"{name}, in one process, 1 request in flight", wall, clock, args.count)
    return 0


if __name__ == "__main__":
    run_script(main)
