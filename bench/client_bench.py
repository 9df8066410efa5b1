"""End to end through the client: ``memento sync push`` on one device, ``pull`` on another.

Starts the real server (``harness.serving``) and creates a token per device. Device A is
a fresh ``MEMENTO_HOME`` whose ``memento.db`` gets N observations written with plain
``sqlite3`` (``schema.APP_TABLE``; ~1 KB of Zipf-distributed pseudo-English each,
``dataset.ZipfText``). Device B holds as many other observations of the same project,
among which D exact copies and D near copies (Jaccard above 0.85) of A's. Each command
runs as its own process, the installed ``memento`` with ``MEMENTO_HOME`` and
``MEMENTO_SYNC_TOKEN``; CPU time from ``os.wait4``, peak RSS from ``VmHWM`` (``/proc``,
read every 50 ms; ``ru_maxrss`` carries the parent's high-water mark across exec):

1. ``memento sync pull`` on B before A pushes: B's first sync, which indexes B's rows;
2. ``memento sync push`` on A;
3. ``memento sync pull`` on B, which brings A's N observations in and deduplicates.

During both pulls a thread of this process writes a row into B's database every 20 ms,
as the application would (busy timeout 10 s), and records how long each write waited.
B must end with (its rows + N - deduplicated) live rows, deduplicated as planted.
Run: ``.venv/bin/python bench/client_bench.py [--count N] [--dups D] [--timeout S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL, STDOUT
from typing import Any

import harness
from dataset import MEMBER, PROJECT, TEAM, ZipfText, app_row, changed_copy, write_app_db
from harness import BenchError, CpuMark, create_token, serving
from report import command_line, format_table, machine, machine_line, write_json

E2E_TARGET = 10_000.0  # obs/s, N / (push + pull seconds)
RSS_TARGET_MB = 100.0
WRITE_TARGET_MS = 100.0
A_SEED, B_SEED = 3003, 4004
WRITER_PROJECT = "bench-app"
MODULE = "memento_syncd.cli.memento"
_LIVE = "SELECT count(*) FROM observations WHERE project = ? AND deleted_at IS NULL"
_APP_INSERT = (
    "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
    " VALUES (?, 'note', 'app write', 'x', '2025-01-15T10:30:00Z', '2025-01-15T10:30:00Z')"
)


@dataclass
class Run:
    """One ``memento sync ...`` process: wall seconds, peak RSS, CPU, output, and progress."""

    name: str
    seconds: float = 0.0
    rss_mb: float = 0.0
    cpu_s: float = 0.0
    server_cpu_s: float | None = None
    finished: bool = True
    stdout: str = ""
    moved: int = 0  # observations pushed or pulled (committed), read from the database
    outcomes: dict[str, int] = field(default_factory=dict)
    writes: list[float] = field(default_factory=list)  # application write waits, seconds
    failed_writes: int = 0

    def waits_ms(self) -> dict[str, float | None]:
        """p50, p99 and max of the application's write waits, in milliseconds."""
        ordered = sorted(self.writes)
        at = {"p50": 0.5, "p99": 0.99, "max": 1.0}
        if not ordered:
            return dict.fromkeys(at)
        last = len(ordered) - 1
        return {k: ordered[min(last, int(q * len(ordered)))] * 1e3 for k, q in at.items()}

    def record(self) -> dict[str, Any]:
        """The run as a JSON-ready dict."""
        fields = {k: v for k, v in vars(self).items() if k != "writes"}
        return {**fields, "writes": len(self.writes), "write_wait_ms": self.waits_ms()}


class Writer(threading.Thread):
    """The application: one INSERT into B every ``interval`` s; records each one's wait."""

    def __init__(self, db: Path, interval: float = 0.02, busy: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.db, self.interval, self.busy = db, interval, busy
        self.stop = threading.Event()
        self.waits: list[float] = []
        self.failed = 0

    def run(self) -> None:
        with closing(sqlite3.connect(self.db, timeout=self.busy)) as conn:
            while not self.stop.wait(self.interval):
                started = time.perf_counter()
                try:
                    with conn:
                        conn.execute(_APP_INSERT, (WRITER_PROJECT,))
                except sqlite3.OperationalError:  # still locked after the busy timeout
                    self.failed += 1
                self.waits.append(time.perf_counter() - started)


def make_devices(n: int, n_b: int, dups: int) -> tuple[list[Any], list[Any]]:
    """Rows of A, and rows of B holding ``dups`` exact and ``dups`` near copies of A's."""
    gen_a, gen_b = ZipfText(A_SEED), ZipfText(B_SEED)
    a = [(gen_a.title(), gen_a.content()) for _ in range(n)]
    b = [(gen_b.title(), gen_b.content()) for _ in range(n_b)]
    picks = gen_b.rng.sample(range(n), 2 * dups)
    places = gen_b.rng.sample(range(n_b), 2 * dups)
    for k, (i, j) in enumerate(zip(picks, places, strict=True)):
        title, content = a[i]
        near = k >= dups
        b[j] = (title, changed_copy(gen_b, title, content, (1, 6), True) if near else content)
    rows_a = [app_row(PROJECT, i, t, c) for i, (t, c) in enumerate(a)]
    return rows_a, [app_row(PROJECT, i, t, c) for i, (t, c) in enumerate(b)]


def make_home(root: Path, url: str, rows: list[Any]) -> Path:
    """A Memento directory with ``memento.db`` holding ``rows`` and ``config.json``."""
    root.mkdir(mode=0o700)
    write_app_db(root / "memento.db", rows)
    config = {"sync": {"enabled": True, "server_url": url}}
    (root / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return root


def memento_argv(action: str, profile: Path | None) -> list[str]:
    """The installed ``memento sync ACTION``, or the same module under cProfile into a file."""
    if profile is None:
        installed = Path(sys.executable).with_name("memento")
        return [str(installed) if installed.exists() else "memento", "sync", action]
    profile.mkdir(parents=True, exist_ok=True)
    out = profile.resolve() / f"{action}-{time.strftime('%H%M%S')}.prof"
    return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", MODULE, "sync", action]


def _count(db: Path, column: str) -> int:
    """``sync_cursors.COLUMN`` of the project: what a sync has committed so far."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            query = f"SELECT {column} FROM sync_cursors WHERE project = ?"  # noqa: S608
            row = conn.execute(query, (PROJECT,)).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


def _peak_kb(pid: int) -> int:
    """The process's peak resident set so far (``VmHWM``), in KiB; 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def run_memento(home: Path, token: str, action: str, args: argparse.Namespace, pid: int) -> Run:
    """Run ``memento sync ACTION`` for ``home`` to its end (or ``--timeout``), measured."""
    env = {**os.environ, "MEMENTO_HOME": str(home), "MEMENTO_SYNC_TOKEN": token}
    column = "push_count" if action == "push" else "pull_count"
    before = _count(home / "memento.db", column)
    out_path = home / f"{action}.out"
    result = Run(f"{action} {home.name}")
    done: dict[str, Any] = {}
    mark = CpuMark.now(pid)
    with out_path.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        argv = memento_argv(action, args.profile)
        proc = subprocess.Popen(argv, stdin=DEVNULL, stdout=out, stderr=STDOUT, env=env)

        def reap() -> None:  # exact end time, status and rusage of this very process
            _, status, usage = os.wait4(proc.pid, 0)
            done.update(end=time.perf_counter(), status=status, usage=usage)

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        peak_kb, told = 0, started
        while waiter.is_alive():
            peak_kb = max(peak_kb, _peak_kb(proc.pid))
            waiter.join(0.05)
            elapsed = time.perf_counter() - started
            if waiter.is_alive() and time.perf_counter() - told >= 10:
                moved, told = _count(home / "memento.db", column) - before, time.perf_counter()
                print(f"  {result.name}: {elapsed:,.0f} s, {moved:,} committed", flush=True)
            if waiter.is_alive() and elapsed > args.timeout:
                print(f"  {result.name}: over --timeout {args.timeout:.0f} s, stopping it")
                result.finished = False
                proc.terminate()  # the process started above, by its pid
                waiter.join()
    proc.returncode = os.waitstatus_to_exitcode(done["status"])
    result.seconds, result.rss_mb = done["end"] - started, peak_kb / 1024
    result.cpu_s = done["usage"].ru_utime + done["usage"].ru_stime
    result.server_cpu_s = mark.used()["server_cpu_s"]
    result.stdout = out_path.read_text(encoding="utf-8")
    result.moved = _count(home / "memento.db", column) - before
    result.outcomes = parse_outcomes(result.stdout, action)
    if result.finished and proc.returncode != 0:
        raise BenchError(f"memento sync {action} failed ({proc.returncode}): {result.stdout}")
    return result


def parse_outcomes(stdout: str, action: str) -> dict[str, int]:
    """The counts of the project's report line, e.g. ``bench: pulled 9 (inserted 9)``."""
    verb = "pushed" if action == "push" else "pulled"
    match = re.search(rf"^{PROJECT}: {verb} (\d+)(?: \((.*)\))?$", stdout, re.MULTILINE)
    if match is None:
        return {}
    parts = (part.rsplit(" ", 1) for part in (match.group(2) or "").split(", ") if part)
    return {verb: int(match.group(1))} | {name: int(value) for name, value in parts}


def pull_with_writer(home: Path, token: str, args: argparse.Namespace, pid: int) -> Run:
    """``memento sync pull`` on B while the application writes into B."""
    writer = Writer(home / "memento.db")
    writer.start()
    try:
        result = run_memento(home, token, "pull", args, pid)
    finally:
        writer.stop.set()
        writer.join()
    result.writes, result.failed_writes = writer.waits, writer.failed
    return result


def check_b(db: Path, before: int, n: int, dups: int, pull: Run) -> list[str]:
    """What is wrong with B after the pull; empty when it is as expected."""
    with closing(sqlite3.connect(db)) as conn:
        live = conn.execute(_LIVE, (PROJECT,)).fetchone()[0]
        aliases = dict(conn.execute("SELECT kind, count(*) FROM sync_aliases GROUP BY kind"))
    exact, similar = pull.outcomes.get("dedup exact", 0), pull.outcomes.get("dedup similar", 0)
    problems = []
    if pull.outcomes.get("pulled") != n:
        problems.append(f"pulled {pull.outcomes.get('pulled')}, expected {n}")
    if live != before + n - exact - similar:
        problems.append(f"B has {live} live rows, expected {before} + {n} - {exact + similar}")
    if (exact, similar) != (dups, dups):
        problems.append(f"dedup exact {exact}, similar {similar}; planted {dups} of each")
    if (aliases.get("exact", 0), aliases.get("similar", 0)) != (exact, similar):
        problems.append(f"sync_aliases {aliases} disagree with the pull's report")
    return problems


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every phase, in order; the figures as a JSON-ready dict."""
    n, dups = args.count, args.dups
    print(f"generating {n:,} observations for A and {n:,} for B ...", flush=True)
    rows_a, rows_b = make_devices(n, n, dups)
    db = workdir / "server.db"
    with serving(workdir, db) as server:
        token_a, token_b = create_token(db, TEAM, MEMBER), create_token(db, TEAM, "b2")
        home_a = make_home(workdir / "a", server.url, rows_a)
        home_b = make_home(workdir / "b", server.url, rows_b)
        print(f"server at {server.url}; B's first sync (indexes its {n:,} rows) ...", flush=True)
        first = pull_with_writer(home_b, token_b, args, server.pid)
        print(f"push on A ({first.seconds:.1f} s for B's first sync) ...", flush=True)
        push = run_memento(home_a, token_a, "push", args, server.pid)
        print(f"pull on B ({push.seconds:.1f} s for the push) ...", flush=True)
        pull = pull_with_writer(home_b, token_b, args, server.pid)
        print(f"pull on A ({pull.seconds:.1f} s for B's pull): A indexes its rows and"
              " checks the ones it pushed for twins ...", flush=True)  # fmt: skip
        after = run_memento(home_a, token_a, "pull", args, server.pid)
    problems = [] if pull.finished else ["the pull did not finish"]
    if push.outcomes != {"pushed": n, "inserted": n}:
        problems.append(f"push reported {push.outcomes}, expected {n} inserted")
    if pull.finished:
        problems += check_b(home_b / "memento.db", n, n, dups, pull)
    with closing(sqlite3.connect(home_a / "memento.db")) as conn:
        live_a = conn.execute("SELECT count(*) FROM observations WHERE deleted_at IS NULL")
        if (kept := live_a.fetchone()[0]) != n:  # A's rows hold no twins of each other
            problems.append(f"A holds {kept} live rows after its pull, expected {n}")
    runs = [first, push, pull, after]
    return {"count": n, "dups": dups, "runs": runs, "problems": problems}


def _row(run_: Run, label: str) -> tuple[str, ...]:
    rate = f"{run_.moved / run_.seconds:,.0f}" if run_.moved else "-"
    server = "?" if run_.server_cpu_s is None else f"{run_.server_cpu_s:.2f}"
    end = "" if run_.finished else " (stopped)"
    rss = f"{run_.rss_mb:.0f} {'ok' if run_.rss_mb < RSS_TARGET_MB else 'OVER'}"
    return (label, f"{run_.moved:,}", f"{run_.seconds:.2f}{end}", rate, rss,
            f"{run_.cpu_s:.2f} / {server}")  # fmt: skip


def end_to_end(r: dict[str, Any]) -> float:
    """N / (push + pull seconds); 0 if the pull did not finish."""
    _, push, pull, _ = r["runs"]
    return r["count"] / (push.seconds + pull.seconds) if pull.finished else 0.0


def print_report(r: dict[str, Any]) -> None:
    """The table, the end-to-end rate, the application's waits, and the checks."""
    first, push, pull, _ = r["runs"]
    n, d = r["count"], r["dups"]
    print(f"\n{machine_line(machine())}")
    print(f"A: {n:,} observations (~1 KB, Zipf words); B: {n:,} others, of which {d} exact"
          f" and {d} near copies of A's\n")  # fmt: skip
    header = ("phase", "observations", "seconds", "obs/s", "peak RSS MB", "CPU s client/server")
    labels = ("B: first sync (index)", "A: memento sync push", "B: memento sync pull",
              "A: pull after its push")  # fmt: skip
    rows = [_row(run_, label) for run_, label in zip(r["runs"], labels, strict=True)]
    for line in format_table(header, rows, frozenset({1, 2, 3, 4, 5})):
        print(line)
    e2e, met = end_to_end(r), "met" if end_to_end(r) >= E2E_TARGET else "MISSED"
    if pull.finished:
        with_first = n / (first.seconds + push.seconds + pull.seconds)
        print(f"\nend to end: {e2e:,.0f} obs/s, N / (push + pull); target >= {E2E_TARGET:,.0f}"
              f" {met}; {with_first:,.0f} obs/s counting B's first sync too")  # fmt: skip
    else:
        rate = pull.moved / pull.seconds
        print(f"\nend to end: pull stopped after {pull.seconds:,.0f} s, {pull.moved:,} of {n:,}"
              f" pulled ({rate:,.1f} obs/s, all {n:,} in ~{n / max(rate, 1e-9) / 3600:,.1f} h);"
              f" target >= {E2E_TARGET:,.0f} {met}")  # fmt: skip
    print(f"client peak RSS target: < {RSS_TARGET_MB:.0f} MB")
    for run_, label in ((first, "B's first sync"), (pull, "the pull")):
        w = {k: "-" if v is None else f"{v:,.1f}" for k, v in run_.waits_ms().items()}
        print(f"application writes during {label}: {len(run_.writes)}, p50 {w['p50']} ms,"
              f" p99 {w['p99']} ms, max {w['max']} ms, {run_.failed_writes} failed (locked"
              f" > 10 s); target < {WRITE_TARGET_MS:.0f} ms")  # fmt: skip
    print(f"pull outcomes: {pull.outcomes or '(no report)'}")
    print("checks: " + ("; ".join(r["problems"]) if r["problems"] else "all passed"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = parser.add_argument
    add("--count", type=int, default=100_000, help="observations on A and on B (100000)")
    add("--dups", type=int, help="exact and near copies of A's in B, each (min(300, N/50))")
    add("--timeout", type=float, default=1800.0, metavar="S", help="stop a command after S s")
    add("--profile", type=Path, metavar="DIR", help="run the commands under cProfile into DIR")
    add("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    add("--strict", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    args.dups = min(300, args.count // 50) if args.dups is None else args.dups
    if args.count < 1 or not 0 <= 2 * args.dups <= args.count:
        parser.error("--count >= 1 and 0 <= 2 * --dups <= --count")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran and every check passed."""
    args = parse_args(argv)
    harness.exit_on_signals()
    try:
        with harness.temp_workdir("memento-client-bench-") as workdir:
            figures = run(args, workdir)
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print_report(figures)
    if args.json is not None:
        runs = [run_.record() for run_ in figures["runs"]]
        about = {"benchmark": "client push, pull and dedup", "command": command_line()}
        write_json(args.json, {**about, "machine": machine(), **figures, "runs": runs})
        print(f"figures written to {args.json}")
    if figures["problems"]:
        return 2
    slow = end_to_end(figures) < E2E_TARGET
    big = max(run_.rss_mb for run_ in figures["runs"]) >= RSS_TARGET_MB
    stuck = (figures["runs"][2].waits_ms()["p99"] or 0.0) >= WRITE_TARGET_MS
    return 3 if args.strict and (slow or big or stuck) else 0


if __name__ == "__main__":
    harness.run_script(main)
