"""The aiohttp application: routes, the error-and-log middleware, store lifecycle."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from memento_syncd.core.limits import Limits
from memento_syncd.server import handlers, log_safety
from memento_syncd.server.errors import HTTP_CODES, ApiError, error_response
from memento_syncd.server.hub import Hub
from memento_syncd.server.storage.base import ServerStore, StoreBusy

log = structlog.get_logger("memento_syncd.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_and_access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the JSON error shape and log one line per request."""
    started = time.perf_counter()
    request[handlers.LOG_FIELDS] = {}
    response: web.StreamResponse
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message, **exc.details)
    except StoreBusy as exc:
        log.warning("store busy", path=request.path, error=str(exc))
        response = error_response(503, "unavailable", "server is busy; retry shortly")
        response.headers["Retry-After"] = "1"
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
    except Exception:  # a bug of ours: log it, answer 500, keep serving
        log.exception("request failed", method=request.method, path=request.path)
        response = error_response(500, "internal", "internal server error; see the server log")
    log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        # A client's own text (a project name) may hold a token pasted by mistake.
        **{
            key: log_safety.scrub(value) if isinstance(value, str) else value
            for key, value in request[handlers.LOG_FIELDS].items()
        },
    )
    return response


def make_app(
    store: ServerStore, limits: Limits | None = None, stream_recheck: float = 60.0
) -> web.Application:
    """Build the server application around an unopened store (opened on startup).

    ``stream_recheck``: seconds between checks that a realtime stream's token still holds.
    Also filters aiohttp's loggers for the process (``log_safety.install``).
    """
    limits = limits or Limits()
    log_safety.install()  # aiohttp logs the bytes of requests it cannot parse
    app = web.Application(
        middlewares=[errors_and_access_log], client_max_size=limits.max_body_bytes
    )
    app[handlers.STORE] = store
    app[handlers.LIMITS] = limits
    app[handlers.HUB] = Hub()
    app[handlers.STREAMS] = set()
    app[handlers.STREAM_RECHECK] = stream_recheck
    app.on_shutdown.append(handlers.close_streams)

    async def store_lifecycle(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    app.cleanup_ctx.append(store_lifecycle)
    app.router.add_get("/api/health", handlers.health)
    app.router.add_get("/api/openapi.json", handlers.openapi)
    app.router.add_post("/api/sync/push", handlers.push)
    app.router.add_post("/api/sync/pull", handlers.pull)
    app.router.add_get("/api/sync/projects", handlers.projects)
    app.router.add_get("/api/sync/stream", handlers.stream)
    return app
