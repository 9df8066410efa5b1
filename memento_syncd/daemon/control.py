"""The control socket server: typed requests in, one answer each, one error shape."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from memento_syncd.daemon.protocol import MAX_LINE, ProtocolError, error, ok, parse_request

log = structlog.get_logger("memento_syncd.daemon")

Dispatcher = Callable[[dict[str, Any]], Awaitable[Any]]


class ControlError(Exception):
    """A request that failed; ``code`` and message go back to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ControlServer:
    """A Unix socket at ``path`` (mode 0600) answering one JSON line per request line."""

    def __init__(self, path: Path, dispatch: Dispatcher) -> None:
        self.path = path
        self._dispatch = dispatch
        self._server: asyncio.AbstractServer | None = None
        self._serving: set[asyncio.Task[Any]] = set()  # connections being answered
        self._made: tuple[int, int] | None = None  # the socket file's (device, inode)

    async def start(self) -> None:
        """Listen; a socket left by a crashed daemon is replaced, nothing else is.

        ``sync.socket_path`` may name any path: a file that is not a socket (the database,
        say, by a slip) or a socket another program answers on (a daemon of another home
        given the same path) makes the start fail (``FileExistsError``), untouched.
        """
        _clear_stale(self.path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        old = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        made = self.path.lstat()
        self._made = (made.st_dev, made.st_ino)

    async def close(self) -> None:
        """Stop listening and remove the socket file."""
        # A request still being answered (a manual push or pull) is cancelled here, before
        # the daemon closes the transport and the database under it, and before waiting
        # for the server to close (from Python 3.12 that waits for every connection).
        if self._server is not None:
            self._server.close()
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._remove_own()

    def _remove_own(self) -> None:
        """Remove the socket file if it is still the one this server made (another daemon
        may have replaced it since, after a change of ``sync.socket_path``)."""
        try:
            found = self.path.lstat()
        except FileNotFoundError:
            return
        if (found.st_dev, found.st_ino) == self._made:
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:
                    writer.write(error("too_large", f"request longer than {MAX_LINE} bytes"))
                    break
                if not line:
                    break
                writer.write(await self._answer(line))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # by close(): the connection just ends (asyncio's
            pass  # stream callback would log a cancelled task as an error with a traceback)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> bytes:
        try:
            return ok(await self._dispatch(parse_request(line)))
        except ProtocolError as exc:
            return error(exc.code, exc.message)
        except ControlError as exc:
            return error(exc.code, exc.message)
        except Exception as exc:  # a bug of ours: answer, log, keep serving
            log.exception("control request failed")
            return error("internal", f"{type(exc).__name__}: {exc}")


def _clear_stale(path: Path) -> None:
    """Remove a socket left at ``path`` by a daemon that is gone; refuse anything else."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(found.st_mode):
        raise FileExistsError(
            f"{path} exists and is not a socket; not replacing it: move it away, or set"
            " sync.socket_path to a path of its own"
        )
    if _answers(path):
        raise FileExistsError(
            f"another program answers on the socket {path}; set sync.socket_path to a"
            " path of its own"
        )
    path.unlink()


def _answers(path: Path) -> bool:
    """Whether the Unix socket at ``path`` may be in use: only a refused connection (no
    one listens) says it is not; a socket of another user's daemon (permission denied)
    or one too busy to accept counts as in use."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True
        return True
