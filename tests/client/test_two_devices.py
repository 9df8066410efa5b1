"""Two and three devices syncing through a real server: capture, push, pull, no echo."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


async def test_a_saved_observation_reaches_the_other_device(make_device: Any) -> None:
    """A row the app inserts on A is in B's table after A pushes and B pulls."""
    a, b = await make_device("A"), await make_device("B")
    a.save(title="Use SQLite", content="Embedded and fast", topic_key="arch/db")
    await a.push()
    await b.pull()
    assert b.live() == a.live()
    assert len(b.live()) == 1


async def test_rows_written_before_install_are_pushed(make_device: Any) -> None:
    """Observations the app wrote before memento-syncd first ran are captured too."""
    a, b = await make_device("A"), await make_device("B")
    a.save(title="old one")
    await a.push()
    await b.pull()
    assert [r[2] for r in b.live()] == ["old one"]


async def test_edits_and_deletes_propagate(make_device: Any) -> None:
    """An UPDATE and a soft delete on A reach B."""
    a, b = await make_device("A"), await make_device("B")
    keep, drop = a.save(title="keep"), a.save(title="drop")
    await a.push()
    await b.pull()
    a.edit(keep, content="edited")
    a.delete(drop)
    await a.push()
    await b.pull()
    assert b.live() == a.live()
    assert [r[3] for r in b.live()] == ["edited"]


async def test_an_edit_stamped_in_the_past_is_still_pushed(make_device: Any) -> None:
    """Push follows the local change log, not updated_at: a clock two days behind is fine."""
    a, b = await make_device("A"), await make_device("B")
    obs_id = a.save(title="x", at="2030-01-01T00:00:00Z")
    await a.push()
    await b.pull()
    a.edit(obs_id, content="late clock", at="2029-12-30T00:00:00Z")
    await a.push()
    await b.pull()
    assert [r[3] for r in b.live()] == ["late clock"]


async def test_an_edit_stamped_in_the_future_does_not_block_later_edits(make_device: Any) -> None:
    """After an edit from a clock years ahead, a normal edit on another device still syncs."""
    a, b = await make_device("A"), await make_device("B")
    obs_id = a.save(title="x")
    await a.push()
    await b.pull()
    a.edit(obs_id, content="from the future", at="2099-01-01T00:00:00Z")
    await a.push()
    await b.pull()
    b.edit(b.find("x"), content="now")
    await b.push()
    await a.pull()
    assert a.live() == b.live() == [("p", "note", "x", "now", None, "project")]


async def test_pulled_rows_are_not_echoed_back(make_device: Any) -> None:
    """Applying pulled changes records no local change on the puller."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(5):
        a.save(title=f"o{n}")
    await a.push()
    await b.pull()
    assert b.pending() == 0
    assert await b.push() == []


async def test_own_observations_coming_back_are_recognised(make_device: Any, api: Api) -> None:
    """A device pulling from the beginning recognises what it pushed itself."""
    a = await make_device("A")
    a.save(title="mine")
    await a.push()
    a.app.execute("UPDATE sync_cursors SET pull_cursor = NULL")
    reports = await a.pull("p")
    assert reports[0].outcomes == {"already_had": 1}
    assert len(a.live()) == 1


async def test_three_devices_converge(make_device: Any) -> None:
    """Writes on three devices end up everywhere."""
    devices = [await make_device(n) for n in "ABC"]
    for n, device in enumerate(devices):
        device.save(title=f"from {n}", content=f"content {n}")
    for device in devices:
        await device.sync()
    for device in devices:
        await device.pull()
    assert devices[0].live() == devices[1].live() == devices[2].live()
    assert len(devices[0].live()) == 3


async def test_hostile_and_non_ascii_data_round_trip_byte_for_byte(make_device: Any) -> None:
    """Quotes, NUL, emoji, RTL marks and combining accents arrive unchanged."""
    a, b = await make_device("A"), await make_device("B")
    text = "'); DROP TABLE observations;--\x00 <b>é</b> e\u0301 \u202e\U0001f9e0 \\\"\r\n\t"
    a.save(project="projet-é", title=text, content=text * 3, topic_key=text)
    await a.push()
    await b.pull()
    assert b.live() == a.live()
    assert b.live()[0][2] == text


async def test_status_counts_what_was_sent_and_received(make_device: Any) -> None:
    """push_count and pull_count count observations; last_push and last_pull are set."""
    from memento_syncd.store.status import project_status

    a, b = await make_device("A"), await make_device("B")
    for n in range(3):
        a.save(title=f"o{n}")
    await a.push()
    await b.pull()
    (sa,) = project_status(a.app)
    (sb,) = project_status(b.app)
    assert (sa["project_id"], sa["push_count"], sa["pending"]) == ("p", 3, 0)
    assert sa["last_push"] is not None
    assert (sb["pull_count"], sb["last_pull"] is not None) == (3, True)


async def test_a_new_device_learns_projects_from_the_server(make_device: Any) -> None:
    """A device with an empty database pulls every project of its team."""
    a, b = await make_device("A"), await make_device("B")
    a.save(project="one", title="x")
    a.save(project="two", title="y")
    await a.push()
    await b.pull()
    assert sorted(r[0] for r in b.live()) == ["one", "two"]


async def test_personal_observations_follow_their_member_only(make_device: Any) -> None:
    """Alice's personal note reaches her other device but not Bob's."""
    laptop = await make_device("laptop", member="alice")
    desktop = await make_device("desktop", member="alice")
    bob = await make_device("bob", member="bob")
    laptop.save(title="private", content="my own notes", scope="personal")
    laptop.save(title="shared", content="for the whole team")
    await laptop.push()
    await desktop.pull()
    await bob.pull()
    assert [r[2] for r in desktop.live()] == ["private", "shared"]
    assert [r[2] for r in bob.live()] == ["shared"]


async def test_a_row_that_cannot_sync_is_skipped_and_reported(make_device: Any) -> None:
    """A row with an unparseable timestamp is set aside; the others still sync."""
    from memento_syncd.store.status import skipped_rows

    a, b = await make_device("A"), await make_device("B")
    bad = a.save(title="bad", at="yesterday-ish")
    a.save(title="good")
    reports = await a.push()
    assert [obs_id for obs_id, _ in reports[0].skipped] == [bad]
    await b.pull()
    assert [r[2] for r in b.live()] == ["good"]
    assert skipped_rows(a.app)[0]["id"] == bad
    assert "updated_at" in skipped_rows(a.app)[0]["reason"]
    a.edit(bad, at="2025-01-01T00:00:00Z", created_at="2025-01-01T00:00:00Z")
    await a.push()
    await b.pull()
    assert sorted(r[2] for r in b.live()) == ["bad", "good"]
    assert skipped_rows(a.app) == []


@pytest.mark.parametrize("project", ["", " padded "])
async def test_a_row_in_a_project_the_server_refuses_does_not_stop_other_pulls(
    make_device: Any, project: str
) -> None:
    """A row whose project name cannot sync is skipped by push and every other project pulls."""
    from memento_syncd.store.status import skipped_rows

    a, b = await make_device("A"), await make_device("B")
    b.save(project=project, title="stuck")
    a.save(title="arrives")
    await a.push()
    reports = await b.push()
    assert len(reports[0].skipped) == 1
    await b.pull()
    assert [r[2] for r in b.live() if r[0] == "p"] == ["arrives"]
    assert "project" in skipped_rows(b.app)[0]["reason"]


async def test_an_observation_over_the_size_limit_is_skipped_and_the_rest_syncs(
    make_device: Any,
) -> None:
    """An oversized row is set aside before it is sent; the others are pushed."""
    from memento_syncd.store.status import skipped_rows

    a, b = await make_device("A"), await make_device("B")
    a.save(title="before")
    big = a.save(title="big", content="x" * (300 * 1024))
    a.save(title="after")
    reports = await a.push()
    assert [obs_id for obs_id, _ in reports[0].skipped] == [big]
    assert "longer than" in skipped_rows(a.app)[0]["reason"]
    await b.pull()
    assert sorted(r[2] for r in b.live()) == ["after", "before"]
