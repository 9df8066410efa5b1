"""Push and pull throughput of the real sync server, against a plain-sqlite3 floor.

Starts ``memento-syncd server serve`` as a subprocess on a free port, creates a token,
pushes N observations of about 1 KB in batches over HTTP with aiohttp, pulls them all
back page by page, and checks that every observation came back exactly once. The same
rows are then written and read with the standard ``sqlite3`` module into the server's
own schema (WAL, ``synchronous=NORMAL``, one transaction per batch): the floor this
machine allows, to which the HTTP figures are compared.

Run::

    .venv/bin/python bench/server_bench.py [--count N] [--batch B] [--concurrency C]
                                           [--json PATH] [--server-profile PATH]

What is timed is the realistic client loop: serializing each request body, the HTTP
round trip, and decoding each response. Only the Python dicts of the observations are
built before the timer starts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

# Run as a script, this file's directory is on sys.path: the shared modules come from there.
from dataset import CONTENT_BYTES, MEMBER, PAGE, PROJECT, TEAM, batches, make_observations
from harness import (
    BenchError,
    CpuMark,
    create_token,
    exit_on_signals,
    run_script,
    serving,
    temp_workdir,
)
from report import Phase, command_line, machine, machine_line, print_phases, targets_met, write_json

from memento_syncd.server.storage.sqlite_schema import MIGRATIONS

PUSH_TARGET = 20_000.0
PULL_TARGET = 40_000.0

# The server's pull query, verbatim in meaning: the baseline reads the same way.
_PULL_QUERY = (
    "SELECT o.sync_id, o.project, o.type, o.title, o.content, o.topic_key, o.scope,"
    " o.content_hash, o.created_at, o.updated_at, o.deleted_at, o.version,"
    " o.owner_member_id, m.name, o.writer, o.based_on, o.seq FROM observations o"
    " JOIN members m ON m.id = o.owner_member_id"
    " WHERE o.team_id = ? AND o.project = ? AND o.seq > ?"
    " AND (o.scope = 'project' OR o.owner_member_id = ?)"
    " ORDER BY o.seq LIMIT ?"
)
_INSERT = (
    "INSERT INTO observations (team_id, sync_id, project, type, title, content, topic_key,"
    " scope, content_hash, created_at, updated_at, deleted_at, version, seq, owner_member_id,"
    " writer, based_on) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


# --------------------------------------------------------------------------- HTTP phases


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    # json= is what an aiohttp client writes: json.dumps with its defaults, in the loop.
    async with session.post(url, json=body) as resp:
        raw = await resp.read()
        if resp.status != 200:
            raise BenchError(f"POST {url}: HTTP {resp.status}: {raw[:500]!r}")
    answer: dict[str, Any] = json.loads(raw)
    return answer


def _session(token: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {token}"},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=600),
    )


async def push_all(
    base_url: str, token: str, groups: list[list[dict[str, Any]]], concurrency: int
) -> float:
    """Push every batch with ``concurrency`` requests in flight; return the seconds taken."""
    url = f"{base_url}/api/sync/push"
    async with _session(token, concurrency) as session:
        work: Iterator[list[dict[str, Any]]] = iter(groups)

        async def pusher() -> None:
            for group in work:  # the shared iterator hands each batch to one pusher
                answer = await _post(session, url, {"project_id": PROJECT, "observations": group})
                if answer.get("synced") != len(group):
                    raise BenchError(
                        f"push answered synced={answer.get('synced')!r} for {len(group)}"
                        f" observations (conflicts={answer.get('conflicts')!r})"
                    )

        started = time.perf_counter()
        async with asyncio.TaskGroup() as tasks:
            for _ in range(concurrency):
                tasks.create_task(pusher())
        return time.perf_counter() - started


async def pull_all(base_url: str, token: str) -> tuple[float, list[str], int]:
    """Pull the whole project; return seconds, the sync_ids in order, and the request count."""
    url = f"{base_url}/api/sync/pull"
    seen: list[str] = []
    requests = 0
    async with _session(token, 1) as session:
        cursor: str | None = None
        started = time.perf_counter()
        while True:
            answer = await _post(
                session, url, {"project_id": PROJECT, "cursor": cursor, "limit": PAGE}
            )
            requests += 1
            seen.extend(item["sync_id"] for item in answer["observations"])
            cursor = answer["cursor"]
            if not answer["has_more"]:
                break
        elapsed = time.perf_counter() - started
    return elapsed, seen, requests


def check_pulled(sent: list[dict[str, Any]], pulled: list[str]) -> None:
    """Every pushed sync_id came back exactly once, and nothing else did."""
    if len(pulled) != len(sent):
        raise BenchError(f"pulled {len(pulled)} observations, pushed {len(sent)}")
    counts: dict[str, int] = {}
    for sync_id in pulled:
        counts[sync_id] = counts.get(sync_id, 0) + 1
    twice = [s for s, n in counts.items() if n > 1]
    if twice:
        raise BenchError(f"{len(twice)} sync_ids pulled more than once, e.g. {twice[0]}")
    missing = {o["sync_id"] for o in sent} - counts.keys()
    if missing:
        raise BenchError(f"{len(missing)} pushed sync_ids never pulled, e.g. {min(missing)}")


# --------------------------------------------------------------------------- baseline


def _rows(observations: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows the server would insert for a first push, with sequence numbers 1..N."""
    rows = []
    for seq, obs in enumerate(observations, start=1):
        digest = hashlib.sha256(obs["content"].encode("utf-8")).hexdigest()
        at = obs["updated_at"]
        rows.append(
            (1, obs["sync_id"], PROJECT, obs["type"], obs["title"], obs["content"], None,
             "project", digest, at, at, None, 1, seq, 1, "", None)
        )  # fmt: skip
    return rows


def sqlite_baseline(
    db: Path, observations: list[dict[str, Any]], batch: int
) -> tuple[float, float, int]:
    """Insert then page through the rows with plain sqlite3; return both times and a count."""
    rows = _rows(observations)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        for statement in (s for migration in MIGRATIONS for s in migration):
            conn.execute(statement)
        now = "2025-01-15T10:30:00Z"
        conn.execute("INSERT INTO teams (id, name, created_at) VALUES (1, ?, ?)", (TEAM, now))
        conn.execute(
            "INSERT INTO members (id, team_id, name, created_at) VALUES (1, 1, ?, ?)",
            (MEMBER, now),
        )

        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, rows[start : start + batch])
            conn.execute("COMMIT")
        inserted = time.perf_counter() - started

        read = 0
        after = 0
        started = time.perf_counter()
        while True:
            page = conn.execute(_PULL_QUERY, (1, PROJECT, after, 1, PAGE + 1)).fetchall()
            got = page[:PAGE]
            read += len(got)
            if got:
                after = int(got[-1][16])
            if len(page) <= PAGE:
                break
        selected = time.perf_counter() - started
    finally:
        conn.close()
    return inserted, selected, read


# --------------------------------------------------------------------------- report


def report_json(phases: list[Phase], args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    """The figures as a JSON-ready dict."""
    return {
        "benchmark": "server push and pull",
        "command": command_line(),
        "count": args.count,
        "batch": args.batch,
        "page": PAGE,
        "push_concurrency": concurrency,
        "content_bytes": CONTENT_BYTES,
        "machine": machine(),
        "targets": {"push_obs_per_s": PUSH_TARGET, "pull_obs_per_s": PULL_TARGET},
        "phases": [p.record() for p in phases],
    }


def print_report(phases: list[Phase], args: argparse.Namespace) -> None:
    """The header lines, the table and the targets, on stdout."""
    print()
    print(machine_line(machine()))
    print(
        f"{args.count:,} observations of ~{CONTENT_BYTES} B, {args.batch} per push,"
        f" {phases[0].extra['in_flight']} push(es) in flight, pages of {PAGE}"
    )
    print()
    print_phases(phases)
    print()
    print(f"targets: push >= {PUSH_TARGET:,.0f} obs/s, pull >= {PULL_TARGET:,.0f} obs/s")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="observations (100000)")
    parser.add_argument("--batch", type=int, default=1000, help="observations per push (1000)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="push requests in flight at once (2)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    parser.add_argument(
        "--server-profile",
        type=Path,
        metavar="PATH",
        help="run the server under cProfile and write its stats to PATH (slows it down)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 3 when a target is missed"
    )
    args = parser.parse_args(argv)
    if args.count < 1 or not 1 <= args.batch <= 1000 or args.concurrency < 1:
        parser.error("--count >= 1, 1 <= --batch <= 1000 (the server's limit), --concurrency >= 1")
    return args


def measure_http(
    args: argparse.Namespace, workdir: Path, groups: list[list[dict[str, Any]]], concurrency: int
) -> tuple[Phase, Phase, list[str]]:
    """Push every batch to, then pull all from, a server running for this call only.

    Returns the push and pull phases and the pulled sync_ids in order.
    """
    count = sum(len(group) for group in groups)
    db = workdir / "server.db"
    with serving(workdir, db, args.server_profile) as server:
        token = create_token(db, TEAM, MEMBER)
        print(
            f"server at {server.url} (pid {server.pid}); pushing with"
            f" {concurrency} request(s) in flight, {args.batch} per request",
            flush=True,
        )
        mark = CpuMark.now(server.pid)
        push_s = asyncio.run(push_all(server.url, token, groups, concurrency))
        push_extra = {"requests": len(groups), "in_flight": concurrency, **mark.used()}
        print(f"pushed in {push_s:.2f} s; pulling in pages of {PAGE} ...", flush=True)
        mark = CpuMark.now(server.pid)
        pull_s, pulled, pull_requests = asyncio.run(pull_all(server.url, token))
        pull_extra = {"requests": pull_requests, "in_flight": 1, **mark.used()}
    push = Phase("push over HTTP", count, push_s, target=PUSH_TARGET, extra=push_extra)
    pull = Phase("pull over HTTP", count, pull_s, target=PULL_TARGET, extra=pull_extra)
    return push, pull, pulled


def run(args: argparse.Namespace, workdir: Path) -> list[Phase]:
    """Every phase, in order; the server is stopped before returning or raising."""
    print(f"generating {args.count:,} observations of ~{CONTENT_BYTES} bytes ...", flush=True)
    observations = make_observations(args.count)
    groups = batches(observations, args.batch)
    concurrency = min(args.concurrency, len(groups))

    push, pull, pulled = measure_http(args, workdir, groups, concurrency)
    check_pulled(observations, pulled)
    print(f"pulled {len(pulled):,} observations, each sync_id exactly once", flush=True)

    print("baseline: plain sqlite3 insert and select ...", flush=True)
    ins_s, sel_s, read = sqlite_baseline(workdir / "baseline.db", observations, args.batch)
    if read != args.count:
        raise BenchError(f"baseline read {read} rows, inserted {args.count}")
    base_ins = Phase("sqlite3 insert (baseline)", args.count, ins_s)
    base_sel = Phase("sqlite3 select (baseline)", args.count, sel_s)
    return [push.compared_to(base_ins, "insert"), pull.compared_to(base_sel, "select"), base_ins,
            base_sel]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran and every check passed."""
    args = parse_args(argv)
    exit_on_signals()
    try:
        with temp_workdir("memento-bench-") as workdir:
            phases = run(args, workdir)
    except (BenchError, aiohttp.ClientError, OSError, subprocess.SubprocessError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    print_report(phases, args)
    if args.server_profile is not None:
        print(f"server profile written to {args.server_profile} (timings inflated by cProfile)")
    if args.json is not None:
        write_json(args.json, report_json(phases, args, int(phases[0].extra["in_flight"])))
        print(f"figures written to {args.json}")
    if args.strict and not targets_met(phases):
        return 3
    return 0


if __name__ == "__main__":
    run_script(main)
