"""Folds of twins stay in step with their members, so every device ends with the same rows."""

from __future__ import annotations

from typing import Any

from memento_syncd.client.engine import SyncEngine
from memento_syncd.client.localdb import LocalDB
from memento_syncd.client.transport import Transport
from tests.client.devices import Device

TEXT = "We keep agent memory in SQLite with WAL so every device can write while sync reads"


async def _fold_on_a(make_device: Any) -> tuple[Device, Device]:
    """B saves and pushes a text; A saves the same text and pulls: A folds B's copy in."""
    a, b = await make_device("A"), await make_device("B")
    b.save(title="twin", content=TEXT)
    await b.push()
    a.save(title="twin", content=TEXT)
    reports = await a.pull()
    assert reports[0].outcomes == {"dedup_exact": 1}
    return a, b


async def _settle(*devices: Device) -> None:
    """Sync everyone, three rounds: enough for a pull's follow-up pushes to travel."""
    for _ in range(3):
        for device in devices:
            await device.sync()


async def test_a_twin_edited_apart_elsewhere_leaves_the_fold(make_device: Any) -> None:
    """B edits its copy into something else: A's fold splits and A shows both, like B."""
    a, b = await _fold_on_a(make_device)
    b.edit(b.find("twin"), content="B changed its mind entirely")
    await b.push()
    reports = await a.pull()
    assert reports[0].outcomes == {"twin_updated": 1}
    assert len(a.live()) == 2
    await _settle(a, b, await make_device("C"))
    assert a.live() == b.live()
    assert [row[3] for row in a.live()] == ["B changed its mind entirely", TEXT]


async def test_editing_a_folded_row_apart_splits_the_twin_off(make_device: Any) -> None:
    """A edits the row that holds B's copy: the edit is A's, and B's copy reappears beside it."""
    a, b = await _fold_on_a(make_device)
    a.edit(a.find("twin"), content="A rewrote its own note")
    await a.push()
    assert sorted(row[3] for row in a.live()) == ["A rewrote its own note", TEXT]
    c = await make_device("C")
    await _settle(a, b, c)
    assert a.live() == b.live() == c.live()
    assert len(a.live()) == 2
    assert a.pending() == b.pending() == 0


async def test_deleting_a_folded_row_deletes_the_twin_it_holds_on_the_server(
    make_device: Any,
) -> None:
    """A deletes the row holding B's copy: the deletion is pushed under both identities."""
    a, b = await _fold_on_a(make_device)
    await a.push()
    a.delete(a.find("twin"))
    await _settle(a, b)
    assert a.live() == b.live() == []
    fresh = await make_device("D")
    await fresh.pull()
    assert fresh.live() == []


async def test_a_fold_shows_the_newest_member_even_after_an_edit_with_a_slow_clock(
    make_device: Any,
) -> None:
    """A retitles the fold with a clock behind B's: both devices show the newest, B's title."""
    a, b = await make_device("A"), await make_device("B")
    b.save(title="from B", content=TEXT, at="2025-03-01T00:00:00Z")
    await b.push()
    a_id = a.save(title="from A", content=TEXT, at="2025-01-01T00:00:00Z")
    await a.pull()
    assert a.row(a_id)["title"] == "from B"
    a.edit(a_id, title="renamed by A", at="2025-02-01T00:00:00Z")
    await _settle(a, b)
    assert a.live() == b.live()
    assert [row[2] for row in a.live()] == ["from B"]
    assert a.row(a_id)["created_at"] == "2025-01-01T00:00:00Z"


async def test_a_fold_made_before_the_upgrade_still_routes_its_twins_edits(
    make_device: Any,
) -> None:
    """An alias without a recorded latest version (an older database) keeps working."""
    a, b = await _fold_on_a(make_device)
    a.app.execute("UPDATE sync_aliases SET latest = NULL")
    b.edit(b.find("twin"), title="renamed by B")
    await b.push()
    await a.pull()
    assert [row[2] for row in a.live()] == ["renamed by B"]


SHARED = " ".join(f"w{i}" for i in range(30))


async def test_rows_that_an_edit_makes_twins_are_folded_on_every_device(
    make_device: Any,
) -> None:
    """Near variants kept apart (retitled differently) fold once an edit makes them twins."""
    a, b, c = await make_device("A"), await make_device("B"), await make_device("C")
    a_id = a.save(title="title one", content=SHARED + " first")
    a.edit(a_id, title="renamed three")  # no longer similar to B's variant below
    b_id = b.save(title="title one", content=SHARED + " second")
    await a.sync()
    await b.sync()
    await a.sync()
    assert len(a.live()) == len(b.live()) == 2
    b.edit(b_id, title="renamed five")  # now both renamed: twins again
    await _settle(a, b, c)
    assert a.live() == b.live() == c.live()
    assert len(a.live()) == 1


async def test_two_twins_saved_on_one_device_fold_once_pushed(make_device: Any) -> None:
    """The same note saved twice on a device ends as one row there too, as on the others."""
    a, b = await make_device("A"), await make_device("B")
    a.save(title="twice", content=TEXT)
    a.save(title="twice", content=TEXT)
    await _settle(a, b)
    assert a.live() == b.live()
    assert len(a.live()) == 1


async def test_the_twin_check_after_a_big_push_reports_progress(make_device: Any) -> None:
    """The pull after pushing 1,200 rows checks each for twins and says how far it got."""
    a = await make_device("A")
    for n in range(1200):
        a.save(
            title=f"row {n}",
            content=f"distinct words {n} " + " ".join(f"x{n}y{k}" for k in range(8)),
        )
    await a.push()
    told: list[tuple[str, int, int | None]] = []
    db = LocalDB(a.db_path)
    await db.open()
    try:
        async with Transport(a.url, a.token) as transport:
            engine = SyncEngine(db, transport, a.config, a.clock, lambda *call: told.append(call))
            await engine.pull("p")
    finally:
        await db.close()
    checks = [call for call in told if call[0] == "twin check p"]
    assert checks, told
    assert checks[-1][1:] == (1200, 1200)
    assert [c[1] for c in checks] == sorted(c[1] for c in checks)
    assert len(a.live()) == 1200


async def test_a_write_to_a_row_hidden_by_a_fold_is_not_lost(make_device: Any) -> None:
    """The app edits, by its id, a row a fold hid: the row comes back and the edit syncs."""
    a, b = await make_device("A"), await make_device("B")
    first = a.save(title="twice", content=TEXT)
    second = a.save(title="twice", content=TEXT)
    await _settle(a, b)
    assert len(a.live()) == 1
    hidden = next(i for i in (first, second) if a.row(i)["deleted_at"] is not None)
    a.edit(hidden, content="the agent later rewrote this copy")
    await _settle(a, b)
    assert a.row(hidden)["deleted_at"] is None
    assert a.row(hidden)["content"] == "the agent later rewrote this copy"
    assert a.live() == b.live()
    assert sorted(row[3] for row in b.live()) == sorted([TEXT, "the agent later rewrote this copy"])
    assert a.pending() == b.pending() == 0


async def test_the_fold_a_hidden_row_leaves_shows_its_own_text_again(make_device: Any) -> None:
    """The fold showed the hidden row's newer text; once the app's write takes that row
    out, the fold row shows its own identity's text, as every other device does."""
    a, b = await make_device("A"), await make_device("B")
    newer = a.save(title="twice", content=TEXT + " today", at="2025-03-01T00:00:00Z")
    older = a.save(title="twice", content=TEXT, at="2025-01-01T00:00:00Z")
    await _settle(a, b)
    assert a.row(newer)["deleted_at"] is not None  # hidden, folded into the older row
    assert a.row(older)["content"] == TEXT + " today"  # which shows the newer text
    a.edit(newer, content="the agent later rewrote this copy")
    await _settle(a, b)
    assert a.row(older)["content"] == TEXT
    assert a.live() == b.live()
    assert sorted(row[3] for row in a.live()) == sorted([TEXT, "the agent later rewrote this copy"])
    assert a.pending() == b.pending() == 0
