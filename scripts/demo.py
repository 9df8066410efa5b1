"""The quick start's main job: a local sync server, two members, a push, a pull, a conflict.

Run with ``make demo``. Everything lives in a temporary directory that is removed at the end;
the server is stopped with SIGTERM, as a service manager would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

EXE = shutil.which("memento-syncd") or str(Path(sys.executable).parent / "memento-syncd")


def call(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON body with a bearer token; return the JSON answer."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        answer = json.loads(err.read())
    return answer


def token(db: Path, member: str) -> str:
    """Create a token with the CLI; it is the last line of stdout."""
    out = subprocess.run(
        [EXE, "server", "create-token", "--db", str(db), "--team", "demo", "--member", member],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def show(title: str, payload: Any) -> None:
    """Print a step and its JSON."""
    print(f"\n== {title}")
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def main() -> int:
    """Run the demo; returns the exit status."""
    home = Path(tempfile.mkdtemp(prefix="memento-demo-"))
    db = home / "server.db"
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [EXE, "server", "serve", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert server.stdout is not None  # noqa: S101 - PIPE was asked for
        line = server.stdout.readline().strip()
        print(line)
        base = line.rsplit(" ", 1)[1]
        alice, bob = token(db, "alice"), token(db, "bob")
        print("created tokens for demo/alice and demo/bob")
        observations = [
            {
                "sync_id": "demo-1",
                "type": "decision",
                "title": "Store memory in SQLite",
                "content": "Embedded, WAL mode, one file per device.",
                "topic_key": "arch/storage",
                "updated_at": "2025-01-15T10:30:00Z",
            },
            {
                "sync_id": "demo-2",
                "type": "bugfix",
                "title": "Retry on SQLITE_BUSY",
                "content": "Use busy_timeout and short write transactions.",
                "updated_at": "2025-01-15T10:31:00Z",
            },
            {
                "sync_id": "demo-3",
                "type": "pattern",
                "title": "My private note",
                "content": "Only alice sees this one.",
                "scope": "personal",
                "updated_at": "2025-01-15T10:32:00Z",
            },
        ]
        show(
            "alice pushes 3 observations",
            call(
                f"{base}/api/sync/push",
                alice,
                {"project_id": "my-app", "device_id": "alice-laptop", "observations": observations},
            ),
        )
        pulled = call(f"{base}/api/sync/pull", bob, {"project_id": "my-app", "cursor": None})
        show("bob pulls (the personal note stays with alice)", pulled)
        edit = {
            **observations[0],
            "content": "Embedded SQLite; PostgreSQL for big teams.",
            "base_version": 1,
            "updated_at": "2025-01-16T09:00:00Z",
        }
        show(
            "bob edits demo-1",
            call(
                f"{base}/api/sync/push",
                bob,
                {"project_id": "my-app", "device_id": "bob-desktop", "observations": [edit]},
            ),
        )
        stale = {**observations[0], "content": "alice's offline edit", "base_version": 1}
        show(
            "alice pushes a stale edit of demo-1: a conflict carrying the server's version",
            call(
                f"{base}/api/sync/push",
                alice,
                {"project_id": "my-app", "device_id": "alice-laptop", "observations": [stale]},
            ),
        )
        everything = call(f"{base}/api/sync/pull", alice, {"project_id": "my-app"})
        show("alice pulls from the beginning: her personal note and bob's edit", everything)
    finally:
        server.terminate()
        code = server.wait(timeout=10)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
    print(f"\nserver stopped (exit {code}); temporary files removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
