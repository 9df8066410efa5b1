"""Fixtures for end-to-end daemon tests: real ``memento-syncd run`` and server subprocesses.

Each device is a separate ``MEMENTO_HOME``; the Memento application is simulated by raw
SQL on ``$MEMENTO_HOME/memento.db``. Every wait polls against a deadline; every process a
test starts is stopped in teardown (SIGTERM, then SIGKILL), whatever the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from memento_syncd.daemon.control_client import DaemonError, NoDaemon, request
from memento_syncd.store.schema import APP_TABLE
from tests.faults import Fault, FaultProxy

EXE = str(Path(sys.executable).parent / "memento-syncd")
WAIT = 10.0
# After an outage the daemon retries with exponential backoff and full jitter (base 1 s,
# see core/backoff.py), so the first retry once the server is back can be a while away
# even after a short outage. Recovery waits allow for that; they normally end in seconds.
RECOVERY_WAIT = 45.0
# A healthy daemon or server exits within a fraction of a second of SIGTERM; teardown
# kills whatever is still running after this long.
TEARDOWN_WAIT = 3.0
PROJECT = "proj"
LIVE_FIELDS = "project, type, title, content, topic_key, scope"

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None],
    what: str,
    timeout: float = WAIT,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``check`` until it returns something truthy (returned) or the deadline passes.

    Exceptions of the ``ignore`` types count as "not yet".
    """
    deadline = time.monotonic() + timeout
    problem: BaseException | None = None
    while True:
        try:
            value = check()
        except ignore as exc:
            problem = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            extra = f" (last error: {problem})" if problem is not None else ""
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(0.05)


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10
) -> int:
    """Signal ``proc`` and wait; SIGKILL if it does not exit in time. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=timeout)


def stamp() -> str:
    """Now, as the application writes it (RFC 3339, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    """An RFC 3339 timestamp with ``Z``, as status shows them."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _stop_all(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    deadline = time.monotonic() + TEARDOWN_WAIT
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=WAIT)


class Processes:
    """Every subprocess a test starts, with the logs to show when the test fails."""

    def __init__(self) -> None:
        self._daemons: list[subprocess.Popen[Any]] = []
        self._servers: list[subprocess.Popen[Any]] = []
        self.logs: list[Path] = []

    def add(self, proc: subprocess.Popen[Any], log: Path, server: bool = False) -> None:
        """Track ``proc`` (a daemon unless ``server``) for teardown."""
        (self._servers if server else self._daemons).append(proc)
        if log not in self.logs:
            self.logs.append(log)

    def stop_daemons(self) -> None:
        """Stop every daemon still running: SIGTERM to all, then SIGKILL to the late ones."""
        _stop_all(self._daemons)

    def cleanup(self) -> None:
        """Stop everything still running: the daemons first, then the servers."""
        _stop_all(self._daemons)
        _stop_all(self._servers)
        for proc in [*self._daemons, *self._servers]:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for log in self.logs:  # shown by pytest only when the test failed
            if log.exists():
                text = log.read_text(encoding="utf-8", errors="replace")
                print(f"----- {log.name} (last 4000 chars) -----\n{text[-4000:]}")


class Server:
    """A ``memento-syncd server serve`` subprocess; restartable on the same port and database."""

    def __init__(self, root: Path, procs: Processes) -> None:
        self.db = root / "server.db"
        self.log_path = root / "server.log"
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._procs = procs

    def start(self) -> Server:
        """Start serving (on a free port the first time, on the same port afterwards)."""
        with self.log_path.open("a", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [EXE, "server", "serve", "--db", str(self.db),
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        self._procs.add(proc, self.log_path, server=True)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], WAIT)
        line = proc.stdout.readline() if ready else ""
        if "listening on " not in line:
            stop_process(proc, signal.SIGKILL)
            raise RuntimeError(f"server did not start: {line!r}\n{self.log_path.read_text()}")
        self.url = line.rsplit(" ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.proc = proc
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop the server process and wait for it."""
        assert self.proc is not None
        code = stop_process(self.proc, sig, timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def create_token(self, member: str, team: str = "acme") -> str:
        """A new token for ``member`` of ``team``, made with the CLI."""
        done = subprocess.run(
            [EXE, "server", "create-token", "--db", str(self.db), "--team", team,
             "--member", member],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    def call(self, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        """One JSON request to the HTTP API."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def pull_all(self, token: str, project: str = PROJECT) -> list[dict[str, Any]]:
        """Every observation of ``project`` the server holds, by pulling every page."""
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            status, body = self.call(
                "/api/sync/pull", token, {"project_id": project, "cursor": cursor, "limit": 1000}
            )
            assert status == 200, body
            seen.extend(body["observations"])
            cursor = body["cursor"]
            if not body["has_more"]:
                return seen


class Device:
    """One device: its own MEMENTO_HOME, the application's connection, and its daemon."""

    def __init__(self, root: Path, name: str, procs: Processes) -> None:
        self.name = name
        self.home = root / name
        self.home.mkdir(mode=0o700)
        self.db_path = self.home / "memento.db"
        self.config_path = self.home / "config.json"
        self.socket = self.home / "syncd.sock"
        self.log_path = root / f"{name}-daemon.log"
        self.env = {k: v for k, v in os.environ.items() if k != "MEMENTO_SYNC_TOKEN"}
        self.env.update(MEMENTO_HOME=str(self.home), PYTHONUNBUFFERED="1")
        self.proc: subprocess.Popen[bytes] | None = None
        self._procs = procs
        self.app = sqlite3.connect(self.db_path, isolation_level=None, timeout=10)
        self.app.execute("PRAGMA journal_mode = WAL")
        self.app.execute(APP_TABLE)

    # ---- settings ----------------------------------------------------------------------

    def configure(self, url: str, token: str, **sync: Any) -> None:
        """What login writes (URL, enabled, token file 0600), plus ``sync`` settings."""
        fd = os.open(self.home / "sync-token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
        self.write_config({"sync": {"enabled": True, "server_url": url, **sync}})

    def write_config(self, document: Any) -> None:
        """Replace config.json with ``document`` as JSON."""
        self.write_config_text(json.dumps(document, indent=2))

    def write_config_text(self, text: str) -> None:
        """Replace config.json atomically, as a careful editor does (no half-written file)."""
        temp = self.home / ".config.json.edit"
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, self.config_path)

    # ---- the daemon --------------------------------------------------------------------

    def start(self, wait: bool = True) -> subprocess.Popen[bytes]:
        """Start ``memento-syncd run`` for this home; by default wait until it answers."""
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [EXE, "run"], env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._procs.add(proc, self.log_path)
        self.proc = proc
        if wait:
            self.wait_ready()
        return proc

    def wait_ready(self) -> dict[str, Any]:
        """Wait until this device's daemon answers status with its own pid."""
        proc = self.proc
        assert proc is not None

        def answered() -> dict[str, Any] | None:
            if proc.poll() is not None:
                raise AssertionError(f"daemon {self.name} exited {proc.returncode}:\n{self.log()}")
            state = self.status()
            return state if state["pid"] == proc.pid else None

        return wait_for(answered, f"daemon {self.name} to answer", ignore=(NoDaemon, OSError))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Stop the daemon and return its exit code."""
        assert self.proc is not None
        return stop_process(self.proc, sig, timeout)

    def status(self) -> dict[str, Any]:
        """The daemon's status, over the control socket (what ``status --json`` prints)."""
        state: dict[str, Any] = request(self.socket, {"op": "status"}, timeout=10)
        return state

    def wait_status(
        self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = WAIT
    ) -> dict[str, Any]:
        """Poll status until ``check`` holds for it; returns that status."""

        def probe() -> dict[str, Any] | None:
            state = self.status()
            return state if check(state) else None

        return wait_for(probe, f"{self.name}: {what}", timeout, ignore=(NoDaemon, DaemonError))

    def wait_realtime(self) -> None:
        """Wait until the daemon holds its realtime subscription."""
        self.wait_status(lambda s: bool(s["realtime"]), "realtime connected")

    def cli_status(self) -> dict[str, Any]:
        """What ``memento-syncd status --json`` prints (it must succeed)."""
        done = self.cli("status", "--json", timeout=WAIT)
        assert done.returncode == 0, done.stderr
        state: dict[str, Any] = json.loads(done.stdout)
        return state

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``memento-syncd ARGS`` for this home."""
        return subprocess.run(
            [EXE, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def log(self) -> str:
        """What this device's daemons logged so far."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    # ---- the application ---------------------------------------------------------------

    def save(self, title: str, content: str | None = None, project: str = PROJECT) -> int:
        """INSERT a row as the application does; returns its local id."""
        now = stamp()
        cur = self.app.execute(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES (?, 'note', ?, ?, ?, ?)",
            (project, title, content if content is not None else f"notes about {title}", now, now),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def edit(self, obs_id: int, content: str) -> None:
        """UPDATE a row's content as the application does."""
        self.app.execute(
            "UPDATE observations SET content = ?, updated_at = ? WHERE id = ?",
            (content, stamp(), obs_id),
        )

    def delete(self, obs_id: int) -> None:
        """Soft-delete a row as the application does."""
        now = stamp()
        self.app.execute(
            "UPDATE observations SET deleted_at = ?, updated_at = ? WHERE id = ?",
            (now, now, obs_id),
        )

    def find(self, title: str) -> dict[str, Any] | None:
        """The live row titled ``title``, if any."""
        cur = self.app.execute(
            "SELECT * FROM observations WHERE title = ? AND deleted_at IS NULL", (title,)
        )
        names = [d[0] for d in cur.description]
        row = cur.fetchone()
        return None if row is None else dict(zip(names, row, strict=True))

    def live(self) -> list[tuple[Any, ...]]:
        """The live rows' content, sorted: what must converge across devices."""
        query = f"SELECT {LIVE_FIELDS} FROM observations WHERE deleted_at IS NULL"  # noqa: S608
        return sorted(self.app.execute(query).fetchall(), key=repr)

    def count(self) -> int:
        """How many rows the table holds (live or not)."""
        return int(self.app.execute("SELECT count(*) FROM observations").fetchone()[0])

    def close(self) -> None:
        """Close the application's connection."""
        self.app.close()


class Devices:
    """Makes devices in one test's directory, configured against a server."""

    def __init__(self, root: Path, procs: Processes) -> None:
        self.root = root
        self.procs = procs
        self.made: list[Device] = []

    def make(self, name: str) -> Device:
        """A device with an empty application table and no settings yet."""
        device = Device(self.root, name, self.procs)
        self.made.append(device)
        return device

    def running(self, name: str, server: Server, url: str | None = None, **sync: Any) -> Device:
        """A device logged in as member ``name`` (its own token) with its daemon running."""
        device = self.make(name)
        device.configure(url or server.url, server.create_token(name), **sync)
        device.start()
        return device

    def close(self) -> None:
        """Close every application connection."""
        for device in self.made:
            device.close()


class ThreadedProxy:
    """``tests.faults.FaultProxy`` on its own event loop in a background thread."""

    def __init__(self, upstream_port: int) -> None:
        self.proxy = FaultProxy("127.0.0.1", upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> ThreadedProxy:
        """Start listening on a free loopback port."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(WAIT)
        return self

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return self.proxy.url

    def set(self, fault: Fault, delay: float = 0.0) -> None:
        """Switch the fault applied from now on."""

        def apply() -> None:
            self.proxy.delay = delay
            self.proxy.fault = fault

        self._loop.call_soon_threadsafe(apply)

    def close(self) -> None:
        """Cut every connection, stop listening, stop the loop."""
        if not self._thread.is_alive():
            return

        async def shut() -> None:
            for task in list(self.proxy._tasks):  # cut pipes first, so no handler lingers
                task.cancel()
            await self.proxy.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(WAIT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        if not self._thread.is_alive():
            self._loop.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    """Subprocesses of one test, all stopped at teardown."""
    tracked = Processes()
    yield tracked
    tracked.cleanup()


@pytest.fixture
def server(tmp_path: Path, procs: Processes) -> Server:
    """A running sync server over a fresh database."""
    return Server(tmp_path, procs).start()


@pytest.fixture
def devices(tmp_path: Path, procs: Processes) -> Iterator[Devices]:
    """Device maker; application connections are closed at teardown."""
    made = Devices(tmp_path, procs)
    yield made
    made.close()


@pytest.fixture
def proxy(server: Server, procs: Processes) -> Iterator[ThreadedProxy]:
    """A fault-injecting proxy in front of ``server``; closed at teardown, after the daemons."""
    running = ThreadedProxy(server.port).start()
    yield running
    procs.stop_daemons()
    running.close()
