"""Plots for docs/benchmarks.md: server throughput against size, daemon propagation latency.

Runs ``server_bench.py`` at several sizes (``--repeat`` times each) and ``daemon_bench.py``
once, each in its own process with its usual output, reads their figures back from
``--json``, keeps them all in ``docs/plots-data.json`` and draws from that file:

- ``docs/throughput.png``: push and pull obs/s against the number of observations (median
  of the runs, bars from the slowest to the fastest), with the plain-sqlite3 floor and
  the targets;
- ``docs/propagation.png``: the distribution (CDF) of the propagation latency A -> B with
  the realtime stream and with interval pulls only, p50 and p99 marked, targets at 25 and
  50 ms.

Run::

    .venv/bin/python bench/plots.py [--sizes 1000,10000,100000] [--repeat 3] [--writes 200]
                                    [--idle-seconds 60] [--only server|daemon] [--replot]

``--replot`` redraws the PNGs from ``docs/plots-data.json`` without measuring anything;
``--only server`` or ``--only daemon`` measures that part again and keeps the other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
DATA = DOCS / "plots-data.json"
SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
# server_bench.py's phase names, and what the plots call them
PHASES = {"push over HTTP": "push", "pull over HTTP": "pull",
          "sqlite3 insert (baseline)": "insert", "sqlite3 select (baseline)": "select"}  # fmt: skip
TARGETS = {"push": 20_000.0, "pull": 40_000.0}
P50_TARGET_MS, P99_TARGET_MS = 25.0, 50.0
COLORS = {"push": "tab:blue", "pull": "tab:green", "realtime": "tab:blue", "polling": "tab:orange"}


# --------------------------------------------------------------------------- measuring


def busy_cpus(seconds: float = 1.0) -> float:
    """How many CPUs other work keeps busy right now (Linux ``/proc/stat``); NaN if unknown."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(fields) - fields[3] - fields[4], sum(fields)  # all but idle and iowait

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError):
        return float("nan")
    return (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)


def run_bench(script: str, args: list[str], workdir: Path) -> dict[str, Any]:
    """Run ``bench/SCRIPT ARGS --json FILE`` (its output shown as it comes); the JSON figures."""
    out = workdir / f"{script}.{len(list(workdir.iterdir()))}.json"
    argv = [sys.executable, str(HERE / script), *args, "--json", str(out)]
    busy = busy_cpus()  # other work on the machine lowers every figure: keep a trace
    print(f"\n$ {' '.join(argv[1:])}    ({busy:.2f} CPUs busy with other work)", flush=True)
    if busy > 0.25:
        print("warning: the machine is busy; other work lowers every figure", flush=True)
    subprocess.run(argv, check=True, timeout=3600)
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    figures["busy_cpus_before"] = round(busy, 2)
    return figures


def _stamp(figures: dict[str, Any]) -> dict[str, Any]:
    """When, at which commit and on what a part was measured."""
    done = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return {"measured": datetime.now(UTC).strftime("%Y-%m-%d"),
            "commit": done.stdout.strip() or "unknown", "machine": figures["machine"]}  # fmt: skip


def measure_server(sizes: list[int], repeat: int, workdir: Path) -> dict[str, Any]:
    """Every size ``repeat`` times: one record per run with each phase's rate (obs/s)."""
    runs = []
    for _ in range(repeat):
        for count in sizes:
            figures = run_bench("server_bench.py", ["--count", str(count)], workdir)
            rates = {PHASES[p["phase"]]: p["obs_per_s"] for p in figures["phases"]}
            runs.append({"count": count, "busy_cpus_before": figures["busy_cpus_before"],
                         **rates})  # fmt: skip
    busy = max(r["busy_cpus_before"] for r in runs)
    return {**_stamp(figures), "busy_cpus_before": busy, "runs": runs}


def measure_daemon(writes: int, idle_seconds: float, workdir: Path) -> dict[str, Any]:
    """One daemon_bench.py run: every propagation sample in ms, per mode."""
    args = ["--writes", str(writes), "--idle-seconds", str(idle_seconds)]
    figures = run_bench("daemon_bench.py", args, workdir)
    return {**_stamp(figures), "busy_cpus_before": figures["busy_cpus_before"],
            "propagation_ms": figures["propagation samples ms"]}  # fmt: skip


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark runs the plots need (``--only`` one part: the other kept from DATA)."""
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8")) if args.only else {}
    with tempfile.TemporaryDirectory(prefix="memento-plots-") as name:
        if args.only in (None, "server"):
            data["server"] = measure_server(args.sizes, args.repeat, Path(name))
        if args.only in (None, "daemon"):
            data["daemon"] = measure_daemon(args.writes, args.idle_seconds, Path(name))
    return data


# --------------------------------------------------------------------------- drawing


def _thousands(value: float, _pos: int) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _footer(fig: Figure, part: dict[str, Any]) -> None:
    m = part["machine"]
    fig.supxlabel(f"measured {part['measured']} at commit {part['commit']}: {m['cpus']} CPUs,"
                  f" Python {m['python']}, SQLite {m['sqlite']}, aiohttp {m['aiohttp']}; other"
                  f" work before a run: at most {part['busy_cpus_before']:.1f} CPUs busy;"
                  " regenerate with: make bench", fontsize=7, color="0.4", x=0.01,
                  ha="left")  # fmt: skip


def _throughput_panel(ax: Axes, runs: list[dict[str, Any]], kind: str, base: str) -> None:
    sizes = sorted({r["count"] for r in runs})
    for key, style in ((kind, "-o"), (base, "--s")):
        rates = [[r[key] for r in runs if r["count"] == n] for n in sizes]
        mid = [statistics.median(v) for v in rates]
        spread = [[m - min(v) for m, v in zip(mid, rates, strict=True)],
                  [max(v) - m for m, v in zip(mid, rates, strict=True)]]  # fmt: skip
        label = f"{kind} over HTTP" if key == kind else f"sqlite3 {base} (floor)"
        color = COLORS[kind] if key == kind else "0.45"
        ax.errorbar(sizes, mid, yerr=spread, fmt=style, color=color, label=label, capsize=3,
                    markersize=5, linewidth=1.6)  # fmt: skip
        ax.annotate(f"{mid[-1]:,.0f}", (sizes[-1], mid[-1]), textcoords="offset points",
                    xytext=(9, -3), ha="left", fontsize=8, color=color)  # fmt: skip
    ax.axhline(TARGETS[kind], color="tab:red", linestyle=":", linewidth=1.4,
               label=f"target {TARGETS[kind]:,.0f} obs/s")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xlim(sizes[0] / 1.3, sizes[-1] * 2.2)  # room for the labels right of the last points
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.yaxis.set_minor_formatter(FuncFormatter(_thousands))
    ax.tick_params(axis="both", which="both", labelsize=8)
    ax.set_xlabel("observations in the run (log scale)")
    ax.set_ylabel("observations per second (log scale)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="best", fontsize=8)


def draw_throughput(data: dict[str, Any], path: Path) -> None:
    """Push and pull rate against size, with the sqlite3 floor and the targets."""
    fig = Figure(figsize=(11, 4.6), dpi=120, layout="constrained")
    push, pull = fig.subplots(1, 2)
    runs = data["server"]["runs"]
    _throughput_panel(push, runs, "push", "insert")
    push.set_title("Push: POST /api/sync/push, 1000 per request, up to 2 in flight", fontsize=10)
    _throughput_panel(pull, runs, "pull", "select")
    pull.set_title("Pull: POST /api/sync/pull, pages of 1000, one at a time", fontsize=10)
    repeat = max(sum(1 for r in runs if r["count"] == n) for n in {r["count"] for r in runs})
    fig.suptitle(f"Sync server throughput, ~1 KB observations (median of {repeat} runs;"
                 " bars: slowest to fastest)", fontsize=11)  # fmt: skip
    _footer(fig, data["server"])
    fig.savefig(path)


def _percentile(ordered: list[float], q: float) -> float:
    """The same pick as daemon_bench.py's table, so the marks match the docs."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def draw_propagation(data: dict[str, Any], path: Path) -> None:
    """The CDF of propagation latency with realtime on and off; p50, p99 and targets."""
    fig = Figure(figsize=(10, 5), dpi=120, layout="constrained")
    ax = fig.subplots()
    samples_ms: dict[str, list[float]] = data["daemon"]["propagation_ms"]
    for mode, samples in samples_ms.items():
        ordered = sorted(samples)
        color = COLORS["realtime" if mode == "realtime" else "polling"]
        label = "realtime stream on" if mode == "realtime" else f"realtime off, {mode} pull"
        fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.step(ordered, fractions, where="post", color=color, linewidth=1.8,
                label=f"{label} ({len(ordered)} writes)")  # fmt: skip
        for q, marker in ((0.50, "o"), (0.99, "D")):
            value = _percentile(ordered, q)
            ax.plot([value], [q], marker=marker, color=color, markersize=7)
            shown = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
            ax.annotate(f"p{q * 100:.0f} {shown} ms", (value, q), textcoords="offset points",
                        xytext=(7, -13), fontsize=8, color=color)  # fmt: skip
    ax.axvline(P50_TARGET_MS, color="tab:green", linestyle="--", linewidth=1.2,
               label=f"target p50 <= {P50_TARGET_MS:g} ms (realtime)")  # fmt: skip
    ax.axvline(P99_TARGET_MS, color="tab:red", linestyle="--", linewidth=1.2,
               label=f"target p99 <= {P99_TARGET_MS:g} ms (realtime)")  # fmt: skip
    ax.set_xscale("log")
    longest = max(max(s) for s in samples_ms.values())
    ax.set_xlim(right=longest * 4)  # room for the p99 label of the slowest curve
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.set_xlabel("ms from the commit on device A to the row in device B's database (log scale)")
    ax.set_ylabel("fraction of writes arrived")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Daemon propagation A -> B: two memento-syncd run daemons, one server,"
                 " writes 50 ms apart", fontsize=11)  # fmt: skip
    _footer(fig, data["daemon"])
    fig.savefig(path)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        type=lambda text: [int(n) for n in text.split(",")],
                        help="observation counts for the server benchmark")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="server runs per size (3)")
    parser.add_argument("--writes", type=int, default=200, help="propagation writes per mode")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="daemon_bench.py's idle measurement (0 skips it)")  # fmt: skip
    parser.add_argument("--only", choices=["server", "daemon"],
                        help=f"measure one part again, keep the other in {DATA.name}")  # fmt: skip
    parser.add_argument("--replot", action="store_true", help=f"only redraw from {DATA.name}")
    parser.add_argument("--out", type=Path, default=DOCS, help="where the PNGs go (docs/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure (unless --replot), keep the figures, draw both plots."""
    args = parse_args(argv)
    if args.replot:
        data = json.loads(DATA.read_text(encoding="utf-8"))
    else:
        try:
            data = measure(args)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"plots: a benchmark failed: {exc}", file=sys.stderr)
            return 1
        DATA.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"\nfigures kept in {DATA}")
    args.out.mkdir(parents=True, exist_ok=True)
    draw_throughput(data, args.out / "throughput.png")
    draw_propagation(data, args.out / "propagation.png")
    print(f"plots written: {args.out / 'throughput.png'}, {args.out / 'propagation.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
