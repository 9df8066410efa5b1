"""Daemon benchmark: propagation latency A -> B, idle footprint, and status wall time.

Propagation: an application write (a committed INSERT) on device A until the row is in
device B's database, both devices run by real ``memento-syncd run`` daemons against a
real server; with the realtime stream, and with it off (interval pull only). Idle: RSS,
CPU seconds and context switches (wake-ups) of a daemon over a quiet minute, next to a
bare asyncio process. Status: ``memento-syncd status`` next to ``python -c pass``.

    .venv/bin/python bench/daemon_bench.py [--writes 200] [--idle-seconds 60] [--json PATH]

With ``--json`` the figures, and every propagation sample in ms, are also written to PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import create_token, exit_on_signals, run_script, serving, temp_workdir
from report import machine, machine_line

from memento_syncd.store.schema import APP_TABLE

BIN = Path(sys.executable).parent
SYNCD = str(BIN / "memento-syncd")


def _home(root: Path, url: str, token: str, realtime: bool, interval: float) -> Path:
    root.mkdir(parents=True)
    sync = {"enabled": True, "server_url": url, "realtime": realtime,
            "pull_interval_seconds": interval}  # fmt: skip
    (root / "config.json").write_text(json.dumps({"sync": sync}))
    fd = os.open(root / "sync-token", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, token.encode() + b"\n")
    os.close(fd)
    conn = sqlite3.connect(root / "memento.db")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(APP_TABLE)
    conn.close()
    return root


def _status(home: Path) -> dict[str, Any]:
    out = subprocess.run(
        [SYNCD, "status", "--json"], env={**os.environ, "MEMENTO_HOME": str(home)},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return json.loads(out.stdout) if out.returncode == 0 else {}


@contextmanager
def daemon(home: Path, realtime: bool) -> Iterator[subprocess.Popen[bytes]]:
    """A running daemon, ready (connected when realtime is on); stopped at the end."""
    log = (home / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [SYNCD, "run"], env={**os.environ, "MEMENTO_HOME": str(home)},
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = _status(home)
            if state and (state.get("realtime") or not realtime):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"daemon in {home} did not get ready")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def propagation(a: Path, b: Path, writes: int, gap: float) -> list[float]:
    """Write ``writes`` rows on A, ``gap`` seconds apart; seconds until each is in B."""
    writer = sqlite3.connect(a / "memento.db", isolation_level=None, timeout=10)
    reader = sqlite3.connect(b / "memento.db", isolation_level=None, timeout=10)
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    last_id = reader.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0]
    next_write = time.perf_counter()
    deadline = None
    while len(arrived) < writes:
        now = time.perf_counter()
        if len(sent) < writes and now >= next_write:
            title = f"bench-{len(sent)}-{now}"
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            writer.execute(
                "INSERT INTO observations (project, type, title, content, created_at,"
                " updated_at) VALUES ('bench', 'note', ?, ?, ?, ?)",
                (title, f"propagation probe {title}", stamp, stamp),
            )
            sent[title] = time.perf_counter()
            next_write = sent[title] + gap
            if len(sent) == writes:
                deadline = time.perf_counter() + 30
        for row_id, title in reader.execute(
            "SELECT id, title FROM observations WHERE id > ?", (last_id,)
        ).fetchall():
            last_id = row_id
            if title in sent and title not in arrived:
                arrived[title] = time.perf_counter()
        if deadline is not None and time.perf_counter() > deadline:
            raise RuntimeError(f"only {len(arrived)} of {writes} writes arrived")
        time.sleep(0.0005)
    return [arrived[t] - sent[t] for t in sent]


def _proc_stats(pid: int) -> tuple[float, float, int]:
    """RSS in MB, CPU seconds and context switches of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0]) / 1024
    switches = int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu, switches


def idle(pid: int, seconds: float) -> dict[str, float]:
    """RSS at the end, CPU seconds and wake-ups (context switches) over ``seconds``."""
    _, cpu0, sw0 = _proc_stats(pid)
    time.sleep(seconds)
    rss, cpu1, sw1 = _proc_stats(pid)
    return {"rss_mb": round(rss, 1), "cpu_s": round(cpu1 - cpu0, 3), "wakeups": sw1 - sw0}


def _wall(argv: list[str], env: dict[str, str], runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(s * 1000 for s in samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": pick(1.0)}


def main() -> int:
    """Run every measurement and print the figures."""
    exit_on_signals()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between writes")
    parser.add_argument("--interval", type=float, default=2.0, help="pull interval, polling")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine()}
    print(machine_line(results["machine"]))
    with temp_workdir("memento-daemon-bench-") as work, serving(work, work / "s.db") as server:
        for realtime in (True, False):
            name = "realtime" if realtime else f"interval {args.interval:g} s"
            homes = [
                _home(work / f"{name[:4]}-{d}", server.url,
                      create_token(work / "s.db", "bench", f"{d}-{realtime}"), realtime,
                      args.interval if not realtime else 300.0)
                for d in ("a", "b")
            ]  # fmt: skip
            with daemon(homes[0], realtime) as a_proc, daemon(homes[1], realtime):
                samples = propagation(homes[0], homes[1], args.writes, args.gap)
                lat = _percentiles(samples)
                results[f"propagation {name}"] = lat
                results.setdefault("propagation samples ms", {})[name] = [
                    round(s * 1000, 2) for s in samples
                ]
                print(f"propagation ({name}, {args.writes} writes): {lat} ms")
                if realtime and args.idle_seconds > 0:
                    results["idle daemon"] = idle(a_proc.pid, args.idle_seconds)
                    print(f"idle daemon over {args.idle_seconds:g} s: {results['idle daemon']}")
                    env = {**os.environ, "MEMENTO_HOME": str(homes[0])}
                    results["status ms"] = round(_wall([SYNCD, "status"], env), 1)
                    results["python -c pass ms"] = round(
                        _wall([sys.executable, "-c", "pass"], env), 1
                    )
                    print(f"status: {results['status ms']} ms median;"
                          f" python -c pass: {results['python -c pass ms']} ms")  # fmt: skip
    if args.idle_seconds > 0:
        bare = subprocess.Popen(
            [sys.executable, "-c", "import asyncio; asyncio.run(asyncio.sleep(1e6))"]
        )
        try:
            time.sleep(1)
            results["idle bare asyncio"] = idle(bare.pid, args.idle_seconds)
        finally:
            bare.kill()
            bare.wait()
        print(f"idle bare asyncio over {args.idle_seconds:g} s: {results['idle bare asyncio']}")
    print("targets: propagation p50 <= 25 ms and p99 <= 50 ms with realtime; idle RSS <= 60 MB,"
          " <= 0.1 CPU s per idle minute; status within 100 ms of python -c pass")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    run_script(main)
