"""A write on one device reaches another through two running daemons and a real server."""

from __future__ import annotations

from typing import Any

from tests.daemon.conftest import WAIT, Devices, Server, ThreadedProxy, wait_for
from tests.faults import Fault


def test_writes_reach_the_other_device_through_the_realtime_path(
    server: Server, devices: Devices
) -> None:
    """With default settings an insert, an edit and a soft delete on A reach B by realtime news."""
    a = devices.running("alice", server)
    b = devices.running("bob", server)
    a.wait_realtime()
    b.wait_realtime()
    state = b.status()
    assert state["realtime"] is True
    assert state["connection"] == "connected"

    obs_id = a.save("realtime insert", "first words")
    row = wait_for(lambda: b.find("realtime insert"), "the insert to reach B")
    assert row["content"] == "first words"

    a.edit(obs_id, "second words")
    wait_for(
        lambda: (b.find("realtime insert") or {}).get("content") == "second words",
        "the edit to reach B",
    )

    a.delete(obs_id)
    wait_for(lambda: b.find("realtime insert") is None, "the delete to reach B")
    assert b.count() == 1  # a tombstone, not a removed row
    assert b.live() == a.live() == []


def test_with_realtime_off_writes_arrive_through_the_pull_interval(
    server: Server, devices: Devices
) -> None:
    """With ``realtime: false`` and a 1 s pull interval a write on A reaches B by polling."""
    settings: dict[str, Any] = {"realtime": False, "pull_interval_seconds": 1}
    a = devices.running("alice", server, **settings)
    b = devices.running("bob", server, **settings)
    for device in (a, b):
        state = device.status()
        assert state["realtime"] is False
        assert state["connection"] == "polling"
        assert state["next_pull"] is not None

    a.save("polled insert", "by the interval")
    row = wait_for(lambda: b.find("polled insert"), "the insert to reach B by polling")
    assert row["content"] == "by the interval"
    b.save("polled back")
    wait_for(lambda: a.find("polled back"), "B's insert to reach A by polling")
    assert a.live() == b.live()
    assert "/api/sync/stream" not in server.log_path.read_text()


BIG = 6000


def test_news_of_a_project_is_pulled_while_another_projects_long_pull_runs(
    server: Server, devices: Devices, proxy: ThreadedProxy
) -> None:
    """B catches up on thousands of rows of one project when a row of another arrives:
    the long pull gives way between pages, that row arrives before it ends, and then
    the long pull goes on to the end. (B talks through a proxy that holds each answer
    chunk back a little, so that its long pull lasts seconds on any machine; the news
    comes from C, whose daemon has nothing else to do.)"""
    a = devices.running("alice", server)
    b = devices.running("bob", server, url=proxy.url)
    c = devices.running("carol", server, realtime=False)
    b.wait_realtime()
    assert b.cli("pause").returncode == 0
    a.app.executemany(
        "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
        " VALUES ('big', 'note', ?, ?, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')",
        ((f"big {n}", f"row {n} words w{n} x{n * 7} y{n * 13}") for n in range(BIG)),
    )
    a.wait_status(lambda s: s["pending"] == 0, "A to push the big project", timeout=WAIT * 4)

    def big_rows() -> int:
        query = "SELECT count(*) FROM observations WHERE project = 'big'"
        return int(b.app.execute(query).fetchone()[0])

    proxy.set(Fault.DELAY, 0.1)
    assert b.cli("resume").returncode == 0
    wait_for(lambda: big_rows() > 0, "B's long pull to begin")
    c.save("news", "of another project", project="app")
    wait_for(lambda: b.find("news"), "the news to reach B")
    assert big_rows() < BIG  # it came during the long pull, not after it
    proxy.set(Fault.PASS)
    wait_for(lambda: big_rows() == BIG, "the long pull to go on to the end", timeout=WAIT * 4)
    assert b.status()["pending"] == 0
