"""Daemons under network faults: drops, delays, cuts and refusals between A and the server."""

from __future__ import annotations

import time

from tests.daemon.conftest import RECOVERY_WAIT, Device, Devices, Server, ThreadedProxy, wait_for
from tests.faults import Fault

SCHEDULE = (
    Fault.DROP_RESPONSE,
    Fault.PASS,
    Fault.CUT_RESPONSE,
    Fault.DELAY,
    Fault.REFUSE,
    Fault.DROP_RESPONSE,
    Fault.CUT_RESPONSE,
    Fault.PASS,
    Fault.DELAY,
    Fault.REFUSE,
)
STEPS_PER_FAULT = 4


def _settled(a: Device, b: Device) -> bool:
    if a.live() != b.live():
        return False
    return all(d.status()["pending"] == 0 for d in (a, b))


def test_devices_converge_once_faults_between_a_and_the_server_stop(
    server: Server, devices: Devices, proxy: ThreadedProxy
) -> None:
    """Writes, edits and deletes on A and B during proxy faults on A's link all converge after."""
    a = devices.running("alice", server, url=proxy.url)
    b = devices.running("bob", server)
    a.wait_realtime()
    b.wait_realtime()
    a_ids: list[int] = []
    b_ids: list[int] = []
    deleted: set[str] = set()
    for step in range(len(SCHEDULE) * STEPS_PER_FAULT):
        if step % STEPS_PER_FAULT == 0:
            proxy.set(SCHEDULE[step // STEPS_PER_FAULT], delay=0.2)
        a_ids.append(a.save(f"a{step}"))
        b_ids.append(b.save(f"b{step}"))
        if step % 5 == 2:
            a.edit(a_ids[step - 2], f"edited on A at step {step}")
        if step % 7 == 3:
            b.delete(b_ids[step - 3])
            deleted.add(f"b{step - 3}")
        if step % 6 == 5 and (theirs := a.find(f"b{step - 5}")) is not None:
            a.edit(theirs["id"], f"B's row edited on A at step {step}")
        time.sleep(0.1)  # the pace of the write stream, not a wait for any result
    proxy.set(Fault.PASS)

    wait_for(lambda: _settled(a, b), "A and B to converge after the faults", RECOVERY_WAIT)
    steps = len(SCHEDULE) * STEPS_PER_FAULT
    expected = {f"a{i}" for i in range(steps)} | {f"b{i}" for i in range(steps)}
    assert {row[2] for row in a.live()} == expected - deleted
    for device in (a, b):
        device.wait_status(
            lambda s: s["last_error"] is None and s["conflicts"] == 0,
            "errors to clear",
            RECOVERY_WAIT,
        )
    assert proxy.proxy.connections > 0
    assert "failing" in a.log()  # the faults were felt, not dodged


def test_a_database_error_in_a_pull_is_retried_not_fatal(server: Server, devices: Devices) -> None:
    """A pull that fails on a database error shows in status and is retried with backoff;
    once the error is gone the row arrives, and the daemon never stopped."""
    a = devices.running("alice", server)
    b = devices.running("bob", server)
    a.wait_realtime()
    b.wait_realtime()
    b.app.execute(  # an error SQLite raises inside the pull's write transaction
        "CREATE TRIGGER injected BEFORE INSERT ON sync_objects"
        " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    a.save("through the failure")
    b.wait_status(
        lambda s: "injected failure" in (s["last_error"] or ""), "the failing pull in status"
    )
    assert "database error: injected failure" in b.log()
    b.app.execute("DROP TRIGGER injected")
    row = wait_for(lambda: b.find("through the failure"), "the row after the error", RECOVERY_WAIT)
    assert row["content"] == "notes about through the failure"
    assert b.proc is not None
    assert b.proc.poll() is None
    b.wait_status(lambda s: s["last_error"] is None, "the error to clear", RECOVERY_WAIT)


def test_a_database_error_while_checking_for_changes_does_not_end_the_push_loop(
    server: Server, devices: Devices
) -> None:
    """When the daemon cannot even read its change log, the failure is logged and retried;
    once the log is back, the write made meanwhile is pushed."""
    a = devices.running("alice", server)
    b = devices.running("bob", server)
    a.wait_realtime()
    b.wait_realtime()
    # SQLite carries the rename into the capture triggers: the application still writes.
    a.app.execute("ALTER TABLE sync_changes RENAME TO sync_changes_away")
    a.save("while the log is away")
    wait_for(  # status itself cannot answer now: it counts pending changes
        lambda: "database error: no such table: sync_changes" in a.log(),
        "the failing push in the daemon's log",
    )
    a.app.execute("ALTER TABLE sync_changes_away RENAME TO sync_changes")
    wait_for(lambda: b.find("while the log is away"), "the write to reach B", RECOVERY_WAIT)
    assert a.proc is not None
    assert a.proc.poll() is None
