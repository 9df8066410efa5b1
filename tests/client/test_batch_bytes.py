"""Push batches are bounded in bytes as well as in rows: big observations that each fit
the server's limits never make a request over its body limit (16 MiB by default)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from memento_syncd.store import outbox
from tests.conftest import Api


async def test_big_observations_are_pushed_in_batches_under_the_body_limit(
    make_device: Any,
) -> None:
    """Ninety rows of 200 KB (18 MB together, each under the 256 KiB observation limit)
    are pushed by one push with no row set aside, and another device gets them all."""
    a, b = await make_device("A"), await make_device("B")
    for n in range(90):
        a.save(title=f"big {n}", content=f"{n} " + "z" * 200_000)
    reports = await a.push()
    assert (reports[0].sent, reports[0].skipped, a.pending()) == (90, [], 0)
    await b.pull()
    assert len(b.live()) == 90


def test_wire_bytes_bounds_what_json_writes() -> None:
    """The size estimate is never below the JSON the transport sends, whatever the text
    holds: non-ASCII, quotes and backslashes, newlines, control characters."""
    import json

    from memento_syncd.core.wire import observation_to_wire
    from memento_syncd.store.rows import from_wire

    texts = ("plain ascii " * 50, "é" * 300, "emoji \U0001f600" * 40, "mixed é " * 80,
             'quotes " and \\ back\nslashes\t' * 40, "\x1b\x7f\x00 control" * 60)  # fmt: skip
    for content in texts:
        wire = {
            "sync_id": "s", "project": "p", "type": "note", "title": "t", "content": content,
            "topic_key": "k/é", "scope": "project", "created_at": "2025-01-15T10:30:00Z",
            "updated_at": "2025-01-15T10:30:00Z", "deleted_at": None, "version": 1,
        }  # fmt: skip
        obs, _ = from_wire(wire)
        sent = len(json.dumps({**observation_to_wire(obs), "base_version": None}))
        assert outbox.wire_bytes(obs) >= sent


async def test_a_project_the_server_refuses_does_not_hold_back_the_others(
    make_device: Any,
) -> None:
    """The server refuses project aa's request (its stored cursor is damaged): the push
    still sends project zz's rows, then fails naming the refusal; so does a pull."""
    import pytest

    from memento_syncd.client.transport import ServerRefused

    a, b = await make_device("A"), await make_device("B")
    a.save(project="aa", title="first")
    await a.push()
    a.app.execute("UPDATE sync_cursors SET pull_cursor = 'damaged' WHERE project = 'aa'")
    a.save(project="aa", title="second")
    a.save(project="zz", title="other project")
    with pytest.raises(ServerRefused, match="memento sync reset --project aa"):
        await a.push()
    await b.pull()
    assert sorted(row[2] for row in b.live()) == ["first", "other project"]
    b.save(project="zz", title="from b")
    await b.push()
    with pytest.raises(ServerRefused, match="memento sync reset --project aa"):
        await a.pull()
    assert "from b" in [row[2] for row in a.live()]


@pytest.fixture
async def strict_proxy(api: Api) -> AsyncIterator[str]:
    """A reverse proxy on 127.0.0.1 in front of the real server that, as nginx does,
    answers a request body over 32 KiB with its own HTML 413 page; yields its URL."""

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        if len(body) > 32 * 1024:
            html = "<html><body><h1>413 Request Entity Too Large</h1></body></html>"
            return web.Response(status=413, text=html, content_type="text/html")
        headers = {"Authorization": request.headers["Authorization"],
                   "Content-Type": "application/json"}  # fmt: skip
        async with api.session.request(
            request.method, api.url + request.path, data=body or None, headers=headers
        ) as upstream:
            return web.Response(
                status=upstream.status, body=await upstream.read(),
                content_type="application/json",
            )  # fmt: skip

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_a_proxys_html_413_makes_batches_smaller_too(
    make_device: Any, strict_proxy: str
) -> None:
    """Behind a proxy whose 413 is an HTML page, not the server's JSON error, the push
    still sends smaller batches and gets everything through; nothing is set aside."""
    a = await make_device("A")
    for n in range(30):
        a.save(title=f"row {n}", content=f"{n} " + "y" * 3000)
    reports = await a.push(url=strict_proxy)
    assert (reports[0].sent, reports[0].skipped, a.pending()) == (30, [], 0)
