"""Figures shared by the benchmarks: timed phases, targets, baselines, tables, JSON, machine.

A ``Phase`` is a count of items handled in some seconds, optionally held against a
target rate and compared with a baseline phase::

    from report import Phase, print_phases, targets_met

    floor = Phase("sqlite3 insert (baseline)", n, 2.0)
    push = Phase("push over HTTP", n, 5.0, target=20_000).compared_to(floor, "insert")
    print_phases([push, floor])
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp


@dataclass
class Phase:
    """One timed phase: ``count`` items in ``seconds``."""

    name: str
    count: int
    seconds: float
    baseline: str | None = None
    target: float | None = None
    ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Items per second."""
        return self.count / self.seconds if self.seconds > 0 else float("inf")

    @property
    def met(self) -> bool | None:
        """Whether the target rate is met; None when the phase has none."""
        return None if self.target is None else self.rate >= self.target

    def compared_to(self, base: Phase, label: str) -> Phase:
        """A copy holding this phase's rate as a multiple of ``base``'s, named ``label``."""
        return dataclasses.replace(self, baseline=label, ratio=self.rate / base.rate)

    def record(self) -> dict[str, Any]:
        """The phase as a JSON-ready dict, ``extra`` merged in."""
        return {
            "phase": self.name,
            "observations": self.count,
            "seconds": round(self.seconds, 4),
            "obs_per_s": round(self.rate, 1),
            "baseline": self.baseline,
            "ratio_to_baseline": None if self.ratio is None else round(self.ratio, 4),
            "target_obs_per_s": self.target,
            "target_met": self.met,
            **self.extra,
        }


def targets_met(phases: Iterable[Phase]) -> bool:
    """Whether every phase that has a target meets it."""
    return all(p.met for p in phases if p.target is not None)


# --------------------------------------------------------------------------- tables


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()
) -> list[str]:
    """Aligned text lines: header, rule, rows; columns in ``numeric`` right-aligned."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(cells).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def _target_cell(p: Phase) -> str:
    if p.target is None:
        return "(baseline)"
    return f">= {p.target:,.0f} {'met' if p.met else 'MISSED'}"


def _cpu_cell(p: Phase) -> str:
    if "client_cpu_s" not in p.extra:
        return ""
    server_cpu = p.extra["server_cpu_s"]
    shown = "?" if server_cpu is None else f"{server_cpu:.2f}"
    return f"{shown} / {p.extra['client_cpu_s']:.2f}"


def phase_row(p: Phase) -> tuple[str, ...]:
    """The cells of one phase in ``print_phases``'s table."""
    ratio = "" if p.ratio is None else f"{p.ratio:.2f}x {p.baseline}"
    return (p.name, f"{p.count:,}", f"{p.seconds:.2f}", f"{p.rate:,.0f}", _cpu_cell(p), ratio,
            _target_cell(p))  # fmt: skip


def print_phases(phases: Sequence[Phase]) -> None:
    """The phases as an aligned text table: rate, CPU, ratio to baseline, target."""
    header = ("phase", "observations", "seconds", "obs/s", "CPU s server/client", "vs baseline",
              "target")  # fmt: skip
    for line in format_table(header, [phase_row(p) for p in phases], frozenset({1, 2, 3, 4})):
        print(line)


# --------------------------------------------------------------------------- machine, JSON


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "aiohttp": aiohttp.__version__,
    }


def machine_line(info: dict[str, Any]) -> str:
    """``machine()`` in one line for a report's header."""
    return (
        f"machine: {info['cpus']} CPUs, Python {info['python']}, SQLite {info['sqlite']},"
        f" aiohttp {info['aiohttp']}, {info['platform']}"
    )


def command_line() -> str:
    """How this benchmark was started, e.g. ``python bench/server_bench.py --count 10``."""
    return " ".join([Path(sys.executable).name, *sys.argv])


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON with a final newline."""
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
