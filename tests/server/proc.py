"""Running the installed ``memento-syncd`` as a user would, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXE = shutil.which("memento-syncd") or str(Path(sys.executable).parent / "memento-syncd")


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``memento-syncd ARGS`` to completion and capture its output."""
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class ServerProcess:
    """A ``memento-syncd server serve`` subprocess on a free port."""

    proc: subprocess.Popen[str]
    url: str
    log_path: Path

    def request(self, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
        """Send a JSON request with urllib; return status and decoded body."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Signal the server and wait for its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(encoding="utf-8")


def start_server(db: Path, log_path: Path, *extra: str) -> ServerProcess:
    """Start a server on 127.0.0.1 with port 0 and wait for its listening line."""
    log_file = log_path.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [EXE, "server", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log_file.close()
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r} {log_path.read_text()}")
    return ServerProcess(proc, line.rsplit(" ", 1)[1].strip(), log_path)
