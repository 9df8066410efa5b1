"""Observation values: what counts as the same content, and value semantics."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given

from memento_syncd.core.observation import SCOPES, Observation, deleted_outright, same_content
from tests.core.strategies import (
    RELAXED,
    TS,
    TS_LATER,
    make_observation,
    observations,
    with_timestamps,
)


def test_scopes_are_project_and_personal() -> None:
    """The two scopes on the wire are 'project' and 'personal'."""
    assert SCOPES == ("project", "personal")


def test_observation_is_frozen() -> None:
    """An Observation cannot be mutated in place."""
    observation = make_observation()
    with pytest.raises(dataclasses.FrozenInstanceError):
        observation.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        {"project": "other"},
        {"type": "bug"},
        {"title": "Other title"},
        {"content": "Other content"},
        {"topic_key": "topic/x"},
        {"scope": "personal"},
        {"deleted_at": TS},
    ],
)
def test_each_content_field_matters(change: dict[str, Any]) -> None:
    """Changing project, type, title, content, topic_key, scope or deletion changes content."""
    base = make_observation()
    assert not same_content(base, make_observation(**change))
    assert not same_content(make_observation(**change), base)


@pytest.mark.parametrize(
    "change",
    [
        {"created_at": TS_LATER},
        {"updated_at": TS_LATER},
        {"sync_id": "obs-2"},
        {"content_hash": "0" * 64},
    ],
)
def test_bookkeeping_fields_do_not_matter(change: dict[str, Any]) -> None:
    """Timestamps, sync_id and the (derived) content_hash are not compared."""
    assert same_content(make_observation(), make_observation(**change))


def test_deletion_time_does_not_matter() -> None:
    """Two tombstones deleted at different times say the same thing."""
    assert same_content(make_observation(deleted_at=TS), make_observation(deleted_at=TS_LATER))


def test_none_topic_key_differs_from_empty() -> None:
    """A missing topic key and an empty one are different content."""
    assert not same_content(make_observation(topic_key=None), make_observation(topic_key=""))


@RELAXED
@given(observations(), observations())
def test_same_content_is_an_equivalence(a: Observation, b: Observation) -> None:
    """same_content is reflexive and symmetric, and ignores re-stamping."""
    assert same_content(a, a)
    assert same_content(a, b) == same_content(b, a)
    assert same_content(a, with_timestamps(a, TS_LATER))
    assert same_content(a, b) == same_content(replace(a, updated_at=TS), replace(b, updated_at=TS))


@given(obs=observations())
def test_a_row_deleted_outright_is_a_tombstone_stamped_when_learnt(obs: Observation) -> None:
    """A live version becomes a tombstone deleted and updated at ``now``, its content
    kept; a tombstone stays exactly as it was."""
    gone = deleted_outright(obs, TS_LATER)
    if obs.deleted_at is not None:
        assert gone == obs
        return
    assert (gone.deleted_at, gone.updated_at) == (TS_LATER, TS_LATER)
    assert replace(gone, deleted_at=None, updated_at=obs.updated_at) == obs
