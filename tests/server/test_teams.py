"""Team isolation, personal scope and authentication."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from memento_syncd.core.hashing import content_hash
from memento_syncd.server.storage.sqlite import SQLiteStore
from memento_syncd.server.storage.sqlite_schema import MIGRATIONS
from tests.conftest import Api, obs


async def test_two_teams_with_the_same_project_never_see_each_other(api: Api) -> None:
    """Projects are namespaced per team."""
    acme = await api.token("acme", "alice")
    umbrella = await api.token("umbrella", "carol")
    await api.push(acme, "my-app", [obs("shared-id", content="acme secret")])
    await api.push(umbrella, "my-app", [obs("shared-id", content="umbrella secret")])
    acme_rows, _ = await api.pull_all(acme, "my-app")
    umbrella_rows, _ = await api.pull_all(umbrella, "my-app")
    assert [o["content"] for o in acme_rows] == ["acme secret"]
    assert [o["content"] for o in umbrella_rows] == ["umbrella secret"]


async def test_team_members_share_project_observations(api: Api) -> None:
    """What one member pushes, a teammate pulls."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("a")])
    rows, _ = await api.pull_all(bob, "p")
    assert [(o["sync_id"], o["author"]) for o in rows] == [("a", "alice")]


async def test_personal_observations_go_only_to_their_member(api: Api) -> None:
    """``scope: personal`` is returned only to the member who pushed it."""
    alice = await api.token("acme", "alice")
    alice_laptop = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("mine", scope="personal"), obs("team")])
    assert [o["sync_id"] for o in (await api.pull_all(bob, "p"))[0]] == ["team"]
    mine = [o["sync_id"] for o in (await api.pull_all(alice_laptop, "p"))[0]]
    assert mine == ["mine", "team"]


async def test_a_teammate_cannot_change_a_personal_observation(api: Api) -> None:
    """Pushing over another member's personal observation is 403 and writes nothing."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("mine", scope="personal", content="private")])
    reply = await api.push(bob, "p", [obs("new-one"), obs("mine", content="hijack")])
    assert reply.status == 403
    assert reply.body["error"]["code"] == "forbidden"
    assert reply.body["error"]["details"]["sync_id"] == "mine"
    rows, _ = await api.pull_all(alice, "p")
    assert [(o["sync_id"], o["content"]) for o in rows] == [("mine", "private")]


async def test_a_teammate_cannot_make_a_shared_observation_personal(api: Api) -> None:
    """Only the creator can take an observation out of the team's view."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("t")])
    reply = await api.push(bob, "p", [obs("t", scope="personal", base_version=1)])
    assert reply.status == 403


async def test_a_shared_observation_made_personal_reaches_teammates_as_a_withdrawal(
    api: Api,
) -> None:
    """When its owner makes a shared observation personal, a teammate's next pull gets it
    as a tombstone of the shared one, with no title, content or topic_key (never the
    personal text), the
    owner still gets it whole, and sharing it again brings it back to the teammate."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("s", content="for the team", topic_key="k")])
    _, bobs_cursor = await api.pull_all(bob, "p")
    made_personal = obs("s", content="mine alone now", scope="personal", base_version=1)
    assert (await api.push(alice, "p", [made_personal])).status == 200
    reply = await api.pull(bob, "p", bobs_cursor)
    (withdrawal,) = reply.body["observations"]
    assert "mine alone now" not in json.dumps(reply.body)
    # (Scope project: interfaces.md, a personal observation goes only to its owner.)
    assert (withdrawal["sync_id"], withdrawal["scope"], withdrawal["version"]) == (
        "s",
        "project",
        2,
    )
    assert (withdrawal["title"], withdrawal["content"], withdrawal["topic_key"]) == ("", "", None)
    assert withdrawal["content_hash"] == content_hash("")
    assert withdrawal["deleted_at"] == withdrawal["updated_at"]
    assert withdrawal["withdrawn"] is True
    rows, _ = await api.pull_all(alice, "p")
    assert [(o["content"], o["deleted_at"]) for o in rows] == [("mine alone now", None)]
    assert "withdrawn" not in rows[0]
    shared_again = obs("s", content="back to the team", scope="project", base_version=2)
    await api.push(alice, "p", [shared_again])
    rows, _ = await api.pull_all(bob, "p")
    assert [(o["content"], o["deleted_at"]) for o in rows] == [("back to the team", None)]


async def test_teammate_may_edit_a_shared_observation(api: Api) -> None:
    """Project-scope observations are editable by any member; the author stays the creator."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("t")])
    reply = await api.push(bob, "p", [obs("t", content="bob's edit", base_version=1)])
    assert reply.body["results"][0]["status"] == "updated"
    rows, _ = await api.pull_all(alice, "p")
    assert [(o["content"], o["author"]) for o in rows] == [("bob's edit", "alice")]


async def test_owner_may_make_a_personal_observation_shared(api: Api) -> None:
    """Turning a personal observation into a project one shares it from then on."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("m", scope="personal")])
    await api.push(alice, "p", [obs("m", scope="project", base_version=1)])
    assert [o["sync_id"] for o in (await api.pull_all(bob, "p"))[0]] == ["m"]


async def test_revoked_token_is_refused_at_once(api: Api) -> None:
    """After revocation the token gets 401."""
    token = await api.token()
    assert (await api.pull(token, "p")).status == 200
    assert await api.store.revoke_token(token, "2025-01-02T00:00:00Z")
    reply = await api.pull(token, "p")
    assert reply.status == 401
    assert reply.body["error"]["code"] == "unauthorized"


async def test_missing_and_malformed_tokens_are_401(api: Api) -> None:
    """No header, a wrong scheme, a garbled token and a forged secret are all 401."""
    token = await api.token()
    forged = token[: token.rindex("_") + 1] + "A" * 43
    for headers in (
        {},
        {"Authorization": f"Basic {token}"},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": "Bearer "},
    ):
        reply = await api.call("/api/sync/pull", None, {"project_id": "p"}, headers=headers)
        assert reply.status == 401, headers
        assert reply.body["error"]["code"] == "unauthorized"


async def test_projects_lists_the_teams_visible_projects(api: Api) -> None:
    """GET /api/sync/projects names the team's projects, hiding others' personal-only ones."""
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    other = await api.token("umbrella", "carol")
    await api.push(alice, "web", [obs("a")])
    await api.push(alice, "diary", [obs("d", scope="personal")])
    await api.push(other, "secret", [obs("s")])
    reply = await api.call("/api/sync/projects", bob, method="GET")
    assert (reply.status, reply.body) == (200, {"projects": ["web"]})
    mine = await api.call("/api/sync/projects", alice, method="GET")
    assert mine.body == {"projects": ["diary", "web"]}
    assert (await api.call("/api/sync/projects", None, method="GET")).status == 401


async def test_a_database_of_the_first_schema_learns_which_rows_were_shared(
    tmp_path: Path,
) -> None:
    """Opening a database written before the ``shared`` column marks its project-scope
    rows as shared and its personal ones as not (their past cannot be known)."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        for sync_id, scope in (("team-note", "project"), ("own-note", "personal")):
            conn.execute(
                "INSERT INTO observations VALUES (1, ?, 'p', 'note', 't', 'c', NULL, ?, ?,"
                " '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL, 1, 1, 1, 'w', NULL)",
                (sync_id, scope, content_hash("c")),
            )
    store = SQLiteStore(db)
    await store.open()
    await store.close()
    with sqlite3.connect(db) as conn:
        flags = dict(conn.execute("SELECT sync_id, shared FROM observations").fetchall())
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert flags == {"team-note": 1, "own-note": 0}
    assert version == len(MIGRATIONS)
