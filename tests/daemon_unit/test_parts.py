"""Daemon parts on their own: the home lock, sd_notify, the watcher, the hub stream."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
from pathlib import Path

import pytest

from memento_syncd.daemon.lock import AlreadyRunning, HomeLock
from memento_syncd.daemon.notify import SystemdNotifier
from memento_syncd.daemon.watcher import HomeWatcher


def test_a_second_lock_on_the_same_home_is_refused(tmp_path: Path) -> None:
    """Only one holder at a time; the message names the holder's pid; release frees it."""
    first, second = HomeLock(tmp_path / "syncd.lock"), HomeLock(tmp_path / "syncd.lock")
    first.acquire()
    with pytest.raises(AlreadyRunning, match=str(os.getpid())):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_sd_notify_sends_datagrams_to_the_notify_socket(tmp_path: Path) -> None:
    """With NOTIFY_SOCKET set, READY=1 arrives as a datagram; WATCHDOG_USEC gives half."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"}
        notifier = SystemdNotifier(env)
        assert notifier.send("READY=1", "STATUS=ok")
        assert listener.recv(100) == b"READY=1\nSTATUS=ok"
        assert notifier.watchdog_interval == 2.0


def test_sd_notify_is_silent_without_systemd() -> None:
    """No NOTIFY_SOCKET: nothing sent, no watchdog."""
    notifier = SystemdNotifier({})
    assert not notifier.send("READY=1")
    assert notifier.watchdog_interval is None


async def test_watcher_reports_commits_and_config_writes_not_reads(tmp_path: Path) -> None:
    """A real observer sees a commit to the WAL and a config write, but not a config read."""
    db, config = tmp_path / "memento.db", tmp_path / "config.json"
    config.write_text("{}")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    seen: list[str] = []
    got = asyncio.Event()

    def on_event(kind: str) -> None:
        seen.append(kind)
        got.set()

    watcher = HomeWatcher(tmp_path, db, config, on_event)
    watcher.start(asyncio.get_running_loop())
    try:
        await asyncio.sleep(0.2)
        seen.clear()
        config.read_text()
        await asyncio.sleep(0.3)
        assert "config" not in seen
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        await asyncio.wait_for(got.wait(), 5)
        assert "db" in seen
        got.clear()
        config.write_text('{"sync": {}}')
        for _ in range(50):
            if "config" in seen:
                break
            await asyncio.sleep(0.1)
        assert "config" in seen
    finally:
        watcher.stop()
        conn.close()
