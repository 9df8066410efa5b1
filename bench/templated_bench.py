"""Dedup on templated observations: the positional filter against none, and brute force.

Agents write many observations from one mould ("Fixed the failing test in module N
after the upgrade"): rows of one template share its words and differ in a word or two
of their own. The template's words are common, so they fill every row's prefix, and
without more every row of a template is a prefix-filter candidate of every other.

N local rows are made from ``--templates`` templates of 5 to 9 Zipf words
(``dataset.ZipfText``), each row the template plus a number of its own ("n123"), so two
rows of one template share all but one word each and are not similar at 0.85 (5 of 7
up to 9 of 11 words); M incoming rows are new rows of the same templates, of which a
tenth exact copies of local rows and a tenth local rows less their number (near twins,
similar to the row they came from). The index is built as a first pull builds it
(``dedup_bench.build_index``), then the M look-ups run as a pull runs them
(``dedup_bench.pulled_twins``) twice in the same run: with the positional filter and
with it switched off (``store.postings.POSITIONAL_FROM`` past any candidate count), the
baseline. Brute force answers the same questions; all three must agree.

Run: ``.venv/bin/python bench/templated_bench.py [--count N] [--incoming M]
[--templates T] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dataset import PROJECT, ZipfText
from dedup_bench import THRESHOLD, BruteForce, Incoming, build_index, pulled_twins
from harness import exit_on_signals, run_script, temp_workdir
from report import command_line, format_table, machine, machine_line, write_json

from memento_syncd.store import postings
from memento_syncd.store.index import SimilarityIndex, Text

SEED = 5005


def make_rows(
    count: int, incoming: int, templates: int
) -> tuple[list[tuple[str, str]], list[Incoming]]:
    """The local (title, content) rows and the incoming ones, deterministic."""
    gen = ZipfText(SEED)
    moulds = [" ".join(gen.draw(gen.rng.randint(5, 9))) for _ in range(templates)]
    local = [("", f"{moulds[n % templates]} n{n}") for n in range(count)]
    out: list[Incoming] = []
    for k in range(incoming):
        if k % 10 == 0:  # an exact copy of a local row: its content hash matches
            source = gen.rng.randrange(count)
            kind, content = "exact", local[source][1]
        elif k % 10 == 1:  # a local row less its own number: similar to its template rows
            source = gen.rng.randrange(count)
            kind, content = "near", moulds[source % templates]
        else:
            source, kind = None, "new"
            content = f"{moulds[k % templates]} n{count + k}"
        out.append(Incoming(Text(PROJECT, "project", None, "", content), kind, source))
    gen.rng.shuffle(out)
    return local, out


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Both look-up runs and brute force; the figures as a JSON-ready dict."""
    print(f"generating {args.count:,} local rows of {args.templates} templates ...", flush=True)
    local, incoming = make_rows(args.count, args.incoming, args.templates)
    print("building the index ...", flush=True)
    conn, _, learn_s, index_s = build_index(workdir / "memento.db", local)
    try:
        print("look-ups with the positional filter ...", flush=True)
        filtered, filtered_s = pulled_twins(conn, SimilarityIndex(conn, THRESHOLD), incoming)
        print("look-ups without it (the baseline) ...", flush=True)
        was = postings.POSITIONAL_FROM
        postings.POSITIONAL_FROM = sys.maxsize
        try:
            plain, plain_s = pulled_twins(conn, SimilarityIndex(conn, THRESHOLD), incoming)
        finally:
            postings.POSITIONAL_FROM = was
    finally:
        conn.close()
    print("brute force ...", flush=True)
    brute = BruteForce(local)
    started = time.perf_counter()
    truth = [brute.twin(item.text) for item in incoming]
    brute_s = time.perf_counter() - started
    return {
        "local": args.count, "incoming": args.incoming, "templates": args.templates,
        "threshold": THRESHOLD, "mix": dict(Counter(item.kind for item in incoming)),
        "found": dict(Counter("none" if a is None else a[1] for a in filtered)),
        "index_learn_s": learn_s, "index_build_s": index_s,
        "filtered_s": filtered_s, "plain_s": plain_s, "brute_s": brute_s,
        "speedup": plain_s / filtered_s,
        "identical": filtered == truth and plain == truth,
    }  # fmt: skip


def print_report(r: dict[str, Any]) -> None:
    """The figures as a table, then the check."""
    m = r["incoming"]
    rows = [
        ("index build (learn the order + index)", f"{r['local']:,}",
         f"{r['index_learn_s'] + r['index_build_s']:.2f}", ""),
        ("look-ups, positional filter", f"{m:,}", f"{r['filtered_s']:.2f}",
         f"{r['filtered_s'] / m * 1e3:.2f}"),
        ("look-ups, no positional filter (baseline)", f"{m:,}", f"{r['plain_s']:.2f}",
         f"{r['plain_s'] / m * 1e3:.2f}"),
        ("brute force", f"{m:,}", f"{r['brute_s']:.2f}", f"{r['brute_s'] / m * 1e3:.2f}"),
    ]  # fmt: skip
    print()
    print(machine_line(machine()))
    print(f"{r['local']:,} local rows of {r['templates']} templates, {m:,} incoming,"
          f" threshold {r['threshold']}; mix {r['mix']}; found {r['found']}")  # fmt: skip
    print()
    for line in format_table(
        ("phase", "observations", "seconds", "ms each"), rows, frozenset({1, 2, 3})
    ):
        print(line)
    print()
    print(f"positional filter: {r['speedup']:.1f}x the baseline's speed")
    print(f"identical (filtered, baseline, brute force): {'yes' if r['identical'] else 'NO'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = parser.add_argument
    add("--count", type=int, default=20_000, help="local rows (20000)")
    add("--incoming", type=int, default=1000, help="incoming rows (1000)")
    add("--templates", type=int, default=20, help="templates the rows are made from (20)")
    add("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    args = parser.parse_args(argv)
    if args.count < 1 or args.incoming < 1 or not 1 <= args.templates <= args.count:
        parser.error("--count >= 1, --incoming >= 1, 1 <= --templates <= --count")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when the three answers agree."""
    args = parse_args(argv)
    exit_on_signals()
    with temp_workdir("memento-templated-") as workdir:
        result = run(args, workdir)
    print_report(result)
    if args.json:
        write_json(args.json, {"command": command_line(), "machine": machine(), **result})
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    run_script(main)
