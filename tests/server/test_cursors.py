"""Cursors: bound to one team's project, and the push cursor never skips anyone else."""

from __future__ import annotations

from tests.conftest import Api, obs


async def test_push_cursor_skips_own_writes_only(api: Api) -> None:
    """A device alone on a project can use its push cursor and pulls no echo."""
    token = await api.token()
    _, cursor = await api.pull_all(token, "p")
    reply = await api.push(token, "p", [obs("a"), obs("b")], cursor=cursor)
    rows, _ = await api.pull_all(token, "p", reply.body["cursor"])
    assert rows == []


async def test_push_cursor_does_not_skip_a_teammates_write(api: Api) -> None:
    """If a teammate committed after my pull cursor, my push cursor stops before it."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    _, cursor = await api.pull_all(alice, "p")
    await api.push(bob, "p", [obs("bobs")])
    reply = await api.push(alice, "p", [obs("alices")], cursor=cursor)
    rows, _ = await api.pull_all(alice, "p", reply.body["cursor"])
    assert "bobs" in [o["sync_id"] for o in rows]


async def test_push_cursor_ignores_other_projects_and_hidden_rows(api: Api) -> None:
    """Changes in other projects or a teammate's personal notes do not hold the cursor back."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    _, cursor = await api.pull_all(alice, "p")
    await api.push(bob, "other", [obs("elsewhere")])
    await api.push(bob, "p", [obs("private", scope="personal")])
    reply = await api.push(alice, "p", [obs("mine")], cursor=cursor)
    rows, _ = await api.pull_all(alice, "p", reply.body["cursor"])
    assert rows == []


async def test_cursor_of_another_project_is_refused(api: Api) -> None:
    """Using project A's cursor to pull project B is a 400, not a silent skip."""
    token = await api.token()
    await api.push(token, "a", [obs("x")])
    _, cursor = await api.pull_all(token, "a")
    reply = await api.pull(token, "b", cursor)
    assert (reply.status, reply.body["error"]["code"]) == (400, "invalid_cursor")
    assert "another project" in reply.body["error"]["message"]


async def test_cursor_of_another_team_is_refused(api: Api) -> None:
    """A device that switched teams cannot reuse its old cursors by mistake."""
    acme = await api.token("acme", "alice")
    umbrella = await api.token("umbrella", "alice")
    await api.push(acme, "p", [obs("x")])
    _, cursor = await api.pull_all(acme, "p")
    reply = await api.pull(umbrella, "p", cursor)
    assert reply.status == 400


async def test_cursor_is_shared_by_members_of_a_team(api: Api) -> None:
    """A teammate's token accepts a cursor of the same team's project."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("x")])
    _, cursor = await api.pull_all(alice, "p")
    assert (await api.pull(bob, "p", cursor)).status == 200
