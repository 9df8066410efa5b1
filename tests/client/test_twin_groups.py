"""Twins that are not transitive still converge: chains and a key-less note between two keys.

Dedup folds a pulled observation into a local row it duplicates, but being twins is not
transitive: in a chain A~B~C with A not~ C, or with a key-less note similar to two notes
whose topic_keys differ, which rows a device folds depends on what it held first. Whatever
the order in which devices push and pull, once everyone has synced they must all show the
same live observations.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from memento_syncd.core import similarity
from tests.client.devices import Device, served_devices

PROJECT = "dd"
THRESHOLD = similarity.DEFAULT_THRESHOLD
# Every order runs at least this many rounds (push then pull on each device), then more
# until a round changes nothing, up to the bound.
MIN_ROUNDS = 3
MAX_ROUNDS = 8

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Note:
    """One observation as a device saves it; ``label`` names it in failure messages."""

    label: str
    title: str
    content: str
    key: str | None
    at: str
    device: int | None = None


def _tokens(note: Note) -> frozenset[int]:
    return similarity.token_ids(similarity.word_set(note.title, note.content))


def jaccard(a: Note, b: Note) -> float:
    """Jaccard similarity of the word sets of title and content, as dedup computes it."""
    return similarity.jaccard(_tokens(a), _tokens(b))


def twins(a: Note, b: Note) -> bool:
    """Whether dedup counts ``a`` and ``b`` as twins (exact or similar; '' is no key)."""
    key_a, key_b = a.key or None, b.key or None
    if key_a == key_b and a.content == b.content:
        return True
    if key_a is not None and key_b is not None and key_a != key_b:
        return False
    return similarity.is_similar(_tokens(a), _tokens(b), THRESHOLD)


def _day(n: int) -> str:
    return f"2025-07-{n:02d}T00:00:00Z"


def chain(length: int) -> list[Note]:
    """Notes A, B, C, ... of 76 words each: every one trades 4 more base words for new ones.

    Neighbours share 72 of 80 words (Jaccard about 0.9), notes two apart 68 of 84 (about
    0.81): A~B~C~... and no note is a twin of any but its neighbours.
    """
    step, size = 4, 76
    base = [f"w{i}" for i in range(size)]
    extra = [f"x{i}" for i in range(step * (length - 1))]
    return [
        Note(
            label="ABCDEFGH"[i],
            title="Chain",
            content=" ".join(base[step * i :] + extra[: step * i]),
            key=None,
            at=_day(i + 1),
        )
        for i in range(length)
    ]


def near(keys: Sequence[str | None]) -> list[Note]:
    """Notes of 29 shared words and one of their own (Jaccard about 0.94), keyed by ``keys``."""
    shared = " ".join(f"w{i}" for i in range(1, 30))
    return [
        Note(label="ABCDEFGH"[i], title="Near twin", content=f"{shared} v{i}", key=key,
             at=_day(i + 1))
        for i, key in enumerate(keys)
    ]  # fmt: skip


def _show(rows: Sequence[Row], notes: Sequence[Note]) -> list[str]:
    """Live rows named by the note whose content they show, with their topic_key."""
    names = {note.content: note.label for note in notes}
    return sorted(f"{names.get(row[3], repr(row[3][-12:]))}({row[4]!r})" for row in rows)


async def sync_until_stable(devices: Sequence[Device], order: Sequence[int]) -> bool:
    """Rounds of push then pull on each device in ``order``: at least MIN_ROUNDS, then until
    a round sends nothing, leaves nothing pending and changes no device's live rows.

    Returns whether that happened within MAX_ROUNDS.
    """
    before = [device.live() for device in devices]
    for done in range(1, MAX_ROUNDS + 1):
        sent = 0
        for i in order:
            sent += sum(report.sent for report in await devices[i].push())
            await devices[i].pull()
        after = [device.live() for device in devices]
        quiet = sent == 0 and after == before and not any(d.pending() for d in devices)
        if quiet and done >= MIN_ROUNDS:
            return True
        before = after
    return False


def assert_converged(
    views: Sequence[Sequence[Row]], settled: bool, notes: Sequence[Note], order: Sequence[int]
) -> None:
    """Every device shows the same live rows, and syncing has stopped changing anything."""
    shown = [_show(view, notes) for view in views]
    placed = [
        f"{n.label}(key={n.key!r}, at={n.at[5:10]}{'' if n.device is None else f', d{n.device}'})"
        for n in notes
    ]
    assert all(view == views[0] for view in views), (
        f"devices diverge after syncing in order {list(order)} (notes {placed}): {shown}"
    )
    assert settled, f"still changing after {MAX_ROUNDS} rounds in order {list(order)}: {shown}"


async def _each_on_its_device(
    make_device: Any, notes: Sequence[Note], order: Sequence[int]
) -> list[list[Row]]:
    """Save note i on device i, sync in ``order`` until stable, check convergence; the views."""
    devices: list[Device] = [
        await make_device(f"d{i}", member=f"member{i}") for i in range(len(notes))
    ]
    for device, note in zip(devices, notes, strict=True):
        device.save(project=PROJECT, title=note.title, content=note.content,
                    topic_key=note.key, at=note.at)  # fmt: skip
    settled = await sync_until_stable(devices, order)
    views = [device.live() for device in devices]
    assert_converged(views, settled, notes, order)
    return views


def _orders(n: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(n)))


def _ids(orders: Sequence[tuple[int, ...]]) -> list[str]:
    return ["".join(map(str, order)) for order in orders]


# The twin facts each scenario relies on, checked before any device is involved.


def test_the_chain_is_a_chain() -> None:
    """Neighbours in the chains are twins at Jaccard about 0.9, the others below 0.82 and not."""
    notes = chain(4)
    for i, j in itertools.combinations(range(4), 2):
        score = jaccard(notes[i], notes[j])
        if j == i + 1:
            assert score > 0.89, (i, j, score)
            assert twins(notes[i], notes[j])
        else:
            assert score < 0.82, (i, j, score)
            assert not twins(notes[i], notes[j])


def test_the_triangle_is_twins_only_through_the_key_less_note() -> None:
    """The three near texts are all alike (Jaccard > 0.9), but k1 and k2 are not twins."""
    a, b, c = near(("k1", "k2", None))
    assert min(jaccard(a, b), jaccard(b, c), jaccard(a, c)) > 0.9
    assert twins(a, c)
    assert twins(b, c)
    assert not twins(a, b)


# The harness finds the twins the facts above claim, and converges where twins are transitive.


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        (chain(3)[0:2], 1),
        (chain(3)[1:3], 1),
        (chain(3)[0:3:2], 2),
        (near(("k1", None)), 1),
        (near(("k2", None)), 1),
        (near(("k1", "k2")), 2),
    ],
    ids=["chain-AB", "chain-BC", "chain-AC", "k1-none", "k2-none", "k1-k2"],
)
async def test_a_pair_folds_exactly_when_it_is_twins(
    make_device: Any, notes: list[Note], expected: int
) -> None:
    """Two notes on two devices end as one row everywhere if twins, else as two rows."""
    views = await _each_on_its_device(make_device, notes, (0, 1))
    assert len(views[0]) == expected


@pytest.mark.parametrize("keys", [(None, None, None), ("k1", "", None)], ids=["none", "k1-empty"])
@pytest.mark.parametrize("order", _orders(3), ids=_ids(_orders(3)))
async def test_a_clique_of_twins_converges_to_one_row(
    make_device: Any, order: tuple[int, ...], keys: tuple[str | None, ...]
) -> None:
    """Three notes that are all twins of one another end as one and the same row everywhere."""
    notes = near(keys)
    assert all(twins(a, b) for a, b in itertools.combinations(notes, 2))
    views = await _each_on_its_device(make_device, notes, order)
    assert len(views[0]) == 1


# Twins that are not transitive: the known limitation the README states (Deduplication).
# These fail today; ``strict`` makes a fix show as an unexpected pass, to drop the mark.
KNOWN_LIMITATION = pytest.mark.xfail(
    strict=True,
    reason="twins are not transitive and folds depend on arrival order (README, Deduplication)",
)


@KNOWN_LIMITATION
@pytest.mark.parametrize("order", _orders(3), ids=_ids(_orders(3)))
async def test_a_chain_of_three_converges(make_device: Any, order: tuple[int, ...]) -> None:
    """A~B~C with A not~ C, each saved on its own device: every sync order ends the same."""
    await _each_on_its_device(make_device, chain(3), order)


@KNOWN_LIMITATION
@pytest.mark.parametrize("order", _orders(3), ids=_ids(_orders(3)))
async def test_a_key_less_note_between_two_keys_converges(
    make_device: Any, order: tuple[int, ...]
) -> None:
    """Notes keyed k1 and k2 and a key-less one like both: every sync order ends the same."""
    await _each_on_its_device(make_device, near(("k1", "k2", None)), order)


# Three orders of the four-chain happen to end alike on every device (in every run
# seen); the others show the limitation.
_FOUR_ALIKE = {(2, 0, 3, 1), (2, 3, 0, 1), (3, 2, 0, 1)}


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(o, id="".join(map(str, o)), marks=() if o in _FOUR_ALIKE else KNOWN_LIMITATION)
        for o in _orders(4)
    ],
)
async def test_a_chain_of_four_converges(make_device: Any, order: tuple[int, ...]) -> None:
    """A~B~C~D and no other twins, each on its own device: every sync order ends the same."""
    await _each_on_its_device(make_device, chain(4), order)


# Property: random variations of one text, on random devices, synced in a random order.

DEVICES = 3
# 29 content words and a one-word title: notes differing in d of the positions below share
# 30 - d words of 30 + d, Jaccard 0.935 (d = 1), 0.875 (d = 2), 0.818 (d = 3): twins up
# to two differences, so random substitutions give twins, non-twins and chains.
BASE = [f"w{i}" for i in range(29)]
KEYS = [None, "", "k1", "k2"]

Drawn = tuple[dict[int, str], str | None, int, int]

drawn_notes = st.lists(
    st.tuples(
        st.dictionaries(st.integers(0, 5), st.sampled_from(["a", "b"]), max_size=3),
        st.sampled_from(KEYS),
        st.integers(0, DEVICES - 1),
        st.integers(1, 28),
    ),
    min_size=2,
    max_size=5,
)


def _variant(i: int, drawn: Drawn) -> Note:
    """Note ``i`` of a drawn scenario: the base text with its positions swapped."""
    swaps, key, who, day = drawn
    words = [f"s{p}{swaps[p]}" if p in swaps else word for p, word in enumerate(BASE)]
    return Note(label="ABCDEFGH"[i], title="Variant", content=" ".join(words), key=key,
                at=_day(day), device=who)  # fmt: skip


async def _property_scenario(
    root: Path, notes: list[Note], order: list[int]
) -> tuple[list[list[Row]], bool]:
    async with served_devices(root, DEVICES) as devices:
        for note in notes:
            assert note.device is not None
            devices[note.device].save(
                project=PROJECT, title=note.title, content=note.content,
                topic_key=note.key, at=note.at,
            )  # fmt: skip
        settled = await sync_until_stable(devices, order)
        return [device.live() for device in devices], settled


def transitive(notes: Sequence[Note]) -> bool:
    """Whether being twins is transitive among ``notes`` (no A~B~C with A not~ C)."""
    return not any(
        twins(a, b) and twins(b, c) and not twins(a, c)
        for a, b, c in itertools.permutations(notes, 3)
    )


def _run_drawn(drawn: list[Drawn], order: list[int]) -> None:
    notes = [_variant(i, fields) for i, fields in enumerate(drawn)]
    with tempfile.TemporaryDirectory() as tmp:
        views, settled = asyncio.run(_property_scenario(Path(tmp), notes, order))
    assert_converged(views, settled, notes, order)


# A failing run shrinks one bug only (each try is a server and three devices).
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)


@KNOWN_LIMITATION
# The same examples every run, no shrinking: the known failure is found, quickly.
@settings(PROPERTY, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))
@given(drawn=drawn_notes, order=st.permutations(list(range(DEVICES))))
def test_random_variations_of_one_text_converge(drawn: list[Drawn], order: list[int]) -> None:
    """Whatever variations of one text sit on whichever devices, every device ends the same."""
    _run_drawn(drawn, order)


@settings(PROPERTY, max_examples=25)
@given(drawn=drawn_notes, order=st.permutations(list(range(DEVICES))))
def test_random_variations_converge_where_twins_are_transitive(
    drawn: list[Drawn], order: list[int]
) -> None:
    """A sanity check of the harness: when being twins is transitive, every device ends the same."""
    assume(transitive([_variant(i, fields) for i, fields in enumerate(drawn)]))
    _run_drawn(drawn, order)
