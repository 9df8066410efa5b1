"""GET /api/openapi.json describes the API as implemented: real responses validate against it."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from memento_syncd.core.cursor import encode_cursor
from tests.conftest import Api, obs


def _validator(doc: dict[str, Any], component: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> str:
    response = doc["paths"][path][method]["responses"][str(status)]
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


async def _doc(api: Api) -> dict[str, Any]:
    reply = await api.call("/api/openapi.json", None, method="GET")
    assert reply.status == 200
    body: dict[str, Any] = reply.body
    return body


async def test_document_lists_exactly_the_served_routes(api: Api) -> None:
    """Every route of the app is in the document and nothing else is."""
    doc = await _doc(api)
    assert doc["openapi"].startswith("3.1")
    served = {
        (route.resource.canonical, route.method.lower())
        for route in api.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == served


async def test_real_responses_validate_against_the_document(api: Api) -> None:
    """Push, pull (with conflicts, tombstones, personal scope) and health match their schemas."""
    doc = await _doc(api)
    token = await api.token()
    replies: list[tuple[str, str, int, Any]] = []
    first = await api.push(
        token, "p", [obs("a", topic_key="k"), obs("b", scope="personal")], device_id="A"
    )
    replies.append(("/api/sync/push", "post", first.status, first.body))
    await api.push(token, "p", [obs("a", content="B", base_version=1)], device_id="B")
    conflict = await api.push(
        token,
        "p",
        [obs("a", content="A", base_version=1), obs("c", deleted_at="2025-03-01T00:00:00Z")],
        device_id="A",
    )
    assert conflict.body["conflicts"] == 1
    replies.append(("/api/sync/push", "post", conflict.status, conflict.body))
    pulled = await api.pull(token, "p", limit=1)
    replies.append(("/api/sync/pull", "post", pulled.status, pulled.body))
    rest = await api.pull(token, "p", pulled.body["cursor"])
    replies.append(("/api/sync/pull", "post", rest.status, rest.body))
    health = await api.call("/api/health", None, method="GET")
    replies.append(("/api/health", "get", health.status, health.body))
    listed = await api.call("/api/sync/projects", token, method="GET")
    replies.append(("/api/sync/projects", "get", listed.status, listed.body))
    for path, method, status, body in replies:
        assert status == 200
        _validator(doc, _response_schema(doc, path, method, status)).validate(body)


async def test_error_responses_validate_against_the_document(api: Api) -> None:
    """401, 403, 409, 422 and 400 answers match the documented error schema."""
    doc = await _doc(api)
    alice = await api.token("acme", "alice")
    bob = await api.token("acme", "bob")
    await api.push(alice, "p", [obs("m", scope="personal")])
    errors = [
        (await api.pull("bogus", "p")),
        (await api.push(bob, "p", [obs("m")])),
        (await api.pull(alice, "p", cursor=encode_cursor("feedfacefeedface", "1\np", 5))),
        (await api.push(alice, "p", [{"sync_id": 5}])),
        (await api.call("/api/sync/pull", alice, raw=b"{")),
    ]
    assert [e.status for e in errors] == [401, 403, 409, 422, 400]
    for reply in errors:
        schema = _response_schema(doc, "/api/sync/pull", "post", reply.status)
        _validator(doc, schema).validate(reply.body)


async def test_request_schemas_accept_what_the_server_accepts(api: Api) -> None:
    """Requests that the server takes validate against the documented request schemas."""
    doc = await _doc(api)
    push_body = {
        "project_id": "p",
        "cursor": None,
        "device_id": "A",
        "observations": [obs("a", base_version=None, topic_key=None, scope="project")],
    }
    _validator(doc, "PushRequest").validate(push_body)
    _validator(doc, "PullRequest").validate({"project_id": "p", "cursor": None, "limit": 10})
    token = await api.token()
    assert (await api.call("/api/sync/push", token, push_body)).status == 200
