"""What ``memento-syncd server ...`` does: serve, create-token, revoke-token, list-tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from memento_syncd.cli.common import CommandError
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.timestamps import format_timestamp
from memento_syncd.core.wire import check_identifier

if TYPE_CHECKING:
    from memento_syncd.server.storage.sqlite import SQLiteStore

T = TypeVar("T")


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


def _name(value: str, what: str) -> str:
    try:
        return check_identifier(value, what)
    except InvalidInput as exc:
        raise CommandError(f"--{what} {value!r}: {exc.message}") from exc


def _with_store(db: Path, must_exist: bool, work: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    """Open the store at ``db``, run ``work`` on it, close it; database errors become one line."""
    if must_exist and not db.exists():
        raise CommandError(f"no server database at {db}; pass the --db of your server")

    from memento_syncd.server.storage.sqlite import SQLiteStore

    async def run() -> T:
        store = SQLiteStore(db)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (sqlite3.Error, OSError) as exc:
        raise CommandError(f"cannot use database {db}: {exc}") from exc


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from memento_syncd.logs import configure_logging
    from memento_syncd.server.serve import serve

    configure_logging(args.log_level)
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port {args.port}: must be between 0 and 65535")
    try:
        asyncio.run(serve(args.db, args.host, args.port))
    except OSError as exc:
        raise CommandError(
            f"cannot serve on {args.host}:{args.port} with {args.db}: {exc}"
        ) from exc
    except sqlite3.Error as exc:
        raise CommandError(f"cannot use database {args.db}: {exc}") from exc
    return 0


def run_create_token(args: argparse.Namespace) -> int:
    """Print a new token as the last line of stdout."""
    team, member = _name(args.team, "team"), _name(args.member, "member")
    now = _now()
    token = _with_store(args.db, False, lambda store: store.create_token(team, member, now))
    print(f"Created a token for member {member!r} of team {team!r}; it is shown only once:")
    print(token)
    return 0


def run_revoke_token(args: argparse.Namespace) -> int:
    """Revoke a token by plaintext or id."""
    now = _now()
    if not _with_store(args.db, True, lambda store: store.revoke_token(args.token, now)):
        raise CommandError("no such active token; see 'memento-syncd server list-tokens'")
    print("Token revoked.")
    return 0


def run_list_tokens(args: argparse.Namespace) -> int:
    """List tokens without their secrets."""
    infos = _with_store(args.db, True, lambda store: store.list_tokens())
    if args.json:
        print(json.dumps([asdict(info) for info in infos], indent=2))
        return 0
    for info in infos:
        state = f"revoked {info.revoked_at}" if info.revoked_at else "active"
        print(f"{info.token_id}  {info.team}/{info.member}  created {info.created_at}  {state}")
    return 0
