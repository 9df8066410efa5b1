"""Processes and cleanup shared by the benchmarks: the real server, tokens, temp dirs, signals.

Imported by the scripts next to it (run as ``.venv/bin/python bench/NAME.py``, this
directory is on ``sys.path``)::

    from harness import create_token, exit_on_signals, serving, temp_workdir

    with temp_workdir("memento-bench-") as workdir:
        db = workdir / "server.db"
        with serving(workdir, db) as server:
            token = create_token(db, team="bench", member="b")
            ...  # talk to server.url

Every process started here is stopped, and every temporary directory removed, in
``finally`` blocks; ``exit_on_signals`` turns SIGTERM and SIGHUP into ``SystemExit`` so
that those blocks also run when the benchmark is killed politely.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
COMMAND_TIMEOUT = 60.0
_LISTENING = "listening on "


class BenchError(Exception):
    """The benchmark could not run, or the code under test answered wrongly."""


@dataclass
class Server:
    """A running ``memento-syncd server serve`` subprocess and where to reach it."""

    proc: subprocess.Popen[str]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid


# --------------------------------------------------------------------------- commands


def syncd_argv(*args: str, profile: Path | None = None) -> list[str]:
    """The argv running ``memento-syncd ARGS`` with this Python, under cProfile if asked."""
    if profile is None:
        return [sys.executable, "-m", "memento_syncd.cli.syncd", *args]
    out = str(profile.resolve())
    return [sys.executable, "-m", "cProfile", "-o", out, "-m", "memento_syncd.cli.syncd", *args]


def run_syncd(*args: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a one-shot ``memento-syncd ARGS`` command; its stdout, or ``BenchError``."""
    done = subprocess.run(
        syncd_argv(*args), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        name = " ".join(args[:2])
        raise BenchError(f"{name} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def create_token(db: Path, team: str, member: str) -> str:
    """Create a token with ``server create-token`` and return it (its last stdout line)."""
    argv = ("server", "create-token", "--db", str(db), "--team", team, "--member", member)
    lines = run_syncd(*argv).strip().splitlines()
    if not lines:
        raise BenchError("create-token printed no token")
    return lines[-1].strip()


# --------------------------------------------------------------------------- server


def _read_line(stream: IO[str], timeout: float) -> str:
    """One line from a pipe, or '' if none came within ``timeout`` seconds."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return stream.readline()


def _wait_for_url(proc: subprocess.Popen[str], log_path: Path) -> str:
    """The URL of the server's first stdout line, ``memento-syncd server listening on URL``."""
    if proc.stdout is None:  # pragma: no cover - PIPE was asked for
        raise BenchError("no stdout pipe to the server")
    line = _read_line(proc.stdout, STARTUP_TIMEOUT)
    if _LISTENING not in line:
        raise BenchError(f"server did not start: {line!r}\n{tail(log_path)}")
    return line.split(_LISTENING, 1)[1].strip()


def start_server(workdir: Path, db: Path, profile: Path | None = None) -> Server:
    """Start the server on 127.0.0.1, port 0, and read its URL from the first stdout line.

    Its log goes to ``workdir/server.log``. Prefer ``serving``, which also stops it.
    """
    log_path = workdir / "server.log"
    argv = syncd_argv("server", "serve", "--db", str(db), "--port", "0", profile=profile)
    with log_path.open("w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = Server(proc, "", log_path)
    try:
        server.url = _wait_for_url(proc, log_path)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: Server) -> int | None:
    """SIGTERM the server and wait; SIGKILL it if it does not stop in time. Its status."""
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


@contextlib.contextmanager
def serving(workdir: Path, db: Path, profile: Path | None = None) -> Iterator[Server]:
    """A running server for the block; stopped however the block ends.

    If the block raises an ``Exception``, the tail of the server's log goes to stderr
    first. A non-zero exit status after a clean block is reported as a warning.
    """
    server = start_server(workdir, db, profile)
    try:
        yield server
    except Exception:  # show why, then let it propagate; the server stops below either way
        log = tail(server.log_path)
        if log:
            print(f"--- server log (tail) ---\n{log}", file=sys.stderr)
        raise
    finally:
        status = stop_server(server)
    if status not in (0, None):
        print(f"warning: server exited with status {status}", file=sys.stderr)


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages; '' if it cannot be read."""
    try:
        return "\n".join(path.read_text(encoding="utf-8").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- CPU


def process_cpu(pid: int) -> float | None:
    """User plus system CPU seconds a process has used so far (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"; utime, stime are 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuMark:
    """CPU readings of another process and of this one, to subtract later."""

    pid: int
    other: float | None
    own: float

    @classmethod
    def now(cls, pid: int) -> CpuMark:
        """Readings for process ``pid`` and this process, taken now."""
        return cls(pid, process_cpu(pid), time.process_time())

    def used(self) -> dict[str, float | None]:
        """CPU seconds since the mark: ``server_cpu_s`` (``pid``) and ``client_cpu_s`` (us)."""
        other_now = process_cpu(self.pid)
        other = None if other_now is None or self.other is None else other_now - self.other
        return {
            "server_cpu_s": None if other is None else round(other, 2),
            "client_cpu_s": round(time.process_time() - self.own, 2),
        }


# --------------------------------------------------------------------------- cleanup


@contextlib.contextmanager
def temp_workdir(prefix: str) -> Iterator[Path]:
    """A fresh temporary directory for the block, removed however the block ends."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _exit_on_signal(signum: int, frame: object) -> None:
    """Raise ``SystemExit(128 + signum)`` so that every finally block runs."""
    raise SystemExit(128 + signum)


def exit_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit``; Ctrl-C already raises an exception."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s status, 130 on Ctrl-C (after its finally blocks ran)."""
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
