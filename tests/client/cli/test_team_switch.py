"""A device logged in with another team's token: it starts afresh with that team.

The server refuses the cursors kept for the old team (400 ``invalid_cursor``); the
device forgets them and what the old team's server said, pushes what it holds to the
new team and pulls the new team's observations. Real server subprocess, installed
commands, separate ``MEMENTO_HOME``s.
"""

from __future__ import annotations

import itertools

from tests.client.cli.commands import DeviceFactory, create_token
from tests.server.proc import ServerProcess

_teams = itertools.count(1)


def test_a_device_logged_in_with_another_teams_token_syncs_with_that_team(
    make_device: DeviceFactory, server: ServerProcess
) -> None:
    """After ``login`` with a token of another team, push and pull succeed, the device's
    observations reach the new team's devices, and theirs reach it."""
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

    login = device.syncd("login", "--server", server.url, "--token", new_team)
    device.ok(login)
    pulled = device.pull()
    assert "account changed 1" in pulled
    device.push()
    teammate.pull()
    titles = {row[2] for row in teammate.live()}
    assert titles == {"kept across the move", "the new team's"}
    assert device.live() == teammate.live()
