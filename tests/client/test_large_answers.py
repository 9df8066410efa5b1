"""The server's answers stay bounded in bytes: a pull page by the UTF-8 its texts take, and
a push's conflict copies by the same bound; conflicts past it settle at the next pull."""

from __future__ import annotations

from typing import Any

import pytest

from memento_syncd.core.limits import Limits
from tests.conftest import Api

BOUND = 20_000


@pytest.fixture
def limits() -> Limits:
    """Pages (and a push answer's conflict copies) end past 20,000 bytes of text."""
    return Limits(max_page_bytes=BOUND)


def _observation(n: int, content: str) -> dict[str, Any]:
    return {
        "sync_id": f"emoji-{n}",
        "type": "note",
        "title": f"row {n}",
        "content": content,
        "updated_at": "2025-01-15T10:30:00Z",
    }


async def test_a_pull_page_is_bounded_by_the_utf8_bytes_of_its_texts(api: Api) -> None:
    """Rows of 2,000 emoji (8,000 bytes of UTF-8 each) come 3 to a page under a 20,000-byte
    bound, every one exactly once, and each answer holds the emoji as UTF-8, not escapes."""
    token = await api.token()
    content = "\U0001f600" * 2000
    pushed = await api.push(token, "p", [_observation(n, content) for n in range(10)])
    assert pushed.status == 200, pushed.body
    cursor, sizes, seen = None, [], []
    async with api.session.post(
        api.url + "/api/sync/pull",
        json={"project_id": "p", "cursor": None},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        first_page_bytes = len(await resp.read())
    assert first_page_bytes < BOUND + 8_000 + 4_000, first_page_bytes
    while True:
        reply = await api.pull(token, "p", cursor)
        page = reply.body["observations"]
        sizes.append(len(page))
        seen += [item["sync_id"] for item in page]
        assert all(item["content"] == content for item in page)
        cursor = reply.body["cursor"]
        if not reply.body["has_more"]:
            break
    assert sizes == [3, 3, 3, 1]
    assert seen == [f"emoji-{n}" for n in range(10)]


async def test_conflicts_past_the_answer_bound_come_without_copies_and_settle_at_the_pull(
    make_device: Any,
) -> None:
    """B rewrites ten rows with 3 KB texts; A's small later edits of all ten meet them as
    conflicts: the push answer carries B's copies only up to the bound, A settles those
    at once and the rest (held back, not resent) at its next pull, and then A and B hold
    the same rows, A's edits winning under last-write-wins."""
    a, b = await make_device("A"), await make_device("B")
    ids = [a.save(title=f"row {n}") for n in range(10)]
    await a.push()
    await b.pull()
    for n in range(10):
        b.edit(b.find(f"row {n}"), content=f"B's {n} " + "z" * 3000)
    await b.push()
    for n, obs_id in enumerate(ids):
        a.edit(obs_id, content=f"A's edit {n}")
    report = (await a.push())[0]
    conflicts = {k: v for k, v in report.outcomes.items() if k.startswith("conflict")}
    deferred = conflicts.pop("conflict_deferred", 0)
    assert 0 < deferred < 10, report.outcomes
    assert sum(conflicts.values()) == 10 - deferred, report.outcomes
    assert report.sent == 10 + (10 - deferred), report  # the settled ones went again
    assert a.pending() == deferred
    await a.pull()
    await a.push()
    assert a.pending() == 0
    await b.pull()
    assert a.live() == b.live()
    assert sorted(row[3] for row in a.live()) == sorted(f"A's edit {n}" for n in range(10))
