"""Versions, conflicts, tombstones and replayed pushes."""

from __future__ import annotations

from tests.conftest import Api, obs


async def test_stale_edit_is_a_conflict_with_the_server_version(api: Api) -> None:
    """An edit based on an older version is not applied; the response carries the server copy."""
    token = await api.token()
    await api.push(token, "p", [obs("a", content="v1")], device_id="A")
    await api.push(token, "p", [obs("a", content="v2 from B", base_version=1)], device_id="B")
    reply = await api.push(
        token, "p", [obs("a", content="v2 from A", base_version=1)], device_id="A"
    )
    assert (reply.body["synced"], reply.body["conflicts"]) == (0, 1)
    result = reply.body["results"][0]
    assert result["status"] == "conflict"
    assert result["version"] == 2
    assert result["server"]["content"] == "v2 from B"
    pulled, _ = await api.pull_all(token, "p")
    assert [o["content"] for o in pulled] == ["v2 from B"]


async def test_edit_identical_to_server_is_not_a_conflict(api: Api) -> None:
    """Two devices making the same edit do not conflict."""
    token = await api.token()
    await api.push(token, "p", [obs("a", content="v1")], device_id="A")
    await api.push(token, "p", [obs("a", content="same", base_version=1)], device_id="B")
    reply = await api.push(
        token,
        "p",
        [obs("a", content="same", base_version=1, updated_at="2030-01-01T00:00:00Z")],
        device_id="C",
    )
    assert (reply.body["synced"], reply.body["conflicts"]) == (1, 0)
    assert reply.body["results"][0]["status"] == "unchanged"


async def test_replayed_push_creates_no_duplicate_and_no_conflict(api: Api) -> None:
    """Sending the same push twice (lost response) stores each observation once."""
    token = await api.token()
    batch = [obs(f"r{i}") for i in range(20)]
    await api.push(token, "p", batch, device_id="A")
    second = await api.push(token, "p", batch, device_id="A")
    assert (second.body["synced"], second.body["conflicts"]) == (20, 0)
    assert {r["status"] for r in second.body["results"]} == {"unchanged"}
    pulled, _ = await api.pull_all(token, "p")
    assert sorted(o["sync_id"] for o in pulled) == sorted(o["sync_id"] for o in batch)


async def test_resend_after_lost_ack_with_a_newer_edit_is_not_a_conflict(api: Api) -> None:
    """A device that never saw its ack, and edited again, pushes over its own version."""
    token = await api.token()
    await api.push(token, "p", [obs("a", content="v1")], device_id="A")
    await api.push(token, "p", [obs("a", content="v2", base_version=1)], device_id="A")
    reply = await api.push(token, "p", [obs("a", content="v3", base_version=1)], device_id="A")
    assert (reply.body["synced"], reply.body["conflicts"]) == (1, 0)
    assert reply.body["results"][0]["version"] == 3


async def test_resend_over_another_devices_write_is_a_conflict(api: Api) -> None:
    """The lost-ack allowance never hides a teammate's edit."""
    token = await api.token()
    await api.push(token, "p", [obs("a", content="v1")], device_id="A")
    await api.push(token, "p", [obs("a", content="v2", base_version=1)], device_id="A")
    await api.push(token, "p", [obs("a", content="v3 by B", base_version=2)], device_id="B")
    reply = await api.push(token, "p", [obs("a", content="v2b", base_version=1)], device_id="A")
    assert reply.body["conflicts"] == 1


async def test_delete_is_a_tombstone_that_syncs(api: Api) -> None:
    """A delete is pulled as the observation with ``deleted_at`` set."""
    token = await api.token()
    await api.push(token, "p", [obs("a")])
    _, cursor = await api.pull_all(token, "p")
    reply = await api.push(
        token, "p", [obs("a", base_version=1, deleted_at="2025-02-01T00:00:00Z")]
    )
    assert reply.body["results"][0]["status"] == "updated"
    pulled, _ = await api.pull_all(token, "p", cursor)
    assert [(o["sync_id"], o["deleted_at"]) for o in pulled] == [("a", "2025-02-01T00:00:00Z")]


async def test_stale_edit_never_revives_a_tombstone(api: Api) -> None:
    """An edit based on the version before a delete is a conflict, and the row stays deleted."""
    token = await api.token()
    await api.push(token, "p", [obs("a")], device_id="A")
    await api.push(
        token, "p", [obs("a", base_version=1, deleted_at="2025-02-01T00:00:00Z")], device_id="A"
    )
    reply = await api.push(token, "p", [obs("a", content="edited", base_version=1)], device_id="B")
    assert reply.body["conflicts"] == 1
    assert reply.body["results"][0]["server"]["deleted_at"] == "2025-02-01T00:00:00Z"
    pulled, _ = await api.pull_all(token, "p")
    assert pulled[0]["deleted_at"] == "2025-02-01T00:00:00Z"


async def test_deliberate_undelete_based_on_tombstone_applies(api: Api) -> None:
    """A device that saw the delete may restore the observation."""
    token = await api.token()
    await api.push(token, "p", [obs("a")], device_id="A")
    await api.push(
        token, "p", [obs("a", base_version=1, deleted_at="2025-02-01T00:00:00Z")], device_id="A"
    )
    reply = await api.push(token, "p", [obs("a", content="back", base_version=2)], device_id="B")
    assert reply.body["results"][0]["status"] == "updated"
    pulled, _ = await api.pull_all(token, "p")
    assert (pulled[0]["deleted_at"], pulled[0]["version"]) == (None, 3)


async def test_wrong_clock_does_not_hide_an_edit(api: Api) -> None:
    """An edit stamped years in the past still reaches pullers after their cursor."""
    token = await api.token()
    await api.push(token, "p", [obs("a", updated_at="2030-01-01T00:00:00Z")])
    _, cursor = await api.pull_all(token, "p")
    await api.push(
        token,
        "p",
        [obs("a", content="late clock", base_version=1, updated_at="1999-01-01T00:00:00Z")],
    )
    pulled, _ = await api.pull_all(token, "p", cursor)
    assert [o["content"] for o in pulled] == ["late clock"]


async def test_mixed_batch_applies_the_rest_and_reports_conflicts(api: Api) -> None:
    """Conflicting changes are reported while the others in the batch are stored."""
    token = await api.token()
    await api.push(token, "p", [obs("a")], device_id="A")
    await api.push(token, "p", [obs("a", content="B's", base_version=1)], device_id="B")
    reply = await api.push(
        token, "p", [obs("a", content="A's", base_version=1), obs("n")], device_id="A"
    )
    assert (reply.body["synced"], reply.body["conflicts"]) == (1, 1)
    assert {r["sync_id"]: r["status"] for r in reply.body["results"]} == {
        "a": "conflict",
        "n": "inserted",
    }


async def test_update_without_created_at_keeps_the_creation_time(api: Api) -> None:
    """An edit that leaves created_at out does not move the observation's creation time."""
    token = await api.token()
    await api.push(token, "p", [obs("a", created_at="2024-01-01T00:00:00Z")])
    edit = obs("a", content="new", base_version=1, updated_at="2025-06-01T00:00:00Z")
    await api.push(token, "p", [edit])
    rows, _ = await api.pull_all(token, "p")
    assert (rows[0]["created_at"], rows[0]["updated_at"]) == (
        "2024-01-01T00:00:00Z",
        "2025-06-01T00:00:00Z",
    )


async def test_without_device_id_a_stale_edit_is_never_taken_for_a_resend(api: Api) -> None:
    """Two devices of one member that omit device_id cannot overwrite each other silently."""
    token = await api.token()
    await api.push(token, "p", [obs("a", content="v1")])
    await api.push(token, "p", [obs("a", content="laptop", base_version=1)])
    reply = await api.push(token, "p", [obs("a", content="desktop", base_version=1)])
    assert reply.body["conflicts"] == 1
    assert reply.body["results"][0]["server"]["content"] == "laptop"
