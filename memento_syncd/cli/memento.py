"""The ``memento`` command: save and list observations, and ``memento sync ...``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from memento_syncd import __version__
from memento_syncd.cli.common import CommandError, OneLineParser, printable, run
from memento_syncd.client.engine import Report
from memento_syncd.client.home import Home


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``memento``."""
    parser = OneLineParser(prog="memento", description="Memento observations and sync.")
    parser.add_argument("--version", action="version", version=f"memento {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    save = commands.add_parser("save", help="save an observation in the local database")
    save.add_argument("--project", required=True, help="the project it belongs to")
    save.add_argument("--type", required=True, help="decision, bugfix, pattern, note, ...")
    save.add_argument("--title", required=True, help="a short title")
    save.add_argument("--content", required=True, help="the text")
    save.add_argument("--topic-key", default=None, help="e.g. architecture/auth-model")
    save.add_argument("--scope", default="project", choices=["project", "personal"],
                      help="project: the team sees it (default); personal: only you")  # fmt: skip
    save.set_defaults(handler=run_save)

    listing = commands.add_parser("list", help="list live observations")
    listing.add_argument("--project", help="only this project")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--all", action="store_true", help="include deleted observations")
    listing.set_defaults(handler=run_list)

    sync = commands.add_parser("sync", help="push, pull or show sync status")
    actions = sync.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, helptext in (("push", "push local changes"), ("pull", "pull remote changes")):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("--project", help="only this project")
        action.set_defaults(handler=run_push if name == "push" else run_pull)
    reset = actions.add_parser(
        "reset",
        help="forget what the server said about a project: the next pull starts from the"
        " beginning and the next push sends every observation of it again (after a move"
        " to another team or server)",
    )
    reset.add_argument("--project", required=True, help="the project to start over")
    reset.set_defaults(handler=run_reset)
    status = actions.add_parser("status", help="per-project cursors and counts")
    status.add_argument("--project", help="only this project")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run_status)
    return parser


def _db(home: Home, *, reading: bool = False) -> Any:
    """The device database; ``reading``: for a command that only reads it (read-only
    once set up, so it never waits for the application's write lock)."""
    from memento_syncd.store.db import LocalStoreError, connect, connect_to_read

    try:
        return connect_to_read(home.db) if reading else connect(home.db)
    except LocalStoreError as exc:
        raise CommandError(str(exc)) from exc


def run_save(args: argparse.Namespace) -> int:
    """Insert an observation, as the Memento application does; prints its local id."""
    from memento_syncd.cli.session import utc_now
    from memento_syncd.core.timestamps import format_timestamp

    _check_project(args.project)  # a row the server would refuse could never sync
    now = format_timestamp(utc_now())
    row = {"project": args.project, "type": args.type, "title": args.title,
           "content": args.content, "topic_key": args.topic_key, "scope": args.scope,
           "created_at": now, "updated_at": now}  # fmt: skip
    _check_row(row)
    conn = _db(Home.from_env())
    with conn:
        cur = conn.execute(
            f"INSERT INTO observations ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
            tuple(row.values()),
        )
    print(cur.lastrowid)
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print observations, newest first."""
    conn = _db(Home.from_env(), reading=True)
    query = (
        "SELECT id, project, type, title, content, topic_key, scope, created_at, updated_at,"
        " deleted_at FROM observations WHERE (? IS NULL OR project = ?)"
    )
    if not args.all:
        query += " AND deleted_at IS NULL"
    columns = ("id", "project", "type", "title", "content", "topic_key", "scope",
               "created_at", "updated_at", "deleted_at")  # fmt: skip
    found = [
        dict(zip(columns, row, strict=True))
        for row in conn.execute(query + " ORDER BY id", (args.project, args.project))
    ]
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False, default=_blob_text))
        return 0
    for item in found:
        gone = " (deleted)" if item["deleted_at"] else ""
        shown = [printable(_blob_text(item[k]) if isinstance(item[k], bytes) else str(item[k]))
                 for k in ("project", "type", "title")]  # fmt: skip
        print(f"{item['id']:>6}  {shown[0]}  [{shown[1]}] {shown[2]}{gone}")
    return 0


def _check_project(name: str) -> None:
    """``CommandError`` for a ``--project`` no server would take (the API's rules)."""
    from memento_syncd.core.errors import InvalidInput
    from memento_syncd.core.wire import check_identifier

    try:
        check_identifier(name, "--project")
    except InvalidInput as exc:
        raise CommandError(f"{exc}; give the project's name") from exc


def _check_row(row: dict[str, Any]) -> None:
    """``CommandError`` naming the option whose value no server would take (the same rules
    as a push: the row could never sync)."""
    from memento_syncd.core.errors import InvalidInput
    from memento_syncd.store.rows import to_observation

    try:
        to_observation("new", row)
    except InvalidInput as exc:
        field = exc.field.removeprefix("observation.")
        option = "--" + field.replace("_", "-") if field in row else field or "a value"
        raise CommandError(f"{option}: {exc.message}; no server would take it") from exc


def _blob_text(value: object) -> str:
    """A BLOB the application stored where text belongs, shown as text (bytes that are not
    UTF-8 print escaped)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    raise TypeError(f"{type(value).__name__} is not JSON")


def _print_reports(verb: str, reports: list[Report]) -> None:
    for report in reports:
        moved = report.sent if verb == "pushed" else report.received
        detail = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(report.outcomes.items()))
        print(f"{printable(report.project)}: {verb} {moved}" + (f" ({detail})" if detail else ""))
        # (Rows set aside are printed on stderr by cli.session.with_engine.)
    if not reports:
        print(f"nothing {verb}")


def run_push(args: argparse.Namespace) -> int:
    """One push of every pending change, then exit."""
    from memento_syncd.cli.session import with_engine

    reports = with_engine(Home.from_env(), lambda engine: engine.push(args.project))
    _print_reports("pushed", reports)
    return 0


def run_pull(args: argparse.Namespace) -> int:
    """One pull of every page, then exit."""
    from memento_syncd.cli.session import with_engine

    reports = with_engine(Home.from_env(), lambda engine: engine.pull(args.project))
    _print_reports("pulled", reports)
    return 0


def run_reset(args: argparse.Namespace) -> int:
    """Forget the server's cursor and versions of a project (``store.reseed``)."""
    from memento_syncd.store.reseed import forget_server

    _check_project(args.project)
    queued = forget_server(_db(Home.from_env()), args.project)
    print(
        f"{args.project}: the next pull starts from the beginning, and the next push sends"
        f" {queued} synced observation(s) again, with those never pushed"
    )
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Per-project cursor storage: last push and pull, counts, pending changes."""
    from memento_syncd.cli.session import settings
    from memento_syncd.store.status import open_conflict_count, project_status, skipped_rows

    home = Home.from_env()
    settings(home)  # a bad config.json is an error here too, naming file, key and value
    conn = _db(home, reading=True)
    projects = project_status(conn, args.project)
    if args.json:
        print(json.dumps(projects, indent=2))
        return 0
    for p in projects:
        print(
            f"{printable(p['project_id'])}: last push {p['last_push'] or 'never'},"
            f" last pull {p['last_pull'] or 'never'}, pushed {p['push_count']},"
            f" pulled {p['pull_count']}, pending {p['pending']}"
        )
    for row in skipped_rows(conn):
        print(f"row {row['id']} cannot be synced: {printable(row['reason'])}")
    conflicts = open_conflict_count(conn)
    if conflicts:
        print(f"{conflicts} conflict(s) wait for you: memento-syncd conflicts list")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``memento``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run(args.handler, args, "memento")


if __name__ == "__main__":
    sys.exit(main())
