"""Batched twin look-ups give, for every text of a batch, what brute force gives it alone."""

from __future__ import annotations

import tempfile
from contextlib import closing
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from memento_syncd.core import similarity
from memento_syncd.core.hashing import content_hash
from memento_syncd.store.db import connect, write
from memento_syncd.store.index import SimilarityIndex, Text
from tests.store.app import app_rows

THRESHOLD = 0.5
WORDS = [f"w{n}" for n in range(14)]
texts = st.builds(
    Text,
    st.sampled_from(["p", "p", "q"]),
    st.sampled_from(["project", "project", "personal"]),
    st.sampled_from([None, None, "k1", "k2"]),
    st.just(""),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=9).map(" ".join),
)


def _tokens(text: Text) -> frozenset[int]:
    return similarity.token_ids(similarity.word_set(text.title, text.content))


def _brute(
    text: Text, local: dict[int, Text], threshold: float = THRESHOLD
) -> tuple[list[int], list[int]]:
    """Exact twins by id, near twins most similar first, straight from the rules."""
    same = {i: t for i, t in local.items() if (t.project, t.scope) == (text.project, text.scope)}
    exact = sorted(
        i
        for i, t in same.items()
        if content_hash(t.content) == content_hash(text.content) and t.topic_key == text.topic_key
    )
    scored = []
    for obs_id, other in same.items():
        if None not in (text.topic_key, other.topic_key) and text.topic_key != other.topic_key:
            continue
        a, b = _tokens(text), _tokens(other)
        if similarity.is_similar(a, b, threshold):
            scored.append((-similarity.jaccard(a, b), obs_id))
    return exact, [obs_id for _, obs_id in sorted(scored)]


def _check_against_brute_force(
    local: list[Text], incoming: list[Text], threshold: float, rebuild: bool
) -> SimilarityIndex:
    """Index ``local`` (and learn the order if ``rebuild``), prepare ``incoming`` in one
    batch, and check each answer against brute force; the index, for more checks."""
    with tempfile.TemporaryDirectory() as tmp, closing(connect(Path(tmp) / "m.db")) as conn:
        index = SimilarityIndex(conn, threshold)
        ids = app_rows(conn, len(local))
        with write(conn):
            for obs_id, text in zip(ids, local, strict=True):
                index.put(obs_id, text)
            if rebuild:
                index.rebuild()
        probes = index.prepare(incoming, seconds=60.0)
        index.release()
        rows = dict(zip(ids, local, strict=True))
        for text, probe in zip(incoming, probes, strict=True):
            assert probe is not None
            exact, near = _brute(text, rows, threshold)
            assert list(probe.exact) == exact
            assert [obs_id for _, obs_id in probe.similar] == near
    return index


@settings(max_examples=150, deadline=None)
@given(
    st.lists(texts, min_size=1, max_size=20),
    st.lists(st.one_of(texts, st.integers(0, 19)), min_size=1, max_size=80),
    st.booleans(),
)
def test_a_batch_finds_what_brute_force_finds_for_each_text(
    local: list[Text], wanted: list[Text | int], rebuild: bool
) -> None:
    """Across projects, scopes, topic keys and repeated texts, one batch answers each text
    as brute force does; an int stands for a copy of that local text (an exact twin)."""
    incoming = [w if isinstance(w, Text) else local[w % len(local)] for w in wanted]
    _check_against_brute_force(local, incoming, THRESHOLD, rebuild)


TEMPLATE = ["bulk", "row", "number", "of", "five", "thousand"]
templated = st.builds(
    lambda dropped, own: " ".join([w for w in TEMPLATE if w not in dropped] + own),
    st.sets(st.sampled_from(TEMPLATE), max_size=2),
    st.lists(st.sampled_from([f"n{n}" for n in range(60)]), max_size=3),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(templated, min_size=1, max_size=10), st.sampled_from([0.5, 0.85]))
def test_templated_rows_are_found_as_brute_force_finds_them(
    wanted: list[str], threshold: float
) -> None:
    """Among many rows of one template, each with a number of its own (every row a
    prefix-filter candidate of every other), look-ups still answer as brute force, the
    positional filter at work."""
    local = [Text("p", "project", None, "", f"{' '.join(TEMPLATE)} {n}") for n in range(80)]
    local += [Text("p", "project", None, "", content) for content in wanted[:3]]
    incoming = [Text("p", "project", None, "", content) for content in wanted]
    incoming.append(Text("p", "project", None, "", f"{' '.join(TEMPLATE)} n999"))
    # rebuild: the template's words are the common ones, ranked last
    index = _check_against_brute_force(local, incoming, threshold, rebuild=True)
    assert index._postings.sizes.nbytes() > 0  # the filter ran (n999)
