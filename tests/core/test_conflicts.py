"""Conflict resolution: last write wins, three-way merge, manual, on every device alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from functools import reduce
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from memento_syncd.core.conflicts import (
    MERGED_FIELDS,
    MergeResult,
    Resolution,
    Strategy,
    merge3,
    newer,
    resolve,
    same_record,
)
from memento_syncd.core.hashing import content_hash
from memento_syncd.core.observation import Observation
from memento_syncd.core.timestamps import parse_timestamp
from tests.core.strategies import RELAXED, TS, TS_LATER, make_observation, minute_offsets

# One instant written three ways, a fraction of a second after it, and a day later.
TS_OFFSET = "2025-01-15T11:30:00+01:00"  # == TS
TS_ZERO_FRACTION = "2025-01-15T10:30:00.000000Z"  # == TS
TS_HALF = "2025-01-15T10:30:00.500000Z"  # after TS, though it sorts before it as a string
STAMPS = [TS, TS_OFFSET, TS_ZERO_FRACTION, TS_HALF, TS_LATER]

# Tiny alphabets so that equal values, one-sided and two-sided changes all come up often.
FIELD_VALUES: dict[str, list[Any]] = {
    "project": ["p", "q"],
    "type": ["decision", "bug"],
    "title": ["a", "b", "c"],
    "content": ["x", "y", "z"],
    "topic_key": [None, "", "k"],
    "scope": ["project", "personal"],
    "deleted_at": [None, TS, TS_LATER],
}
stamps = st.sampled_from(STAMPS)
STRATEGIES = (Strategy.LAST_WRITE_WINS, Strategy.MERGE)


def build(fields: dict[str, Any], created_at: str, updated_at: str) -> Observation:
    """An observation with the given merged fields and timestamps (content_hash follows)."""
    return make_observation(**fields, created_at=created_at, updated_at=updated_at)


@st.composite
def records(draw: st.DrawFn) -> Observation:
    """Any observation over the tiny alphabets, timestamps in mixed forms."""
    fields = {name: draw(st.sampled_from(values)) for name, values in FIELD_VALUES.items()}
    return build(fields, draw(stamps), draw(stamps))


@st.composite
def edits_of(draw: st.DrawFn, base: Observation) -> Observation:
    """An edit of ``base``: each merged field kept or redrawn (possibly to the same value)."""
    fields = {
        name: draw(st.sampled_from(values)) if draw(st.booleans()) else getattr(base, name)
        for name, values in FIELD_VALUES.items()
    }
    return build(fields, draw(stamps), draw(stamps))


@st.composite
def triples(draw: st.DrawFn) -> tuple[Observation, Observation, Observation]:
    """A base and two concurrent edits of it."""
    base = draw(records())
    return base, draw(edits_of(base)), draw(edits_of(base))


def fields_of(obs: Observation) -> dict[str, Any]:
    """The merged fields of an observation, by name."""
    return {name: getattr(obs, name) for name in MERGED_FIELDS}


def restamp(obs: Observation, zone: timezone) -> Observation:
    """The same observation with its timestamps written in another UTC offset."""

    def shift(text: str) -> str:
        return parse_timestamp(text).astimezone(zone).isoformat()

    return replace(obs, created_at=shift(obs.created_at), updated_at=shift(obs.updated_at))


# --- newer -------------------------------------------------------------------------------

OLD = make_observation(title="old", updated_at=TS)
NEW = make_observation(title="new", updated_at=TS_LATER)
LIVE = make_observation()
DEAD = make_observation(deleted_at=TS)

# (name, a, b, expected winner)
NEWER_CASES: list[tuple[str, Observation, Observation, Observation]] = [
    ("later updated_at wins", OLD, NEW, NEW),
    (
        "fraction of a second counts",
        make_observation(title="b", updated_at=TS),
        make_observation(title="a", updated_at=TS_HALF),
        make_observation(title="a", updated_at=TS_HALF),
    ),
    (
        "offset compared as an instant",
        make_observation(title="b", updated_at="2025-01-15T10:30:01+01:00"),
        make_observation(title="a", updated_at="2025-01-15T10:00:00Z"),
        make_observation(title="a", updated_at="2025-01-15T10:00:00Z"),
    ),
    (
        "tie: larger title wins",
        make_observation(title="a"),
        make_observation(title="b"),
        make_observation(title="b"),
    ),
    (
        "tie in another form: fields decide",
        make_observation(title="b", updated_at=TS),
        make_observation(title="a", updated_at=TS_OFFSET),
        make_observation(title="b", updated_at=TS),
    ),
    ("tie: tombstone beats live record", LIVE, DEAD, DEAD),
    (
        "tie: a topic key beats none",
        make_observation(topic_key=None),
        make_observation(topic_key="k"),
        make_observation(topic_key="k"),
    ),
    (
        "tie: an empty topic key beats none",
        make_observation(topic_key=None),
        make_observation(topic_key=""),
        make_observation(topic_key=""),
    ),
    (
        "tie: earlier fields decide before later ones",
        make_observation(project="q", content="a"),
        make_observation(project="p", content="z"),
        make_observation(project="q", content="a"),
    ),
]


@pytest.mark.parametrize(
    ("name", "a", "b", "expected"), NEWER_CASES, ids=[c[0] for c in NEWER_CASES]
)
def test_newer_table(name: str, a: Observation, b: Observation, expected: Observation) -> None:
    """Each row's winner is picked in both argument orders."""
    assert newer(a, b) == expected
    assert newer(b, a) == expected


def test_newer_returns_first_when_equal() -> None:
    """Two equal observations give back the first argument itself."""
    a, b = make_observation(), make_observation()
    assert newer(a, b) is a


@RELAXED
@given(records(), records())
def test_newer_is_order_independent(a: Observation, b: Observation) -> None:
    """Swapping the arguments never changes the choice, which is one of them."""
    assert newer(a, b) == newer(b, a)
    assert newer(a, b) in (a, b)


@RELAXED
@given(records(), records())
def test_newer_picks_the_later_instant(a: Observation, b: Observation) -> None:
    """When the updated_at instants differ, the later one wins."""
    ta, tb = parse_timestamp(a.updated_at), parse_timestamp(b.updated_at)
    assume(ta != tb)
    assert newer(a, b) == (a if ta > tb else b)


@RELAXED
@given(records(), records(), records())
def test_newer_is_associative(a: Observation, b: Observation, c: Observation) -> None:
    """Folding newer over three records gives the same result in any grouping."""
    assert newer(newer(a, b), c) == newer(a, newer(b, c))


@RELAXED
@given(records(), records(), minute_offsets, minute_offsets)
def test_newer_ignores_timestamp_form(
    a: Observation, b: Observation, zone_a: timezone, zone_b: timezone
) -> None:
    """Writing the timestamps in other UTC offsets never changes the chosen record's fields."""
    before = newer(a, b)
    after = newer(restamp(a, zone_a), restamp(b, zone_b))
    assert same_record(before, after)


# --- same_record -------------------------------------------------------------------------


def test_same_record_ignores_timestamps_but_not_deleted_at() -> None:
    """Only merged fields count, deleted_at compared exactly."""
    assert same_record(make_observation(updated_at=TS), make_observation(updated_at=TS_LATER))
    assert not same_record(make_observation(deleted_at=TS), make_observation(deleted_at=TS_LATER))
    assert not same_record(make_observation(topic_key=""), make_observation(topic_key=None))


# --- merge3 ------------------------------------------------------------------------------

BASE = make_observation(title="t", content="c", created_at=TS, updated_at=TS)

# (name, base, local, remote, expected merged fields (changes from BASE), expected lost)
MERGE_CASES: list[
    tuple[str, Observation | None, Observation, Observation, dict[str, Any], dict[str, object]]
] = [
    ("only local changed", BASE, replace(BASE, title="L"), BASE, {"title": "L"}, {}),
    ("only remote changed", BASE, BASE, replace(BASE, title="R"), {"title": "R"}, {}),
    (
        "both changed alike",
        BASE,
        replace(BASE, title="S"),
        replace(BASE, title="S"),
        {"title": "S"},
        {},
    ),
    (
        "different fields combine",
        BASE,
        replace(BASE, title="L"),
        replace(BASE, content="R"),
        {"title": "L", "content": "R"},
        {},
    ),
    (
        "both changed, newer wins",
        BASE,
        replace(BASE, title="L", updated_at=TS_LATER),
        replace(BASE, title="R", updated_at=TS_HALF),
        {"title": "L"},
        {"title": "R"},
    ),
    (
        "both changed, fraction decides",
        BASE,
        replace(BASE, title="L", updated_at=TS),
        replace(BASE, title="R", updated_at=TS_HALF),
        {"title": "R"},
        {"title": "L"},
    ),
    (
        "delete meets edit",
        BASE,
        replace(BASE, deleted_at=TS_LATER),
        replace(BASE, title="R"),
        {"deleted_at": TS_LATER, "title": "R"},
        {},
    ),
    (
        "topic key set vs cleared to empty",
        replace(BASE, topic_key="k"),
        replace(BASE, topic_key=None, updated_at=TS_LATER),
        replace(BASE, topic_key=""),
        {"topic_key": None},
        {"topic_key": ""},
    ),
    (
        "no base: newer record wins whole",
        None,
        replace(BASE, title="L", content="same", updated_at=TS_LATER),
        replace(BASE, title="R", content="same", scope="personal"),
        {"title": "L", "content": "same"},
        {"title": "R", "scope": "personal"},
    ),
    (
        "no base, same record",
        None,
        replace(BASE, title="S"),
        replace(BASE, title="S"),
        {"title": "S"},
        {},
    ),
]


@pytest.mark.parametrize(
    ("name", "base", "local", "remote", "changes", "lost"),
    MERGE_CASES,
    ids=[c[0] for c in MERGE_CASES],
)
def test_merge3_table(
    name: str,
    base: Observation | None,
    local: Observation,
    remote: Observation,
    changes: dict[str, Any],
    lost: dict[str, object],
) -> None:
    """Each row merges to the expected fields and loses the expected values, in both orders."""
    for first, second in ((local, remote), (remote, local)):
        result = merge3(base, first, second)
        assert fields_of(result.merged) == {**fields_of(BASE), **changes}
        assert result.lost == lost
        assert result.merged.content_hash == content_hash(result.merged.content)


def test_merge3_timestamps_and_identity() -> None:
    """The merge is created at the earlier, updated at the later instant, and keeps sync_id."""
    local = replace(BASE, title="L", created_at=TS_HALF, updated_at=TS_HALF)
    remote = replace(BASE, content="R", created_at=TS_OFFSET, updated_at=TS_OFFSET)
    merged = merge3(BASE, local, remote).merged
    assert (merged.created_at, merged.updated_at) == (TS_OFFSET, TS_HALF)
    assert merged.sync_id == BASE.sync_id
    assert merged.content_hash == content_hash("R")


def test_merge3_rejects_different_observations() -> None:
    """Records with different sync_ids are never merged."""
    with pytest.raises(ValueError, match="different observations"):
        merge3(BASE, BASE, replace(BASE, sync_id="obs-2"))
    with pytest.raises(ValueError, match="different observations"):
        resolve(Strategy.LAST_WRITE_WINS, replace(BASE, sync_id="obs-2"), BASE, BASE)


@RELAXED
@given(triples())
def test_merge3_is_symmetric(triple: tuple[Observation, Observation, Observation]) -> None:
    """Swapping local and remote gives the same merge and the same lost values."""
    base, local, remote = triple
    assert merge3(base, local, remote) == merge3(base, remote, local)
    assert merge3(None, local, remote) == merge3(None, remote, local)


@RELAXED
@given(triples())
def test_merge3_of_identical_edits(triple: tuple[Observation, Observation, Observation]) -> None:
    """Merging an edit with itself gives that edit back, losing nothing."""
    base, edit, _ = triple
    for start in (base, None):
        result = merge3(start, edit, edit)
        assert result == MergeResult(merged=edit, lost={})


@RELAXED
@given(triples())
def test_merge3_one_side_unchanged(triple: tuple[Observation, Observation, Observation]) -> None:
    """When one side still equals the base, the other side's fields are taken whole."""
    base, edit, _ = triple
    assert fields_of(merge3(base, base, edit).merged) == fields_of(edit)
    assert fields_of(merge3(base, edit, base).merged) == fields_of(edit)
    assert merge3(base, base, edit).lost == {}


@RELAXED
@given(triples())
def test_merge3_field_rules(triple: tuple[Observation, Observation, Observation]) -> None:
    """One-sided changes combine; exactly the fields both sides changed apart are lost."""
    base, local, remote = triple
    result = merge3(base, local, remote)
    winner = newer(local, remote)
    loser = remote if winner is local else local
    expected_lost = {}
    for name in MERGED_FIELDS:
        b, left, right = getattr(base, name), getattr(local, name), getattr(remote, name)
        got = getattr(result.merged, name)
        if left == b:
            assert got == right
        elif right in (b, left):
            assert got == left
        else:
            assert got == getattr(winner, name)
            expected_lost[name] = getattr(loser, name)
    assert result.lost == expected_lost
    assert result.merged.content_hash == content_hash(result.merged.content)
    assert result.merged.sync_id == base.sync_id


@RELAXED
@given(triples())
def test_merge3_without_base_is_last_write_wins(
    triple: tuple[Observation, Observation, Observation],
) -> None:
    """Without a base the newer record wins and lost holds every field the other differs in."""
    _, local, remote = triple
    result = merge3(None, local, remote)
    winner = newer(local, remote)
    loser = remote if winner is local else local
    assert fields_of(result.merged) == fields_of(winner)
    assert result.lost == {
        name: getattr(loser, name)
        for name in MERGED_FIELDS
        if getattr(loser, name) != getattr(winner, name)
    }


@RELAXED
@given(triples())
def test_merge3_timestamps_are_min_and_max(
    triple: tuple[Observation, Observation, Observation],
) -> None:
    """created_at is the earlier and updated_at the later of the two instants."""
    base, local, remote = triple
    merged = merge3(base, local, remote).merged
    created = [parse_timestamp(o.created_at) for o in (local, remote)]
    updated = [parse_timestamp(o.updated_at) for o in (local, remote)]
    assert parse_timestamp(merged.created_at) == min(created)
    assert parse_timestamp(merged.updated_at) == max(updated)
    assert merged.created_at in (local.created_at, remote.created_at)
    assert merged.updated_at in (local.updated_at, remote.updated_at)


@RELAXED
@given(triples(), minute_offsets, minute_offsets)
def test_merge3_ignores_timestamp_form(
    triple: tuple[Observation, Observation, Observation], zone_l: timezone, zone_r: timezone
) -> None:
    """Rewriting timestamps in other offsets merges to the same fields at the same instants."""
    base, local, remote = triple
    before = merge3(base, local, remote)
    after = merge3(base, restamp(local, zone_l), restamp(remote, zone_r))
    assert fields_of(after.merged) == fields_of(before.merged)
    assert after.lost == before.lost
    for stamp in ("created_at", "updated_at"):
        moment = parse_timestamp(getattr(after.merged, stamp))
        assert moment == parse_timestamp(getattr(before.merged, stamp))


# --- resolve -----------------------------------------------------------------------------

LATE_TITLE = replace(BASE, title="L", updated_at=TS_LATER)
EARLY_TITLE = replace(BASE, title="R", updated_at=TS_HALF)
CONTENT_EDIT = replace(BASE, content="R", updated_at=TS_HALF)


@pytest.mark.parametrize(
    ("strategy", "local", "remote", "expected"),
    [
        (
            Strategy.LAST_WRITE_WINS,
            EARLY_TITLE,
            LATE_TITLE,
            Resolution(kept=LATE_TITLE, loser=EARLY_TITLE, manual=False),
        ),
        (
            Strategy.LAST_WRITE_WINS,
            BASE,
            replace(BASE, updated_at=TS_LATER),
            Resolution(kept=replace(BASE, updated_at=TS_LATER), loser=None, manual=False),
        ),
        (
            Strategy.MERGE,
            LATE_TITLE,
            EARLY_TITLE,
            Resolution(kept=LATE_TITLE, loser=EARLY_TITLE, manual=False),
        ),
        (
            Strategy.MERGE,
            LATE_TITLE,
            CONTENT_EDIT,
            Resolution(
                kept=replace(LATE_TITLE, content="R", content_hash=content_hash("R")),
                loser=None,
                manual=False,
            ),
        ),
        (
            Strategy.MANUAL,
            EARLY_TITLE,
            LATE_TITLE,
            Resolution(kept=EARLY_TITLE, loser=LATE_TITLE, manual=True),
        ),
    ],
    ids=["lww", "lww same record", "merge loses", "merge combines", "manual"],
)
def test_resolve_table(
    strategy: Strategy, local: Observation, remote: Observation, expected: Resolution
) -> None:
    """Each strategy keeps, drops or defers as documented."""
    assert resolve(strategy, BASE, local, remote) == expected


def test_strategy_values() -> None:
    """Strategies are strings as configuration files name them."""
    assert [s.value for s in Strategy] == ["last_write_wins", "merge", "manual"]
    assert Strategy("merge") is Strategy.MERGE
    assert isinstance(Strategy.MANUAL, str)


@RELAXED
@given(triples(), st.sampled_from(STRATEGIES), st.booleans())
def test_resolve_ignores_argument_order(
    triple: tuple[Observation, Observation, Observation], strategy: Strategy, with_base: bool
) -> None:
    """Swapping local and remote gives the same kept record and the same loser."""
    base, local, remote = triple
    start = base if with_base else None
    assert resolve(strategy, start, local, remote) == resolve(strategy, start, remote, local)


@RELAXED
@given(triples(), st.booleans())
def test_resolve_losers(
    triple: tuple[Observation, Observation, Observation], with_base: bool
) -> None:
    """A loser is reported exactly when something was dropped, and it holds what was dropped."""
    base, local, remote = triple
    start = base if with_base else None
    lww = resolve(Strategy.LAST_WRITE_WINS, start, local, remote)
    assert lww.kept == newer(local, remote)
    assert (lww.loser is None) == same_record(local, remote)
    assert lww.loser in (None, local, remote)

    merged = resolve(Strategy.MERGE, start, local, remote)
    lost = merge3(start, local, remote).lost
    assert merged.kept == merge3(start, local, remote).merged
    assert (merged.loser is None) == (not lost)
    if merged.loser is not None:
        assert merged.loser in (local, remote)
        assert all(getattr(merged.loser, name) == value for name, value in lost.items())
    assert not lww.manual
    assert not merged.manual


@RELAXED
@given(triples(), st.booleans())
def test_resolve_manual_keeps_both(
    triple: tuple[Observation, Observation, Observation], with_base: bool
) -> None:
    """MANUAL keeps local, hands back remote, and asks the user."""
    base, local, remote = triple
    start = base if with_base else None
    assert resolve(Strategy.MANUAL, start, local, remote) == Resolution(local, remote, manual=True)


# --- convergence -------------------------------------------------------------------------


@st.composite
def concurrent_edits(draw: st.DrawFn) -> tuple[Observation, list[Observation], list[int]]:
    """A base, two to five concurrent edits of it, and an order to apply them in."""
    base = draw(records())
    edits = draw(st.lists(edits_of(base), min_size=2, max_size=5))
    order = draw(st.permutations(range(len(edits))))
    return base, edits, order


def fold(strategy: Strategy, base: Observation, edits: list[Observation]) -> Observation:
    """Resolve edits pairwise in the given order, as devices meeting them one by one would."""
    return reduce(lambda kept, edit: resolve(strategy, base, kept, edit).kept, edits)


@RELAXED
@given(concurrent_edits())
def test_last_write_wins_converges(case: tuple[Observation, list[Observation], list[int]]) -> None:
    """Any order of pairwise LWW resolutions ends at the globally newest edit."""
    base, edits, order = case
    reordered = [edits[i] for i in order]
    final = fold(Strategy.LAST_WRITE_WINS, base, reordered)
    assert final == fold(Strategy.LAST_WRITE_WINS, base, edits)
    assert all(newer(final, edit) == final for edit in edits)


@st.composite
def disjoint_edits(draw: st.DrawFn) -> tuple[Observation, list[Observation], list[int]]:
    """A base and concurrent edits that each change fields no other edit touches."""
    base = draw(records())
    count = draw(st.integers(min_value=2, max_value=5))
    owners = {name: draw(st.integers(min_value=-1, max_value=count - 1)) for name in MERGED_FIELDS}
    edits = []
    for index in range(count):
        fields = fields_of(base)
        for name, owner in owners.items():
            if owner == index:
                others = [v for v in FIELD_VALUES[name] if v != fields[name]]
                fields[name] = draw(st.sampled_from(others))
        edits.append(build(fields, draw(stamps), draw(stamps)))
    return base, edits, draw(st.permutations(range(count)))


@RELAXED
@given(disjoint_edits())
def test_merge_converges_on_disjoint_edits(
    case: tuple[Observation, list[Observation], list[int]],
) -> None:
    """Edits of disjoint fields merge pairwise to one record with every change, in any order."""
    base, edits, order = case
    final = fold(Strategy.MERGE, base, [edits[i] for i in order])
    assert final == fold(Strategy.MERGE, base, edits)
    expected = fields_of(base)
    for edit in edits:
        expected.update({k: v for k, v in fields_of(edit).items() if v != getattr(base, k)})
    assert fields_of(final) == expected
    assert parse_timestamp(final.updated_at) == max(parse_timestamp(e.updated_at) for e in edits)
    assert parse_timestamp(final.created_at) == min(parse_timestamp(e.created_at) for e in edits)


def test_zero_fraction_is_the_same_instant() -> None:
    """The timestamp forms the tests mix really are one instant, and TS_HALF sorts first as text."""
    same = {parse_timestamp(s) for s in (TS, TS_OFFSET, TS_ZERO_FRACTION)}
    assert len(same) == 1
    assert parse_timestamp(TS_HALF) - parse_timestamp(TS) == timedelta(milliseconds=500)
    assert TS_HALF < TS
