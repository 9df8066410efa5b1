"""plan_push: verdicts, consecutive sequence numbers and all-or-nothing batches."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from memento_syncd.core.observation import IncomingChange, StoredObservation
from memento_syncd.core.planning import Pusher, plan_push
from memento_syncd.core.versioning import Verdict
from tests.core.strategies import (
    RELAXED,
    make_change,
    make_observation,
    make_stored,
    observations,
    stored_observations,
)

ALICE = Pusher(1, "alice", "1:laptop")


@st.composite
def batches(draw: st.DrawFn) -> tuple[dict[str, StoredObservation], list[IncomingChange]]:
    """Up to 8 changes with distinct ids, some of which the server already holds."""
    size = draw(st.integers(min_value=0, max_value=8))
    existing: dict[str, StoredObservation] = {}
    changes: list[IncomingChange] = []
    for n in range(size):
        sync_id = f"o{n}"
        observation = replace(draw(observations()), sync_id=sync_id)
        if draw(st.booleans()):
            stored = draw(stored_observations())
            existing[sync_id] = replace(
                stored, observation=replace(stored.observation, sync_id=sync_id)
            )
        base = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=7)))
        changes.append(IncomingChange(observation, base, draw(st.booleans())))
    return existing, changes


@RELAXED
@given(batches(), st.integers(min_value=0, max_value=10**6))
def test_writes_take_consecutive_sequence_numbers_after_the_head(
    batch: tuple[dict[str, StoredObservation], list[IncomingChange]], head: int
) -> None:
    """Applied changes get head+1, head+2, ... in batch order; others take none."""
    existing, changes = batch
    plan = plan_push(existing, changes, ALICE, head)
    if plan.forbidden is not None:
        assert (plan.writes, plan.results, plan.last_seq) == ((), (), head)
        return
    assert [w.seq for w in plan.writes] == list(range(head + 1, head + 1 + len(plan.writes)))
    assert plan.last_seq == head + len(plan.writes)
    assert [r[0] for r in plan.results] == [c.observation.sync_id for c in changes]
    applied = [r for r in plan.results if r[1] in (Verdict.INSERT, Verdict.UPDATE)]
    assert len(applied) == len(plan.writes)


@RELAXED
@given(batches())
def test_new_versions_follow_the_stored_ones(
    batch: tuple[dict[str, StoredObservation], list[IncomingChange]],
) -> None:
    """An insert is version 1 owned by the pusher; an update is the next version, same owner."""
    existing, changes = batch
    plan = plan_push(existing, changes, ALICE, 0)
    for write in plan.writes:
        old = existing.get(write.stored.observation.sync_id)
        assert write.insert == (old is None)
        if old is None:
            assert (write.stored.version, write.stored.owner_member_id) == (1, 1)
        else:
            assert write.stored.version == old.version + 1
            assert write.stored.owner_member_id == old.owner_member_id


def test_update_without_created_at_keeps_the_stored_creation_time() -> None:
    """A change that did not send created_at keeps the stored one."""
    stored = make_stored(make_observation(created_at="2020-01-01T00:00:00Z"), version=3)
    change = IncomingChange(make_observation(content="new"), 3, created_at_sent=False)
    plan = plan_push({"obs-1": stored}, [change], ALICE, 9)
    assert plan.writes[0].stored.observation.created_at == "2020-01-01T00:00:00Z"


def test_one_forbidden_change_cancels_the_whole_batch() -> None:
    """A teammate's personal observation in the batch leaves nothing to write."""
    theirs = make_stored(make_observation(scope="personal"), owner_member_id=2)
    changes = [make_change(make_observation(sync_id="new"), None), make_change(base=3)]
    plan = plan_push({"obs-1": theirs}, changes, ALICE, 5)
    assert plan.forbidden is not None
    assert plan.forbidden[0] == "obs-1"
    assert plan.writes == ()
