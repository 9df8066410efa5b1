"""``memento-syncd run|status|push|pull|sync|pause|resume``: the daemon and its socket.

``status`` is typed by people in a terminal: this module imports only the standard
library at the top, and the daemon itself only when ``run`` starts it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from memento_syncd.cli.common import CommandError, OneLineParser, printable

NO_DAEMON_EXIT = 3


def add_commands(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    """Register the daemon's commands."""
    run = commands.add_parser("run", help="run the sync daemon in the foreground")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    run.set_defaults(handler=run_daemon)
    status = commands.add_parser("status", help="ask the running daemon how sync goes")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run_status)
    for name, helptext in (("push", "push now"), ("pull", "pull now"), ("sync", "push, then pull")):
        action = commands.add_parser(name, help=f"{helptext}, through the daemon")
        action.add_argument("--project", help="only this project")
        action.set_defaults(handler=run_action, op=name)
    for name, helptext in (("pause", "stop syncing until resumed"), ("resume", "sync again")):
        action = commands.add_parser(name, help=helptext)
        action.set_defaults(handler=run_action, op=name, project=None)


def _socket_path() -> Any:
    import os
    from pathlib import Path

    root = Path(os.environ.get("MEMENTO_HOME") or Path.home() / ".memento").expanduser()
    try:  # a running daemon notes where it listens beside its pid
        lines = (root / "syncd.lock").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    if len(lines) > 1 and lines[1].strip():
        return Path(lines[1].strip())
    config = root / "config.json"
    try:
        sync = json.loads(config.read_text(encoding="utf-8")).get("sync") or {}
        custom = sync.get("socket_path") if isinstance(sync, dict) else None
    except (OSError, ValueError, AttributeError):
        custom = None
    if isinstance(custom, str) and custom:
        path = Path(custom).expanduser()
        return path if path.is_absolute() else root / path
    return root / "syncd.sock"


def _ask(payload: dict[str, Any], timeout: float = 600.0) -> Any:
    from memento_syncd.daemon.control_client import DaemonError, NoDaemon, request

    path = _socket_path()
    try:
        return request(path, payload, timeout)
    except NoDaemon as exc:
        raise CommandError(f"{exc}; start it with 'memento-syncd run'", NO_DAEMON_EXIT) from exc
    except DaemonError as exc:
        raise CommandError(f"the daemon says: {exc}") from exc
    except OSError as exc:
        if _TOO_LONG in str(exc):  # then no daemon can be listening there either
            raise CommandError(_too_long(path), NO_DAEMON_EXIT) from exc
        raise CommandError(f"cannot talk to the daemon: {exc}") from exc


_TOO_LONG = "path too long"  # what Python says of a Unix socket path over the system's limit


def _too_long(path: Any) -> str:
    import os

    runtime = os.environ.get("XDG_RUNTIME_DIR") or "~"  # (none on macOS: the home then)
    return (
        f"the control socket path {path} is too long for a Unix socket;"
        " set sync.socket_path in config.json to a shorter one outside /tmp (the service's"
        f" /tmp is its own), e.g. {runtime}/.memento-syncd.sock, and for the service add"
        " its directory to ReadWritePaths= ('systemctl --user edit memento-syncd')"
    )


def run_status(args: argparse.Namespace) -> int:
    """Print the daemon's state (exit 3 when none runs)."""
    state = _ask({"op": "status"}, timeout=10.0)
    if args.json:
        print(json.dumps(state, indent=2, ensure_ascii=False))
        return 0
    print(f"memento-syncd {state['version']} (pid {state['pid']}), home {state['home']}")
    server = state["server_url"]
    print(
        f"server:     {server} ({state['connection']})" if server else "server:     not configured"
    )
    print(f"pending:    {state['pending']} local change(s) not yet pushed")
    print(f"conflicts:  {state['conflicts']}")
    print(f"next pull:  {state['next_pull'] or '-'}")
    if state["last_error"]:
        print(f"last error: {printable(state['last_error'])}")
    if state.get("config_warning"):
        print(f"warning:    {state['config_warning']}")
    for name, when in (state.get("retry") or {}).items():
        print(f"retry {name}: {when}")
    for p in state["projects"]:
        print(
            f"  {printable(p['project_id'])}: pushed {p['push_count']}"
            f" (last {p['last_push'] or 'never'}),"
            f" pulled {p['pull_count']} (last {p['last_pull'] or 'never'}),"
            f" pending {p['pending']}"
        )
    for row in state.get("skipped") or []:
        print(f"  row {row['id']} cannot be synced: {printable(row['reason'])}")
    return 0


def run_action(args: argparse.Namespace) -> int:
    """push, pull, sync, pause or resume through the daemon."""
    answer = _ask({"op": args.op, "project": args.project})
    if args.op in ("pause", "resume"):
        print("paused" if answer["paused"] else "resumed")
        return 0
    for what, reports in answer.items():
        if not reports:
            print(f"{what}: nothing to {what}")
        for r in reports:
            moved = r["sent"] if what == "push" else r["received"]
            print(f"{printable(r['project_id'])}: {what} {moved} {json.dumps(r['outcomes'])}")
    return 0


def run_daemon(args: argparse.Namespace) -> int:
    """Run the daemon in the foreground until SIGTERM or SIGINT."""
    import asyncio

    from memento_syncd.cli.session import utc_now
    from memento_syncd.client.home import Home
    from memento_syncd.daemon.lock import AlreadyRunning
    from memento_syncd.daemon.runtime import Daemon
    from memento_syncd.logs import configure_logging
    from memento_syncd.store.db import LocalStoreError

    configure_logging(args.log_level)
    daemon = Daemon(Home.from_env(), utc_now)
    try:
        asyncio.run(daemon.run())
    except AlreadyRunning as exc:
        raise CommandError(str(exc)) from exc
    except LocalStoreError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        if _TOO_LONG in str(exc):
            raise CommandError(f"cannot start the daemon: {_too_long(_socket_path())}") from exc
        raise CommandError(f"cannot start the daemon: {exc}") from exc
    return 0
