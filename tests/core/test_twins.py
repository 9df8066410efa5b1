"""Pure twin rules: which observations are twins, and what a row folding them shows."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from memento_syncd.core.conflicts import MERGED_FIELDS
from memento_syncd.core.observation import Observation
from memento_syncd.core.twins import fold, twin_kind
from tests.core.strategies import RELAXED, TS, TS_LATER, make_observation

LONG = "we keep agent memory in sqlite with wal so every device writes while sync reads"


def test_same_content_and_topic_key_are_exact_twins_whatever_the_title() -> None:
    """Exact twins share project, scope, topic_key and content; titles may differ."""
    a = make_observation(title="one", topic_key="k")
    b = make_observation(sync_id="obs-2", title="two", topic_key="k")
    assert twin_kind(a, b, 0.85) == "exact"


def test_close_word_sets_are_similar_twins() -> None:
    """Jaccard above the threshold makes similar twins."""
    a = make_observation(title="Memory", content=LONG)
    b = make_observation(sync_id="obs-2", title="Memory", content=LONG + " today")
    assert twin_kind(a, b, 0.85) == "similar"
    assert twin_kind(a, b, 0.99) is None


def test_different_topic_keys_projects_scopes_or_a_deletion_are_never_twins() -> None:
    """Each of these alone keeps two observations apart."""
    a = make_observation(content=LONG, topic_key="a")
    assert twin_kind(a, replace(a, topic_key="b"), 0.85) is None
    assert twin_kind(a, replace(a, content=LONG + " x", topic_key="b"), 0.5) is None
    assert twin_kind(a, replace(a, project="q"), 0.85) is None
    assert twin_kind(a, replace(a, scope="personal"), 0.85) is None
    assert twin_kind(a, replace(a, deleted_at=TS), 0.85) is None


def test_an_empty_topic_key_is_read_as_none() -> None:
    """An empty topic_key is no topic_key: exact beside NULL, and no bar to a keyed twin."""
    a = make_observation(content=LONG, topic_key="")
    assert twin_kind(a, replace(a, sync_id="obs-2", topic_key=None), 0.85) == "exact"
    near = replace(a, sync_id="obs-3", content=LONG + " today", topic_key="k")
    assert twin_kind(a, near, 0.85) == "similar"
    assert twin_kind(replace(a, topic_key=None), near, 0.85) == "similar"


def test_a_fold_shows_the_newest_content_and_the_oldest_creation() -> None:
    """The newer member's fields, the older created_at, the row's own identity and scope."""
    own = make_observation(title="old", created_at=TS, updated_at=TS)
    other = make_observation(sync_id="obs-2", title="new", created_at=TS_LATER, updated_at=TS_LATER)
    shown = fold(own, [other])
    assert (shown.sync_id, shown.title, shown.created_at) == ("obs-1", "new", TS)
    assert fold(own, []) == own


stamps = st.sampled_from([TS, TS_LATER, "2025-01-16T09:00:00+01:00", "2024-12-31T23:59:59Z"])
members = st.lists(
    st.builds(
        lambda title, created, updated: make_observation(
            title=title, created_at=created, updated_at=updated
        ),
        st.sampled_from(["a", "b", "c"]),
        stamps,
        stamps,
    ),
    min_size=1,
    max_size=5,
)


@RELAXED
@given(members=members, data=st.data())
def test_a_fold_is_the_same_whichever_member_holds_the_row(
    members: list[Observation], data: st.DataObject
) -> None:
    """Devices that hold a fold under different identities, learnt in any order, show one thing."""
    numbered = [replace(m, sync_id=f"id-{n}") for n, m in enumerate(members)]
    order = data.draw(st.permutations(numbered))
    first = fold(numbered[0], numbered[1:])
    second = fold(order[0], order[1:])
    assert [getattr(first, f) for f in MERGED_FIELDS] == [getattr(second, f) for f in MERGED_FIELDS]
    assert first.created_at == second.created_at
