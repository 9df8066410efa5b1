"""Conflict strategies between devices: last-write-wins, three-way merge, manual."""

from __future__ import annotations

from typing import Any

import pytest

from memento_syncd.store.manual import (
    TwinsCannotBothStay,
    history,
    list_conflicts,
    resolve_conflict,
)
from memento_syncd.store.status import project_status
from tests.client.devices import Device


async def _shared(make_device: Any, **settings: Any) -> tuple[Device, Device, int, int]:
    a, b = await make_device("A", **settings), await make_device("B", **settings)
    a_id = a.save(title="t", content="base content", topic_key="k")
    await a.push()
    await b.pull()
    return a, b, a_id, b.find("t")


async def test_lww_newer_remote_edit_wins_on_push(make_device: Any) -> None:
    """B's older unpushed edit loses to A's newer one, and is kept in the history."""
    a, b, a_id, b_id = await _shared(make_device)
    b.edit(b_id, content="B edit", at="2025-01-01T00:00:00Z")
    a.edit(a_id, content="A edit", at="2025-06-01T00:00:00Z")
    await a.push()
    reports = await b.push()
    assert reports[0].outcomes == {"conflict_remote": 1}
    await a.pull()
    assert a.live() == b.live()
    assert b.live()[0][3] == "A edit"
    (lost,) = history(b.app)
    assert lost["lost"]["content"] == "B edit"
    assert b.pending() == 0


async def test_lww_newer_local_edit_wins_and_is_pushed(make_device: Any) -> None:
    """B's newer edit beats A's older one on B and then everywhere."""
    a, b, a_id, b_id = await _shared(make_device)
    a.edit(a_id, content="A edit", at="2025-01-01T00:00:00Z")
    b.edit(b_id, content="B edit", at="2025-06-01T00:00:00Z")
    await a.push()
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert a.live()[0][3] == "B edit"


async def test_lww_conflict_met_on_pull(make_device: Any) -> None:
    """A pull that brings an edit of a row with a pending local edit settles it too."""
    a, b, a_id, b_id = await _shared(make_device)
    a.edit(a_id, content="A edit", at="2025-06-01T00:00:00Z")
    await a.push()
    b.edit(b_id, content="B edit", at="2025-01-01T00:00:00Z")
    reports = await b.pull()
    assert reports[0].outcomes["conflict_remote"] == 1
    assert b.live()[0][3] == "A edit"


async def test_lww_ties_are_broken_the_same_way_everywhere(make_device: Any) -> None:
    """Two edits stamped at the same instant end with the same winner on every device."""
    a, b, a_id, b_id = await _shared(make_device)
    a.edit(a_id, content="alpha", at="2025-06-01T00:00:00Z")
    b.edit(b_id, content="omega", at="2025-06-01T00:00:00Z")
    await a.push()
    await b.push()
    await a.pull()
    await b.pull()
    assert a.live() == b.live()


async def test_merge_combines_fields_changed_on_each_side(make_device: Any) -> None:
    """A changes the title, B the content: both changes survive."""
    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="merge")
    a.edit(a_id, title="new title")
    b.edit(b_id, content="new content")
    await a.push()
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert (a.live()[0][2], a.live()[0][3]) == ("new title", "new content")


async def test_merge_same_field_falls_back_to_lww_and_keeps_the_loser(make_device: Any) -> None:
    """Both change the content: the newer wins, the other is in the history."""
    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="merge")
    a.edit(a_id, content="A content", title="A title", at="2025-06-01T00:00:00Z")
    b.edit(b_id, content="B content", at="2025-01-01T00:00:00Z")
    await a.push()
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert (a.live()[0][2], a.live()[0][3]) == ("A title", "A content")
    assert history(b.app)[0]["lost"]["content"] == "B content"


async def test_per_project_strategy_applies(make_device: Any) -> None:
    """sync.projects.<p>.conflict_strategy overrides the default for that project."""
    a, b, a_id, b_id = await _shared(make_device, strategies={"p": "manual"})
    a.edit(a_id, content="A")
    b.edit(b_id, content="B")
    await a.push()
    reports = await b.push()
    assert reports[0].outcomes == {"conflict_manual": 1}


async def test_manual_keeps_both_and_resolving_local_syncs(make_device: Any) -> None:
    """A manual conflict is listed with both versions; keep=local pushes B's version."""
    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="manual")
    a.edit(a_id, content="A")
    b.edit(b_id, content="B")
    await a.push()
    await b.push()
    (conflict,) = list_conflicts(b.app)
    assert (conflict["local"]["content"], conflict["remote"]["content"]) == ("B", "A")
    assert b.live()[0][3] == "B"
    assert await b.push() == []  # held back while the conflict is open
    assert [p["pending"] for p in project_status(b.app)] == [1]  # but not pushed yet
    await _resolve(b, conflict["id"], "local")
    await b.push()
    assert [p["pending"] for p in project_status(b.app)] == [0]
    await a.pull()
    assert a.live() == b.live()
    assert a.live()[0][3] == "B"
    assert list_conflicts(b.app) == []


async def test_manual_resolved_remote_takes_the_servers_version(make_device: Any) -> None:
    """keep=remote replaces the local edit with the server's version."""
    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="manual")
    a.edit(a_id, content="A")
    b.edit(b_id, content="B")
    await a.push()
    await b.pull()
    (conflict,) = list_conflicts(b.app)
    await _resolve(b, conflict["id"], "remote")
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert a.live()[0][3] == "A"
    assert b.pending() == 0


async def test_manual_resolved_both_keeps_two_observations(make_device: Any) -> None:
    """keep=both keeps the server's version and saves the local one as a new observation."""
    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="manual")
    a.edit(a_id, content="A")
    b.edit(b_id, content="B")
    await a.push()
    await b.push()
    (conflict,) = list_conflicts(b.app)
    await _resolve(b, conflict["id"], "both")
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert sorted(r[3] for r in a.live()) == ["A", "B"]


@pytest.mark.parametrize("keep", ["local", "remote", "both"])
async def test_an_app_edit_made_while_a_manual_conflict_is_open_is_not_lost(
    make_device: Any, keep: str
) -> None:
    """The application writes the row again while its conflict waits for the user: the
    list shows that newer version as local, ``local`` pushes it, ``both`` keeps it as the
    copy, and ``remote`` keeps it in the history, where ``conflicts restore`` finds it."""
    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="manual")
    a.edit(a_id, content="A")
    b.edit(b_id, content="first B edit")
    await a.push()
    await b.pull()
    b.edit(b_id, content="second B edit, made after the conflict opened")
    (conflict,) = list_conflicts(b.app)
    assert conflict["local"]["content"] == "second B edit, made after the conflict opened"
    await _resolve(b, conflict["id"], keep)
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    shown = sorted(row[3] for row in a.live())
    newest = "second B edit, made after the conflict opened"
    expected = {"local": [newest], "remote": ["A"], "both": sorted(["A", newest])}[keep]
    assert shown == expected
    if keep == "remote":
        assert [h["lost"]["content"] for h in history(b.app)] == [newest]


@pytest.mark.parametrize("keep", ["local", "remote", "both"])
async def test_a_row_deleted_outright_while_its_manual_conflict_is_open(
    make_device: Any, keep: str
) -> None:
    """The application deletes the row outright while its conflict waits: the list shows
    the local side as deleted; ``local`` deletes it everywhere, ``both`` keeps the remote
    version only (there is no local copy to save), and ``remote`` keeps the deletion in
    the history, from where ``conflicts restore`` takes it."""
    from memento_syncd.store.manual import restore_lost

    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="manual")
    a.edit(a_id, content="A")
    b.edit(b_id, content="first B edit")
    await a.push()
    await b.pull()
    b.app.execute("DELETE FROM observations WHERE id = ?", (b_id,))
    (conflict,) = list_conflicts(b.app)
    assert conflict["local"]["deleted_at"] is not None
    await _resolve(b, conflict["id"], keep)
    for device in (b, a, b):
        await device.sync()
    assert a.live() == b.live()
    assert [row[3] for row in a.live()] == ([] if keep == "local" else ["A"])
    if keep == "remote":
        (entry,) = history(b.app)
        assert entry["lost"]["deleted_at"] is not None
        restore_lost(b.app, entry["id"], b.stamp())
        for device in (b, a):
            await device.sync()
        assert a.live() == b.live() == []


async def test_keep_both_is_refused_for_near_twins_and_devices_still_converge(
    make_device: Any,
) -> None:
    """keep=both of two near-identical versions is refused (dedup would merge them elsewhere)."""
    a, b, a_id, b_id = await _shared(make_device, conflict_strategy="manual")
    words = " ".join(f"word{n}" for n in range(40))
    a.edit(a_id, content=f"{words} from a")
    b.edit(b_id, content=f"{words} from b")
    await a.push()
    await b.push()
    (conflict,) = list_conflicts(b.app)
    with pytest.raises(TwinsCannotBothStay, match="near twins"):
        await _resolve(b, conflict["id"], "both")
    assert [c["id"] for c in list_conflicts(b.app)] == [conflict["id"]]  # still open
    assert len(b.live()) == 1
    await _resolve(b, conflict["id"], "local")
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert [row[3] for row in a.live()] == [f"{words} from b"]


async def test_delete_against_edit_converges(make_device: Any) -> None:
    """One device deletes while another edits; both end the same way."""
    a, b, a_id, b_id = await _shared(make_device)
    a.delete(a_id)
    b.edit(b_id, content="still useful")
    await a.push()
    await b.push()
    await a.pull()
    await b.pull()
    assert a.live() == b.live()


@pytest.mark.parametrize("first", ["edit", "deletion"])
async def test_lww_an_outright_deletion_after_an_edit_wins_whoever_pushes_first(
    make_device: Any, first: str
) -> None:
    """The application deletes a row outright after another device's edit of it (stamped
    a minute before, an hour after the row's last version): under last-write-wins the
    deletion wins whichever reaches the server first, as it is stamped when it is synced
    in both cases (its row is gone, and its time with it)."""
    a, b = await make_device("A"), await make_device("B")
    a_id = a.save(title="t", content="base content", at=a.stamp_ago(7200))
    await a.push()
    await b.pull()
    b.edit(b.find("t"), content="B edit", at=b.stamp_ago(60))
    a.app.execute("DELETE FROM observations WHERE id = ?", (a_id,))
    order = (b, a, b, a) if first == "edit" else (a, b, a, b)
    for device in order:
        await device.sync()
    assert a.live() == b.live() == []
    lost = [h["lost"]["content"] for device in (a, b) for h in history(device.app)]
    assert lost == ["B edit"]


async def _resolve(device: Device, conflict_id: int, keep: str) -> None:
    from memento_syncd.store.index import SimilarityIndex

    index = SimilarityIndex(device.app, device.config.similarity_threshold)
    resolve_conflict(device.app, index, conflict_id, keep, device.stamp())


async def test_a_losing_version_can_be_restored_and_syncs(make_device: Any) -> None:
    """The loser kept in the history comes back as an edit that reaches other devices."""
    from memento_syncd.store.manual import restore_lost

    a, b, a_id, b_id = await _shared(make_device)
    b.edit(b_id, content="B edit", at="2025-01-01T00:00:00Z")
    a.edit(a_id, content="A edit", at="2025-06-01T00:00:00Z")
    await a.push()
    await b.push()
    (entry,) = history(b.app)
    restore_lost(b.app, entry["id"], b.stamp())
    await b.push()
    await a.pull()
    assert a.live() == b.live()
    assert a.live()[0][3] == "B edit"
