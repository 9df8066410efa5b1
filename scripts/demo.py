"""``make demo``: two members' devices, each with its daemon, synced through a local server.

Server, homes and logs live in one temporary directory. An observation saved on device A
shows up on B; then both edit it offline and the conflict settles alike on both. Every
process is stopped (SIGTERM, then SIGKILL) and the directory removed, also on Ctrl-C,
SIGTERM or an error; the logs are shown only when something failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

BIN = Path(sys.executable).parent
SYNCD, MEMENTO = str(BIN / "memento-syncd"), str(BIN / "memento")
PROJECT, TITLE = "my-app", "Store memory in SQLite"
WAIT = 15.0  # seconds for anything to happen before the demo gives up
STOP_WAIT = 5.0
T = TypeVar("T")
Proc = subprocess.Popen[str]


class DemoError(Exception):
    """Something did not happen as it should; the message says what."""


class Processes:
    """The long-running processes of the demo, each in its own process group, logging to a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: list[tuple[str, Proc, Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], pipe: bool = False) -> Proc:
        """Start ``argv`` in its own session (so Ctrl-C reaches only the demo, which stops it).

        Its stderr, and its stdout unless ``pipe``, go to ``ROOT/NAME.log``."""
        log = self.root / f"{name}.log"
        with log.open("w", encoding="utf-8") as err:
            out = subprocess.PIPE if pipe else err
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, text=True, start_new_session=True)  # fmt: skip
        self.running.append((name, proc, log))
        print(f"   started {name} (pid {proc.pid})")
        return proc

    def stop(self) -> None:
        """SIGTERM every process (daemons before the server), wait, SIGKILL the group if late."""
        for name, proc, _ in reversed(self.running):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
            try:
                code = proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                code = None
            with contextlib.suppress(ProcessLookupError):  # anything left in its group?
                os.killpg(proc.pid, signal.SIGKILL)
            if code is None:
                code = proc.wait(STOP_WAIT)
                print(f"   {name} (pid {proc.pid}) did not stop in {STOP_WAIT:g} s: killed")
            if proc.stdout is not None:
                proc.stdout.close()
            print(f"   {name} (pid {proc.pid}) exited with status {code}")

    def show_logs(self) -> None:
        """The tail of every log, on stderr (after a failure)."""
        for name, _, log in self.running:
            text = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            print(f"----- {name} log (tail) -----\n{text}", file=sys.stderr)


def step(number: int, text: str) -> None:
    """Announce a step of the walkthrough."""
    print(f"\n{number}. {text}", flush=True)


def run(argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run a one-shot command; its stdout, or DemoError naming the command and its stderr."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise DemoError(
            f"{' '.join([Path(argv[0]).name, *argv[1:3]])} failed: {done.stderr.strip()}"
        )
    return done.stdout


def wait_for(check: Callable[[], T | None], what: str, every: float = 0.02) -> T:
    """Poll ``check`` until it returns something (returned), or DemoError after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while (value := check()) is None:
        if time.monotonic() > deadline:
            raise DemoError(f"gave up after {WAIT:.0f} s waiting for {what}")
        time.sleep(every)
    return value


def start_server(procs: Processes, db: Path) -> str:
    """``server serve`` on a free port (``--port 0``); its URL, from its first stdout line."""
    argv = [SYNCD, "server", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", "0"]
    proc = procs.start("server", argv, {**os.environ, "PYTHONUNBUFFERED": "1"}, pipe=True)
    assert proc.stdout is not None  # noqa: S101 - PIPE was asked for
    ready, _, _ = select.select([proc.stdout], [], [], WAIT)
    line = proc.stdout.readline() if ready else ""
    if "listening on " not in line:
        raise DemoError(f"the server did not start: {line!r}")
    return line.rsplit(" ", 1)[1].strip()


def make_device(root: Path, name: str, url: str, token: str) -> dict[str, str]:
    """A device's home: login, then realtime on and a 30 s pull as safety net; its env."""
    home = root / name
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MEMENTO_SYNC_TOKEN"}
    env.update(MEMENTO_HOME=str(home), PYTHONUNBUFFERED="1")
    run([SYNCD, "login", "--server", url, "--token", token], env)
    print(f"   {name}: MEMENTO_HOME={home}, logged in")
    config = json.loads((home / "config.json").read_text(encoding="utf-8"))
    config["sync"].update(realtime=True, pull_interval_seconds=30)
    (home / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return env


def status(env: dict[str, str]) -> dict[str, Any] | None:
    """The daemon's ``status --json``, or None while it does not answer."""
    done = subprocess.run([SYNCD, "status", "--json"], env=env, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    return json.loads(done.stdout) if done.returncode == 0 else None


def listed(env: dict[str, str], containing: str = "") -> dict[str, Any] | None:
    """The demo's observation as ``memento list --json`` shows it, if its content has that."""
    shown: list[dict[str, Any]] = json.loads(run([MEMENTO, "list", "--json"], env))
    return next((o for o in shown if o["title"] == TITLE and containing in o["content"]), None)


def app_sql(env: dict[str, str], sql: str, *params: str) -> Any:
    """Plain SQL on a device's ``memento.db``, as the Memento application does; the first row."""
    with contextlib.closing(sqlite3.connect(Path(env["MEMENTO_HOME"]) / "memento.db")) as db, db:
        return db.execute(sql, params).fetchone()


def start_daemon(procs: Processes, name: str, env: dict[str, str]) -> None:
    """``memento-syncd run`` for a device; waits until it answers and holds its realtime link."""
    proc = procs.start(f"{name}-daemon", [SYNCD, "run"], env)

    def ready() -> dict[str, Any] | None:
        state = status(env)
        return state if state and state["pid"] == proc.pid and state.get("realtime") else None

    wait_for(ready, f"{name}'s daemon to be ready")


def propagate(a: dict[str, str], b: dict[str, str]) -> None:
    """Save on A with ``memento save``; watch B's database, then check B's ``memento list``."""
    argv = [MEMENTO, "save", "--project", PROJECT, "--type", "decision", "--title", TITLE,
            "--content", "Embedded, WAL mode, one file per device."]  # fmt: skip
    with subprocess.Popen(argv, env=a, stdout=subprocess.PIPE, text=True) as save:
        query = "SELECT 1 FROM observations WHERE title = ?"
        seen = wait_for(lambda: app_sql(b, query, TITLE) and datetime.now(UTC),
                        "the observation to arrive on bob's device", every=0.002)  # fmt: skip
        local_id = save.communicate(timeout=WAIT)[0].strip()
    if save.returncode != 0:
        raise DemoError("memento save failed")
    print(f"   alice: memento save ... -> local id {local_id}")
    row = wait_for(lambda: listed(b), "memento list on bob's device to show it")
    print(f"   bob:   memento list --json -> {TITLE!r}: {row['content']!r}")
    saved = datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))
    took = (seen - saved).total_seconds() * 1000
    print(f"   propagation: in bob's database {took:.0f} ms after alice's save committed")


def conflict(a: dict[str, str], b: dict[str, str]) -> None:
    """Both devices edit offline (paused); on resume the newer edit wins on both."""
    for env in (a, b):
        run([SYNCD, "pause"], env)
    edit = "UPDATE observations SET content = ?, updated_at = ? WHERE title = ?"
    for env, text in ((a, "one file per device (alice"), (b, "PostgreSQL for big teams (bob")):
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        app_sql(env, edit, f"Embedded SQLite; {text}, offline).", now, TITLE)
    print("   both paused; alice edited, then bob edited the same observation")
    run([SYNCD, "resume"], a)
    wait_for(lambda: (status(a) or {}).get("pending") == 0 or None, "alice's push")
    run([SYNCD, "resume"], b)
    print("   resumed alice, then bob; both devices now hold the newer edit (last write wins):")
    print(f"   alice: {wait_for(lambda: listed(a, 'bob'), 'the edit on alice')['content']!r}")
    print(f"   bob:   {wait_for(lambda: listed(b, 'bob'), 'the edit on bob')['content']!r}")
    settled = json.loads(run([SYNCD, "conflicts", "list", "--history", "--json"], b))
    if not settled:
        raise DemoError("bob's conflict history is empty")
    print(f"   bob's conflicts list --history: settled by {settled[0]['strategy']}; the losing"
          f" version is kept there: {settled[0]['lost']['content']!r}")  # fmt: skip


def demo(root: Path, procs: Processes) -> None:
    """The walkthrough, step by step."""
    step(1, "Start a sync server on a free port, on an embedded SQLite database")
    db = root / "server.db"
    url = start_server(procs, db)
    print(f"   listening on {url}")
    step(2, "Create tokens for two members of team 'demo': alice and bob")
    argv = [SYNCD, "server", "create-token", "--db", str(db), "--team", "demo", "--member"]
    tokens = {m: run([*argv, m]).strip().splitlines()[-1] for m in ("alice", "bob")}
    print(
        f"   alice: {tokens['alice'][:8]}..., bob: {tokens['bob'][:8]}... (the server keeps hashes)"
    )
    step(3, "Set up two devices (memento-syncd login; realtime on, pull every 30 s)")
    a, b = (make_device(root, m, url, tokens[m]) for m in ("alice", "bob"))
    step(4, "Start each device's daemon (memento-syncd run)")
    start_daemon(procs, "alice", a)
    start_daemon(procs, "bob", b)
    step(5, "Alice saves an observation; bob's daemon pulls it")
    propagate(a, b)
    step(6, "Both edit it while paused (offline); on resume the conflict settles")
    conflict(a, b)
    step(7, "memento-syncd status on each device")
    for name, env in (("alice", a), ("bob", b)):
        print(f"   --- {name}")
        print("   " + run([SYNCD, "status"], env).rstrip().replace("\n", "\n   "))


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop everything


def walkthrough() -> bool:
    """The demo in a temporary directory; True when every step worked. Stops all it started."""
    with tempfile.TemporaryDirectory(prefix="memento-demo-") as name:
        procs, outcome = Processes(Path(name)), "interrupted"
        try:
            demo(Path(name), procs)
            outcome = "ok"
        except DemoError as exc:
            outcome = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported below with the logs; exit status 1
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip this
            step(8, "Stop the daemons and the server (SIGTERM; SIGKILL after 5 s)")
            procs.stop()
            if outcome not in ("ok", "interrupted"):
                procs.show_logs()
                print(f"\ndemo failed: {outcome}", file=sys.stderr)
    print("   temporary directory removed")
    return outcome == "ok"


def main() -> int:
    """Run the demo; 0 when the observation arrived and everything stopped."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    started = time.perf_counter()
    try:
        ok = walkthrough()
    except KeyboardInterrupt:
        print("\ninterrupted; every process stopped", file=sys.stderr)
        return 130
    print(f"\ndemo {'done' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
