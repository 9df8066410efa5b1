"""Run the sync server in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path

import structlog
from aiohttp import web

from memento_syncd.core.limits import Limits
from memento_syncd.server.app import make_app
from memento_syncd.server.http_io import SERVER_OPTIONS
from memento_syncd.server.storage.sqlite import SQLiteStore

log = structlog.get_logger("memento_syncd.server")


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def serve(db: Path, host: str, port: int, limits: Limits | None = None) -> None:
    """Serve until a termination signal; prints the URL on stdout once listening."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    sock = bind(host, port)
    runner = web.AppRunner(make_app(SQLiteStore(db), limits), access_log=None, **SERVER_OPTIONS)
    await runner.setup()
    site = web.SockSite(runner, sock, shutdown_timeout=5.0)
    await site.start()
    actual = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    print(f"memento-syncd server listening on http://{shown_host}:{actual}", flush=True)
    log.info("server started", host=host, port=actual, db=str(db))
    try:
        await stop.wait()
    finally:
        log.info("server stopping")
        await runner.cleanup()
        with contextlib.suppress(OSError):  # nobody reads stdout any more: nothing to say
            sys.stdout.flush()
