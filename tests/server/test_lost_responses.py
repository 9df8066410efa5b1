"""A real proxy loses or cuts the server's answers; retrying the push is harmless."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import Api, obs
from tests.faults import Fault, FaultProxy


async def _push_via(proxy: FaultProxy, token: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            proxy.url + "/api/sync/push", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as resp,
    ):
        answer: dict[str, Any] = await resp.json()
        return answer


@pytest.mark.parametrize("fault", [Fault.DROP_RESPONSE, Fault.CUT_RESPONSE])
async def test_retry_after_a_lost_answer_stores_each_observation_once(
    api: Api, proxy: FaultProxy, fault: Fault
) -> None:
    """The push committed although its answer was lost; the retry finds nothing new to do."""
    token = await api.token()
    body = {"project_id": "p", "device_id": "A", "observations": [obs(f"x{i}") for i in range(50)]}
    proxy.fault = fault
    with pytest.raises((aiohttp.ClientError, ValueError)):
        await _push_via(proxy, token, body)
    proxy.fault = Fault.PASS
    retry = await _push_via(proxy, token, body)
    assert (retry["synced"], retry["conflicts"]) == (50, 0)
    assert {r["status"] for r in retry["results"]} == {"unchanged"}
    rows, _ = await api.pull_all(token, "p")
    assert sorted(o["sync_id"] for o in rows) == sorted(f"x{i}" for i in range(50))
    assert {o["version"] for o in rows} == {1}


async def test_edit_resent_after_a_lost_answer_is_no_conflict(api: Api, proxy: FaultProxy) -> None:
    """An edit whose answer was lost, edited again and resent on the old base, applies."""
    token = await api.token()
    await api.push(token, "p", [obs("a", content="v1")], device_id="A")
    proxy.fault = Fault.DROP_RESPONSE
    lost = {
        "project_id": "p",
        "device_id": "A",
        "observations": [obs("a", content="v2", base_version=1)],
    }
    with pytest.raises(aiohttp.ClientError):
        await _push_via(proxy, token, lost)
    proxy.fault = Fault.PASS
    again = {
        "project_id": "p",
        "device_id": "A",
        "observations": [obs("a", content="v3", base_version=1)],
    }
    reply = await _push_via(proxy, token, again)
    assert (reply["conflicts"], reply["results"][0]["version"]) == (0, 3)


async def test_a_refused_connection_writes_nothing(api: Api, proxy: FaultProxy) -> None:
    """A push that never reached the server leaves the store untouched."""
    token = await api.token()
    proxy.fault = Fault.REFUSE
    with pytest.raises(aiohttp.ClientError):
        await _push_via(proxy, token, {"project_id": "p", "observations": [obs("z")]})
    assert await api.store.head() == 0
