"""The HTTP transport to the sync server, with errors a user can act on."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import aiohttp

from memento_syncd.client.home import TOKEN_ENV

USER_AGENT = "memento-syncd"


class TransportError(Exception):
    """A sync request failed; the message names the server and what to do."""


class Unreachable(TransportError):
    """The server could not be reached (refused, timed out, cut off)."""


class AuthRefused(TransportError):
    """The server refused the token (401)."""


class ServerRefused(TransportError):
    """The server answered with an error; ``status`` and ``code`` say which."""

    def __init__(self, message: str, status: int, code: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.sync_id = str(details.get("sync_id") or "")
        self.field = str(details.get("field") or "")


class Transport:
    """One aiohttp session to ``base_url``, authenticated with a bearer token."""

    def __init__(self, base_url: str, token: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Transport:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            headers={"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def push(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/sync/push."""
        return await self._call("POST", "/api/sync/push", body)

    async def pull(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/sync/pull."""
        return await self._call("POST", "/api/sync/pull", body)

    async def projects(self) -> list[str]:
        """GET /api/sync/projects."""
        answer = await self._call("GET", "/api/sync/projects", None)
        names = answer.get("projects")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TransportError(f"unexpected answer from {self.base_url}: no project list")
        return names

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("Transport used outside 'async with'")
        url = self.base_url + path
        try:
            async with self._session.request(method, url, json=body) as resp:
                status = resp.status
                try:
                    payload = await resp.json(content_type=None)
                except ValueError:
                    if status < 400:
                        raise
                    payload = None  # an error page (a proxy's HTML): the status says it
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unreachable(
                f"cannot reach sync server at {self.base_url}: {_why(exc)}; check that it is"
                " running and that sync.server_url in config.json is right, then try again"
            ) from exc
        except ValueError as exc:
            raise TransportError(f"{url} answered with something that is not JSON") from exc
        if status == 200 and isinstance(payload, dict):
            return payload
        return _refusal(self.base_url, status, payload)


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _refusal(base_url: str, status: int, payload: object) -> dict[str, Any]:
    error = payload.get("error") if isinstance(payload, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else f"HTTP {status}"
    if status == 401:
        advice = f"run 'memento-syncd login --server {base_url} --token TOKEN' or set {TOKEN_ENV}"
        if os.environ.get(TOKEN_ENV, "").strip():  # it is what load_token took
            advice = (
                f"the token comes from {TOKEN_ENV}, which overrides the token file:"
                " set it to a token this server gave, or unset it"
            )
        raise AuthRefused(f"the sync server at {base_url} refused the token ({message}); {advice}")
    details = error.get("details") if isinstance(error, dict) else None
    raise ServerRefused(
        f"sync server at {base_url} answered {status}: {message}",
        status,
        code,
        details if isinstance(details, dict) else {},
    )
