"""Dedup alone: the client's similarity index against brute force, on the same data.

Writes N local observations (Zipf-distributed pseudo-English, ``dataset.ZipfText``) into
a fresh device database, builds the similarity index as a first pull does (timed on its
own), then looks up the twins of M incoming observations as a pull does (``prepare`` in
batches outside the write lock, then ``find_twin`` inside it; the target is for this), and
again with ``find_twin`` alone, one at a time. The incoming are of a known
mix: exact twins of local rows (half of them retitled), near twins (a few words changed,
Jaccard above the threshold), near misses (many words changed), exact copies in another
project (never twins), and unrelated texts. The same question is then answered by brute
force: for each incoming, the exact Jaccard against every local set of the same project
(sets as Python ints, one bit per word, so ``(a & b).bit_count()`` is the intersection).
Both must choose the same twin: an exact content match first (smallest id), else the
highest Jaccard strictly above the threshold, ties to the smallest id.

Run::

    .venv/bin/python bench/dedup_bench.py [--count N] [--incoming M] [--limit S]
                                          [--subset K] [--json PATH] [--strict]

Brute force is quadratic: when the first 100 answers of either method project more than
``--limit`` seconds for all M, that method answers only the first ``--subset`` incoming
and its time is extrapolated (the report says so); both are compared on what both answered.
"""

from __future__ import annotations

import argparse
import functools
import operator
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from dataset import DEDUP_THRESHOLD, PROJECT, ZipfText, app_row, changed_copy, write_app_db
from harness import BenchError, exit_on_signals, run_script, temp_workdir
from report import command_line, format_table, machine, machine_line, write_json

from memento_syncd.core import similarity
from memento_syncd.core.hashing import content_hash
from memento_syncd.store import posting_rows
from memento_syncd.store.db import connect, write
from memento_syncd.store.inbox import SLICE_GAP_SECONDS, SLICE_SECONDS
from memento_syncd.store.index import SimilarityIndex, Text, learn_order

THRESHOLD = DEDUP_THRESHOLD
DEDUP_TARGET_S = 2.0  # for 10,000 incoming against 100,000 local
LOCAL_SEED, INCOMING_SEED = 1001, 2002
# The planted mix, as shares of the incoming observations; the rest are unrelated.
MIX = (("exact", 0.05), ("near", 0.05), ("near_miss", 0.02), ("other_project", 0.01))
LOCAL_COPIES = 0.01  # share of local rows that repeat an earlier row (ties: smallest id)

Answer = tuple[int, str] | None  # (local obs_id, "exact" or "similar"), or no twin


@dataclass
class Incoming:
    """One incoming observation, what it was made as, and the local row it was made from."""

    text: Text
    kind: str
    source: int | None


def make_local(count: int) -> list[tuple[str, str]]:
    """``count`` (title, content) pairs; the row of index i gets obs_id i + 1.

    The last ``LOCAL_COPIES`` of them copy earlier rows, so that ties have to be broken.
    """
    gen = ZipfText(LOCAL_SEED)
    fresh = count - int(count * LOCAL_COPIES)
    local = [(gen.title(), gen.content()) for _ in range(fresh)]
    return local + [local[gen.rng.randrange(fresh)] for _ in range(count - fresh)]


def _word_tokens(title: str, content: str) -> frozenset[int]:
    return similarity.token_ids(similarity.word_set(title, content))


def make_incoming(local: list[tuple[str, str]], count: int) -> list[Incoming]:
    """``count`` incoming observations of the planted mix, shuffled (deterministic)."""
    gen = ZipfText(INCOMING_SEED)
    first: dict[tuple[str, str], int] = {}
    for obs_id, pair in enumerate(local, start=1):
        first.setdefault(pair, obs_id)
    copies = [i for i, pair in enumerate(local) if first[pair] != i + 1]
    picks = gen.rng.sample(range(len(local)), min(len(local), count))
    picks[::5] = gen.rng.choices(copies or picks, k=len(picks[::5]))  # a fifth have equals
    sources = iter(picks)
    out: list[Incoming] = []
    for kind, share in MIX:
        for n in range(round(count * share)):
            title, content = local[next(sources)]
            obs_id = first[title, content]  # the twin to find: the smallest id of equals
            project = "other-project" if kind == "other_project" else PROJECT
            if kind == "exact" and n % 2:
                title = gen.title()
            elif kind == "near":
                content = changed_copy(gen, title, content, (1, 6), similar=True)
            elif kind == "near_miss":
                content = changed_copy(gen, title, content, (18, 30), similar=False)
            out.append(Incoming(Text(project, "project", None, title, content), kind, obs_id))
    while len(out) < count:
        out.append(
            Incoming(Text(PROJECT, "project", None, gen.title(), gen.content()), "unrelated", None)
        )
    gen.rng.shuffle(out)
    return out


# --------------------------------------------------------------------------- the index


def build_index(
    db: Path, local: list[tuple[str, str]]
) -> tuple[sqlite3.Connection, SimilarityIndex, float, float]:
    """Write the rows, open the database, and index them as a first pull does; both timings
    (learning the order, then indexing, which includes merging the stored postings of
    older buckets)."""
    write_app_db(db, [app_row(PROJECT, i, t, c) for i, (t, c) in enumerate(local)])
    conn = connect(db)  # migration marks every existing row dirty
    index = SimilarityIndex(conn, THRESHOLD)
    started = time.perf_counter()
    if not learn_order(conn, index):  # as engine._refresh_index
        raise BenchError("a fresh index should learn its order from the waiting rows")
    learnt = time.perf_counter()
    while True:  # as engine._refresh_index: 500 rows per write transaction
        with write(conn):
            if index.refresh_dirty(limit=500) == 0:
                break
    more = True
    while more:  # as engine._refresh_index: older buckets' postings merged, in slices
        with write(conn):
            more = posting_rows.compact(conn, SLICE_SECONDS)
    return conn, index, learnt - started, time.perf_counter() - learnt


def find_twin(index: SimilarityIndex, text: Text) -> Answer:
    """``SimilarityIndex.find_twin`` as a plain answer."""
    twin = index.find_twin(text)
    return None if twin is None else (twin.obs_id, twin.kind)


def pulled_twins(
    conn: sqlite3.Connection, index: SimilarityIndex, items: list[Incoming]
) -> tuple[list[Answer], float]:
    """The twins as ``inbox.apply_page`` finds them: looked up in batches outside the write
    lock (``prepare``, as long as the lock is left free), then taken inside it."""
    answers: list[Answer] = []
    started = time.perf_counter()
    while len(answers) < len(items):
        texts = [item.text for item in items[len(answers) : len(answers) + 500]]
        probes = index.prepare(texts, SLICE_GAP_SECONDS)
        with write(conn):
            index.validate()
            for text, probe in zip(texts, probes, strict=False):
                twin = index.find_twin(text, probe=probe)
                answers.append(None if twin is None else (twin.obs_id, twin.kind))
        index.release()
    return answers, time.perf_counter() - started


def run_capped(
    name: str, answer: Callable[[Text], Answer], items: list[Incoming], limit: float, subset: int
) -> tuple[list[Answer], float]:
    """Answer every item, or only the first ``subset`` if all would take more than ``limit`` s.

    The projection comes from the first 100 items. Returns the answers and the seconds.
    """
    answers: list[Answer] = []
    todo = len(items)
    started = time.perf_counter()
    for n, item in enumerate(items, start=1):
        answers.append(answer(item.text))
        if n == min(100, todo) and todo > subset:
            projected = (time.perf_counter() - started) / n * todo
            if projected > limit:
                todo = subset
                print(f"{name}: {projected:,.0f} s projected for all; measuring {subset:,}")
        if n >= todo:
            break
    return answers, time.perf_counter() - started


# --------------------------------------------------------------------------- brute force


class BruteForce:
    """Every local set of each project as an int bitset, and the exact-content map."""

    def __init__(self, local: list[tuple[str, str]]) -> None:
        sets = [_word_tokens(t, c) for t, c in local]
        frequency = Counter(token for tokens in sets for token in tokens)
        self.bit = {token: i for i, (token, _) in enumerate(frequency.most_common())}
        self.ids = list(range(1, len(local) + 1))
        self.sizes = [len(tokens) for tokens in sets]
        self.bits = [self._int(tokens) for tokens in sets]
        self.exact: dict[tuple[str, str], int] = {}
        for obs_id, (_, content) in zip(self.ids, local, strict=True):
            self.exact.setdefault((PROJECT, content_hash(content)), obs_id)
        exact = similarity.exact_threshold(THRESHOLD)
        self.num, self.den = exact.numerator, exact.denominator

    def _int(self, tokens: frozenset[int]) -> int:
        bits = (1 << self.bit[t] for t in tokens if t in self.bit)
        return functools.reduce(operator.or_, bits, 0)

    def twin(self, text: Text) -> Answer:
        """Exact match first (smallest id), else highest Jaccard > threshold, smallest id."""
        exact = self.exact.get((text.project, content_hash(text.content)))
        if exact is not None:
            return (exact, "exact")
        if text.project != PROJECT:  # every local row is in PROJECT: no set to compare with
            return None
        tokens = _word_tokens(text.title, text.content)
        query, size = self._int(tokens), len(tokens)
        inter = list(map(int.bit_count, map(query.__and__, self.bits)))  # every local set
        num, den = self.num, self.den
        # J > t needs |q & s| > t |q | s| >= t |q|: only then can a row be a twin.
        if not inter or max(inter) * den <= num * size:
            return None
        best: tuple[Fraction, int] | None = None
        for i, common in enumerate(inter):
            if common * den <= num * size:
                continue
            union = size + self.sizes[i] - common
            if common * den > num * union:  # similarity.is_similar, in integers
                score = Fraction(common, union)
                if best is None or (score, -self.ids[i]) > (best[0], -best[1]):
                    best = (score, self.ids[i])
        return None if best is None else (best[1], "similar")


# --------------------------------------------------------------------------- main


def expected(item: Incoming) -> Answer:
    """The answer the planted mix calls for (near misses: none)."""
    if item.kind == "exact":
        return (item.source or 0, "exact")
    if item.kind == "near":
        return (item.source or 0, "similar")
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = parser.add_argument
    add("--count", type=int, default=100_000, help="local observations (100000)")
    add("--incoming", type=int, help="incoming observations (count / 10)")
    limit_help = "if find_twin or brute force would take longer for all, measure --subset (600 s)"
    add("--limit", type=float, default=600.0, metavar="S", help=limit_help)
    add("--subset", type=int, default=1000, metavar="K", help="incoming measured (1000)")
    add("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    add("--strict", action="store_true", help="exit 3 when the target is missed")
    args = parser.parse_args(argv)
    args.incoming = args.incoming or max(1, args.count // 10)
    if args.count < 1 or args.incoming > args.count or args.subset < 1:
        parser.error("--count >= 1, --incoming <= --count, --subset >= 1")
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every phase; the figures as a JSON-ready dict."""
    n, m = args.count, args.incoming
    print(f"generating {n:,} local and {m:,} incoming observations ...", flush=True)
    local = make_local(n)
    incoming = make_incoming(local, m)
    print("building the index ...", flush=True)
    conn, _, learn_s, index_s = build_index(workdir / "memento.db", local)
    try:
        print("dedup as a pull does it: prepare, then find_twin ...", flush=True)
        found, dedup_s = pulled_twins(conn, SimilarityIndex(conn, THRESHOLD), incoming)
        print("find_twin alone, one incoming at a time ...", flush=True)
        with write(conn):
            single, single_s = run_capped(
                "find_twin",
                partial(find_twin, SimilarityIndex(conn, THRESHOLD)),
                incoming,
                args.limit,
                args.subset,
            )
    finally:
        conn.close()
    print("brute force ...", flush=True)
    started = time.perf_counter()
    brute = BruteForce(local)
    prep_s = time.perf_counter() - started
    truth, brute_s = run_capped("brute force", brute.twin, incoming, args.limit, args.subset)
    both = min(len(found), len(truth))
    differ = [i for i in range(both) if found[i] != truth[i]]
    unplanned = [i for i in range(len(found)) if found[i] != expected(incoming[i])]
    single_differ = [i for i in range(len(single)) if single[i] != found[i]]
    dedup_all_s, brute_all_s = dedup_s / len(found) * m, brute_s / len(truth) * m
    return {
        "local": n, "incoming": m, "threshold": THRESHOLD,
        "mix": dict(Counter(item.kind for item in incoming)),
        "found": dict(Counter("none" if a is None else a[1] for a in found)),
        "index_learn_s": learn_s, "index_build_s": index_s,
        "dedup_s": dedup_s, "dedup_measured": len(found), "dedup_all_s": dedup_all_s,
        "dedup_target_s": DEDUP_TARGET_S * m / 10_000,
        "single_s": single_s, "single_measured": len(single),
        "single_all_s": single_s / len(single) * m, "single_identical": not single_differ,
        "brute_prep_s": prep_s, "brute_s": brute_s, "brute_measured": len(truth),
        "brute_all_s": brute_all_s, "speedup": brute_all_s / dedup_all_s,
        "identical": not differ, "compared": both,
        "differences": [(i, found[i], truth[i]) for i in differ[:10]],
        "as_planted": not unplanned,
        "unplanned": [(incoming[i].kind, found[i], expected(incoming[i])) for i in unplanned[:10]],
    }  # fmt: skip


def _seconds(total: float, measured: int, of: int) -> str:
    return f"{total:,.2f}" + ("" if measured == of else f" (from {measured:,})")


def print_report(r: dict[str, Any]) -> None:
    """The figures as a table, then the checks."""
    n, m = r["local"], r["incoming"]
    met = "met" if r["dedup_all_s"] <= r["dedup_target_s"] else "MISSED"
    rows = [
        ("index build: learn the order", f"{n:,}", f"{r['index_learn_s']:.2f}", ""),
        ("index build: index every row", f"{n:,}", f"{r['index_build_s']:.2f}", ""),
        ("dedup: prepare + find_twin (a pull)", f"{m:,}",
         _seconds(r["dedup_all_s"], r["dedup_measured"], m),
         f"<= {r['dedup_target_s']:.1f} s {met}"),
        ("dedup: find_twin alone, one by one", f"{m:,}",
         _seconds(r["single_all_s"], r["single_measured"], m), ""),
        ("brute force: prepare sets", f"{n:,}", f"{r['brute_prep_s']:.2f}", ""),
        ("brute force: every pair", f"{m:,}", _seconds(r["brute_all_s"], r["brute_measured"], m),
         ""),
    ]  # fmt: skip
    print()
    print(machine_line(machine()))
    print(f"{n:,} local observations (~1 KB, Zipf words), {m:,} incoming, threshold {THRESHOLD}")
    print(f"incoming mix: {r['mix']}")
    print(f"find_twin found: {r['found']} (of {r['dedup_measured']:,})")
    print()
    for line in format_table(
        ("phase", "observations", "seconds", "target"), rows, frozenset({1, 2})
    ):
        print(line)
    if r["dedup_measured"] < m or r["brute_measured"] < m:
        print("(from K): measured on the first K incoming, extrapolated to all")
    print()
    per = r["dedup_all_s"] / m * 1e3
    print(f"dedup: {per:.3f} ms per incoming; speed-up over brute force: {r['speedup']:,.2f}x")
    scope = f"all {m:,}" if r["compared"] == m else f"the first {r['compared']:,} of {m:,}"
    print(f"identical: {'yes' if r['identical'] else 'no'} (on {scope} incoming)")
    for i, ours, theirs in r["differences"]:
        print(f"  incoming {i}: find_twin {ours}, brute force {theirs}")
    print(f"as planted: {'yes' if r['as_planted'] else 'no'} (on {r['dedup_measured']:,})")
    print(f"find_twin alone gives the same twins: {'yes' if r['single_identical'] else 'no'}")
    for kind, ours, planted in r["unplanned"]:
        print(f"  {kind}: find_twin {ours}, planted {planted}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran and both answers agree."""
    args = parse_args(argv)
    exit_on_signals()
    try:
        with temp_workdir("memento-dedup-") as workdir:
            figures = run(args, workdir)
    except (BenchError, OSError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print_report(figures)
    if args.json is not None:
        write_json(
            args.json,
            {"benchmark": "dedup", "command": command_line(), "machine": machine(), **figures},
        )
        print(f"figures written to {args.json}")
    if not figures["identical"] or not figures["single_identical"]:
        return 2
    if args.strict and figures["dedup_all_s"] > figures["dedup_target_s"]:
        return 3
    return 0


if __name__ == "__main__":
    run_script(main)
