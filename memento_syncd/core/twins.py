"""Twins folded into one row: when two observations are twins, and what their row shows.

Pure. Dedup folds a pulled observation into a local row it duplicates; the two (or
more) identities stay separate on the server and on devices that never saw them as
twins. For every device to end with the same live rows, what a folded row shows must
be a function of the members' latest versions alone, not of the order in which the
device learnt them, and a member that stops being a twin must leave the fold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from memento_syncd.core import similarity
from memento_syncd.core.conflicts import newer
from memento_syncd.core.observation import Observation
from memento_syncd.core.timestamps import parse_timestamp

# The sync_id every member takes while the fold is computed: which identity a device
# holds the row under must not decide which content wins a tie.
_FOLDED = "folded"


def twin_kind(a: Observation, b: Observation, threshold: similarity.Threshold) -> str | None:
    """``"exact"`` or ``"similar"`` if ``a`` and ``b`` are twins as dedup defines them, else None.

    Exact: same project, scope, topic_key and content hash. Similar: same project and
    scope, topic_keys not both set and different (an empty one is not set), and the
    Jaccard similarity of the word sets of title and content above ``threshold``.
    Deleted observations are no one's twin.
    """
    if a.deleted_at is not None or b.deleted_at is not None:
        return None
    if a.project != b.project or a.scope != b.scope:
        return None
    key_a, key_b = topic_of(a), topic_of(b)
    if key_a == key_b and a.content_hash == b.content_hash:
        return "exact"
    if key_a is not None and key_b is not None and key_a != key_b:
        return None
    words_a = similarity.token_ids(similarity.word_set(a.title, a.content))
    words_b = similarity.token_ids(similarity.word_set(b.title, b.content))
    return "similar" if similarity.is_similar(words_a, words_b, threshold) else None


def topic_of(obs: Observation) -> str | None:
    """The observation's topic_key as dedup compares it: an empty one is none (else
    ``''`` on one device and NULL on another would fold twins differently)."""
    return obs.topic_key or None


def fold(own: Observation, others: Iterable[Observation]) -> Observation:
    """What a row folding ``own`` (the row's identity) with its live twins ``others`` shows.

    The newest content (last-write-wins, ties broken on content, never on identity) and
    the oldest creation time; project and scope are the row's own. The result carries
    ``own``'s sync_id and is live.
    """
    members = [own, *others]
    winner = replace(members[0], sync_id=_FOLDED)
    for other in members[1:]:
        winner = newer(winner, replace(other, sync_id=_FOLDED))
    created = min((m.created_at for m in members), key=lambda t: (parse_timestamp(t), t))
    return replace(
        winner, sync_id=own.sync_id, project=own.project, scope=own.scope,
        deleted_at=None, created_at=created,
    )  # fmt: skip
