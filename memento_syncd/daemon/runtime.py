"""The daemon's wiring: config, device database, server link, loops, control socket, signals.

Decisions stay in core (backoff, health) and client (push, pull); this module only
starts things, routes events to them and stops them cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from memento_syncd import __version__
from memento_syncd.client.engine import Report, SyncEngine
from memento_syncd.client.home import Home, TokenError, load_config, load_token
from memento_syncd.client.localdb import LocalDB
from memento_syncd.client.transport import Transport, TransportError
from memento_syncd.core.backoff import Backoff, Health
from memento_syncd.core.config import ConfigError, SyncConfig
from memento_syncd.core.pull_order import gave_way, pull_order
from memento_syncd.daemon.control import ControlServer
from memento_syncd.daemon.lock import HomeLock
from memento_syncd.daemon.notify import SystemdNotifier
from memento_syncd.daemon.realtime import RealtimeLink, sleep_or
from memento_syncd.daemon.watcher import HomeWatcher
from memento_syncd.store.db import LocalStoreBusy, LocalStoreError

log = structlog.get_logger("memento_syncd.daemon")

FALLBACK_CHECK_SECONDS = 30.0
RECHECK_DELAYS = (0.002, 0.005, 0.01, 0.02, 0.04, 0.08)
# A config.json found blank while running is read again this much later before it counts
# (as the defaults): an editor writing it in place empties it first.
BLANK_SETTLE_SECONDS = 1.0
SyncFailure = (TransportError, LocalStoreError)


class Daemon:
    """One device's hands-off sync, for the lifetime of ``run``."""

    def __init__(
        self,
        home: Home,
        clock: Callable[[], datetime],
        draw: Callable[[float, float], float] = random.uniform,
        fallback_seconds: float = FALLBACK_CHECK_SECONDS,
    ) -> None:
        self.home = home
        self.clock = clock
        self._draw = draw
        self.fallback_seconds = fallback_seconds
        self.config = SyncConfig()
        self.config_error: str | None = None
        self.paused = False
        self.health: dict[str, Health] = {"push": Health(), "pull": Health(), "realtime": Health()}
        self.backoff = Backoff(base=1.0, cap=180.0)
        self.db = LocalDB(home.db)
        # Status and listings read here: they answer while self.db works through a long
        # pull or waits for the application's lock.
        self.reader = LocalDB(home.db, reader=True)
        self.engine: SyncEngine | None = None
        self._transport: Transport | None = None
        self._realtime: RealtimeLink | None = None
        self._stop = asyncio.Event()
        # Set to cut a backoff wait short: on stop, or when the server is known to be back.
        self._retry_now = {what: asyncio.Event() for what in ("push", "pull", "realtime")}
        self._push_wanted = asyncio.Event()
        self._pull_wanted = asyncio.Event()
        self._pull_projects: set[str | None] = set()
        self._pull_resumed: set[str | None] = set()  # pulls that gave way (``pull_order``)
        self._pull_retries: set[str | None] = set()  # wanted again after failing: not news
        self._push_lock = asyncio.Lock()
        self._pull_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._realtime_task: asyncio.Task[None] | None = None
        self._data_version: int | None = None
        self._rechecks = 0
        self._started = False
        self.scheduler = AsyncIOScheduler()
        self.notifier = SystemdNotifier()
        self.lock = HomeLock(home.root / "syncd.lock")

    # ---- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        """Run until SIGTERM or SIGINT (or ``stop()``); the caller handles startup errors."""
        self.lock.acquire()
        try:
            await self._start()
            await self._stop.wait()
        finally:
            await self._shutdown()
            self.lock.release()

    def stop(self) -> None:
        """Ask the daemon to finish."""
        self._stop.set()
        for wake in self._retry_now.values():
            wake.set()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._load_config(first=True)
        # Before the database is open a stop ends the start, and a reload waits for it.
        for signum, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop),
                                (signal.SIGHUP, _reload_later)):  # fmt: skip
            loop.add_signal_handler(signum, handler)
        if not await self._open_db():
            return
        await self.reader.open()
        self._data_version = await self.db.run(_data_version)
        self.control = ControlServer(self.home.socket_path(self.config), self._dispatch)
        await self.control.start()
        self.lock.record(str(self.control.path))
        loop.add_signal_handler(signal.SIGHUP, lambda: self.reload(force=True))
        self.watcher = HomeWatcher(
            self.home.root, self.home.db, self.home.config, self._on_file, self.home.token_file
        )
        self.watcher.start(loop)
        self.scheduler.start()
        await self._apply_config()
        for work in (self._push_loop, self._pull_loop, self._fallback_loop, self._watchdog_loop):
            self._tasks.append(asyncio.create_task(work()))
        self.request_push()
        self.notifier.send("READY=1", f"STATUS={self._summary()}")
        self._started = True
        log.info("daemon started", pid=os.getpid(), home=str(self.home.root),
                 server_url=self.config.server_url, version=__version__)  # fmt: skip

    async def _open_db(self) -> bool:
        """Open the database, waiting while another program holds its write lock (the
        application, in a long transaction) rather than exiting: a running daemon rides
        such a lock out, so a starting one does too. False if stopped meanwhile; other
        errors end the start. A service manager is told, and its start timeout extended."""
        delay = 1.0
        while not self._stop.is_set():
            try:
                await self.db.open()
            except LocalStoreBusy as exc:
                log.warning("database locked by another program; waiting", error=str(exc),
                            retry_in_seconds=delay)  # fmt: skip
                self.notifier.send("STATUS=waiting for the database lock",
                                   f"EXTEND_TIMEOUT_USEC={int((delay + 30) * 1e6)}")  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(2 * delay, 30.0)
            else:
                return True
        return False

    async def _shutdown(self) -> None:
        self.notifier.send("STOPPING=1")
        tasks = [*self._tasks, *([self._realtime_task] if self._realtime_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)
        if hasattr(self, "watcher"):
            self.watcher.stop()
        if hasattr(self, "control"):
            await self.control.close()
        if self._transport is not None:
            await self._transport.__aexit__(None, None, None)
        await self.reader.close()
        await self.db.close()
        if self._started:  # (a start that failed is told by its one error line alone)
            log.info("daemon stopped")

    # ---- configuration ------------------------------------------------------------------

    def _load_config(self, first: bool = False, blank_ok: bool = False) -> bool:
        if not first and not blank_ok and self._config_blank():
            # Most likely an editor that empties (or renames) the file and then writes
            # it: what it writes is read then. Still blank (or missing) a moment later,
            # it means the defaults.
            asyncio.get_running_loop().call_later(
                BLANK_SETTLE_SECONDS, lambda: self.reload(blank_ok=True)
            )
            return False
        try:
            config = load_config(self.home)
        except ConfigError as exc:
            if str(exc) != self.config_error:
                log.warning("bad config; keeping the last good settings", error=str(exc))
            self.config_error = str(exc)
            return False
        self.config_error = None
        changed = config != self.config
        warning = config.unknown_keys_warning(self.home.config)
        if warning and (first or config.unknown_keys != self.config.unknown_keys):
            log.warning("unknown config keys ignored", keys=list(config.unknown_keys))
        self.config = config
        if changed and not first:
            log.info("config reloaded", server_url=config.server_url)
        return changed or first

    def reload(self, force: bool = False, blank_ok: bool = False) -> None:
        """Re-read config.json (a file event; SIGHUP and the control socket force it).

        Settings that did not change are left alone, unless forced (a new token, say). A
        file found blank is read again ``BLANK_SETTLE_SECONDS`` later (``blank_ok``).
        """
        if self._stop.is_set():
            return
        if self._load_config(blank_ok=blank_ok) or force:
            task = asyncio.get_running_loop().create_task(self._apply_config())
            self._tasks.append(task)

    async def _apply_config(self) -> None:
        config = self.config
        token = None
        if config.active:
            try:
                token = load_token(self.home)
            except TokenError as exc:
                self.config_error = str(exc)
                log.warning("no usable token", error=str(exc))
        async with self._push_lock, self._pull_lock:  # let a sync in flight finish first
            if self._transport is not None:
                await self._transport.__aexit__(None, None, None)
                self._transport, self.engine = None, None
            if config.server_url and config.active and token:
                self._transport = await Transport(config.server_url, token).__aenter__()
                self.engine = SyncEngine(
                    self.db, self._transport, config, self.clock, on_skipped=_log_skipped
                )
        self._schedule_pulls()
        await self._restart_realtime(token)
        self.request_push()
        self.request_pull(None)

    def _schedule_pulls(self) -> None:
        job = self.scheduler.get_job("pull")
        if job is not None:
            job.remove()
        if self.config.auto_pull and self.engine is not None:
            self.scheduler.add_job(
                self.request_pull, "interval", args=[None], id="pull",
                seconds=self.config.pull_interval_seconds, coalesce=True, max_instances=1,
                misfire_grace_time=None,
            )  # fmt: skip
            if self.paused:
                self.scheduler.pause_job("pull")

    async def _restart_realtime(self, token: str | None) -> None:
        if self._realtime_task is not None:
            self._realtime_task.cancel()
            await asyncio.gather(self._realtime_task, return_exceptions=True)
            self._realtime_task, self._realtime = None, None
        if self.config.realtime and self.config.server_url and self.config.active and token:
            device = await self.db.run(_device_id)
            self._realtime = RealtimeLink(self.config.server_url, token, device)
            self._realtime_task = asyncio.create_task(self._realtime_loop(self._realtime))

    def _config_blank(self) -> bool:
        """Whether config.json is missing or holds nothing but blanks (both mean the
        defaults), as it is for a moment while an editor saves it in place or by rename."""
        try:
            data = self.home.config.read_bytes()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return not data.decode("utf-8", "replace").removeprefix("\ufeff").strip()

    # ---- events -------------------------------------------------------------------------

    def _on_file(self, kind: str) -> None:
        log.debug("file event", kind=kind)
        if kind == "config":
            self.reload()
        elif kind == "token":  # a new login: same settings, new credentials
            self.reload(force=True)
        else:
            self.request_push()

    def request_push(self) -> None:
        """Something may have changed locally: push soon (coalesced with pushes in flight)."""
        self._push_wanted.set()

    def _news_elsewhere(self, project: str) -> bool:
        """Whether a pull of a project other than ``project`` is wanted (realtime news; a
        timer's all-projects pull and the retry of a failed pull do not count): a long
        pull gives way to it."""
        return any(
            p is not None and p != project and p not in self._pull_retries
            for p in self._pull_projects
        )

    def request_pull(self, project: str | None, *, retry: bool = False) -> None:
        """Pull ``project`` (None: every project) soon, coalesced; ``retry``: after it failed."""
        if retry and project not in self._pull_projects:
            self._pull_retries.add(project)
        elif not retry:
            self._pull_retries.discard(project)
        self._pull_projects.add(project)
        self._pull_wanted.set()

    # ---- loops --------------------------------------------------------------------------

    async def _push_loop(self) -> None:
        while True:
            await self._push_wanted.wait()
            self._push_wanted.clear()
            if self.paused or self.engine is None:
                continue
            await self._wait_for_retry("push")
            if not await self._local_changes():
                self._recheck_soon()
                continue
            self._rechecks = 0
            reports = await self.push(None, manual=False)
            log.debug("pushed", sent={r.project: r.sent for r in reports})

    async def _pull_loop(self) -> None:
        while True:
            await self._pull_wanted.wait()
            self._pull_wanted.clear()
            wanted, self._pull_projects = self._pull_projects, set()
            self._pull_retries.clear()
            resumed, self._pull_resumed = self._pull_resumed, set()
            if self.paused or self.engine is None:
                self._pull_resumed = resumed
                continue
            await self._wait_for_retry("pull")
            order = pull_order(wanted, resumed)
            for n, project in enumerate(order):
                reports = await self.pull(project, manual=False)
                log.debug("pulled", received={r.project: r.received for r in reports})
                if any(report.interrupted for report in reports):
                    # News of another project came: it goes first; this pull goes on
                    # after it, and the rest of this round's pulls stay wanted.
                    again, gave = gave_way(order, n, resumed)
                    self._pull_resumed |= gave
                    for scope in again:
                        self.request_pull(scope)
                    break

    def _recheck_soon(self) -> None:
        """An event came before its commit was visible (the WAL is written before the commit
        completes): look again a few times, shortly, rather than wait for the next event."""
        if self._rechecks < len(RECHECK_DELAYS):
            delay = RECHECK_DELAYS[self._rechecks]
            self._rechecks += 1
            asyncio.get_running_loop().call_later(delay, self.request_push)
        else:
            self._rechecks = 0

    async def _fallback_loop(self) -> None:
        """Events get lost on some filesystems: look for changes now and then anyway."""
        while True:
            await asyncio.sleep(self.fallback_seconds)
            self.request_push()

    async def _watchdog_loop(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        while True:
            self.notifier.send("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _realtime_loop(self, link: RealtimeLink) -> None:
        async def caught_up() -> None:
            self._healthy("realtime")
            for what in ("push", "pull"):  # the server is back: retry now, not at the backoff
                if self.health[what].failures:
                    self.health[what] = self.health[what].retry_now()
                    self._retry_now[what].set()
            self.request_push()
            self.request_pull(None)

        while True:
            try:
                await link.run(self.request_pull, caught_up)
                error = "realtime connection closed by the server"
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect later
                error = f"realtime connection failed: {exc or type(exc).__name__}"
            self._failed("realtime", error)
            await self._wait_for_retry("realtime")

    async def _wait_for_retry(self, what: str) -> None:
        due = self.health[what].next_attempt
        wake = self._retry_now[what]
        if not self._stop.is_set():
            wake.clear()
        if due is not None:
            await sleep_or(wake, due - time.monotonic())

    async def _local_changes(self) -> bool:
        """Confirm a file event: did another connection commit, or is anything pending?

        If the database cannot tell (an error), say yes: the push that follows meets the
        same error, which is then shown and retried like any failed push.
        """
        try:
            version = await self.db.run(_data_version)
            pending = await self.db.run(_has_pending)
        except (sqlite3.Error, LocalStoreError):
            return True
        changed = version != self._data_version
        self._data_version = version
        return changed or pending

    # ---- sync operations (loops and control socket) --------------------------------------

    async def push(self, project: str | None, manual: bool = True) -> list[Report]:
        """Push now; a failure is recorded and retried with backoff."""
        return await self._attempt("push", project, manual)

    async def pull(self, project: str | None, manual: bool = True) -> list[Report]:
        """Pull now; a failure is recorded and retried with backoff."""
        return await self._attempt("pull", project, manual)

    async def _attempt(self, what: str, project: str | None, manual: bool) -> list[Report]:
        """One push or pull under its lock; failures reschedule it (and, if manual, raise).

        The engine is taken once the lock is held: a reload (``_apply_config``) replaces
        it, closing the old one's transport, under the same lock.
        """
        async with self._push_lock if what == "push" else self._pull_lock:
            engine = self.engine
            if engine is None:
                raise RuntimeError(self.config_error or _idle_reason(self.config))
            try:
                if what == "push":
                    reports = await engine.push(project)
                else:  # the loop's pulls give way to news of another project; manual ones not
                    reports = await engine.pull(project, None if manual else self._news_elsewhere)
            except Exception as exc:
                # Any failure, even one not foreseen (a database error SQLite raises, say),
                # is shown and retried with backoff: the loop that asked must live on.
                if self._failed(what, _describe(exc)) and not isinstance(exc, SyncFailure):
                    log.exception(f"{what} failed unexpectedly")  # once, not every retry
                if what == "push":
                    self.request_push()
                else:
                    self.request_pull(project, retry=True)
                if manual:
                    raise
                return []
        self._healthy(what)
        return reports

    def pause(self) -> None:
        """Stop syncing until resumed (the control socket still answers)."""
        self.paused = True
        if self.scheduler.get_job("pull"):
            self.scheduler.pause_job("pull")

    def resume(self) -> None:
        """Sync again, catching up at once."""
        self.paused = False
        if self.scheduler.get_job("pull"):
            self.scheduler.resume_job("pull")
        self.request_push()
        self.request_pull(None)

    def _failed(self, what: str, error: str) -> bool:
        """Record a failure; returns whether it is news (not the same error again)."""
        state = self.health[what].failed(error, time.monotonic(), self.backoff, self._draw)
        if state.changed:
            log.warning(f"{what} failing", error=error, retry_in=round(
                (state.next_attempt or 0) - time.monotonic(), 1))  # fmt: skip
            self.notifier.send(f"STATUS={what} failing: {error[:200]}")
        self.health[what] = state.quiet()
        return state.changed

    def _healthy(self, what: str) -> None:
        state = self.health[what].succeeded()
        if state.changed:
            log.info(f"{what} working again")
            self.notifier.send(f"STATUS={self._summary()}")
        self.health[what] = state.quiet()

    @property
    def realtime_link(self) -> RealtimeLink | None:
        """The realtime subscription, if one is configured."""
        return self._realtime

    def idle_reason(self) -> str:
        """Why no sync runs: disabled, or no server configured."""
        return _idle_reason(self.config)

    def _summary(self) -> str:
        if self.engine is None:
            return f"idle: {_idle_reason(self.config)}"
        return f"syncing with {self.config.server_url}" + (" (paused)" if self.paused else "")

    async def _dispatch(self, request: dict[str, Any]) -> Any:
        from memento_syncd.daemon.commands import dispatch

        return await dispatch(self, request)


def _describe(exc: Exception) -> str:
    """A failure as status shows it."""
    if isinstance(exc, SyncFailure):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return f"database error: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _data_version(conn: Any) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _device_id(conn: Any) -> str:
    return str(conn.execute("SELECT value FROM sync_meta WHERE key = 'device_id'").fetchone()[0])


def _has_pending(conn: Any) -> bool:
    return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM sync_changes)").fetchone()[0])


def _idle_reason(config: SyncConfig) -> str:
    if config.server_url and config.enabled is False:
        return (
            "sync is disabled (sync.enabled is false in config.json): set it to true, or run"
            " 'memento-syncd login --server URL --token TOKEN'"
        )
    return "no sync server configured: run 'memento-syncd login --server URL --token TOKEN'"


def _log_skipped(project: str, obs_id: int, reason: str) -> None:
    """A row set aside, logged as it is (once: until the application changes it), also
    when the push that set it aside fails later."""
    log.warning("row cannot be synced; skipped until it is changed",
                project=project, row=obs_id, reason=reason)  # fmt: skip


def _reload_later() -> None:
    log.info("reload asked before the database could be opened; the settings are read then")
