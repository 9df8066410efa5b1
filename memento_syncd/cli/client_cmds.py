"""``memento-syncd login`` and ``memento-syncd conflicts ...``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from memento_syncd.cli.common import CommandError, OneLineParser, printable


def add_commands(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    """Register login and conflicts on the ``memento-syncd`` parser."""
    login = commands.add_parser("login", help="store the server URL and token for this device")
    login.add_argument("--server", required=True, help="sync server URL, e.g. https://sync.example")
    login.add_argument("--token", required=True, help="token printed by 'server create-token'")
    login.add_argument("--no-check", action="store_true", help="do not contact the server")
    login.set_defaults(handler=run_login)

    conflicts = commands.add_parser("conflicts", help="list and resolve sync conflicts")
    sub = conflicts.add_subparsers(dest="conflicts_command", metavar="SUBCOMMAND", required=True)
    listing = sub.add_parser("list", help="conflicts waiting for you (both versions)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--history", action="store_true", help="conflicts settled automatically")
    listing.set_defaults(handler=run_conflicts_list)
    resolve = sub.add_parser("resolve", help="settle a conflict; the result syncs")
    resolve.add_argument("id", type=int, help="conflict id from 'conflicts list'")
    resolve.add_argument("--keep", required=True, choices=["local", "remote", "both"])
    resolve.set_defaults(handler=run_conflicts_resolve)
    restore = sub.add_parser("restore", help="bring back a version that lost a conflict")
    restore.add_argument("id", type=int, help="history id from 'conflicts list --history'")
    restore.set_defaults(handler=run_conflicts_restore)


def run_login(args: argparse.Namespace) -> int:
    """Check the token against the server, then store it (0600) and the URL.

    The token is checked for shape before anything is written, and the config only
    changes once the token file is in place: a failed login leaves both as they were.
    """
    import asyncio

    from memento_syncd.client.home import (
        TOKEN_ENV,
        Home,
        TokenError,
        check_new_token,
        save_token,
        update_sync_config,
    )
    from memento_syncd.client.transport import AuthRefused, Transport, TransportError
    from memento_syncd.core.config import ConfigError, server_url_problem

    home = Home.from_env()
    url = args.server.rstrip("/")
    problem = server_url_problem(args.server)
    if problem is not None:  # said of the option, before the server is asked anything
        raise CommandError(f"--server {json.dumps(args.server, ensure_ascii=False)}: {problem}")
    try:
        check_new_token(args.token)
    except TokenError as exc:
        raise CommandError(str(exc)) from exc
    warning = None
    if not args.no_check:

        async def check() -> None:
            async with Transport(url, args.token, timeout=10) as transport:
                await transport.projects()

        try:
            asyncio.run(check())
        except AuthRefused as exc:
            raise CommandError(f"the server at {url} refused this token; nothing saved") from exc
        except TransportError as exc:
            warning = f"saved, but could not check the token now: {exc}"
    try:
        save_token(home, args.token)
        update_sync_config(home, server_url=url, enabled=True)
    except (TokenError, ConfigError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"Logged in to {url}; token stored in {home.token_file} (mode 0600).")
    if warning:
        print(f"memento-syncd: warning: {warning}", file=sys.stderr)
    if os.environ.get(TOKEN_ENV, "").strip():
        print(
            f"memento-syncd: warning: {TOKEN_ENV} is set in this environment and takes"
            " precedence over the stored token; unset it to use the new one",
            file=sys.stderr,
        )
    return 0


def _store(*, reading: bool = False, configured: bool = True) -> tuple[object, object]:
    """The device database (``reading``: read-only once set up) and the settings (None
    unless ``configured``: listing and restoring need none, so a bad config.json, which
    the daemon reports, does not stand between the user and their conflicts)."""
    from memento_syncd.cli.session import settings
    from memento_syncd.client.home import Home
    from memento_syncd.store.db import LocalStoreError, connect, connect_to_read

    home = Home.from_env()
    config = settings(home) if configured else None
    try:
        return (connect_to_read if reading else connect)(home.db), config
    except LocalStoreError as exc:
        raise CommandError(str(exc)) from exc


def run_conflicts_list(args: argparse.Namespace) -> int:
    """Print open conflicts (or the history of settled ones)."""
    import sqlite3

    from memento_syncd.store.manual import history, list_conflicts

    conn, _ = _store(reading=True, configured=False)
    assert isinstance(conn, sqlite3.Connection)  # noqa: S101 - narrowing
    items = history(conn) if args.history else list_conflicts(conn)
    if args.json:
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return 0
    if not items:
        print("no conflicts" if not args.history else "no settled conflicts")
    for item in items:
        if args.history:
            print(f"{item['id']}: {item['sync_id']} ({item['strategy']}, {item['at']})")
            for side in ("kept", "lost"):
                version = item[side]
                print(f"    {side:>6}: {version['title']!r} updated {version['updated_at']}")
                print(f"            {version['content'][:200]!r}")
            continue
        where = f"{printable(item['project'])} ({printable(item['sync_id'])})"
        print(f"{item['id']}: row {item['local_id']} in {where}")
        for side in ("local", "remote"):
            version = item[side]
            print(f"    {side:>6}: {version['title']!r} updated {version['updated_at']}")
            print(f"            {version['content'][:200]!r}")
    return 0


def run_conflicts_resolve(args: argparse.Namespace) -> int:
    """Settle a conflict by keeping local, remote or both versions."""
    import sqlite3

    from memento_syncd.cli.session import utc_now
    from memento_syncd.core.config import SyncConfig
    from memento_syncd.core.timestamps import format_timestamp
    from memento_syncd.store.index import SimilarityIndex
    from memento_syncd.store.manual import NoSuchConflict, TwinsCannotBothStay, resolve_conflict

    conn, config = _store()
    assert isinstance(conn, sqlite3.Connection)  # noqa: S101 - narrowing
    assert isinstance(config, SyncConfig)  # noqa: S101 - narrowing
    index = SimilarityIndex(conn, config.similarity_threshold)
    try:
        resolve_conflict(conn, index, args.id, args.keep, format_timestamp(utc_now()))
    except NoSuchConflict as exc:
        raise CommandError(
            f"no open conflict {args.id}; see 'memento-syncd conflicts list'"
        ) from exc
    except TwinsCannotBothStay as exc:
        raise CommandError(str(exc)) from exc
    print(f"Conflict {args.id} resolved (kept {args.keep}); it syncs at the next push.")
    return 0


def run_conflicts_restore(args: argparse.Namespace) -> int:
    """Write a losing version back as a local edit; it syncs at the next push."""
    import sqlite3

    from memento_syncd.cli.session import utc_now
    from memento_syncd.core.timestamps import format_timestamp
    from memento_syncd.store.manual import NoSuchConflict, restore_lost

    conn, _ = _store(configured=False)
    assert isinstance(conn, sqlite3.Connection)  # noqa: S101 - narrowing
    try:
        obs_id = restore_lost(conn, args.id, format_timestamp(utc_now()))
    except NoSuchConflict as exc:
        raise CommandError(
            f"no history entry {args.id} with its row still present;"
            " see 'memento-syncd conflicts list --history'"
        ) from exc
    print(f"Row {obs_id} restored from history entry {args.id}; it syncs at the next push.")
    return 0
