"""A new ``similarity_threshold`` on a device with a big index, while the application writes.

Device B is a ``MEMENTO_HOME`` whose ``memento.db`` holds N observations (~1 KB of
Zipf-distributed pseudo-English each, ``dataset.ZipfText``); the real server runs
(``harness.serving``). Steps, each while a thread of this process writes a row into B's
database every 20 ms as the application would (busy timeout 10 s), recording each wait:

1. ``memento sync pull`` on B: its first sync, which indexes B's rows at 0.85;
2. baseline, on a copy of B's database: the index rebuilt in place for the new threshold
   in one write transaction (``SimilarityIndex.rebuild``, what a sync did before
   ``store.reset``);
3. ``config.json`` gets the new threshold, then ``memento sync pull`` on B: the index is
   forgotten and indexed again in short transactions.

After step 3 every live row must be indexed under the new threshold, with no reset left.
Run: ``.venv/bin/python bench/reindex_bench.py [--count N] [--threshold T] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import harness
from client_bench import Run, Writer, make_home, pull_with_writer
from dataset import MEMBER, PROJECT, TEAM, ZipfText, app_row
from harness import BenchError, create_token, serving
from report import command_line, format_table, machine, machine_line, write_json

from memento_syncd.store import reset
from memento_syncd.store.db import connect, write
from memento_syncd.store.index import ELL, SimilarityIndex

SEED = 5005
WRITE_TARGET_MS = 100.0


def in_place(db: Path, threshold: float) -> Run:
    """Step 2: the one-transaction rebuild on a copy of ``db``, with the application writing."""
    copy = db.with_name("in-place.db")
    with closing(sqlite3.connect(db)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    result = Run("rebuild in place")
    writer = Writer(copy)
    with closing(connect(copy)) as conn:
        index = SimilarityIndex(conn, threshold)
        writer.start()
        time.sleep(0.2)  # the writer is under way
        started = time.perf_counter()
        try:
            with write(conn):
                index.rebuild()
        finally:
            result.seconds = time.perf_counter() - started
            time.sleep(0.2)
            writer.stop.set()
            writer.join()
        result.moved = index.size()
    result.writes, result.failed_writes = writer.waits, writer.failed
    return result


def check(db: Path, threshold: float) -> list[str]:
    """What is wrong with B's index after step 3; empty when every live row is indexed
    under the new threshold."""
    with closing(sqlite3.connect(db)) as conn:
        live = conn.execute("SELECT count(*) FROM observations WHERE deleted_at IS NULL")
        indexed = conn.execute("SELECT count(*) FROM sync_sets").fetchone()[0]
        setting = conn.execute("SELECT value FROM sync_meta WHERE key = 'index_threshold'")
        found = setting.fetchone()
        problems = []
        if reset.underway(conn):
            problems.append("a reset is still under way")
        if (stored := None if found is None else found[0]) != f"{threshold!r}/{ELL}":
            problems.append(f"index_threshold is {stored}, expected {threshold!r}/{ELL}")
        waiting = conn.execute("SELECT count(*) FROM sync_dirty").fetchone()[0]
        if indexed + waiting != (rows := live.fetchone()[0]):  # the writer's newest may wait
            problems.append(f"{indexed} rows indexed and {waiting} waiting, {rows} live")
    return problems


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The three steps; the figures as a JSON-ready dict."""
    gen = ZipfText(SEED)
    rows = [app_row(PROJECT, i, gen.title(), gen.content()) for i in range(args.count)]
    db = workdir / "server.db"
    with serving(workdir, db) as server:
        token = create_token(db, TEAM, MEMBER)
        home = make_home(workdir / "b", server.url, rows)
        print(f"B's first sync (indexes its {args.count:,} rows at 0.85) ...", flush=True)
        first = pull_with_writer(home, token, args, server.pid)
        print(f"rebuild in place on a copy ({first.seconds:.1f} s for the first sync) ...",
              flush=True)  # fmt: skip
        baseline = in_place(home / "memento.db", args.threshold)
        print(f"B's sync after similarity_threshold = {args.threshold} ({baseline.seconds:.1f} s"
              " for the rebuild in place) ...", flush=True)  # fmt: skip
        config = {"sync": {"enabled": True, "server_url": server.url,
                           "similarity_threshold": args.threshold}}  # fmt: skip
        (home / "config.json").write_text(json.dumps(config), encoding="utf-8")
        after = pull_with_writer(home, token, args, server.pid)
    after.moved = args.count
    problems = [] if after.finished else ["the sync did not finish"]
    problems += check(home / "memento.db", args.threshold)
    return {"count": args.count, "threshold": args.threshold,
            "runs": [first, baseline, after], "problems": problems}  # fmt: skip


def print_report(r: dict[str, Any]) -> None:
    """One row per step: its seconds and the application's write waits."""
    print(f"\n{machine_line(machine())}")
    print(f"B: {r['count']:,} observations (~1 KB, Zipf words); new threshold {r['threshold']}\n")
    header = ("step", "seconds", "writes", "wait p50 ms", "p99 ms", "max ms", "failed")
    labels = ("B: first sync (index at 0.85)", "baseline: rebuild in place, 1 transaction",
              "B: sync after the change (reset + index)")  # fmt: skip
    table = []
    for run_, label in zip(r["runs"], labels, strict=True):
        w = {k: "-" if v is None else f"{v:,.1f}" for k, v in run_.waits_ms().items()}
        table.append((label, f"{run_.seconds:.2f}", f"{len(run_.writes):,}", w["p50"],
                      w["p99"], w["max"], f"{run_.failed_writes}"))  # fmt: skip
    for line in format_table(header, table, frozenset({1, 2, 3, 4, 5, 6})):
        print(line)
    print(f"\napplication write target: < {WRITE_TARGET_MS:.0f} ms (failed: locked > 10 s)")
    print("checks: " + ("; ".join(r["problems"]) if r["problems"] else "all passed"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = parser.add_argument
    add("--count", type=int, default=100_000, help="observations on B (100000)")
    add("--threshold", type=float, default=0.8, help="the new similarity_threshold (0.8)")
    add("--timeout", type=float, default=1800.0, metavar="S", help="stop a command after S s")
    add("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    args = parser.parse_args(argv)
    args.profile = None  # client_bench.run_memento's option
    if args.count < 1 or not 0 < args.threshold <= 1 or args.threshold == 0.85:
        parser.error("--count >= 1 and 0 < --threshold <= 1, other than 0.85")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran and every check passed."""
    args = parse_args(argv)
    harness.exit_on_signals()
    try:
        with harness.temp_workdir("memento-reindex-bench-") as workdir:
            figures = run(args, workdir)
    except (BenchError, OSError, subprocess.SubprocessError, sqlite3.Error) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print_report(figures)
    if args.json is not None:
        runs = [run_.record() for run_ in figures["runs"]]
        about = {"benchmark": "a new similarity threshold", "command": command_line()}
        write_json(args.json, {**about, "machine": machine(), **figures, "runs": runs})
        print(f"figures written to {args.json}")
    return 2 if figures["problems"] else 0


if __name__ == "__main__":
    harness.run_script(main)
