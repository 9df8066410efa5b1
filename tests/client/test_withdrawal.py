"""A shared note its owner makes personal is withdrawn from teammates' devices: their copy
is deleted, nothing is pushed for it, a fold it was in keeps its other members, and a
teammate's own writing in it goes on as a new observation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client.devices import Device

TEXT = (
    "we keep agent memory in sqlite with wal so every device writes while sync reads"
    " and nobody waits for locks at all"
)


async def _shared_note(make_device: Any, **bob_settings: Any) -> tuple[Device, Device, int]:
    """Alice's laptop and Bob's device, both holding Alice's shared note; its local id."""
    laptop = await make_device("laptop", member="alice")
    bob = await make_device("bob", member="bob", **bob_settings)
    note = laptop.save(title="plan", content="for the whole team")
    await laptop.push()
    await bob.pull()
    return laptop, bob, note


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
async def test_a_teammates_edit_of_a_withdrawn_note_goes_on_as_a_copy(
    make_device: Any, strategy: str, push_first: bool
) -> None:
    """Bob edits Alice's note after she made it personal, under every strategy, pushing
    first (refused: 403) or pulling first: his edit stays live and is pushed as a new
    observation of his, reaching his other devices and the team, with no open conflict,
    nothing pending and nothing set aside; Alice's personal note stays hers alone."""
    laptop, bob, note = await _shared_note(make_device, conflict_strategy=strategy)
    carol = await make_device("carol", member="carol")
    laptop.edit(note, scope="personal", content="mine now", at="2030-01-01T00:00:00Z")
    await laptop.push()
    bob.edit(bob.find("plan"), content="bob's addition", at="2031-01-01T00:00:00Z")
    if push_first:
        await bob.push()
    for device in (bob, bob, carol, laptop):
        await device.sync()
    assert [(r[2], r[3], r[5]) for r in bob.live()] == [("plan", "bob's addition", "project")]
    assert bob.pending() == 0
    still = "SELECT (SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL),"
    still += " (SELECT count(*) FROM sync_skipped)"
    assert bob.app.execute(still).fetchone() == (0, 0)
    phone = await make_device("bob-phone", member="bob")
    await phone.pull()
    assert phone.live() == carol.live() == bob.live()
    rows, _ = await _server_rows(laptop)
    mine = [(r["content"], r["scope"], r["author"]) for r in rows if r["deleted_at"] is None]
    assert sorted(mine) == [("bob's addition", "project", "bob"), ("mine now", "personal", "alice")]


async def _bob_folds_alices_note(make_device: Any) -> tuple[Device, Device, Device, int]:
    """Alice's note is the own identity of a fold on Bob's device, with Bob's own twin."""
    laptop = await make_device("laptop", member="alice")
    bob = await make_device("bob", member="bob")
    carol = await make_device("carol", member="carol")
    note = laptop.save(title="plan", content=TEXT)
    await laptop.push()
    await bob.pull()
    bob.save(title="plan", content=TEXT + " today")
    await bob.push()
    await bob.pull()
    await carol.pull()
    assert len(bob.live()) == 1
    return laptop, bob, carol, note


@pytest.mark.parametrize("push_first", [True, False], ids=["push-first", "pull-first"])
@pytest.mark.parametrize("how", ["soft", "hard"])
async def test_a_teammates_deletion_of_the_fold_stands_for_its_members(
    make_device: Any, push_first: bool, how: str
) -> None:
    """Bob deletes (soft or outright) the row showing his twin folded with Alice's note
    as she withdraws hers: the deletion stands, his twin is deleted everywhere too, as
    deleting a fold does; nothing comes back."""
    laptop, bob, carol, note = await _bob_folds_alices_note(make_device)
    row = bob.find("plan")
    laptop.edit(note, scope="personal")
    await laptop.push()
    if how == "soft":
        bob.delete(row)
    else:
        bob.app.execute("DELETE FROM observations WHERE id = ?", (row,))
    if push_first:
        await bob.push()
    for device in (bob, carol, bob, carol):
        await device.sync()
    assert bob.live() == carol.live() == []
    assert bob.pending() == 0


async def test_a_fold_row_set_aside_keeps_the_teammates_writing_as_a_copy(
    make_device: Any,
) -> None:
    """Bob's fold row was set aside (the application wrote a bad timestamp) when Alice's
    withdrawal came: once the application fixes it, Bob's text syncs as a new
    observation, nothing stays set aside, and his devices and Carol's agree."""
    laptop, bob, carol, note = await _bob_folds_alices_note(make_device)
    row = bob.find("plan")
    bob.edit(row, created_at="garbage")
    await bob.push()
    laptop.edit(note, scope="personal")
    await laptop.push()
    await bob.pull()
    bob.edit(row, created_at=bob.stamp(), content=TEXT + " today, fixed by bob")
    for device in (bob, carol, bob, carol):
        await device.sync()
    phone = await make_device("bob-phone", member="bob")
    await phone.pull()
    assert bob.app.execute("SELECT count(*) FROM sync_skipped").fetchone()[0] == 0
    assert bob.live() == carol.live() == phone.live()
    assert any("fixed by bob" in r[3] for r in bob.live())


async def test_an_app_write_to_a_hidden_copy_of_a_withdrawn_note_lives_on(
    make_device: Any,
) -> None:
    """Alice's note was folded into Bob's twin on his device (its own row hidden); Bob's
    application then rewrote that hidden row, and Alice withdrew her note: the rewrite
    comes back as a live observation of Bob's and syncs, not as a deleted one."""
    laptop = await make_device("laptop", member="alice")
    bob = await make_device("bob", member="bob")
    bob.save(title="plan", content=TEXT + " today", at="2026-01-01T00:00:00Z")
    await bob.push()
    note = laptop.save(title="other", content="unrelated words", at="2026-01-02T00:00:00Z")
    await laptop.push()
    await bob.pull()
    laptop.edit(note, title="plan", content=TEXT, at="2026-01-03T00:00:00Z")
    await laptop.push()
    await bob.pull()
    (hidden,) = bob.app.execute("SELECT obs_id FROM sync_folded").fetchall()
    assert len(bob.live()) == 1
    bob.edit(hidden[0], content="the agent later rewrote this copy")
    laptop.edit(note, scope="personal", content="secret words")
    await laptop.push()
    await bob.pull()
    await bob.sync()
    phone = await make_device("bob-phone", member="bob")
    await phone.pull()
    assert "the agent later rewrote this copy" in [r[3] for r in bob.live()]
    assert phone.live() == bob.live()
    assert "secret words" not in "\n".join(bob.app.iterdump())


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


@pytest.mark.parametrize("how", ["no-op write", "reset, push first", "reset, pull first"])
async def test_a_row_queued_without_writing_does_not_republish_a_withdrawn_note(
    make_device: Any, how: str
) -> None:
    """A teammate's row logged as changed without new content (a write that changed
    nothing, or ``sync reset`` queueing every row) is not taken for their own writing:
    the withdrawal deletes it, and Alice's text does not come back as Bob's note."""
    from memento_syncd.store.reseed import forget_server

    laptop, bob, note = await _shared_note(make_device)
    carol = await make_device("carol", member="carol")
    await carol.pull()
    if how == "no-op write":
        bob.app.execute("UPDATE observations SET title = title WHERE id = ?", (bob.find("plan"),))
    laptop.edit(note, scope="personal")
    await laptop.push()
    if how.startswith("reset"):
        db = await bob.open_db()
        try:
            await db.run(forget_server, "p")
        finally:
            await db.close()
    if how.endswith("push first"):
        await bob.push()
    for device in (bob, carol, bob, carol):
        await device.sync()
    assert bob.live() == carol.live() == []
    assert bob.app.execute("SELECT count(*) FROM sync_skipped").fetchone()[0] == 0


async def test_purging_a_withdrawn_tombstone_pushes_nothing(make_device: Any) -> None:
    """Bob's application purges deleted rows after the withdrawal: nothing is pushed under
    Alice's identity (it was refused, 403, and set aside for good), and her later edits
    of her personal note leave Bob's device alone."""
    laptop, bob, note = await _shared_note(make_device)
    laptop.edit(note, scope="personal")
    await laptop.push()
    await bob.pull()
    bob.app.execute("DELETE FROM observations WHERE deleted_at IS NOT NULL")
    reports = await bob.push()
    assert reports == [] or all(not r.skipped and r.sent == 0 for r in reports), reports
    laptop.edit(note, content="alice edits her personal note again")
    await laptop.push()
    await bob.sync()
    assert bob.app.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
    assert bob.app.execute("SELECT count(*) FROM sync_skipped").fetchone()[0] == 0
    assert bob.pending() == 0


@pytest.mark.parametrize("withdrawn", [True, False], ids=["withdrawn", "edited-away"])
async def test_an_app_write_to_a_hidden_member_row_survives_the_fold_splitting(
    make_device: Any, withdrawn: bool
) -> None:
    """Bob's own note was folded into Alice's (its row hidden) and Bob's application then
    rewrote that hidden row; when the fold splits (Alice withdraws her note, or edits it
    into something else), the rewrite comes back live and syncs (it was pushed as an
    already deleted copy)."""
    laptop = await make_device("laptop", member="alice")
    bob = await make_device("bob", member="bob")
    note = laptop.save(title="plan", content=TEXT)
    await laptop.push()
    await bob.pull()
    mine = bob.save(title="plan", content=TEXT + " today")
    await bob.push()
    await bob.pull()
    assert bob.app.execute("SELECT obs_id FROM sync_folded").fetchall() == [(mine,)]
    bob.edit(mine, content="the agent rewrote its own hidden note")
    if withdrawn:
        laptop.edit(note, scope="personal")
    else:
        laptop.edit(note, content="something else entirely, no shared words")
    await laptop.push()
    await bob.pull()
    for _ in range(3):
        await bob.sync()
    phone = await make_device("phone", member="bob")
    await phone.pull()
    assert "the agent rewrote its own hidden note" in [r[3] for r in bob.live()]
    assert phone.live() == bob.live()


async def test_a_copy_purged_before_the_withdrawal_is_not_made_again(make_device: Any) -> None:
    """Bob's application deleted its copy outright before Alice's withdrawal came: nothing
    is made again on his device (no blank tombstone row), nothing stays set aside for
    the row that is gone, and nothing stays pending."""
    laptop, bob, note = await _shared_note(make_device)
    bob.app.execute("DELETE FROM observations")
    laptop.edit(note, scope="personal")
    await laptop.push()
    await bob.sync()
    await bob.sync()
    assert bob.app.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
    assert bob.app.execute("SELECT count(*) FROM sync_skipped").fetchone()[0] == 0
    assert bob.pending() == 0
