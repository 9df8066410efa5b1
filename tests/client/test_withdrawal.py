"""A shared note its owner makes personal is withdrawn from teammates' devices: their copy
is deleted, nothing is pushed for it, a fold it was in keeps its other members, and a
teammate's own edit of it is kept in the history."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.client.devices import Device


async def _shared_note(make_device: Any, **bob_settings: Any) -> tuple[Device, Device, int]:
    """Alice's laptop and Bob's device, both holding Alice's shared note; its local id."""
    laptop = await make_device("laptop", member="alice")
    bob = await make_device("bob", member="bob", **bob_settings)
    note = laptop.save(title="plan", content="for the whole team")
    await laptop.push()
    await bob.pull()
    return laptop, bob, note


def _history(device: Device) -> list[tuple[str, dict[str, Any]]]:
    found = device.app.execute("SELECT strategy, lost FROM sync_history ORDER BY id")
    return [(strategy, json.loads(lost)) for strategy, lost in found]


async def test_a_note_made_personal_leaves_teammates_devices(make_device: Any) -> None:
    """Bob's copy is deleted at his next pull (its text blanked, the new personal text
    never there), Alice's other device keeps it whole, and sharing it again brings it
    back to Bob."""
    laptop, bob, note = await _shared_note(make_device)
    desktop = await make_device("desktop", member="alice")
    await desktop.pull()
    laptop.edit(note, scope="personal", content="my own thoughts now")
    await laptop.push()
    await desktop.pull()
    reports = await bob.pull()
    assert reports[0].outcomes["withdrawn"] == 1
    assert bob.live() == []
    assert bob.pending() == 0
    assert "my own thoughts now" not in "\n".join(bob.app.iterdump())
    titles = bob.app.execute("SELECT title, content FROM observations").fetchall()
    assert titles == [("", "")]
    assert [(r[2], r[3], r[5]) for r in desktop.live()] == [
        ("plan", "my own thoughts now", "personal")
    ]
    laptop.edit(note, scope="project", content="back for the team")
    await laptop.push()
    await bob.pull()
    assert [(r[2], r[3]) for r in bob.live()] == [("plan", "back for the team")]


@pytest.mark.parametrize("bobs_first", [True, False], ids=["bob-wrote-first", "alice-first"])
async def test_a_withdrawn_note_leaves_a_fold_and_the_teammates_twin_stays(
    make_device: Any, bobs_first: bool
) -> None:
    """Bob wrote a twin of Alice's note (before or after pulling hers), so his device
    folded the two; her withdrawal takes hers out of the fold and Bob's own note stays
    live, on his device and every other (it was deleted team-wide when a withdrawal
    counted as deleting the fold)."""
    laptop = await make_device("laptop", member="alice")
    bob = await make_device("bob", member="bob")
    carol = await make_device("carol", member="carol")
    text = "we keep agent memory in sqlite with wal so every device writes while sync reads"
    note = laptop.save(title="plan", content=text)
    if bobs_first:
        bob.save(title="plan", content=text + " today")
        await bob.push()
        await laptop.push()
    else:
        await laptop.push()
        await bob.pull()
        bob.save(title="plan", content=text + " today")
        await bob.push()
    await bob.pull()
    assert len(bob.live()) == 1  # folded
    laptop.edit(note, scope="personal")
    await laptop.push()
    for device in (bob, carol, bob, carol):
        await device.sync()
    assert [r[3] for r in bob.live()] == [text + " today"]
    assert carol.live() == bob.live()
    assert bob.pending() == 0
    fresh = await make_device("bob-phone", member="bob")
    await fresh.pull()
    assert fresh.live() == bob.live()


@pytest.mark.parametrize("strategy", ["last_write_wins", "merge", "manual"])
@pytest.mark.parametrize("push_first", [True, False], ids=["push-first", "pull-first"])
async def test_a_teammates_newer_edit_of_a_withdrawn_note_goes_to_the_history(
    make_device: Any, strategy: str, push_first: bool
) -> None:
    """Bob edits Alice's note after she made it personal, under every strategy, pushing
    first (refused: 403) or pulling first: his copy ends deleted, his edit in the history
    (strategy withdrawn), with no open conflict, nothing pending and nothing set aside."""
    laptop, bob, note = await _shared_note(make_device, conflict_strategy=strategy)
    laptop.edit(note, scope="personal", content="mine now", at="2030-01-01T00:00:00Z")
    await laptop.push()
    bob.edit(bob.find("plan"), content="bob's addition", at="2031-01-01T00:00:00Z")
    if push_first:
        await bob.push()
    await bob.pull()
    await bob.sync()
    assert bob.live() == []
    assert bob.pending() == 0
    assert [(s, lost["content"]) for s, lost in _history(bob)] == [("withdrawn", "bob's addition")]
    still = "SELECT (SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL),"
    still += " (SELECT count(*) FROM sync_skipped)"
    assert bob.app.execute(still).fetchone() == (0, 0)
    rows, _ = await _server_rows(laptop)
    assert [(r["content"], r["scope"]) for r in rows] == [("mine now", "personal")]


async def _server_rows(device: Device) -> tuple[list[dict[str, Any]], str]:
    """What the server holds for the device's member in project p."""
    import aiohttp

    seen: list[dict[str, Any]] = []
    cursor = None
    async with aiohttp.ClientSession() as session:
        while True:
            body = {"project_id": "p", "cursor": cursor}
            headers = {"Authorization": f"Bearer {device.token}"}
            async with session.post(device.url + "/api/sync/pull", json=body, headers=headers) as r:
                page = await r.json()
            seen += page["observations"]
            cursor = page["cursor"]
            if not page["has_more"]:
                return seen, cursor
