"""The control socket and the CLI that talks to it: status, manual sync, pause, config edits."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from memento_syncd.daemon.control_client import request
from tests.daemon.conftest import (
    EXE,
    PROJECT,
    WAIT,
    Device,
    Devices,
    Server,
    parse_stamp,
    wait_for,
)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_status_json_has_every_contract_field(server: Server, devices: Devices) -> None:
    """``status --json`` shows running, the pid, server_url, errors, counts and projects."""
    a = devices.running("alice", server)
    a.save("counted")
    a.wait_status(
        lambda s: s["pending"] == 0 and any(p["push_count"] for p in s["projects"]),
        "the write to be pushed",
    )
    state = a.cli_status()
    assert state["running"] is True
    assert a.proc is not None
    assert type(state["pid"]) is int
    assert state["pid"] == a.proc.pid
    assert state["server_url"] == server.url
    assert state["last_error"] is None
    assert type(state["pending"]) is int
    assert state["pending"] == 0
    assert type(state["conflicts"]) is int
    assert state["conflicts"] == 0
    assert isinstance(state["projects"], list)
    (project,) = state["projects"]
    assert {"project_id", "last_push", "last_pull", "push_count", "pull_count"} <= set(project)
    assert project["project_id"] == PROJECT
    assert project["push_count"] == 1
    assert type(project["pull_count"]) is int
    parse_stamp(project["last_push"])
    assert project["last_pull"] is None or parse_stamp(project["last_pull"])

    text = a.cli("status")
    assert text.returncode == 0, text.stderr
    assert str(state["pid"]) in text.stdout
    assert server.url in text.stdout


def test_a_home_that_is_a_file_has_no_daemon(tmp_path: Path) -> None:
    """``MEMENTO_HOME`` naming a regular file: ``status`` exits 3 saying no daemon runs
    (none could listen in it), as with a home where none was started."""
    home = tmp_path / "a-file"
    home.write_text("")
    done = subprocess.run(
        [EXE, "status"], env={**os.environ, "MEMENTO_HOME": str(home)},
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "no memento-syncd daemon is running" in _one_line(done.stderr)


@contextmanager
def _pull_waiting_for_the_lock(server: Server, a: Device) -> Iterator[subprocess.Popen[bytes]]:
    """Another device's observation on the server, the application holding the write lock,
    and ``memento-syncd pull`` asked of A's daemon, whose pull then waits for the lock
    (about 7 s of busy retries); the lock is let go on leaving."""
    token = (a.home / "sync-token").read_text().strip()
    pushed = {"project_id": PROJECT, "cursor": None, "observations": [{
        "sync_id": "from-elsewhere", "type": "note", "title": "from elsewhere",
        "content": "written by another device", "updated_at": "2025-01-15T10:30:00Z"}]}  # fmt: skip
    assert server.call("/api/sync/push", token, pushed)[0] == 200
    a.app.execute("BEGIN IMMEDIATE")
    try:
        pulling = subprocess.Popen(
            [EXE, "pull"], env=a.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1.5)  # the daemon fetches the page and starts waiting for the lock
        assert pulling.poll() is None  # the pull is still waiting: the daemon is busy
        yield pulling
    finally:
        a.app.execute("COMMIT")
    pulling.wait(timeout=WAIT)


def test_status_answers_while_the_daemon_waits_for_the_application_lock(
    server: Server, devices: Devices
) -> None:
    """While the application holds the write lock and the daemon's pull waits for it,
    status answers within 3 s: it reads on a connection of its own instead of queueing
    behind the pull."""
    a = devices.running("alice", server)
    with _pull_waiting_for_the_lock(server, a) as pulling:
        state = request(a.socket, {"op": "status"}, timeout=3)
        assert state["running"] is True
        assert pulling.poll() is None  # it answered while that pull still waited
    wait_for(lambda: a.find("from elsewhere"), "the pulled row once the lock is let go")


def test_a_daemon_stopped_during_a_manual_pull_exits_cleanly(
    server: Server, devices: Devices
) -> None:
    """SIGTERM while a pull asked for through the control socket waits for the
    application's lock: the daemon exits 0 and logs no error (the request is cancelled
    before the transport and the database close under it)."""
    a = devices.running("alice", server)
    with _pull_waiting_for_the_lock(server, a):
        assert a.stop() == 0
    assert '"level": "error"' not in a.log(), a.log()
    assert "Traceback" not in a.log(), a.log()


def test_commands_without_a_daemon_exit_3_with_one_line(devices: Devices) -> None:
    """With no daemon, status (plain or --json), push and pause exit 3 with one line saying so."""
    lonely = devices.make("lonely")
    for args in (("status",), ("status", "--json"), ("push",), ("pause",)):
        done = lonely.cli(*args)
        assert done.returncode == 3, (args, done.stderr)
        assert done.stdout == ""
        line = _one_line(done.stderr)
        assert "no memento-syncd daemon is running" in line
        assert "memento-syncd run" in line


def test_push_pull_and_sync_go_through_the_daemon(server: Server, devices: Devices) -> None:
    """``memento-syncd push``, ``pull`` and ``sync`` ask the daemon and report what moved."""
    a = devices.running("alice", server)
    b = devices.running("bob", server, realtime=False, auto_pull=False)  # pulls only when asked
    a.save("first")
    pushed = a.cli("push")
    assert pushed.returncode == 0, pushed.stderr
    a.wait_status(lambda s: s["pending"] == 0, "A's write to be pushed")
    first = b.cli("pull")
    assert first.returncode == 0, first.stderr
    assert f"{PROJECT}: pull" in first.stdout
    assert b.find("first")

    a.save("second")
    a.wait_status(lambda s: s["pending"] == 0, "A's second write to be pushed")
    assert b.find("second") is None  # B has nothing that would make it pull by itself
    second = b.cli("pull", "--project", PROJECT)
    assert second.returncode == 0, second.stderr
    assert f"{PROJECT}: pull 1 " in second.stdout
    assert b.find("second")

    b.save("from b")
    synced = b.cli("sync")
    assert synced.returncode == 0, synced.stderr
    assert f"{PROJECT}: pull" in synced.stdout
    assert f"{PROJECT}: push" in synced.stdout or "push: nothing to push" in synced.stdout
    b.wait_status(lambda s: s["pending"] == 0, "B's write to be pushed")
    wait_for(lambda: a.find("from b"), "B's write to reach A")


def test_pause_holds_local_writes_until_resume(server: Server, devices: Devices) -> None:
    """While A is paused its write stays local and manual push is refused; resume sends it."""
    a = devices.running("alice", server)
    b = devices.running("bob", server)
    a.wait_realtime()
    b.wait_realtime()
    watcher = server.create_token("watcher")

    paused = a.cli("pause")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == "paused"
    state = a.status()
    assert state["paused"] is True
    assert state["connection"] == "paused"

    a.save("held back")
    refused = a.cli("push")
    assert refused.returncode not in (0, 3)
    assert "resume" in _one_line(refused.stderr)

    # B's write is the yardstick: once it is on the server, A's would have been too.
    b.save("yardstick")
    wait_for(
        lambda: "yardstick" in {o["title"] for o in server.pull_all(watcher)},
        "B's write to reach the server",
    )
    b.wait_status(lambda s: s["pending"] == 0, "B to be done pushing")
    assert "held back" not in {o["title"] for o in server.pull_all(watcher)}
    assert b.find("held back") is None
    assert a.find("yardstick") is None  # a paused daemon does not pull either
    state = a.status()
    assert state["pending"] >= 1
    assert state["paused"] is True

    resumed = a.cli("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "resumed"
    wait_for(lambda: b.find("held back"), "the held write to reach B after resume")
    wait_for(lambda: a.find("yardstick"), "B's write to reach A after resume")
    assert a.status()["paused"] is False


def test_config_edits_apply_live_and_bad_edits_keep_the_last_good_settings(
    server: Server, devices: Devices
) -> None:
    """A good edit applies at once; a bad one is reported naming config.json; a fix clears it."""
    a = devices.running("alice", server)
    b = devices.running("bob", server)
    a.wait_realtime()
    before = a.status()
    assert before["config_error"] is None
    was = parse_stamp(before["next_pull"])

    good = {"sync": {"enabled": True, "server_url": server.url, "realtime": False,
                     "pull_interval_seconds": 1}}  # fmt: skip
    a.write_config(good)
    applied = a.wait_status(
        lambda s: s["realtime"] is False and parse_stamp(s["next_pull"]) < was,
        "the good edit to apply (realtime off, pull every second)",
    )
    assert applied["config_error"] is None
    assert applied["connection"] == "polling"

    a.write_config_text('{"sync": {"pull_interval_seconds": 1,')  # not JSON
    broken = a.wait_status(lambda s: s["config_error"] is not None, "the bad edit to show")
    assert str(a.config_path) in broken["config_error"]
    assert "not valid JSON" in broken["config_error"]
    assert broken["last_error"] == broken["config_error"]
    assert broken["pid"] == before["pid"]
    assert broken["server_url"] == server.url  # the last good settings stay
    assert broken["realtime"] is False
    a.save("while the file is broken")  # sync goes on with the last good settings
    wait_for(lambda: b.find("while the file is broken"), "A's write to reach B")
    b.save("polled while broken")
    wait_for(lambda: a.find("polled while broken"), "B's write to reach A by the 1 s interval")

    a.write_config({"sync": {"server_url": server.url, "pull_interval_seconds": -5}})
    wrong = a.wait_status(
        lambda s: "pull_interval_seconds" in (s["config_error"] or ""), "the wrong value to show"
    )
    assert str(a.config_path) in wrong["config_error"]
    assert "-5" in wrong["config_error"]
    assert wrong["server_url"] == server.url

    a.write_config(good)
    fixed = a.wait_status(lambda s: s["config_error"] is None, "the fix to clear the error")
    assert fixed["last_error"] is None
    assert fixed["pid"] == before["pid"]
    assert fixed["realtime"] is False
    assert json.loads(a.config_path.read_text()) == good  # the daemon never rewrites the file


def test_a_misspelt_key_is_warned_about_in_status_and_the_log(
    server: Server, devices: Devices
) -> None:
    """An unknown key of the sync section (a typo) shows as a warning naming it, not silence."""
    a = devices.running("alice", server)
    assert a.status()["config_warning"] is None
    a.write_config({"sync": {"server_url": server.url, "pull_intervall_seconds": 5}})
    warned = a.wait_status(lambda s: s["config_warning"] is not None, "the warning to show")
    assert "sync.pull_intervall_seconds" in warned["config_warning"]
    assert str(a.config_path) in warned["config_warning"]
    assert warned["config_error"] is None
    text = a.cli("status")
    assert "warning:" in text.stdout
    assert "pull_intervall_seconds" in text.stdout
    assert "unknown config keys ignored" in a.log()
    a.write_config({"sync": {"server_url": server.url}})
    a.wait_status(lambda s: s["config_warning"] is None, "the warning to clear")


@pytest.mark.parametrize("how", ["emptied", "renamed"])
def test_a_config_saved_in_two_steps_keeps_the_last_good_settings(
    server: Server, devices: Devices, how: str
) -> None:
    """An editor that empties config.json (or renames it away) and then writes a bad
    one: the daemon, which may read in between, keeps the last good settings and shows
    the error."""
    a = devices.running("alice", server)
    bad = {"sync": {"server_url": server.url, "conflict_strategy": "newest"}}
    if how == "renamed":
        a.config_path.rename(a.home / "config.json~")
        time.sleep(0.3)  # the daemon sees no file
        a.config_path.write_text(json.dumps(bad), encoding="utf-8")
    else:
        with a.config_path.open("w", encoding="utf-8") as file:
            file.flush()
            os.fsync(file.fileno())
            time.sleep(0.3)  # the daemon sees the empty file
            file.write(json.dumps(bad))
    shown = a.wait_status(lambda s: s["config_error"] is not None, "the bad edit to show")
    assert "conflict_strategy" in shown["config_error"]
    assert shown["server_url"] == server.url
    a.save("written after the bad edit")
    a.wait_status(lambda s: s["pending"] == 0, "the write to be pushed on the last good settings")


def test_a_config_left_blank_means_the_defaults(server: Server, devices: Devices) -> None:
    """config.json emptied for good is the defaults, once it stays blank: no server, and
    status's last_error says so and how to set one."""
    a = devices.running("alice", server)
    a.write_config_text("")
    shown = a.wait_status(lambda s: s["server_url"] is None, "the defaults to apply")
    assert shown["config_error"] is None
    assert shown["connection"] == "not configured"
    assert "sync.server_url is not set" in shown["last_error"]
    assert "memento-syncd login" in shown["last_error"]


def test_status_reaches_a_daemon_with_a_custom_socket_after_a_bad_edit(
    server: Server, devices: Devices
) -> None:
    """With ``sync.socket_path`` set, status still shows the daemon and a bad edit's error."""
    a = devices.make("alice")
    a.configure(server.url, server.create_token("alice"), socket_path="control.sock")
    a.socket = a.home / "control.sock"
    a.start()
    assert a.cli("status").returncode == 0
    a.write_config_text('{"sync": {')
    a.wait_status(lambda s: s["config_error"] is not None, "the daemon to see the bad edit")
    shown = a.cli("status", "--json")
    assert shown.returncode == 0, shown.stderr
    assert str(a.config_path) in json.loads(shown.stdout)["config_error"]


def test_status_reaches_the_daemon_after_socket_path_is_edited(
    server: Server, devices: Devices
) -> None:
    """After an edit of ``sync.socket_path`` the CLI and the running daemon find each other."""
    a = devices.running("alice", server)
    was = parse_stamp(a.status()["next_pull"])
    edited = {"enabled": True, "server_url": server.url, "pull_interval_seconds": 1,
              "socket_path": "new.sock"}  # fmt: skip
    a.write_config({"sync": edited})
    a.wait_status(lambda s: parse_stamp(s["next_pull"]) < was, "the daemon to apply the edit")
    shown = a.cli("status", "--json")
    assert shown.returncode == 0, shown.stderr


def test_login_while_the_daemon_runs_replaces_a_revoked_token(
    server: Server, devices: Devices
) -> None:
    """After its token is revoked, ``memento-syncd login`` with a new one makes the daemon sync."""
    a = devices.running("alice", server)
    old = (a.home / "sync-token").read_text().strip()
    revoked = subprocess.run(
        [EXE, "server", "revoke-token", "--db", str(server.db), old],
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    a.save("written after the revocation")
    refused = a.wait_status(lambda s: "refused" in (s["last_error"] or ""), "the 401 to show")
    assert "memento-syncd login" in refused["last_error"]

    login = a.cli("login", "--server", server.url, "--token", server.create_token("alice"))
    assert login.returncode == 0, login.stderr
    wait_for(lambda: a.cli("push").returncode == 0, "a push with the new token to succeed")
    a.wait_status(lambda s: s["pending"] == 0, "the write to be pushed")


def test_chmod_on_the_token_file_is_picked_up_by_the_running_daemon(
    server: Server, devices: Devices
) -> None:
    """A token file made readable by others stops the running daemon's sync with chmod
    advice; ``chmod 600``, as that advice says, makes it sync again without a restart."""
    a = devices.running("alice", server)
    token_file = a.home / "sync-token"
    token_file.chmod(0o644)
    refused = a.wait_status(
        lambda s: "chmod 600" in (s["last_error"] or "") and s["connection"] == "not configured",
        "the refusal",
    )
    assert "0644" in refused["last_error"]
    a.save("written while the token was refused")
    token_file.chmod(0o600)
    a.wait_status(lambda s: s["last_error"] is None and s["pending"] == 0, "the push")
    assert "Traceback" not in a.log(), a.log()  # no sync met the transport closed under it


def test_a_daemon_with_sync_disabled_syncs_nothing_until_enabled(
    server: Server, devices: Devices
) -> None:
    """With ``enabled: false`` status says disabled and nothing is pushed; enabling syncs."""
    a = devices.running("alice", server, enabled=False)
    b = devices.running("bob", server)
    off = a.wait_status(lambda s: s["connection"] == "disabled", "status to say disabled")
    assert off["server_url"] == server.url
    a.save("written while disabled")
    assert a.status()["pending"] >= 1
    a.write_config({"sync": {"enabled": True, "server_url": server.url}})
    wait_for(lambda: b.find("written while disabled"), "A's write to reach B once enabled")


def test_a_row_that_cannot_sync_is_named_in_status_and_the_log(
    server: Server, devices: Devices
) -> None:
    """A row with a bad timestamp is reported by id in status and logged once; others sync."""
    a = devices.running("alice", server)
    bad = a.save("bad")
    a.app.execute("UPDATE observations SET updated_at = 'not-a-date' WHERE id = ?", (bad,))
    a.save("good")
    shown = a.wait_status(
        lambda s: bool(s["skipped"]) and "cannot be synced" in a.log(), "the row to be set aside"
    )
    assert [row["id"] for row in shown["skipped"]] == [bad]
    assert "updated_at" in shown["skipped"][0]["reason"]
    logged = [line for line in a.log().splitlines() if "cannot be synced" in line]
    assert len(logged) == 1
    assert f'"row": {bad}' in logged[0]


def test_a_home_too_deep_for_a_unix_socket_says_to_set_socket_path(
    server: Server, devices: Devices
) -> None:
    """A socket path over the system's limit: run and status say to set sync.socket_path."""
    deep = devices.make("d" * 120)
    deep.configure(server.url, server.create_token("deep"))
    started = deep.cli("run", timeout=30)
    assert started.returncode != 0
    last = started.stderr.strip().splitlines()[-1]  # after the daemon's own log lines
    assert last.startswith("memento-syncd: error:")
    assert "sync.socket_path" in last
    status = deep.cli("status")
    assert status.returncode == 3
    assert "sync.socket_path" in _one_line(status.stderr)
