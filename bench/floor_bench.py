"""The floor under the end-to-end target: N observations with no dedup and no index at all.

``client_bench.py`` measures ``memento sync push`` on A and ``memento sync pull`` on B,
and the issue's target is N / (push + pull) >= 10,000 obs/s. This script measures what
any push-then-pull of the same N observations costs on this machine even if dedup and
indexing cost nothing, against the same real server:

1. A's push: the installed ``memento sync push`` (as in ``client_bench.py``);
2. the pull's transfer: every page (the pull's page size) fetched over HTTP and decoded,
   nothing written;
3. the pull's writes: those pages written into an empty device database with
   memento-syncd's own schema, triggers and statements (parse, known ``sync_id``?, insert
   the row, its ``sync_objects`` row and base, the cursor), in the pull's 30 ms
   transactions, each committed and checkpointed; no look-ups, no index, no gaps left
   for an application, none writing;
4. for scale, the same rows with bare SQL into a bare ``observations`` table, 1,000 per
   transaction, nothing else.

The ceiling is N / (push + max(transfer, writes)): a pull overlaps its next page's
transfer with the current page's writes, so the larger of the two bounds it.
Run: ``.venv/bin/python bench/floor_bench.py [--count N]``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import harness
from client_bench import E2E_TARGET, make_devices, make_home, run_memento
from dataset import MEMBER, PROJECT, TEAM
from harness import BenchError, create_token, serving
from report import machine, machine_line

from memento_syncd.client.engine import PULL_PAGE
from memento_syncd.store import rows
from memento_syncd.store.db import applying, connect, write
from memento_syncd.store.inbox import SLICE_SECONDS
from memento_syncd.store.schema import APP_TABLE
from memento_syncd.store.settle import rebase

Page = tuple[list[dict[str, Any]], str]  # observations, and the cursor after them


def fetch_all(url: str, token: str) -> list[Page]:
    """Every page of the project, as the pull asks for them; kept in memory."""
    pages: list[Page] = []
    cursor: str | None = None
    while True:
        body = json.dumps({"cursor": cursor, "project_id": PROJECT, "limit": PULL_PAGE})
        request = urllib.request.Request(  # noqa: S310 (the harness's own http:// server)
            f"{url}/api/sync/pull",
            data=body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            page = json.loads(response.read())
        cursor = page["cursor"]
        pages.append((page["observations"], cursor))
        if not page["has_more"]:
            return pages


def write_pages(db: Path, pages: list[Page]) -> int:
    """The pull's writes of ``pages`` into a new device database; returns rows inserted."""
    conn = connect(db)
    inserted = 0
    try:
        for items, cursor in pages:
            parsed = [rows.from_wire(item) for item in items]
            position = 0
            while position < len(parsed):
                with write(conn), applying(conn):
                    started = time.monotonic()
                    while position < len(parsed):
                        inserted += _insert(conn, *parsed[position])
                        position += 1
                        if time.monotonic() - started >= SLICE_SECONDS:
                            break
                    if position == len(parsed):
                        _advance(conn, cursor, len(items))
    finally:
        conn.close()
    return inserted


def _insert(conn: sqlite3.Connection, remote: Any, version: int) -> int:
    """The insert branch of ``store.inbox``, without its look-ups and index."""
    known = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sync_objects WHERE sync_id = ?)"
        " OR EXISTS (SELECT 1 FROM sync_aliases WHERE sync_id = ?)",
        (remote.sync_id, remote.sync_id),
    ).fetchone()[0]
    if known:
        return 0
    obs_id = rows.insert_row(conn, remote)
    conn.execute(
        "INSERT INTO sync_objects (obs_id, sync_id) VALUES (?, ?)", (obs_id, remote.sync_id)
    )
    rebase(conn, obs_id, remote, version)
    return 1


def _advance(conn: sqlite3.Connection, cursor: str, count: int) -> None:
    conn.execute("INSERT OR IGNORE INTO sync_cursors (project) VALUES (?)", (PROJECT,))
    conn.execute(
        "UPDATE sync_cursors SET pull_cursor = ?, pull_count = pull_count + ? WHERE project = ?",
        (cursor, count, PROJECT),
    )


def write_bare(db: Path, pages: list[Page]) -> None:
    """The same rows with bare SQL into a bare table, 1,000 per transaction."""
    values = [
        (o["project"], o["type"], o["title"], o["content"], o["topic_key"], o["scope"],
         o["created_at"], o["updated_at"], o["deleted_at"])
        for items, _ in pages for o in items
    ]  # fmt: skip
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(APP_TABLE)
        for start in range(0, len(values), 1000):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO observations (project, type, title, content, topic_key, scope,"
                " created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values[start : start + 1000],
            )
            conn.execute("COMMIT")


def _timed(label: str, work: Any) -> tuple[float, Any]:
    print(f"{label} ...", flush=True)
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Every phase, in order; seconds each."""
    n = args.count
    print(f"generating {n:,} observations for A ...", flush=True)
    rows_a, _ = make_devices(n, 0, 0)
    db = workdir / "server.db"
    with serving(workdir, db) as server:
        token_a, token_b = create_token(db, TEAM, MEMBER), create_token(db, TEAM, "b2")
        home_a = make_home(workdir / "a", server.url, rows_a)
        print("push on A ...", flush=True)
        push = run_memento(home_a, token_a, "push", args, server.pid)
        if push.outcomes.get("pushed") != n:
            raise BenchError(f"the push reported {push.outcomes}, expected {n} pushed")
        fetch_s, pages = _timed("fetching every page", lambda: fetch_all(server.url, token_b))
    got = sum(len(items) for items, _ in pages)
    if got != n:
        raise BenchError(f"fetched {got} observations, expected {n}")
    write_s, inserted = _timed("writing them", lambda: write_pages(workdir / "b.db", pages))
    if inserted != n:
        raise BenchError(f"wrote {inserted} rows, expected {n}")
    bare_s, _ = _timed("bare SQL", lambda: write_bare(workdir / "bare.db", pages))
    return {"push": push.seconds, "fetch": fetch_s, "write": write_s, "bare": bare_s}


def print_report(n: int, s: dict[str, float]) -> None:
    """Each phase, and the ceilings they leave."""
    print(f"\n{machine_line(machine())}")
    print(f"{n:,} observations (~1 KB, Zipf words), pages of {PULL_PAGE}\n")
    for label, key in (
        ("A: memento sync push", "push"),
        ("pull's transfer: every page fetched and decoded", "fetch"),
        ("pull's writes: our schema and statements, no dedup or index", "write"),
        ("bare SQL: 1,000 rows per transaction, one bare table", "bare"),
    ):
        print(f"{label:<62} {s[key]:7.2f} s  {n / s[key]:9,.0f} obs/s")
    pull_floor = max(s["fetch"], s["write"])
    ceiling = n / (s["push"] + pull_floor)
    print(f"\nceiling with dedup and indexing free: N / (push + max(transfer, writes)) ="
          f" {ceiling:,.0f} obs/s (target >= {E2E_TARGET:,.0f})")  # fmt: skip
    print(f"with a push that cost nothing too: N / max(transfer, writes) ="
          f" {n / pull_floor:,.0f} obs/s")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="observations (100000)")
    parser.add_argument("--timeout", type=float, default=1800.0, metavar="S")
    args = parser.parse_args(argv)
    args.profile = None  # what client_bench.run_memento reads
    if args.count < 1:
        parser.error("--count >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran and every check passed."""
    args = parse_args(argv)
    harness.exit_on_signals()
    try:
        with harness.temp_workdir("memento-floor-bench-") as workdir:
            seconds = run(args, workdir)
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print_report(args.count, seconds)
    return 0


if __name__ == "__main__":
    harness.run_script(main)
