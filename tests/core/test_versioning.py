"""Conflict detection: what a pushed change does to the server's copy."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from memento_syncd.core.observation import (
    IncomingChange,
    Observation,
    StoredObservation,
    same_content,
)
from memento_syncd.core.versioning import Decision, Verdict, decide
from tests.core.strategies import (
    RELAXED,
    TS,
    TS_LATER,
    make_change,
    make_observation,
    make_stored,
    members,
    observations,
    stored_observations,
    versions,
    with_timestamps,
    writers,
)

ALICE, BOB = 1, 2
ALICE_LAPTOP, ALICE_DESKTOP, BOB_LAPTOP = "1:laptop", "1:desktop", "2:laptop"

BASE = make_observation()
EDITED = make_observation(content="We keep memory in SQLite, with WAL.", updated_at=TS_LATER)
TOMBSTONE = make_observation(deleted_at=TS_LATER, updated_at=TS_LATER)
PERSONAL = make_observation(scope="personal")
PERSONAL_EDITED = make_observation(scope="personal", content="edited")

# Stored at version 3, written by Alice's laptop on top of version 2 (see make_stored).
# (name, stored, change, member, writer, expected verdict)
CASES: list[tuple[str, StoredObservation | None, IncomingChange, int, str, Verdict]] = [
    ("new, no base", None, make_change(BASE, None), ALICE, ALICE_LAPTOP, Verdict.INSERT),
    ("new, any base", None, make_change(BASE, 9), ALICE, ALICE_LAPTOP, Verdict.INSERT),
    ("new personal", None, make_change(PERSONAL, None), BOB, BOB_LAPTOP, Verdict.INSERT),
    ("new tombstone", None, make_change(TOMBSTONE, None), BOB, BOB_LAPTOP, Verdict.INSERT),
    ("replay, current base", make_stored(BASE), make_change(BASE, 3), ALICE, ALICE_LAPTOP,
     Verdict.UNCHANGED),
    ("replay, stale base", make_stored(BASE), make_change(BASE, 1), BOB, BOB_LAPTOP,
     Verdict.UNCHANGED),
    ("replay, no base", make_stored(BASE), make_change(BASE, None), BOB, BOB_LAPTOP,
     Verdict.UNCHANGED),
    ("replay, other timestamps", make_stored(BASE), make_change(with_timestamps(BASE, TS_LATER), 1),
     BOB, BOB_LAPTOP, Verdict.UNCHANGED),
    ("replayed delete", make_stored(TOMBSTONE), make_change(replace(TOMBSTONE, deleted_at=TS), 1),
     BOB, BOB_LAPTOP, Verdict.UNCHANGED),
    ("edit on current", make_stored(BASE), make_change(EDITED, 3), ALICE, ALICE_LAPTOP,
     Verdict.UPDATE),
    ("teammate edit on current", make_stored(BASE), make_change(EDITED, 3), BOB, BOB_LAPTOP,
     Verdict.UPDATE),
    ("delete on current", make_stored(BASE), make_change(TOMBSTONE, 3), BOB, BOB_LAPTOP,
     Verdict.UPDATE),
    ("undelete on current", make_stored(TOMBSTONE), make_change(BASE, 3), BOB, BOB_LAPTOP,
     Verdict.UPDATE),
    ("owner makes it personal", make_stored(BASE), make_change(PERSONAL, 3), ALICE, ALICE_DESKTOP,
     Verdict.UPDATE),
    ("owner edits personal", make_stored(PERSONAL), make_change(PERSONAL_EDITED, 3), ALICE,
     ALICE_LAPTOP, Verdict.UPDATE),
    ("resend over own unacknowledged write", make_stored(BASE), make_change(EDITED, 2), ALICE,
     ALICE_LAPTOP, Verdict.UPDATE),
    ("resend of own insert", make_stored(BASE, version=1, based_on=None),
     make_change(EDITED, None), ALICE, ALICE_LAPTOP, Verdict.UPDATE),
    ("stale edit", make_stored(BASE), make_change(EDITED, 2), BOB, BOB_LAPTOP, Verdict.CONFLICT),
    ("stale edit, same member other device", make_stored(BASE), make_change(EDITED, 2), ALICE,
     ALICE_DESKTOP, Verdict.CONFLICT),
    ("same writer, older base", make_stored(BASE), make_change(EDITED, 1), ALICE, ALICE_LAPTOP,
     Verdict.CONFLICT),
    ("same writer, newer base", make_stored(BASE), make_change(EDITED, 4), ALICE, ALICE_LAPTOP,
     Verdict.CONFLICT),
    ("no base over existing", make_stored(BASE), make_change(EDITED, None), BOB, BOB_LAPTOP,
     Verdict.CONFLICT),
    ("no base over own non-insert", make_stored(BASE), make_change(EDITED, None), ALICE,
     ALICE_LAPTOP, Verdict.CONFLICT),
    ("stale edit of tombstone", make_stored(TOMBSTONE), make_change(EDITED, 2), BOB, BOB_LAPTOP,
     Verdict.CONFLICT),
    ("stale delete", make_stored(EDITED), make_change(TOMBSTONE, 2), BOB, BOB_LAPTOP,
     Verdict.CONFLICT),
    ("base from the future", make_stored(BASE), make_change(EDITED, 99), BOB, BOB_LAPTOP,
     Verdict.CONFLICT),
    ("teammate's personal", make_stored(PERSONAL), make_change(PERSONAL_EDITED, 3), BOB,
     BOB_LAPTOP, Verdict.FORBIDDEN),
    ("teammate's personal, same content", make_stored(PERSONAL), make_change(PERSONAL, 3), BOB,
     BOB_LAPTOP, Verdict.FORBIDDEN),
    ("teammate's personal, made project", make_stored(PERSONAL), make_change(BASE, 3), BOB,
     BOB_LAPTOP, Verdict.FORBIDDEN),
    ("teammate's personal, stale", make_stored(PERSONAL), make_change(PERSONAL_EDITED, 1), BOB,
     BOB_LAPTOP, Verdict.FORBIDDEN),
    ("delete teammate's personal", make_stored(PERSONAL),
     make_change(replace(PERSONAL, deleted_at=TS), 3), BOB, BOB_LAPTOP, Verdict.FORBIDDEN),
    ("make teammate's personal", make_stored(BASE), make_change(PERSONAL, 3), BOB, BOB_LAPTOP,
     Verdict.FORBIDDEN),
    ("make teammate's personal, stale", make_stored(BASE), make_change(PERSONAL, 1), BOB,
     BOB_LAPTOP, Verdict.FORBIDDEN),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stored", "change", "member", "writer", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decision_table(
    stored: StoredObservation | None,
    change: IncomingChange,
    member: int,
    writer: str,
    expected: Verdict,
) -> None:
    """Each row of the decision table gets its verdict."""
    assert decide(stored, change, member, writer).verdict is expected


def test_verdict_values_are_the_wire_statuses() -> None:
    """Verdicts carry the status words the API reports."""
    assert {v.value for v in Verdict} == {
        "inserted",
        "updated",
        "unchanged",
        "conflict",
        "forbidden",
    }


def test_forbidden_reasons_name_the_rule() -> None:
    """A FORBIDDEN decision explains which rule refused it; other verdicts carry no reason."""
    other_personal = decide(make_stored(PERSONAL), make_change(PERSONAL, 3), BOB, BOB_LAPTOP)
    assert other_personal == Decision(Verdict.FORBIDDEN, "personal observation of another member")
    make_personal = decide(make_stored(BASE), make_change(PERSONAL, 3), BOB, BOB_LAPTOP)
    assert make_personal.verdict is Verdict.FORBIDDEN
    assert "only the member who created it" in make_personal.reason
    assert decide(make_stored(BASE), make_change(EDITED, 3), BOB, BOB_LAPTOP).reason == ""
    assert decide(None, make_change(BASE), BOB, BOB_LAPTOP) == Decision(Verdict.INSERT)


def _forbidden(stored: StoredObservation, change: IncomingChange, member: int) -> bool:
    """The two forbidden rules, stated independently of the implementation."""
    if stored.owner_member_id == member:
        return False
    return stored.observation.scope == "personal" or change.observation.scope == "personal"


bases = st.one_of(st.none(), versions)


@RELAXED
@given(observations(), bases, members, writers)
def test_insert_when_nothing_is_stored(
    observation: Observation, base: int | None, member: int, writer: str
) -> None:
    """With nothing stored, any change is inserted whatever base it names."""
    assert decide(None, IncomingChange(observation, base), member, writer).verdict is Verdict.INSERT


@RELAXED
@given(stored_observations(), bases, members, writers, st.sampled_from([TS, TS_LATER]))
def test_identical_content_is_never_a_conflict(
    stored: StoredObservation, base: int | None, member: int, writer: str, stamp: str
) -> None:
    """Re-pushing what is stored (any base, any timestamps) is unchanged unless forbidden."""
    change = IncomingChange(with_timestamps(stored.observation, stamp), base)
    verdict = decide(stored, change, member, writer).verdict
    assert verdict is not Verdict.CONFLICT
    expected = Verdict.FORBIDDEN if _forbidden(stored, change, member) else Verdict.UNCHANGED
    assert verdict is expected


@RELAXED
@given(stored_observations(), observations(), members, writers)
def test_edit_on_current_version_is_never_a_conflict(
    stored: StoredObservation, observation: Observation, member: int, writer: str
) -> None:
    """A change based on the stored version is applied (or unchanged) unless forbidden."""
    change = IncomingChange(observation, stored.version)
    verdict = decide(stored, change, member, writer).verdict
    assert verdict is not Verdict.CONFLICT
    if _forbidden(stored, change, member):
        assert verdict is Verdict.FORBIDDEN
    elif same_content(stored.observation, observation):
        assert verdict is Verdict.UNCHANGED
    else:
        assert verdict is Verdict.UPDATE


@RELAXED
@given(stored_observations(), observations(), bases, members, writers)
def test_stale_base_from_another_writer_conflicts(
    stored: StoredObservation, observation: Observation, base: int | None, member: int, writer: str
) -> None:
    """A stale base from a different writer with different content is a conflict (or forbidden)."""
    assume(base != stored.version and writer != stored.writer)
    assume(not same_content(stored.observation, observation))
    change = IncomingChange(observation, base)
    verdict = decide(stored, change, member, writer).verdict
    expected = Verdict.FORBIDDEN if _forbidden(stored, change, member) else Verdict.CONFLICT
    assert verdict is expected


@RELAXED
@given(stored_observations(), observations(), bases, members, writers)
def test_tombstone_is_never_revived_by_a_stale_edit(
    stored: StoredObservation, observation: Observation, base: int | None, member: int, writer: str
) -> None:
    """A live change on a stale base never updates a deleted observation."""
    stored = replace(stored, observation=replace(stored.observation, deleted_at=TS))
    live = replace(observation, deleted_at=None)
    assume(base != stored.version)
    assume(writer != stored.writer or base != stored.based_on)
    verdict = decide(stored, IncomingChange(live, base), member, writer).verdict
    assert verdict in (Verdict.CONFLICT, Verdict.FORBIDDEN)


@RELAXED
@given(stored_observations(), observations(), bases, writers)
def test_another_members_personal_observation_is_forbidden(
    stored: StoredObservation, observation: Observation, base: int | None, writer: str
) -> None:
    """Any change to another member's personal observation is forbidden, even a replay."""
    stored = replace(stored, observation=replace(stored.observation, scope="personal"))
    member = stored.owner_member_id + 1
    decision = decide(stored, IncomingChange(observation, base), member, writer)
    assert decision.verdict is Verdict.FORBIDDEN
    assert decision.reason


@RELAXED
@given(stored_observations(), observations(), bases, writers)
def test_making_a_teammates_observation_personal_is_forbidden(
    stored: StoredObservation, observation: Observation, base: int | None, writer: str
) -> None:
    """Only the owner can make an observation personal, whatever the base."""
    change = IncomingChange(replace(observation, scope="personal"), base)
    member = stored.owner_member_id + 1
    assert decide(stored, change, member, writer).verdict is Verdict.FORBIDDEN


@RELAXED
@given(stored_observations(), observations(), bases, writers)
def test_owner_is_never_forbidden(
    stored: StoredObservation, observation: Observation, base: int | None, writer: str
) -> None:
    """The owning member may change anything of theirs, personal or not."""
    change = IncomingChange(observation, base)
    verdict = decide(stored, change, stored.owner_member_id, writer).verdict
    assert verdict is not Verdict.FORBIDDEN


@RELAXED
@given(stored_observations(), observations(), bases, members, writers)
def test_update_only_on_current_base_or_own_resend(
    stored: StoredObservation, observation: Observation, base: int | None, member: int, writer: str
) -> None:
    """An UPDATE happens only on the current version or the same writer's resend of its base."""
    verdict = decide(stored, IncomingChange(observation, base), member, writer).verdict
    if verdict is Verdict.UPDATE:
        assert base == stored.version or (writer == stored.writer and base == stored.based_on)
        assert not same_content(stored.observation, observation)


@RELAXED
@given(stored_observations(), observations(), bases, members, writers)
def test_decide_is_total_and_pure(
    stored: StoredObservation, observation: Observation, base: int | None, member: int, writer: str
) -> None:
    """Deciding twice gives the same answer and never mutates its inputs."""
    change = IncomingChange(observation, base)
    before = (replace(stored), replace(change))
    first = decide(stored, change, member, writer)
    assert decide(stored, change, member, writer) == first
    assert (stored, change) == before
    assert (first.verdict is Verdict.FORBIDDEN) == bool(first.reason)
