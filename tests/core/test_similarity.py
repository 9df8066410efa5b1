"""Near-twin detection: word sets, token ids, exact thresholds and the prefix-filtered join."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from array import array
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from memento_syncd.core.similarity import (
    DEFAULT_THRESHOLD,
    PrefixIndex,
    Threshold,
    brute_force_best_match,
    exact_threshold,
    in_at_least,
    in_at_least_positional,
    is_similar,
    jaccard,
    length_bounds,
    ordered,
    overlap_needed,
    positional_keep,
    prefix,
    prefix_length,
    shared_needed,
    token_id,
    token_ids,
    word_set,
)
from tests.core.strategies import valid_text

PROPERTY = settings(deadline=None, max_examples=300)

# --- strategies -------------------------------------------------------------------------

# A small vocabulary so that random sets overlap and near-duplicates are common.
small_sets = st.frozensets(st.integers(0, 14), max_size=9)
larger_sets = st.frozensets(st.integers(0, 80), min_size=1, max_size=40)

thresholds: st.SearchStrategy[Threshold] = st.one_of(
    st.sampled_from([0.5, 0.6, 0.75, 0.8, 0.85, 0.9, 1.0, 0.123, Fraction(2, 3)]),
    st.floats(min_value=0.01, max_value=1.0),
    st.fractions(min_value=Fraction(1, 12), max_value=1, max_denominator=12),
)


@st.composite
def near_copy(draw: st.DrawFn, base: frozenset[int], vocab: int = 15) -> frozenset[int]:
    """Draw ``base`` with up to two tokens removed and up to two added."""
    removed = draw(st.sets(st.sampled_from(sorted(base)), max_size=2)) if base else set()
    added = draw(st.sets(st.integers(0, vocab + 3), max_size=2))
    return frozenset((base - removed) | added)


@st.composite
def collections(draw: st.DrawFn) -> dict[str, frozenset[int]]:
    """Draw keyed sets: a few random ones and near copies of them (duplicates included)."""
    sets = draw(st.lists(small_sets, max_size=6))
    for _ in range(draw(st.integers(0, 8)) if sets else 0):
        sets.append(draw(near_copy(draw(st.sampled_from(sets)))))
    keys = draw(
        st.lists(
            st.text("abc", min_size=1, max_size=3),
            min_size=len(sets),
            max_size=len(sets),
            unique=True,
        )
    )
    return dict(zip(keys, sets, strict=True))


@st.composite
def ranks(draw: st.DrawFn, sets: list[frozenset[int]]) -> dict[int, int]:
    """Draw a rank map: empty, arbitrary, the true document frequencies, or their reverse."""
    frequency = Counter(token for tokens in sets for token in tokens)
    mode = draw(st.sampled_from(["empty", "arbitrary", "true", "inverted"]))
    if mode == "empty":
        return {}
    if mode == "true":
        return dict(frequency)
    if mode == "inverted":
        return {token: -count for token, count in frequency.items()}
    return draw(st.dictionaries(st.integers(0, 20), st.integers(-5, 5)))


def exact_jaccard(a: frozenset[int], b: frozenset[int]) -> Fraction:
    """Jaccard as a fraction, straight from the definition."""
    return Fraction(len(a & b), len(a | b)) if a and b else Fraction(0)


# --- word_set ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "content", "expected"),
    [
        ("Use SQLite", "Embedded and fast.", {"use", "sqlite", "embedded", "and", "fast"}),
        ("HELLO", "hello Hello hElLo", {"hello"}),
        ("don't-stop,now!", "(a)[b]{c}<d>", {"don", "t", "stop", "now", "a", "b", "c", "d"}),
        ("v2 3.14", "2025-01-15T10:30:00Z", {"v2", "3", "14", "2025", "01", "15t10", "30", "00z"}),
        ("snake_case", "__init__ a_b_c", {"snake", "case", "init", "a", "b", "c"}),
        ("Straße", "STRASSE", {"strasse"}),
        ("\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2", {"\u03bf\u03b4\u03bf\u03c3"}),
        ("Ünïcödé Русский", "日本語の文章", {"ünïcödé", "русский", "日本語の文章"}),
        ("cafe\u0301", "caf\u00e9", {"caf\u00e9"}),
        ("\uff21\uff22\uff23", "\ufb01le x\u00b2", {"abc", "file", "x2"}),
        ("\u0663\u0664", "\u00bd", {"\u0663\u0664", "1", "2"}),
        ("foo", "bar", {"foo", "bar"}),
        ("", "", set()),
        ("... !!!", "— / \\ _ @#", set()),
    ],
)
def test_word_set_examples(title: str, content: str, expected: set[str]) -> None:
    """Words are casefolded NFKC runs of letters and digits; all else, `_` included, splits."""
    assert word_set(title, content) == frozenset(expected)


@given(valid_text, valid_text)
@PROPERTY
def test_word_set_is_union_of_title_and_content_words(title: str, content: str) -> None:
    """Title and content never run together into one word: the set is the union of both."""
    assert word_set(title, content) == word_set(title, "") | word_set("", content)


@given(valid_text)
@PROPERTY
def test_words_are_fixed_points(text: str) -> None:
    """Every word is one non-empty letter/digit run, and re-tokenising the words gives them back."""
    words = word_set(text, "")
    assert all(re.fullmatch(r"[^\W_]+", word) for word in words)
    assert word_set(" ".join(sorted(words)), "") == words


ascii_text = st.text(alphabet=st.characters(max_codepoint=127))


@given(ascii_text, ascii_text)
@PROPERTY
def test_ascii_fast_path_gives_the_full_rule(title: str, content: str) -> None:
    """ASCII text (only lowercased) gets exactly the words of the NFKC-casefold-NFKC rule."""
    full = unicodedata.normalize("NFKC", f"{title}\n{content}")
    full = unicodedata.normalize("NFKC", full.casefold())
    assert word_set(title, content) == frozenset(re.findall(r"[^\W_]+", full))


@given(
    st.lists(st.integers(0, 2**63 - 1), max_size=40),
    st.dictionaries(st.integers(0, 2**63 - 1), st.integers(-5, 5), max_size=20),
    st.data(),
)
@PROPERTY
def test_ordered_sorts_by_rank_then_token_missing_ranks_zero(
    tokens: list[int], rank: dict[int, int], data: st.DataObject
) -> None:
    """ordered gives the distinct tokens by (rank, token), a token missing from the ranks at 0."""
    tokens = tokens + data.draw(st.lists(st.sampled_from(sorted(rank) or [0]), max_size=10))
    expected = sorted(set(tokens), key=lambda token: (rank.get(token, 0), token))
    assert ordered(tokens, rank) == expected


def test_word_set_ignores_case_and_order() -> None:
    """Reordering, recasing and repunctuating text gives the same word set."""
    assert word_set("Fix: the Bug", "in parser.") == word_set("", "PARSER in the bug, fix")


# --- token ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("", 0x7253502BBA3CD95A),
        ("a", 0x207C4F1CADB32117),
        ("sqlite", 0x1C50DE2E960D0962),
        ("caf\u00e9", 0x2BBBD15E98C96BF1),
        ("日本語", 0x7A0CF6EAEA133DA4),
    ],
)
def test_token_id_known_values(word: str, expected: int) -> None:
    """Token ids are fixed values, the same in every process and on every platform."""
    assert token_id(word) == expected


@given(valid_text)
@PROPERTY
def test_token_id_is_top_63_bits_of_blake2b(word: str) -> None:
    """A token id is the big-endian 8-byte BLAKE2b of the UTF-8 shifted right one bit."""
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    assert token_id(word) == int.from_bytes(digest, "big") // 2
    assert 0 <= token_id(word) < 2**63


def test_token_ids_maps_every_word() -> None:
    """token_ids is the set of the ids of the words."""
    assert token_ids(["a", "sqlite", "a"]) == frozenset({token_id("a"), token_id("sqlite")})
    assert token_ids([]) == frozenset()


# --- thresholds, Jaccard and the exact test ---------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.85, Fraction(17, 20)),
        (DEFAULT_THRESHOLD, Fraction(17, 20)),
        (0.1, Fraction(1, 10)),
        (1, Fraction(1)),
        (1.0, Fraction(1)),
        (Fraction(2, 3), Fraction(2, 3)),
        (1e-05, Fraction(1, 100000)),
    ],
)
def test_exact_threshold_reads_the_printed_decimal(
    threshold: Threshold, expected: Fraction
) -> None:
    """A float threshold means the decimal it prints as; a Fraction is taken as it is."""
    assert exact_threshold(threshold) == expected


@pytest.mark.parametrize("threshold", [0, 0.0, -0.5, 1.0000001, 2, math.nan, math.inf, -math.inf])
def test_threshold_outside_unit_interval_is_rejected(threshold: float) -> None:
    """Thresholds outside (0, 1], NaN and infinities raise ValueError everywhere."""
    with pytest.raises(ValueError, match="threshold"):
        exact_threshold(threshold)
    with pytest.raises(ValueError, match="threshold"):
        prefix_length(5, threshold)
    with pytest.raises(ValueError, match="threshold"):
        is_similar({1}, {1}, threshold)


def test_jaccard_values() -> None:
    """Jaccard is intersection over union, and 0.0 whenever a set is empty."""
    assert jaccard(set(), set()) == 0.0
    assert jaccard(set(), {1}) == 0.0
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert jaccard({1, 2}, {1, 2}) == 1.0


def test_jaccard_equal_to_threshold_is_not_similar() -> None:
    """17 shared tokens of 20 is J = 0.85 exactly: not above 0.85; 18 of 20 is."""
    twenty = frozenset(range(20))
    seventeen = frozenset(range(17))
    assert jaccard(twenty, seventeen) == 0.85
    assert not is_similar(twenty, seventeen, 0.85)
    assert not is_similar(twenty, seventeen, Fraction(17, 20))
    assert is_similar(twenty, frozenset(range(18)), 0.85)
    assert is_similar(twenty, seventeen, 0.84)


def test_threshold_one_matches_nothing() -> None:
    """With t = 1 even identical sets are not similar, since J must exceed t."""
    assert not is_similar({1, 2}, {1, 2}, 1.0)
    assert is_similar({1, 2}, {1, 2}, 0.99)


def test_empty_sets_are_never_similar() -> None:
    """An empty word set is similar to nothing, not even another empty set."""
    assert not is_similar(set(), set(), 0.01)
    assert not is_similar(set(), {1}, 0.01)


@given(small_sets, small_sets, thresholds)
@PROPERTY
def test_is_similar_is_exact(a: frozenset[int], b: frozenset[int], threshold: Threshold) -> None:
    """is_similar agrees with the exact rational comparison J > t."""
    assert is_similar(a, b, threshold) == (exact_jaccard(a, b) > exact_threshold(threshold))


# --- prefix length and length bounds ------------------------------------------------------

EXACTNESS_THRESHOLDS = [0.5, 0.8, 0.85, 0.9, 0.95, 1.0, 0.123, 0.55, 0.29]


def brute_min_overlap(size: int, t: Decimal) -> int:
    """Smallest overlap o with o / size >= t, found by counting up in decimal arithmetic."""
    return next(o for o in range(size + 1) if Decimal(o) >= t * size)


@pytest.mark.parametrize("threshold", EXACTNESS_THRESHOLDS)
def test_prefix_length_matches_definition(threshold: float) -> None:
    """For sizes 0..300 the prefix length is size - (least overlap reaching t) + 1, exactly."""
    t = Decimal(repr(threshold))
    assert prefix_length(0, threshold) == 0
    for size in range(1, 301):
        assert prefix_length(size, threshold) == size - brute_min_overlap(size, t) + 1


@pytest.mark.parametrize("threshold", EXACTNESS_THRESHOLDS)
def test_length_bounds_match_definition(threshold: float) -> None:
    """For sizes 0..300 the bounds are exactly the sizes m with min/max(size, m) >= t."""
    t = Decimal(repr(threshold))
    assert length_bounds(0, threshold) == (0, 0)
    for size in range(1, 301):
        reachable = [
            m for m in range(int(size / t) + 3) if Decimal(min(size, m)) >= t * max(size, m)
        ]
        low, high = length_bounds(size, threshold)
        assert reachable == list(range(low, high + 1))


def test_prefix_length_does_not_trust_float_products() -> None:
    """0.55 * 100 and 33 / 0.55 are off by an ulp in floats; the exact bounds are not."""
    assert math.ceil(0.55 * 100) == 56
    assert math.floor(33 / 0.55) == 59
    assert prefix_length(100, 0.55) == 46
    assert length_bounds(100, 0.55)[0] == 55
    assert length_bounds(33, 0.55)[1] == 60
    assert prefix_length(20, 0.85) == 4
    assert length_bounds(20, 0.85) == (17, 23)


@pytest.mark.parametrize("threshold", EXACTNESS_THRESHOLDS)
def test_prefix_length_is_the_shortest_that_works(threshold: float) -> None:
    """One token shorter misses a pair with J >= t: a set and its last ceil(t*size) tokens."""
    for size in range(1, 61):
        x = list(range(size))
        length = prefix_length(size, threshold)
        y = x[length - 1 :]
        assert exact_jaccard(frozenset(x), frozenset(y)) >= exact_threshold(threshold)
        assert set(prefix(x, {}, threshold)) & set(prefix(y, {}, threshold))
        assert not set(x[: length - 1]) & set(prefix(y, {}, threshold))


# --- order and prefix ---------------------------------------------------------------------


def test_ordered_is_rare_first_then_by_id() -> None:
    """Tokens sort by rank (missing = 0), then by id; duplicates are dropped."""
    rank = {10: 5, 11: 1, 12: 1, 13: -2}
    assert ordered([10, 11, 12, 13, 99, 7, 12], rank) == [13, 7, 99, 11, 12, 10]
    assert ordered([], rank) == []


def test_prefix_takes_the_leading_tokens() -> None:
    """The prefix is the first prefix_length tokens of the order."""
    tokens = list(range(20))
    assert prefix(tokens, {}, 0.85) == [0, 1, 2, 3]
    assert prefix(tokens, {0: 9, 1: 9}, 0.85) == [2, 3, 4, 5]
    assert prefix([], {}, 0.85) == []


posting_lists = st.lists(st.sets(st.integers(0, 40), max_size=25), max_size=8)


@given(posting_lists, st.integers(0, 5), st.booleans(), st.sampled_from([0, 10**9, None]))
@example([{0, 1, 2}], 5, False, 0)  # fewer values than needed at all
@PROPERTY
def test_in_at_least_counts_like_a_counter(
    lists: list[set[int]], needed: int, wide: bool, numpy_from: int | None
) -> None:
    """in_at_least gives the values held by at least ``needed`` lists, ascending, counted
    with numpy, with a Counter, or with whichever the default picks."""
    arrays = [  # with ``wide``, every other list holds 8-byte ids, as past 2**31 rows
        array("q", sorted(v + 2**40 for v in values)) if wide and n % 2 else array("i", values)
        for n, values in enumerate(lists)
    ]
    counts = Counter(v for a in arrays for v in a)
    expected = sorted(v for v, n in counts.items() if n >= max(1, needed))
    assert in_at_least(arrays, needed, numpy_from) == expected


@given(larger_sets, st.data(), st.integers(1, 100))
@PROPERTY
def test_pairs_reaching_threshold_share_a_prefix_token(
    x: frozenset[int], data: st.DataObject, percent: int
) -> None:
    """Any pair with J >= t, under any rank, shares a prefix token and passes the length filter."""
    y = data.draw(near_copy(x, vocab=80))
    rank = data.draw(ranks([x, y]))
    similarity = exact_jaccard(x, y)
    if similarity == 0:
        return
    threshold = similarity * Fraction(percent, 100)  # J >= t, with J == t at 100 %
    assert set(prefix(x, rank, threshold)) & set(prefix(y, rank, threshold))
    low, high = length_bounds(len(x), threshold)
    assert low <= len(y) <= high


@given(st.integers(1, 300), st.integers(1, 300), thresholds)
@example(1, 1, Fraction(1))  # at 1 nothing is similar: more overlap than either set holds
@PROPERTY
def test_overlap_needed_is_the_least_overlap_that_is_similar(
    a: int, b: int, threshold: Threshold
) -> None:
    """overlap_needed(a, b) shared tokens make sets of sizes a and b similar; one fewer does not."""
    t = exact_threshold(threshold)
    o = overlap_needed(a, b, threshold)
    assert o > min(a, b) or Fraction(o, a + b - o) > t  # (more than either holds: none)
    assert not Fraction(o - 1, a + b - o + 1) > t


@st.composite
def templated_family(draw: st.DrawFn) -> list[frozenset[int]]:
    """Sets made of a shared template (common tokens) plus a few tokens of their own,
    and near copies of them: many share prefix tokens without being similar."""
    template = draw(st.frozensets(st.integers(100, 140), min_size=2, max_size=12))
    sets = []
    for n in range(draw(st.integers(1, 30))):
        own = draw(st.frozensets(st.integers(0, 60), max_size=3))
        dropped = draw(st.sets(st.sampled_from(sorted(template)), max_size=2))
        sets.append(frozenset((template - dropped) | own | {200 + n}))
    return sets + draw(st.lists(near_copy(draw(st.sampled_from(sets)), vocab=60), max_size=5))


@given(templated_family(), st.data(), thresholds, st.sampled_from([1, 3]))
@PROPERTY
def test_positional_filter_keeps_every_similar_row(
    rows: list[frozenset[int]], data: st.DataObject, threshold: Threshold, ell: int
) -> None:
    """in_at_least_positional keeps every indexed row similar to the probe (as brute force
    finds them) and drops only rows the positional bound rules out, numpy or not."""
    x = data.draw(st.sampled_from(rows) | near_copy(data.draw(st.sampled_from(rows)), vocab=60))
    rank = data.draw(ranks([*rows, x]))
    postings: dict[int, list[int]] = {}
    for obs_id, y in enumerate(rows, start=1):  # row ids from 1, as rowids are
        for token in ordered(y, rank)[: prefix_length(len(y), threshold, ell)]:
            postings.setdefault(token, []).append(obs_id)
    probe = ordered(x, rank)[: prefix_length(len(x), threshold, ell)]
    lists = [array("i", postings.get(token, [])) for token in probe]
    needed = shared_needed(len(x), threshold, ell)
    sizes = array("H", [0] + [len(y) for y in rows])
    kept = in_at_least_positional(lists, needed, len(x), threshold, sizes)
    similar = {n for n, y in enumerate(rows, start=1) if is_similar(x, y, threshold)}
    assert similar <= set(kept)
    first = {v: next(n for n, a in enumerate(lists) if v in a) for v in in_at_least(lists, 1)}
    reference = [
        v
        for v in in_at_least(lists, needed)
        if positional_keep(len(x), first[v], len(rows[v - 1]), threshold)
    ]
    assert kept == reference


def test_positional_filter_drops_templated_rows_that_differ_in_a_rare_token() -> None:
    """Rows "bulk row number N of five thousand" share three prefix tokens with a probe of
    the same template but are not similar (6 of 8): the filter leaves none, though a row
    that is the probe less its own number is kept."""
    template = frozenset(range(100, 106))
    rows = [template | {n} for n in range(1, 50)] + [template]  # the last: probe less its own
    rank = dict.fromkeys(template, 100)  # common words rank last (rarest first)
    x = template | {99}
    postings: dict[int, list[int]] = {}
    for obs_id, y in enumerate(rows, start=1):
        for token in ordered(y, rank)[: prefix_length(len(y), 0.85, 3)]:
            postings.setdefault(token, []).append(obs_id)
    probe = ordered(x, rank)[: prefix_length(len(x), 0.85, 3)]
    lists = [array("i", postings.get(token, [])) for token in probe]
    sizes = array("H", [0] + [len(y) for y in rows])
    assert len(in_at_least(lists, 3)) == len(rows)  # without it: every row a candidate
    assert in_at_least_positional(lists, 3, len(x), 0.85, sizes) == [len(rows)]


# --- the index ----------------------------------------------------------------------------


def test_index_finds_best_match_with_smallest_key_on_ties() -> None:
    """The best match is the highest Jaccard above t; equal scores go to the smallest key."""
    base = frozenset(range(20))
    index: PrefixIndex[str] = PrefixIndex({}, 0.85)
    index.add("b", base)
    index.add("a", base)
    index.add("c", base - {0})
    index.add("d", frozenset(range(100, 120)))
    assert len(index) == 4
    assert index.best_match(base) == "a"
    assert index.best_match(base - {0}) == "c"
    assert index.best_match(frozenset(range(17))) is None
    assert index.best_match(frozenset()) is None


def test_brute_force_prefers_score_then_smallest_key() -> None:
    """The brute force takes the highest Jaccard, then the smallest key, never J == t."""
    base = frozenset(range(10))
    near = base - {0}  # J = 0.9
    sets = {"zz": base, "ba": near, "ab": near, "aa": frozenset(range(8))}  # J(aa) = 0.8
    assert brute_force_best_match(base, sets, 0.5) == "zz"
    assert brute_force_best_match(near, sets, 0.5) == "ab"
    assert brute_force_best_match(frozenset(range(8)), sets, 0.5) == "aa"
    assert brute_force_best_match(base, {"ab": near, "aa": frozenset(range(8))}, 0.8) == "ab"
    assert brute_force_best_match(base, {"aa": frozenset(range(8))}, 0.8) is None
    assert brute_force_best_match(base, {}, 0.5) is None


def test_index_add_replaces_and_remove_forgets() -> None:
    """Re-adding a key replaces its set; removing it makes it unfindable."""
    index: PrefixIndex[str] = PrefixIndex({}, 0.5)
    index.add("k", {1, 2, 3})
    index.add("k", {7, 8, 9})
    assert index.best_match({1, 2, 3}) is None
    assert index.best_match({7, 8, 9}) == "k"
    index.remove("k")
    index.remove("k")
    assert index.best_match({7, 8, 9}) is None
    assert len(index) == 0


def test_index_filters_by_length() -> None:
    """A set sharing a prefix token but of an impossible size is not a candidate."""
    index: PrefixIndex[str] = PrefixIndex({}, 0.5)
    index.add("small", {1})
    index.add("big", {1, 2, 3})
    assert index.candidates({1, 2, 3, 4, 5, 6, 7}) == set()
    assert index.candidates({1, 2}) == {"small", "big"}


def test_index_refuses_probe_threshold_below_its_own() -> None:
    """Probing below the index threshold could miss pairs, so it raises; above is fine."""
    index: PrefixIndex[str] = PrefixIndex({}, 0.85)
    index.add("k", range(20))
    with pytest.raises(ValueError, match="below the index threshold"):
        index.best_match(range(20), 0.8)
    assert index.best_match(range(20), 0.9) == "k"


@given(collections(), st.data(), thresholds, thresholds)
@PROPERTY
def test_best_match_equals_brute_force(
    sets: dict[str, frozenset[int]],
    data: st.DataObject,
    threshold: Threshold,
    other: Threshold,
) -> None:
    """Under any rank map and threshold, the index's best match is the brute-force one."""
    rank = data.draw(ranks(list(sets.values())))
    index: PrefixIndex[str] = PrefixIndex(rank, threshold)
    for key, tokens in sets.items():
        index.add(key, tokens)
    bases = list(sets.values())
    query = data.draw(
        st.one_of(small_sets, st.sampled_from(bases).flatmap(near_copy)) if bases else small_sets
    )
    assert index.best_match(query) == brute_force_best_match(query, sets, threshold)
    higher = max(exact_threshold(threshold), exact_threshold(other))
    assert index.best_match(query, higher) == brute_force_best_match(query, sets, higher)


@given(collections(), st.data(), thresholds)
@PROPERTY
def test_candidates_never_miss_a_match(
    sets: dict[str, frozenset[int]], data: st.DataObject, threshold: Threshold
) -> None:
    """Every key with J >= t to the probe is among its candidates."""
    rank = data.draw(ranks(list(sets.values())))
    index: PrefixIndex[str] = PrefixIndex(rank, threshold)
    for key, tokens in sets.items():
        index.add(key, tokens)
    bases = list(sets.values())
    query = data.draw(st.sampled_from(bases).flatmap(near_copy) if bases else small_sets)
    t = exact_threshold(threshold)
    matches = {key for key, tokens in sets.items() if exact_jaccard(query, tokens) >= t}
    assert matches <= index.candidates(query)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=30, unique=True),
    st.lists(st.integers(0, 40), max_size=6, unique=True),
    st.sampled_from([0.5, 0.7, 0.8, 0.85, 0.9]),
    st.integers(1, 4),
    st.dictionaries(st.integers(0, 40), st.integers(0, 5)),
)
def test_l_prefixes_of_similar_sets_share_what_shared_needed_asks(
    base: list[int], changes: list[int], threshold: float, ell: int, rank: dict[int, int]
) -> None:
    """Any pair with J >= t shares at least shared_needed tokens of its ell-prefixes."""
    x = frozenset(base)
    y = frozenset(base[: max(1, len(base) - len(changes) // 2)]) | frozenset(changes)
    if Fraction(len(x & y), len(x | y)) < Fraction(str(threshold)):
        return
    shared = set(prefix(x, rank, threshold, ell)) & set(prefix(y, rank, threshold, ell))
    assert len(shared) >= shared_needed(len(y), threshold, ell)
    assert len(shared) >= shared_needed(len(x), threshold, ell)
