"""The change log of prepared look-ups: the changes that can touch a probe, found by index."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from memento_syncd.store.index_log import ChangeLog, Entry

TOKENS = st.frozensets(st.integers(0, 12), max_size=5)
DIGESTS = st.sampled_from(["d1", "d2", "d3"])
ENTRIES = st.none() | st.builds(
    Entry,
    project=st.just("p"),
    scope=st.just("project"),
    topic_key=st.none(),
    digest=DIGESTS,
    tokens=TOKENS,
    prefix=TOKENS,
)
CHANGES = st.lists(st.tuples(st.integers(1, 8), ENTRIES), max_size=40)


def _brute(
    changes: list[tuple[int, Entry | None]],
    mark: int,
    prefix: frozenset[int],
    needed: int,
    digest: str,
) -> list[tuple[int, Entry]]:
    """Every row changed since ``mark``, at its latest change, kept if it can be a twin."""
    latest = dict(changes[mark:])
    found = []
    for obs_id, entry in latest.items():
        if entry is None:
            continue
        if entry.digest == digest or len(prefix & entry.prefix) >= needed:
            found.append((obs_id, entry))
    position = {obs_id: p for p, (obs_id, _) in enumerate(changes)}
    return sorted(found, key=lambda pair: position[pair[0]])


@settings(max_examples=300, deadline=None)
@given(CHANGES, st.integers(0, 45), TOKENS, st.integers(1, 3), DIGESTS)
def test_latest_since_finds_what_a_scan_of_every_change_finds(
    changes: list[tuple[int, Entry | None]],
    mark: int,
    prefix: frozenset[int],
    needed: int,
    digest: str,
) -> None:
    """latest_since gives exactly the rows a scan of every change since the mark would
    check (latest change of each, forgotten rows left out, same hash or enough shared
    prefix tokens), and changed_since says which rows changed since."""
    log = ChangeLog()
    for obs_id, entry in changes:
        log.record(obs_id, entry)
    assert len(log) == len(changes)
    assert log.latest_since(mark, prefix, needed, digest) == _brute(
        changes, mark, prefix, needed, digest
    )
    since = {obs_id for obs_id, _ in changes[mark:]}
    assert {i for i in range(10) if log.changed_since(i, mark)} == since


def test_a_row_changed_again_is_checked_as_it_is_now() -> None:
    """A row indexed, then indexed again with other words, is checked only as its latest
    change left it; one forgotten since is not checked at all."""
    log = ChangeLog()
    near = Entry("p", "project", None, "d1", frozenset({1, 2}), frozenset({1, 2}))
    far = Entry("p", "project", None, "d2", frozenset({7}), frozenset({7}))
    log.record(5, near)
    log.record(6, near)
    log.record(5, far)
    log.record(6, None)
    assert log.latest_since(0, [1, 2], 2, "d9") == []
    assert log.latest_since(0, [7], 1, "d9") == [(5, far)]
    assert log.latest_since(3, [7], 1, "d9") == []
    assert log.changed_since(6, 3)
    assert not log.changed_since(5, 3)
