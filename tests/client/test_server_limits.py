"""A server with tighter size limits than the client's: a 413 that names a row sets that
row aside; a 413 for the whole request makes the client send smaller batches."""

from __future__ import annotations

from typing import Any

import pytest

from memento_syncd.core.limits import Limits


@pytest.fixture
def limits() -> Limits:
    """Observations over 4 KiB and requests over 32 KiB are too large for this server."""
    return Limits(max_observation_bytes=4096, max_body_bytes=32 * 1024)


@pytest.mark.parametrize(
    ("content", "named"),
    [("x" * 8000, True), ("w " * 20_000, False)],
    ids=["over the observation limit: the 413 names it", "over the body limit alone"],
)
async def test_a_row_the_server_finds_too_large_is_set_aside_and_the_rest_syncs(
    make_device: Any, content: str, named: bool
) -> None:
    """A row over the observation limit (the 413 names it) or whose request alone is over
    the body limit (a 413 naming no row, for a batch of that one row) is set aside; the
    rows before and after it still sync."""
    from memento_syncd.store.status import skipped_rows

    a, b = await make_device("A"), await make_device("B")
    a.save(title="before")
    big = a.save(title="big", content=content)
    a.save(title="after")
    reports = await a.push()
    assert [obs_id for obs_id, _ in reports[0].skipped] == [big]
    reason = skipped_rows(a.app)[0]["reason"]
    assert "answered 413" in reason, reason
    assert ("observations[" in reason) == named, reason
    assert a.pending() == 0
    await b.pull()
    assert sorted(r[2] for r in b.live()) == ["after", "before"]


async def test_a_batch_the_server_finds_too_large_is_sent_again_in_smaller_ones(
    make_device: Any,
) -> None:
    """Thirty rows of 3 KB make a 90 KB batch: the server refuses the request (413 naming
    no row), and the same push sends them all in smaller batches; nothing is set aside."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(30):
        a.save(title=f"row {n}", content=f"{n} " + "y" * 3000)
    reports = await a.push()
    assert (reports[0].sent, reports[0].skipped, a.pending()) == (30, [], 0)
    await b.pull()
    assert len(b.live()) == 30
