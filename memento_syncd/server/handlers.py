"""HTTP handlers of the sync API: authenticate, validate, call the store, answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

import memento_syncd
from memento_syncd.core.cursor import StaleCursor, decode_cursor, encode_cursor
from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.limits import Limits
from memento_syncd.core.observation import StoredObservation
from memento_syncd.core.versioning import Verdict
from memento_syncd.core.wire import (
    observation_to_wire,
    parse_pull_request,
    parse_push_request,
    utf8_size,
)
from memento_syncd.server.errors import ApiError
from memento_syncd.server.http_io import json_response, read_json
from memento_syncd.server.hub import Hub
from memento_syncd.server.openapi import openapi_document
from memento_syncd.server.storage.base import ChangeResult, Forbidden, Principal, ServerStore

STORE = web.AppKey("store", ServerStore)
LIMITS = web.AppKey("limits", Limits)
HUB = web.AppKey("hub", Hub)
STREAMS = web.AppKey("streams", set[web.WebSocketResponse])
# Seconds between checks that a stream's token is still valid (tests make it short).
STREAM_RECHECK = web.AppKey("stream_recheck", float)
LOG_FIELDS = web.RequestKey("log_fields", dict[str, Any])


def stored_to_wire(item: StoredObservation) -> dict[str, Any]:
    """An observation as the API returns it: wire fields plus version and author."""
    wire = observation_to_wire(item.observation)
    wire["version"] = item.version
    wire["author"] = item.author
    if item.withdrawn:  # (only then: the answers of every other observation stay as they were)
        wire["withdrawn"] = True
    return wire


async def authenticate(request: web.Request) -> Principal:
    """The principal of the request's bearer token, or a 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "unauthorized", "missing bearer token: send 'Authorization: Bearer <token>'"
        )
    who = await request.app[STORE].authenticate(token.strip())
    if who is None:
        raise ApiError(401, "unauthorized", "unknown or revoked token; ask for a new one")
    request[LOG_FIELDS].update(team=who.team, member=who.member)
    return who


def _feed(who: Principal, project: str) -> str:
    """The name cursors are bound to: one team's project."""
    return f"{who.team_id}\n{project}"


async def _cursor_seq(
    request: web.Request, who: Principal, project: str, cursor: str | None
) -> int:
    """The position of ``cursor``; 409 for one of another database or beyond this one's head.

    A cursor past the head means the database went back in time (restored from a
    backup): what the device saw after that point is no longer here.
    """
    if cursor is None:
        return 0
    store = request.app[STORE]
    try:
        seq = decode_cursor(cursor, store.epoch, _feed(who, project))
    except StaleCursor as exc:
        raise ApiError(409, "stale_cursor", exc.message) from exc
    except InvalidInput as exc:
        raise ApiError(400, "invalid_cursor", exc.message) from exc
    if seq > await store.head():
        raise ApiError(
            409,
            "stale_cursor",
            "cursor is ahead of this server database (restored from a backup?);"
            " pull again from the beginning",
        )
    return seq


def _refused(exc: InvalidInput) -> ApiError:
    """413 for a value over a size limit, 422 for any other wrong field; both name it."""
    if exc.too_large:
        return ApiError(413, "too_large", str(exc), field=exc.field)
    return ApiError(422, "invalid", str(exc), field=exc.field)


async def push(request: web.Request) -> web.Response:
    """POST /api/sync/push: apply a batch atomically, report conflicts with server versions."""
    who = await authenticate(request)
    app = request.app
    raw = await read_json(request, app[LIMITS].max_body_bytes)
    try:
        body = parse_push_request(raw, app[LIMITS])
    except InvalidInput as exc:
        raise _refused(exc) from exc
    request[LOG_FIELDS].update(project=body.project_id, received=len(body.changes))
    after = await _cursor_seq(request, who, body.project_id, body.cursor)
    try:
        outcome = await app[STORE].push(who, body, after)
    except Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc), sync_id=exc.sync_id) from exc
    if outcome.written:
        app[HUB].publish(who.team_id, body.project_id, outcome.head_seq, body.device_id)
    results = _push_results(outcome.results, app[LIMITS].max_page_bytes)
    request[LOG_FIELDS].update(synced=outcome.synced, conflicts=outcome.conflicts)
    return json_response(
        {
            "cursor": encode_cursor(
                app[STORE].epoch, _feed(who, body.project_id), outcome.cursor_seq
            ),
            "synced": outcome.synced,
            "conflicts": outcome.conflicts,
            "results": results,
        }
    )


def _push_results(outcomes: Sequence[ChangeResult], max_bytes: int) -> list[dict[str, Any]]:
    """Each pushed observation's verdict. A conflict carries the server's copy while the
    copies' titles and contents stay within ``max_bytes`` (a pull page's bound; the first
    always): a batch of small edits must not bring back a thousand large copies at once.
    A conflict past that carries none; the device settles it when it pulls that version."""
    results = []
    size, copies = 0, 0
    for result in outcomes:
        entry: dict[str, Any] = {
            "sync_id": result.sync_id,
            "status": result.verdict.value,
            "version": result.current.version,
        }
        if result.verdict is Verdict.CONFLICT:
            current = result.current.observation
            size += utf8_size(current.title, current.content)
            if size <= max_bytes or copies == 0:
                entry["server"] = stored_to_wire(result.current)
                copies += 1
        results.append(entry)
    return results


async def pull(request: web.Request) -> web.Response:
    """POST /api/sync/pull: one page of a project's observations after the cursor."""
    who = await authenticate(request)
    app = request.app
    raw = await read_json(request, app[LIMITS].max_body_bytes)
    try:
        body = parse_pull_request(raw, app[LIMITS])
    except InvalidInput as exc:
        raise _refused(exc) from exc
    request[LOG_FIELDS].update(project=body.project_id)
    after = await _cursor_seq(request, who, body.project_id, body.cursor)
    page = await app[STORE].pull(
        who, body.project_id, after, body.limit, app[LIMITS].max_page_bytes
    )
    request[LOG_FIELDS].update(returned=len(page.items), has_more=page.has_more)
    return json_response(
        {
            "cursor": encode_cursor(app[STORE].epoch, _feed(who, body.project_id), page.last_seq),
            "observations": [stored_to_wire(item) for item in page.items],
            "has_more": page.has_more,
        }
    )


async def projects(request: web.Request) -> web.Response:
    """GET /api/sync/projects: the team's projects, so a new device knows what to pull."""
    who = await authenticate(request)
    names = await request.app[STORE].projects(who)
    request[LOG_FIELDS].update(returned=len(names))
    return json_response({"projects": names})


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /api/sync/stream: a WebSocket telling a daemon which projects just changed.

    Each message is ``{"project": P, "seq": N}`` right after a push commits, except
    pushes of the subscriber's own ``?device_id=``. It carries no data: the daemon pulls
    as usual, so a missed message costs only latency. The token is checked again every
    ``request.app[STREAM_RECHECK]`` seconds: a revoked one closes the stream (1008).
    """
    who = await authenticate(request)
    socket = web.WebSocketResponse(heartbeat=30.0)
    await socket.prepare(request)
    request.app[STREAMS].add(socket)
    device = request.query.get("device_id", "")[:200]
    subscription = request.app[HUB].subscribe(who.team_id, device)
    request[LOG_FIELDS].update(stream=True)
    receiving = asyncio.ensure_future(socket.receive())
    news = asyncio.ensure_future(subscription.next())
    recheck = request.app[STREAM_RECHECK]
    try:
        while not socket.closed:
            done, _ = await asyncio.wait(
                {news, receiving}, timeout=recheck, return_when=asyncio.FIRST_COMPLETED
            )
            if receiving in done:  # the client closed or sent something: we only talk
                break
            if not done:  # quiet for a while: is the token still good?
                if not await _still_authorised(request):
                    await socket.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION,
                                       message=b"token revoked")  # fmt: skip
                    break
                continue
            for project, seq in news.result():
                await socket.send_json({"project": project, "seq": seq})
            news = asyncio.ensure_future(subscription.next())
    finally:
        news.cancel()
        receiving.cancel()
        subscription.close()
        request.app[STREAMS].discard(socket)
        await socket.close()
    return socket


async def _still_authorised(request: web.Request) -> bool:
    try:
        await authenticate(request)
    except ApiError:
        request[LOG_FIELDS].update(stream_closed="token revoked")
        return False
    return True


async def close_streams(app: web.Application) -> None:
    """On shutdown, tell every daemon to go (so stopping does not wait for them)."""
    streams = app[STREAMS]
    for socket in tuple(streams):
        await socket.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server stopping")


async def health(request: web.Request) -> web.Response:
    """GET /api/health: liveness without a token."""
    return json_response({"status": "ok", "version": memento_syncd.__version__})


async def openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json: the API as implemented."""
    return json_response(openapi_document(request.app[LIMITS]))
