"""What each control-socket request does, and the status the daemon reports."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from memento_syncd.client.engine import Report
from memento_syncd.client.transport import TransportError
from memento_syncd.core.timestamps import format_timestamp
from memento_syncd.daemon.control import ControlError
from memento_syncd.store import manual
from memento_syncd.store.db import LocalStoreError
from memento_syncd.store.index import SimilarityIndex
from memento_syncd.store.status import open_conflict_count, project_status, skipped_rows

if TYPE_CHECKING:
    from memento_syncd.daemon.runtime import Daemon


async def dispatch(daemon: Daemon, request: dict[str, Any]) -> Any:
    """Run one validated request."""
    op = request["op"]
    project = request.get("project")
    if op == "status":
        return await status(daemon)
    if op in ("pause", "resume"):
        daemon.pause() if op == "pause" else daemon.resume()
        return {"paused": daemon.paused}
    if op == "reload":
        daemon.reload(force=True)
        return {"config_error": daemon.config_error}
    if op == "conflicts":
        return await daemon.reader.run(manual.list_conflicts)
    if op == "resolve":
        return await _resolve(daemon, request)
    return await _sync(daemon, op, project)


async def _sync(daemon: Daemon, op: str, project: str | None) -> Any:
    if daemon.engine is None:
        raise ControlError("not_configured", daemon.config_error or daemon.idle_reason())
    if daemon.paused:
        raise ControlError("paused", "the daemon is paused: run 'memento-syncd resume' first")
    reports: dict[str, list[Report]] = {}
    try:
        if op in ("push", "sync"):
            reports["push"] = await daemon.push(project)
        if op in ("pull", "sync"):
            reports["pull"] = await daemon.pull(project)
    except (TransportError, LocalStoreError) as exc:
        raise ControlError("sync_failed", str(exc)) from exc
    return {what: [_report(r) for r in found] for what, found in reports.items()}


def _report(report: Report) -> dict[str, Any]:
    return {
        "project_id": report.project,
        "sent": report.sent,
        "received": report.received,
        "outcomes": dict(report.outcomes),
        "skipped": [obs_id for obs_id, _ in report.skipped],
    }


async def _resolve(daemon: Daemon, request: dict[str, Any]) -> Any:
    conflict_id, keep = request.get("id"), request.get("keep")
    if not isinstance(conflict_id, int) or keep not in manual.KEEP_CHOICES:
        raise ControlError("invalid", "resolve needs an integer id and keep local|remote|both")
    now = format_timestamp(daemon.clock())

    def work(conn: sqlite3.Connection) -> None:
        index = SimilarityIndex(conn, daemon.config.similarity_threshold)
        manual.resolve_conflict(conn, index, conflict_id, keep, now)

    try:
        await daemon.db.run(work)
    except manual.NoSuchConflict as exc:
        raise ControlError("not_found", f"no open conflict {conflict_id}") from exc
    except manual.TwinsCannotBothStay as exc:
        raise ControlError("invalid", str(exc)) from exc
    daemon.request_push()
    return {"resolved": conflict_id, "kept": keep}


def _state(conn: sqlite3.Connection) -> dict[str, Any]:
    projects = project_status(conn)
    return {
        "projects": projects,
        "pending": sum(p["pending"] for p in projects),
        "conflicts": open_conflict_count(conn),
        "skipped": skipped_rows(conn),
    }


async def status(daemon: Daemon) -> dict[str, Any]:
    """Everything ``memento-syncd status`` shows."""
    state = await daemon.reader.run(_state)
    errors = [h.last_error for h in daemon.health.values() if h.last_error]
    realtime = daemon.realtime_link
    job = daemon.scheduler.get_job("pull") if daemon.scheduler.running else None
    next_pull = job.next_run_time if job is not None else None
    connection = _connection(daemon, realtime is not None and realtime.connected)
    if connection == "not configured" and daemon.config.server_url is None:
        errors.append(NO_SERVER)  # (a bad config or token, if any, is said first)
    return {
        "running": True,
        "pid": os.getpid(),
        "version": _version(),
        "home": str(daemon.home.root),
        "server_url": daemon.config.server_url,
        "paused": daemon.paused,
        "connection": connection,
        "realtime": realtime is not None and realtime.connected,
        "last_error": daemon.config_error or (errors[0] if errors else None),
        "config_error": daemon.config_error,
        "config_warning": daemon.config.unknown_keys_warning(daemon.home.config),
        "next_pull": format_timestamp(next_pull) if next_pull else None,
        "retry": {
            name: _retry_at(h.next_attempt) for name, h in daemon.health.items() if h.failures
        },
        **state,
    }


# Why a daemon with no server_url does not sync (status's last_error).
NO_SERVER = (
    "no server to sync with: sync.server_url is not set; run 'memento-syncd login"
    " --server URL --token TOKEN'"
)


def _connection(daemon: Daemon, realtime: bool) -> str:
    if daemon.engine is None:
        # "disabled": turned off on purpose (enabled: false); otherwise something is
        # missing: a server_url, or a usable token (last_error says which).
        off = daemon.config.server_url is not None and daemon.config.enabled is False
        return "disabled" if off else "not configured"
    if daemon.paused:
        return "paused"
    if daemon.health["push"].failures or daemon.health["pull"].failures:
        return "offline"
    return "connected" if realtime else "polling"


def _retry_at(monotonic_due: float | None) -> str | None:
    if monotonic_due is None:
        return None
    wall = datetime.now(UTC) + timedelta(seconds=max(0.0, monotonic_due - time.monotonic()))
    return format_timestamp(wall)


def _version() -> str:
    from memento_syncd import __version__

    return __version__
