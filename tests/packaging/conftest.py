"""Fixtures for the packaging tests: the wheel and sdist, built once per session."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dists:
    """The wheel and the sdist that ``python -m build`` made from the checkout."""

    wheel: Path
    sdist: Path


def run(
    command: list[str],
    *,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, and fail the test with that output on error."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"{command} exited {done.returncode}\n--- stdout\n{done.stdout}\n"
            f"--- stderr\n{done.stderr}"
        )
    return done


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """``python -m build`` of the checkout: the sdist, then the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=180)
    (wheel,) = out.glob("memento_syncd-*.whl")
    (sdist,) = out.glob("memento_syncd-*.tar.gz")
    return Dists(wheel=wheel, sdist=sdist)
