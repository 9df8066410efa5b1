"""Hypothesis strategies and small builders shared by the core unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from memento_syncd.core.hashing import content_hash
from memento_syncd.core.observation import IncomingChange, Observation, StoredObservation

# Property tests here are pure and fast; no deadline keeps them from flaking on a busy machine.
RELAXED = settings(deadline=None)

TS = "2025-01-15T10:30:00Z"
TS_LATER = "2025-01-16T08:00:00Z"

# JSON values as ``json.loads`` produces them (no NaN/Infinity: the server rejects those).
json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)

# Text that encodes as UTF-8: everything except lone surrogates.
valid_text = st.text(alphabet=st.characters(codec="utf-8"))

# Fixed UTC offsets whole-minute and strictly inside +-24h, as RFC 3339 can write them.
minute_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Any offset Python allows (including seconds), and real zones with DST rules.
any_offsets = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59, seconds=-59),
    max_value=timedelta(hours=23, minutes=59, seconds=59),
).map(timezone)
zones = st.one_of(st.just(UTC), minute_offsets, any_offsets, st.timezones())

# Years 1001..9998 keep every zone conversion inside datetime's range and four-digit years.
aware_datetimes = st.datetimes(
    min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones
)


def make_observation(**fields: Any) -> Observation:
    """An Observation with plain defaults; ``fields`` override them (content_hash follows)."""
    values: dict[str, Any] = {
        "sync_id": "obs-1",
        "project": "p",
        "type": "decision",
        "title": "Use SQLite",
        "content": "We keep memory in SQLite.",
        "topic_key": None,
        "scope": "project",
        "created_at": TS,
        "updated_at": TS,
        "deleted_at": None,
    }
    values.update(fields)
    values.setdefault("content_hash", content_hash(values["content"]))
    return Observation(**values)


def make_stored(
    observation: Observation | None = None,
    *,
    version: int = 3,
    owner_member_id: int = 1,
    author: str = "alice",
    writer: str = "1:laptop",
    based_on: int | None = 2,
) -> StoredObservation:
    """A stored observation at ``version`` written by ``writer`` on top of ``based_on``."""
    return StoredObservation(
        observation=observation or make_observation(),
        version=version,
        owner_member_id=owner_member_id,
        author=author,
        writer=writer,
        based_on=based_on,
    )


def make_change(observation: Observation | None = None, base: int | None = 3) -> IncomingChange:
    """A pushed change of ``observation`` based on server version ``base``."""
    return IncomingChange(observation=observation or make_observation(), base_version=base)


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    """Observations over tiny alphabets so that equal and unequal content both come up."""
    content = draw(st.sampled_from(["x", "y"]))
    return Observation(
        sync_id="obs-1",
        project=draw(st.sampled_from(["p", "q"])),
        type=draw(st.sampled_from(["decision", "bug"])),
        title=draw(st.sampled_from(["a", "b"])),
        content=content,
        topic_key=draw(st.sampled_from([None, "k"])),
        scope=draw(st.sampled_from(["project", "personal"])),
        content_hash=content_hash(content),
        created_at=draw(st.sampled_from([TS, TS_LATER])),
        updated_at=draw(st.sampled_from([TS, TS_LATER])),
        deleted_at=draw(st.sampled_from([None, TS, TS_LATER])),
    )


versions = st.integers(min_value=1, max_value=6)
members = st.integers(min_value=1, max_value=3)
writers = st.sampled_from(["1:laptop", "1:desktop", "2:laptop", "3:"])


@st.composite
def stored_observations(draw: st.DrawFn) -> StoredObservation:
    """A stored observation with arbitrary bookkeeping (based_on below version or None)."""
    version = draw(versions)
    based_on = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=version)))
    return StoredObservation(
        observation=draw(observations()),
        version=version,
        owner_member_id=draw(members),
        author="someone",
        writer=draw(writers),
        based_on=None if version == 1 else based_on,
    )


def with_timestamps(observation: Observation, stamp: str) -> Observation:
    """The same observation re-stamped, as a replayed push from another clock would be."""
    deleted = None if observation.deleted_at is None else stamp
    return replace(observation, created_at=stamp, updated_at=stamp, deleted_at=deleted)
