"""The daemon's life: server outages, signals, one daemon per home, stale sockets, bad starts."""

from __future__ import annotations

import signal
import socket
import stat
import time

import pytest

from tests.daemon.conftest import (
    RECOVERY_WAIT,
    WAIT,
    Devices,
    Server,
    wait_for,
)


def test_daemons_recover_alone_when_the_server_restarts_on_the_same_port(
    server: Server, devices: Devices
) -> None:
    """While the server is down status shows an error; a write made then arrives after restart."""
    a = devices.running("alice", server)
    b = devices.running("bob", server)
    a.wait_realtime()
    b.wait_realtime()
    a.save("before the outage")
    wait_for(lambda: b.find("before the outage"), "the first write to reach B")

    port = server.port
    # SIGKILL (a crash): with daemons connected, the server's SIGTERM waits ~10 s for the
    # open realtime streams (aiohttp's shutdown timeout) before it exits.
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL

    def down_error() -> str | None:
        error = a.cli_status()["last_error"]
        assert error is None or isinstance(error, str)
        return error

    assert wait_for(down_error, "status --json to show an error while the server is down")
    a.save("during the outage")
    state = a.wait_status(
        lambda s: server.url in (s["last_error"] or ""), "the failed push to name the server URL"
    )
    assert state["pending"] >= 1
    assert state["running"] is True

    server.start()
    assert server.port == port
    row = wait_for(
        lambda: b.find("during the outage"), "the outage write to reach B", RECOVERY_WAIT
    )
    assert row["content"] == "notes about during the outage"
    b.save("after the restart")
    wait_for(lambda: a.find("after the restart"), "B's new write to reach A", RECOVERY_WAIT)
    for device in (a, b):
        device.wait_status(
            lambda s: s["last_error"] is None and s["pending"] == 0,
            "the error to clear once the server is back",
            RECOVERY_WAIT,
        )
    assert a.live() == b.live()
    assert a.proc is not None
    assert a.proc.poll() is None
    assert b.proc is not None
    assert b.proc.poll() is None


def test_sigterm_during_a_large_push_exits_cleanly_and_loses_nothing(
    server: Server, devices: Devices
) -> None:
    """SIGTERM mid-push of 5,000 rows exits 0 and removes the socket; a restart finishes the job."""
    a = devices.make("alice")
    token = server.create_token("alice")
    a.configure(server.url, token, push_batch_size=100)
    a.start()
    rows = [(f"bulk {i}", f"bulk row number {i} of five thousand") for i in range(5000)]
    a.app.execute("BEGIN")
    for title, content in rows:
        a.app.execute(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES ('proj', 'note', ?, ?, '2025-01-15T10:30:00Z', '2025-01-15T10:30:00Z')",
            (title, content),
        )
    a.app.execute("COMMIT")

    def on_server() -> int:
        status, body = server.call(
            "/api/sync/pull", token, {"project_id": "proj", "cursor": None, "limit": 1}
        )
        return len(body["observations"]) if status == 200 else 0

    wait_for(on_server, "the push to begin")
    assert a.stop(signal.SIGTERM, timeout=WAIT) == 0
    assert not a.socket.exists()
    interrupted = len(server.pull_all(token))  # typically a few hundred: mid-push
    assert 0 < interrupted <= 5000

    a.start()
    a.wait_status(
        lambda s: s["pending"] == 0, "the restarted daemon to push the rest", RECOVERY_WAIT
    )
    seen = server.pull_all(token)
    assert len(seen) == 5000
    assert len({o["sync_id"] for o in seen}) == 5000
    assert {o["version"] for o in seen} == {1}  # a resent batch was not applied twice
    assert sorted(o["title"] for o in seen) == sorted(title for title, _ in rows)
    assert a.count() == 5000


def test_sigterm_while_the_server_is_unreachable_exits_cleanly(
    server: Server, devices: Devices
) -> None:
    """SIGTERM while push and realtime back off from a dead server exits 0, removing the socket."""
    a = devices.running("alice", server)
    a.wait_realtime()
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    a.save("never pushed")
    a.wait_status(
        lambda s: server.url in (s["last_error"] or "") and "realtime" in s["retry"],
        "push and realtime to be backing off",
    )
    assert a.stop(signal.SIGTERM, timeout=WAIT) == 0
    assert not a.socket.exists()


def test_a_second_daemon_on_the_same_home_is_refused(server: Server, devices: Devices) -> None:
    """A second ``run`` on a home exits non-zero with one line naming the first; it keeps going."""
    a = devices.running("alice", server)
    first = a.status()
    second = a.cli("run", timeout=WAIT)
    assert second.returncode != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert "already runs" in lines[0]
    assert str(first["pid"]) in lines[0]
    assert "Traceback" not in second.stderr
    assert a.status()["pid"] == first["pid"]
    assert a.proc is not None
    assert a.proc.poll() is None
    assert stat.S_ISSOCK(a.socket.stat().st_mode)


@pytest.mark.parametrize("name", ["syncd.sock", "memento.db"])
def test_a_file_at_the_socket_path_is_never_replaced(
    server: Server, devices: Devices, name: str
) -> None:
    """A file that is not a socket where the socket goes (a leftover, or the database
    named by a slip in ``sync.socket_path``) stops the start with one line naming it,
    and is left as it was; once it is moved away, the daemon starts."""
    a = devices.make("alice")
    a.configure(server.url, server.create_token("alice"), socket_path=name)
    a.socket = a.home / name
    if name == "syncd.sock":
        a.socket.write_text("left over\n")
    else:
        a.save("a precious memory")
    before = a.socket.read_bytes()  # (the leftover's)
    run = a.cli("run", timeout=WAIT)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("memento-syncd: error: cannot start the daemon: "), run.stderr
    assert f"{a.socket} exists and is not a socket" in last
    assert "Traceback" not in run.stderr
    assert stat.S_ISREG(a.socket.lstat().st_mode)
    if name == "memento.db":  # (the daemon opened it first: its own tables are added)
        assert a.app.execute("SELECT title FROM observations").fetchall() == [
            ("a precious memory",)
        ]
        return
    assert a.socket.read_bytes() == before
    a.socket.unlink()
    a.start()
    mode = a.socket.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    a.save("after the stale file")
    a.wait_status(lambda s: s["pending"] == 0, "the write to be pushed")


def test_a_socket_another_daemon_answers_on_is_left_to_it(server: Server, devices: Devices) -> None:
    """A daemon of another home given the same ``sync.socket_path`` refuses to start, and
    the first keeps its socket: its status still answers, also after the refusal."""
    shared = devices.root / "shared.sock"
    a, b = devices.make("alice"), devices.make("bob")
    for device in (a, b):
        device.configure(server.url, server.create_token(device.name), socket_path=str(shared))
        device.socket = shared
    a.start()
    run = b.cli("run", timeout=WAIT)
    assert run.returncode == 1
    assert f"another program answers on the socket {shared}" in run.stderr, run.stderr
    assert a.cli_status()["pid"] == a.status()["pid"]
    assert a.proc is not None
    assert a.proc.poll() is None


def test_a_daemon_started_while_the_application_holds_the_lock_waits_for_it(
    server: Server, devices: Devices
) -> None:
    """The application holds the database's write lock for longer than the busy retries
    last (about 7 s) as the daemon starts: the daemon waits instead of exiting, starts
    once the lock is let go, and pushes what was written."""
    a = devices.make("alice")
    a.configure(server.url, server.create_token("alice"))
    a.save("written before the lock")
    a.app.execute("BEGIN IMMEDIATE")
    try:
        a.start(wait=False)
        wait_for(lambda: "database locked by another program" in a.log(), "the wait logged")
        time.sleep(8)  # past the ~7 s after which the start used to give up
        assert a.proc is not None
        assert a.proc.poll() is None, a.log()
    finally:
        a.app.execute("COMMIT")
    a.wait_ready()
    a.wait_status(lambda s: s["pending"] == 0, "the write to be pushed")


def test_a_daemon_stopped_while_it_waits_for_the_lock_exits_cleanly(
    server: Server, devices: Devices
) -> None:
    """SIGTERM while a starting daemon waits for the application's lock ends it at once
    with exit status 0 and no error logged."""
    a = devices.make("alice")
    a.configure(server.url, server.create_token("alice"))
    a.app.execute("BEGIN IMMEDIATE")
    try:
        a.start(wait=False)
        wait_for(lambda: "database locked by another program" in a.log(), "the wait logged")
        assert a.stop() == 0
    finally:
        a.app.execute("COMMIT")
    assert "Traceback" not in a.log(), a.log()
    assert '"level": "error"' not in a.log(), a.log()


def test_a_dead_socket_after_kill_9_does_not_block_a_new_daemon(
    server: Server, devices: Devices
) -> None:
    """After kill -9 the socket file stays; status exits 3 and a new daemon replaces it."""
    a = devices.running("alice", server)
    killed = a.status()["pid"]
    assert a.stop(signal.SIGKILL) == -signal.SIGKILL
    assert stat.S_ISSOCK(a.socket.stat().st_mode)  # left behind by the crash
    with socket.socket(socket.AF_UNIX) as probe:
        assert probe.connect_ex(str(a.socket)) != 0  # nobody listens on it
    gone = a.cli("status", "--json")
    assert gone.returncode == 3
    assert len(gone.stderr.strip().splitlines()) == 1
    assert gone.stdout == ""

    a.start()
    state = a.status()
    assert state["pid"] != killed
    assert stat.S_IMODE(a.socket.stat().st_mode) == 0o600
    a.save("after the crash")
    a.wait_status(lambda s: s["pending"] == 0, "the write to be pushed by the new daemon")
    assert a.stop() == 0
    assert not a.socket.exists()


def test_run_with_a_bad_config_starts_unconfigured_and_picks_up_the_fix(
    server: Server, devices: Devices
) -> None:
    """``run`` with a config.json that is not JSON starts, reports it, and syncs once fixed."""
    a = devices.make("alice")
    token = server.create_token("alice")
    a.configure(server.url, token)
    a.write_config_text(f'{{"sync": {{"server_url": "{server.url}", ')  # cut short
    a.save("written before the fix")
    a.start()
    state = a.status()
    error = state["config_error"]
    assert isinstance(error, str)
    assert str(a.config_path) in error
    assert "\n" not in error
    assert state["last_error"] == error
    assert state["server_url"] is None
    assert state["connection"] == "not configured"
    assert a.proc is not None
    assert a.proc.poll() is None
    log = a.log()
    assert "Traceback" not in log
    assert "config.json" in log

    a.configure(server.url, token)
    a.wait_status(
        lambda s: s["config_error"] is None and s["server_url"] == server.url, "the fix to apply"
    )
    a.wait_status(lambda s: s["pending"] == 0, "the earlier write to be pushed")
    assert [o["title"] for o in server.pull_all(token)] == ["written before the fix"]


def test_run_with_an_unusable_database_exits_with_one_line(devices: Devices) -> None:
    """A memento.db that is not SQLite makes ``run`` exit non-zero with one stderr line
    naming it (no "daemon stopped" log line for a daemon that never started)."""
    a = devices.make("alice")
    a.close()
    for suffix in ("", "-wal", "-shm"):
        path = a.db_path.with_name(a.db_path.name + suffix)
        if path.exists():
            path.unlink()
    a.db_path.write_bytes(b"this is not a database" * 100)
    done = a.cli("run", timeout=WAIT)
    assert done.returncode not in (0, 3)
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("memento-syncd: error: "), errors
    assert str(a.db_path) in errors[0]
    assert "daemon started" not in done.stderr
    assert "Traceback" not in done.stderr
    assert not a.socket.exists()
