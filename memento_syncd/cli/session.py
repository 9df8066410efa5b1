"""Setting up a sync session from ``$MEMENTO_HOME`` and reporting failures in one line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from memento_syncd.cli.common import CommandError, printable, prog
from memento_syncd.cli.progress import ProgressLine
from memento_syncd.client.engine import SyncEngine
from memento_syncd.client.home import Home, TokenError, load_config, load_token
from memento_syncd.client.localdb import LocalDB
from memento_syncd.client.transport import TransportError
from memento_syncd.core.config import ConfigError, SyncConfig
from memento_syncd.store.db import LocalStoreError

T = TypeVar("T")


def utc_now() -> datetime:
    """The wall clock, in UTC (the one place the CLI reads it)."""
    return datetime.now(UTC)


def settings(home: Home) -> SyncConfig:
    """The validated config, or a one-line error naming file, key and value."""
    try:
        config = load_config(home)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    warning = config.unknown_keys_warning(home.config)
    if warning:
        print(f"{prog()}: warning: {warning}", file=sys.stderr)
    return config


def with_engine(home: Home, work: Callable[[SyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with an engine on this home's database and server; errors in one line."""
    config = settings(home)
    if config.server_url and not config.active:
        raise CommandError(
            f"sync is disabled in {home.config} (sync.enabled is false): set it to true"
            " or run 'memento-syncd login --server URL --token TOKEN'"
        )
    if not config.server_url:
        raise CommandError(
            f"no sync server configured in {home.config}: run "
            "'memento-syncd login --server URL --token TOKEN'"
        )
    try:
        token = load_token(home)
    except TokenError as exc:
        raise CommandError(str(exc)) from exc
    progress = ProgressLine()
    set_aside: list[tuple[str, int, str]] = []  # rows that cannot sync, as the engine told

    async def run() -> T:
        from memento_syncd.client.transport import Transport

        db = LocalDB(home.db)
        await db.open()
        try:
            async with Transport(config.server_url or "", token) as transport:
                engine = SyncEngine(
                    db, transport, config, utc_now, progress,
                    on_skipped=lambda *row: set_aside.append(row),
                )  # fmt: skip
                return await work(engine)
        finally:
            progress.finish()
            await db.close()

    try:
        result = asyncio.run(run())
    except (TransportError, LocalStoreError) as exc:
        # Still one line; the rows set aside before the failure are not read again until
        # the application changes them, so they are counted here.
        raise CommandError(str(exc) + _set_aside_note(set_aside)) from exc
    for project, obs_id, reason in set_aside:
        print(f"{printable(project)}: row {obs_id} skipped: {printable(reason)}", file=sys.stderr)
    return result


def _set_aside_note(rows: list[tuple[str, int, str]]) -> str:
    """What a failed command adds to its error line about rows it set aside."""
    if not rows:
        return ""
    ids = ", ".join(str(obs_id) for _, obs_id, _ in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return (
        f" (also set aside {len(rows)} row(s) that cannot sync: {ids};"
        " 'memento sync status' says why)"
    )
