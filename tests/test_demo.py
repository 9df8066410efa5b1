"""``scripts/demo.py`` (``make demo``) end to end: two daemons, an observation, a clean stop.

The demo runs with ``TMPDIR`` pointing into the test's directory, so every process it
starts carries that path in its environment: afterwards, none may be left in ``/proc``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


def _left_behind(marker: str) -> list[str]:
    """Processes whose command line or environment mention ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if marker.encode() in blob:
            found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:200]!r}")
    return found


def _start(tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("MEMENTO_SYNC_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, str(DEMO)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip


def _assert_all_gone(tmp_path: Path, output: str) -> None:
    pids = [int(p) for p in re.findall(r"^   started \S+ \(pid (\d+)\)$", output, re.M)]
    assert pids, output
    assert not [p for p in pids if Path(f"/proc/{p}").exists()], output
    assert _left_behind(str(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []  # the demo's temporary directory was removed


def test_demo_syncs_two_daemons_and_stops_everything(tmp_path: Path) -> None:
    """The demo exits 0 after the observation reached B, shows both statuses, and leaves nothing."""
    proc = _start(tmp_path)
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, output
    assert "bob:   memento list --json -> 'Store memory in SQLite'" in output
    assert re.search(r"propagation: in bob's database \d+ ms after alice's save", output), output
    assert "settled by last_write_wins" in output
    statuses = re.findall(r"--- (alice|bob)\n   memento-syncd \S+ \(pid \d+\)", output)
    assert statuses == ["alice", "bob"], output
    assert output.count("exited with status 0") == 3, output
    _assert_all_gone(tmp_path, output)


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    """Ctrl-C while both daemons run stops the daemons and the server and removes the files."""
    proc = _start(tmp_path)
    assert proc.stdout is not None
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "started bob-daemon" in line:
                os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends its foreground group
                break
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = "".join(seen) + rest
    assert proc.returncode == 130, output
    assert "interrupted; every process stopped" in output
    _assert_all_gone(tmp_path, output)
