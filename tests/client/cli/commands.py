"""The installed ``memento`` and ``memento-syncd`` commands as a test runs them: a device
(one ``MEMENTO_HOME``) and the error contract's checks. Fixtures: ``conftest.py``."""

from __future__ import annotations

import itertools
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
MEMENTO = str(BIN / "memento")
SYNCD = str(BIN / "memento-syncd")
STATUS_KEYS = ("project_id", "last_push", "last_pull", "push_count", "pull_count")
LIVE_FIELDS = ("project", "type", "title", "content", "topic_key", "scope")
BOGUS_TOKEN = "mst_bogus_token"  # noqa: S105 - a token no server issued


def run_command(
    exe: str, args: tuple[str, ...], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``exe ARGS`` with ``env``, its output captured as text."""
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=30, check=False, env=env
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Check the error contract (non-zero, one stderr line, no traceback); return the line."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def closed_port_url() -> str:
    """The URL of a loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Device:
    """One device: a MEMENTO_HOME and the commands run with it."""

    home: Path
    extra_env: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        """The environment of this device's commands (no token from the outer world)."""
        env = {k: v for k, v in os.environ.items() if k not in ("MEMENTO_SYNC_TOKEN",)}
        return {**env, "MEMENTO_HOME": str(self.home), **self.extra_env}

    @property
    def config(self) -> Path:
        """$MEMENTO_HOME/config.json."""
        return self.home / "config.json"

    @property
    def token_file(self) -> Path:
        """$MEMENTO_HOME/sync-token."""
        return self.home / "sync-token"

    def memento(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``memento ARGS`` on this device."""
        return run_command(MEMENTO, args, self.env)

    def syncd(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``memento-syncd ARGS`` on this device."""
        return run_command(SYNCD, args, self.env)

    def ok(self, result: subprocess.CompletedProcess[str]) -> str:
        """Check a command succeeded; return its stdout."""
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def configure(self, url: str | None, token: str | None, **sync: Any) -> None:
        """Write config.json and the token file directly (mode 0600), as login would."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        section = {"enabled": True, **({"server_url": url} if url else {}), **sync}
        self.config.write_text(json.dumps({"sync": section}), encoding="utf-8")
        if token is not None:
            self.token_file.write_text(token + "\n", encoding="ascii")
            self.token_file.chmod(0o600)

    def save(self, title: str, content: str, project: str = "p", **extra: str) -> int:
        """``memento save``; returns the printed local id."""
        args = ["--project", project, "--type", "note", "--title", title, "--content", content]
        for key, value in extra.items():
            args += [f"--{key.replace('_', '-')}", value]
        out = self.ok(self.memento("save", *args))
        return int(out.strip())

    def listing(self) -> list[dict[str, Any]]:
        """``memento list --json``."""
        found: list[dict[str, Any]] = json.loads(self.ok(self.memento("list", "--json")))
        return found

    def live(self) -> list[tuple[Any, ...]]:
        """The live rows' synced fields, sorted: what must converge across devices."""
        return sorted(tuple(row[f] for f in LIVE_FIELDS) for row in self.listing())

    def status(self) -> list[dict[str, Any]]:
        """``memento sync status --json``."""
        found: list[dict[str, Any]] = json.loads(self.ok(self.memento("sync", "status", "--json")))
        return found

    def push(self) -> str:
        """``memento sync push``; returns stdout."""
        return self.ok(self.memento("sync", "push"))

    def pull(self) -> str:
        """``memento sync pull``; returns stdout."""
        return self.ok(self.memento("sync", "pull"))

    def edit(self, obs_id: int, content: str, updated_at: str) -> None:
        """Change a row with plain SQL, as the Memento application does."""
        conn = sqlite3.connect(self.home / "memento.db", isolation_level=None, timeout=5)
        try:
            conn.execute(
                "UPDATE observations SET content = ?, updated_at = ? WHERE id = ?",
                (content, updated_at, obs_id),
            )
        finally:
            conn.close()


DeviceFactory = Callable[..., Device]
teams = itertools.count(1)  # every test its own team


def create_token(db: Path, team: str, member: str = "alice") -> str:
    """``memento-syncd server create-token``: its last stdout line."""
    result = run_command(
        SYNCD,
        ("server", "create-token", "--db", str(db), "--team", team, "--member", member),
        dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]
