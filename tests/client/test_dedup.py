"""Dedup on pull: exact twins skipped, near twins merged, aliases follow later edits."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from memento_syncd.core import similarity
from memento_syncd.store import reset
from memento_syncd.store.db import write
from tests.client.devices import Device
from tests.conftest import Api

LONG = (
    "We decided to keep agent memory in an embedded SQLite database with WAL mode so "
    "that every device can write while the sync daemon reads, and we push changes in "
    "batches through the cloud server which assigns sequence numbers in commit order"
)


async def test_exact_twin_is_skipped_and_remembered(make_device: Any) -> None:
    """Same project, topic_key and content: no second row, and later edits land on the one."""
    a, b = await make_device("A"), await make_device("B")
    a.save(title="Use SQLite", content=LONG, topic_key="arch/db")
    b.save(title="SQLite it is", content=LONG, topic_key="arch/db")
    await a.push()
    reports = await b.pull()
    assert reports[0].outcomes == {"dedup_exact": 1}
    assert len(b.live()) == 1
    a.edit(a.find("Use SQLite"), content=LONG + " and later we added PostgreSQL")
    await a.push()
    reports = await b.pull()
    assert reports[0].outcomes == {"twin_updated": 1}
    assert len(b.live()) == 1
    assert b.live()[0][3].endswith("PostgreSQL")


async def test_near_twin_is_merged_newer_content_older_creation(make_device: Any) -> None:
    """Jaccard above the threshold: one row with the newer content and the older created_at."""
    a, b = await make_device("A"), await make_device("B")
    b_id = b.save(title="Memory store", content=LONG, at="2025-01-01T00:00:00Z")
    a.save(title="Memory store", content=LONG + " today", at="2025-03-01T00:00:00Z")
    await a.push()
    reports = await b.pull()
    assert reports[0].outcomes == {"dedup_similar": 1}
    row = b.row(b_id)
    assert row["content"] == LONG + " today"
    assert row["created_at"] == "2025-01-01T00:00:00Z"
    assert len(b.live()) == 1


async def test_a_merge_is_not_pushed_back_as_a_new_observation(make_device: Any) -> None:
    """After merging a near twin, the device has nothing new to push for it."""
    a, b = await make_device("A"), await make_device("B")
    b.save(title="Memory store", content=LONG)
    await b.push()
    a.save(title="Memory store", content=LONG + " today")
    await a.push()
    await b.pull()
    assert b.pending() == 0


async def test_different_topic_keys_are_never_twins(make_device: Any) -> None:
    """Near-identical text under two different topic keys stays two observations."""
    a, b = await make_device("A"), await make_device("B")
    b.save(title="Memory store", content=LONG, topic_key="arch/db")
    a.save(title="Memory store", content=LONG + " today", topic_key="ops/backup")
    await a.push()
    await b.pull()
    assert len(b.live()) == 2


async def test_an_empty_topic_key_and_none_fold_alike_on_every_device(make_device: Any) -> None:
    """X keys its second note '' where Y leaves it NULL; all four notes are alike enough to
    fold, and both devices end with the same rows (before, '' counted as a key: X kept
    two rows, Y one)."""
    words = " ".join(f"w{n}" for n in range(1, 30))
    x, y = await make_device("X"), await make_device("Y", member="bob")
    for device, key, name, day in ((x, "", "alice", 1), (y, None, "bob", 2)):
        at = f"2025-07-0{day}T00:00:00Z"
        device.save(project="dd", title="Near twin", content=f"{words} {name}",
                    topic_key="dd/near", at=at)  # fmt: skip
        device.save(project="dd", title="Near nokey", content=f"{words} x{day}",
                    topic_key=key, at=at)  # fmt: skip
    await x.push()
    await y.push()
    await y.pull()
    await x.pull()
    await x.pull()
    await y.pull()
    assert x.live() == y.live()
    assert len(x.live()) == 1


async def test_dissimilar_observation_is_inserted(make_device: Any) -> None:
    """Below the threshold the pulled observation is simply inserted."""
    a, b = await make_device("A"), await make_device("B")
    b.save(title="Memory store", content=LONG)
    a.save(title="Retry on busy", content="Use busy_timeout and short write transactions.")
    await a.push()
    reports = await b.pull()
    assert reports[0].outcomes == {"inserted": 1}
    assert len(b.live()) == 2


async def test_threshold_is_configurable(make_device: Any) -> None:
    """With similarity_threshold 1.0 near twins are no longer merged."""
    a = await make_device("A")
    b = await make_device("B", similarity_threshold=1.0)
    b.save(title="Memory store", content=LONG)
    a.save(title="Memory store", content=LONG + " today")
    await a.push()
    await b.pull()
    assert len(b.live()) == 2


async def test_other_projects_are_never_twins(make_device: Any) -> None:
    """The same text in another project is its own observation."""
    a, b = await make_device("A"), await make_device("B")
    b.save(project="one", title="Memory store", content=LONG)
    a.save(project="two", title="Memory store", content=LONG)
    await a.push()
    await b.pull()
    assert len(b.live()) == 2


async def test_the_app_writing_a_twin_just_before_the_pull_is_seen(make_device: Any) -> None:
    """Rows the application wrote since the last sync are indexed before dedup."""
    a, b = await make_device("A"), await make_device("B")
    await b.pull()
    b.save(title="fresh", content=LONG, topic_key="k")
    a.save(title="fresh", content=LONG, topic_key="k")
    await a.push()
    await b.pull()
    assert len(b.live()) == 1


async def test_deleting_either_twin_deletes_the_merged_row_everywhere(make_device: Any) -> None:
    """Twins are one: when one is deleted, every device (and the server) drops both."""
    a, b, c = await make_device("A"), await make_device("B"), await make_device("C")
    a.save(title="twin", content=LONG)
    b.save(title="twin", content=LONG)
    for device in (a, b, a, b, c):
        await device.sync()
    assert len(a.live()) == len(b.live()) == len(c.live()) == 1
    a.delete(a.find("twin"))
    for device in (a, b, c, a, b, c):
        await device.sync()
    assert a.live() == b.live() == c.live() == []
    fresh = await make_device("D")
    await fresh.pull()
    assert fresh.live() == []


@pytest.mark.parametrize("how", ["no-op write", "reset"])
async def test_a_fold_row_queued_without_writing_pushes_its_own_text(
    make_device: Any, api: Api, how: str
) -> None:
    """A folded row shows its newer twin's text; a write that changes nothing, or ``sync
    reset`` queueing it again, pushes the row's own identity as it was, not the twin's
    text under it."""
    from memento_syncd.store.reseed import forget_server

    a, b = await make_device("A"), await make_device("B")
    mine = a.save(title="Memory store", content=LONG, at="2025-01-01T00:00:00Z")
    await a.push()
    b.save(title="Memory store", content=LONG + " today", at="2025-03-01T00:00:00Z")
    await b.push()
    await a.pull()
    assert a.row(mine)["content"] == LONG + " today"  # the fold shows B's newer text
    if how == "no-op write":
        a.app.execute("UPDATE observations SET title = title WHERE id = ?", (mine,))
    else:
        db = await a.open_db()
        try:
            await db.run(forget_server, "p")
        finally:
            await db.close()
    for device in (a, b, a, b):
        await device.sync()
    server = sorted(row["content"] for row in (await api.pull_all(a.token, "p"))[0])
    assert server == [LONG, LONG + " today"]
    assert a.live() == b.live()
    assert a.pending() == b.pending() == 0


async def test_an_exact_twins_later_title_wins_on_every_device(make_device: Any) -> None:
    """Exact twins differing in title converge on the newer title."""
    a, b = await make_device("A"), await make_device("B")
    a_id = a.save(title="first", content=LONG)
    b.save(title="first", content=LONG)
    a.edit(a_id, title="renamed later")
    for device in (a, b, a, b):
        await device.sync()
    assert a.live() == b.live()
    assert a.live()[0][2] == "renamed later"


async def test_a_pulled_deletion_of_an_unseen_observation_is_not_indexed(
    make_device: Any,
) -> None:
    """A device that first hears of an observation as deleted keeps it out of the twin index."""
    a, b = await make_device("A"), await make_device("B")
    gone = a.save(title="short lived", content="a note that was deleted soon after")
    await a.push()
    a.delete(gone)
    await a.push()
    await b.pull()
    assert b.live() == []
    assert b.app.execute("SELECT count(*) FROM sync_sets").fetchone()[0] == 0
    b.save(title="short lived", content="a note that was deleted soon after")
    await b.push()
    await a.pull()
    assert [r[2] for r in a.live()] == ["short lived"]  # a new note, not folded into a deletion


def _fill(device: Device, count: int) -> None:
    """``count`` unrelated observations written by the application in one transaction."""
    device.app.execute("BEGIN")
    for n in range(count):
        device.save(title=f"filler {n}", content=f"note {n} on topic {n * 7919 % 1009} of {n % 13}")
    device.app.execute("COMMIT")


def _index_setting(device: Device) -> str | None:
    row = device.app.execute("SELECT value FROM sync_meta WHERE key = 'index_threshold'").fetchone()
    return None if row is None else str(row[0])


async def test_a_new_threshold_applies_to_rows_indexed_under_the_old(make_device: Any) -> None:
    """After similarity_threshold is lowered, a big index is learnt again and its rows
    are found as near twins at the new threshold."""
    a, b = await make_device("A"), await make_device("B")
    _fill(b, 1100)
    b.save(title="Memory store", content=LONG)
    await b.pull()
    assert _index_setting(b) == "0.85/3"
    extended = LONG + " every night with a small retention window and integrity checks"
    words = [similarity.token_ids(similarity.word_set("Memory store", c)) for c in (LONG, extended)]
    assert 0.6 < similarity.jaccard(*words) <= 0.85
    b.config = dataclasses.replace(b.config, similarity_threshold=0.6)
    a.save(title="Memory store", content=extended)
    await a.push()
    reports = await b.pull()
    assert reports[0].outcomes == {"dedup_similar": 1}
    assert _index_setting(b) == "0.6/3"
    assert b.app.execute("SELECT count(*) FROM sync_sets").fetchone()[0] == 1101


async def test_a_sync_finishes_a_reset_stopped_half_way(make_device: Any) -> None:
    """A reset of the index interrupted after its first batch is finished by the next pull
    (with the threshold unchanged), and near twins are found again."""
    a, b = await make_device("A"), await make_device("B")
    _fill(b, 1100)
    b.save(title="Memory store", content=LONG)
    await b.pull()
    with write(b.app):
        reset.start(b.app)
        reset.step(b.app, 0)
    a.save(title="Memory store", content=LONG + " today")
    await a.push()
    reports = await b.pull()
    assert reports[0].outcomes == {"dedup_similar": 1}
    assert not reset.underway(b.app)
    assert b.app.execute("SELECT count(*) FROM sync_sets").fetchone()[0] == 1101
