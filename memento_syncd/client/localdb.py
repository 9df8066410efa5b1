"""The device database behind one worker thread, so the event loop never blocks on SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from memento_syncd.store.db import connect, connect_reader

P = ParamSpec("P")
T = TypeVar("T")


class LocalDB:
    """One connection used only from one worker thread; ``run`` calls a store function there."""

    def __init__(self, path: Path, *, reader: bool = False) -> None:
        """``reader``: a read-only connection (``store.db.connect_reader``), for answers that
        must not wait behind the writer's long work."""
        self.path = path
        self._connect = connect_reader if reader else connect
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memento-db")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open (and create or migrate) the database in the worker thread."""
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, self._connect, self.path)

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, *args, **kwargs)`` in the worker thread."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("LocalDB is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(conn, *args, **kwargs))

    async def close(self) -> None:
        """Close the connection and stop the worker."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
