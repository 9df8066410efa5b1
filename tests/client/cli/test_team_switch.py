"""A device logged in with another team's token: told what to do, never copied over.

The server refuses the cursors kept for the old team (400 ``invalid_cursor``). Pushing
what the device holds into the new team would copy the old team's observations,
teammates' included, into another team, so the device stops with one line saying how
to choose; ``memento sync reset --project P`` is that choice, made explicitly. Real
server subprocess, installed commands, separate ``MEMENTO_HOME``s.
"""

from __future__ import annotations

import itertools

from tests.client.cli.commands import Device, DeviceFactory, create_token, one_line_error
from tests.server.proc import ServerProcess

_teams = itertools.count(1)


def _moved(make_device: DeviceFactory, server: ServerProcess) -> tuple[Device, Device]:
    """A device that synced with one team and then logged in with another's token, and a
    member of the new team who saved and pushed one observation."""
    db = server.log_path.parent / "server.db"
    old_team, new_team = (create_token(db, f"switch-{next(_teams)}") for _ in range(2))
    device, teammate = make_device("moving"), make_device("teammate")
    device.configure(server.url, old_team)
    teammate.configure(server.url, new_team)
    device.save("kept across the move", "written while in the old team")
    device.push()
    device.pull()
    teammate.save("the new team's", "written in the new team")
    teammate.push()
    device.ok(device.syncd("login", "--server", server.url, "--token", new_team))
    return device, teammate


def test_a_device_moved_to_another_team_is_told_how_to_choose(
    make_device: DeviceFactory, server: ServerProcess
) -> None:
    """After ``login`` with another team's token, push and pull fail in one line naming the
    project and ``memento sync reset``, and nothing of the old team reaches the new one."""
    device, teammate = _moved(make_device, server)
    device.save("written after the move", "a push has something to send")
    for action in ("pull", "push"):
        line = one_line_error(device.memento("sync", action))
        assert "another team" in line, line
        assert "memento sync reset --project p" in line, line
    teammate.pull()
    assert [row[2] for row in teammate.live()] == ["the new team's"]


def test_sync_reset_moves_the_project_to_the_new_team(
    make_device: DeviceFactory, server: ServerProcess
) -> None:
    """``memento sync reset --project p`` then syncs the project afresh with the new team:
    the device's observations reach the new team's devices, and theirs reach it."""
    device, teammate = _moved(make_device, server)
    reset = device.ok(device.memento("sync", "reset", "--project", "p"))
    assert "sends 1 synced observation(s) again" in reset
    device.pull()
    device.push()
    teammate.pull()
    titles = {row[2] for row in teammate.live()}
    assert titles == {"kept across the move", "the new team's"}
    assert device.live() == teammate.live()
