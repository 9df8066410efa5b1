"""Strict parsing of push and pull requests, and the wire form of observations."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from memento_syncd.core.errors import InvalidInput
from memento_syncd.core.hashing import content_hash
from memento_syncd.core.limits import Limits
from memento_syncd.core.wire import (
    WIRE_FIELDS,
    PullRequest,
    PushRequest,
    check_identifier,
    observation_to_wire,
    parse_pull_request,
    parse_push_request,
)
from tests.core.strategies import RELAXED, json_values, valid_text

LIMITS = Limits()
CONTENT = "We keep memory in SQLite because it is embedded."


def item(sync_id: str = "obs-1", **fields: Any) -> dict[str, Any]:
    """A minimal valid pushed observation; ``fields`` override or add keys."""
    base: dict[str, Any] = {
        "sync_id": sync_id,
        "type": "decision",
        "title": "Use SQLite",
        "content": CONTENT,
        "updated_at": "2025-01-15T10:30:00Z",
    }
    base.update(fields)
    return base


def full_item() -> dict[str, Any]:
    """A valid pushed observation with every field the wire knows."""
    return item(
        project="memento",
        topic_key="storage/engine",
        scope="personal",
        content_hash=content_hash(CONTENT),
        created_at="2025-01-14T09:00:00+02:00",
        deleted_at="2025-01-16T00:00:00.5Z",
        base_version=4,
    )


def push(*items: Any, **top: Any) -> dict[str, Any]:
    """A push body for project 'memento' holding ``items``; ``top`` overrides keys."""
    body: dict[str, Any] = {"project_id": "memento", "observations": list(items)}
    body.update(top)
    return body


def field_of(call: Callable[[], object]) -> str:
    """Run a parse expected to fail and return the field its InvalidInput names."""
    with pytest.raises(InvalidInput) as info:
        call()
    assert str(info.value) == (
        f"{info.value.field}: {info.value.message}" if info.value.field else info.value.message
    )
    return info.value.field


def push_field(body: object, limits: Limits = LIMITS) -> str:
    """The field named by the InvalidInput that parsing this push body raises."""
    return field_of(lambda: parse_push_request(body, limits))


def pull_field(body: object, limits: Limits = LIMITS) -> str:
    """The field named by the InvalidInput that parsing this pull body raises."""
    return field_of(lambda: parse_pull_request(body, limits))


# --- accepted push requests -------------------------------------------------------------


def test_minimal_push_gets_defaults() -> None:
    """Omitted fields default: project from project_id, scope 'project', created from updated."""
    request = parse_push_request(push(item()), LIMITS)
    assert request == PushRequest(
        cursor=None, project_id="memento", device_id="", changes=request.changes
    )
    (change,) = request.changes
    obs = change.observation
    assert obs.sync_id == "obs-1"
    assert obs.project == "memento"
    assert obs.type == "decision"
    assert obs.title == "Use SQLite"
    assert obs.content == CONTENT
    assert obs.topic_key is None
    assert obs.scope == "project"
    assert obs.content_hash == hashlib.sha256(CONTENT.encode()).hexdigest()
    assert obs.created_at == obs.updated_at == "2025-01-15T10:30:00Z"
    assert obs.deleted_at is None
    assert change.base_version is None
    assert change.created_at_sent is False


def test_full_push_keeps_every_field_and_normalizes_timestamps() -> None:
    """Every sent field is kept; timestamps come out as canonical UTC."""
    body = push(full_item(), device_id="laptop", cursor="c1.abc", client="memento 2.0")
    request = parse_push_request(body, LIMITS)
    assert (request.cursor, request.project_id, request.device_id) == (
        "c1.abc",
        "memento",
        "laptop",
    )
    (change,) = request.changes
    obs = change.observation
    assert obs.project == "memento"
    assert obs.topic_key == "storage/engine"
    assert obs.scope == "personal"
    assert obs.content_hash == content_hash(CONTENT)
    assert obs.created_at == "2025-01-14T07:00:00Z"
    assert obs.updated_at == "2025-01-15T10:30:00Z"
    assert obs.deleted_at == "2025-01-16T00:00:00.500000Z"
    assert change.base_version == 4
    assert change.created_at_sent is True


def test_explicit_nulls_mean_absent_for_optional_fields() -> None:
    """null topic_key, content_hash, created_at, deleted_at, base_version, device_id, cursor."""
    nulls: dict[str, Any] = dict.fromkeys(
        ["topic_key", "content_hash", "created_at", "deleted_at", "base_version"]
    )
    body = push(item(**nulls), device_id=None, cursor=None)
    request = parse_push_request(body, LIMITS)
    assert (request.device_id, request.cursor) == ("", None)
    (change,) = request.changes
    assert change.observation.topic_key is None
    assert change.observation.created_at == change.observation.updated_at
    assert change.observation.deleted_at is None
    assert change.base_version is None
    assert change.created_at_sent is False


def test_unknown_fields_are_ignored() -> None:
    """Fields this server does not know, at either level, are ignored."""
    plain = parse_push_request(push(item()), LIMITS)
    extra = parse_push_request(
        push(item(color="blue", nested={"x": [1]}), future_flag=True, version=2), LIMITS
    )
    assert extra == plain


def test_empty_batch_is_valid() -> None:
    """A push with no observations parses to no changes."""
    assert parse_push_request(push(), LIMITS).changes == ()


def test_order_of_changes_is_kept() -> None:
    """Changes come out in the order they were sent."""
    ids = [f"obs-{n}" for n in (3, 1, 2)]
    request = parse_push_request(push(*(item(i) for i in ids)), LIMITS)
    assert [c.observation.sync_id for c in request.changes] == ids


def test_text_fields_keep_newlines_and_control_characters() -> None:
    """Title, content and topic_key are free text: newlines, tabs and controls are kept."""
    text = "line 1\nline 2\t\x00\x1b end  "
    request = parse_push_request(push(item(title=text, content=text, topic_key=text)), LIMITS)
    obs = request.changes[0].observation
    assert (obs.title, obs.content, obs.topic_key) == (text, text, text)


def test_empty_title_and_content_are_valid() -> None:
    """Empty title and content are allowed (only identifiers must be non-empty)."""
    obs = parse_push_request(push(item(title="", content="")), LIMITS).changes[0].observation
    assert (obs.title, obs.content) == ("", "")
    assert obs.content_hash == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("base", [1, 2, 2**62])
def test_base_version_range(base: int) -> None:
    """base_version accepts integers from 1 to 2**62."""
    assert parse_push_request(push(item(base_version=base)), LIMITS).changes[0].base_version == base


def test_non_ascii_identifiers_are_valid() -> None:
    """Identifiers may be any printable Unicode without surrounding blanks."""
    body = push(item("obs-\u00e9\u4e2d", type="d\u00e9cision", project="m\u00e9mento"))
    body["project_id"] = "m\u00e9mento"
    obs = parse_push_request(body, LIMITS).changes[0].observation
    assert (obs.sync_id, obs.type, obs.project) == (
        "obs-\u00e9\u4e2d",
        "d\u00e9cision",
        "m\u00e9mento",
    )


# --- rejected push requests: the field is named -----------------------------------------


@pytest.mark.parametrize("body", [None, [], "text", 5, 1.5, True])
def test_body_must_be_an_object(body: object) -> None:
    """A body that is not a JSON object is rejected as 'body'."""
    assert push_field(body) == "body"


def test_project_id_is_required() -> None:
    """A push without project_id names it."""
    assert push_field({"observations": []}) == "project_id"


@pytest.mark.parametrize(
    "value", [None, 5, 1.5, True, [], {}, "", " memento", "memento ", "me\nmento", "a\x7fb"]
)
def test_project_id_must_be_an_identifier(value: object) -> None:
    """project_id must be a non-empty one-line string without surrounding blanks."""
    assert push_field(push(project_id=value)) == "project_id"


@pytest.mark.parametrize("value", [None, {}, "[]", 5, True])
def test_observations_must_be_an_array(value: object) -> None:
    """observations is required and must be an array."""
    body = push()
    body["observations"] = value
    assert push_field(body) == "observations"
    del body["observations"]
    assert push_field(body) == "observations"


@pytest.mark.parametrize(("key", "value"), [("device_id", 5), ("device_id", ""), ("cursor", 5)])
def test_top_level_optional_fields_have_types(key: str, value: object) -> None:
    """device_id must be an identifier and cursor a string when present."""
    assert push_field(push(**{key: value})) == key


def test_cursor_length_is_limited() -> None:
    """A cursor over 200 characters is rejected before decoding."""
    assert parse_push_request(push(cursor="c" * 200), LIMITS).cursor == "c" * 200
    assert push_field(push(cursor="c" * 201)) == "cursor"


@pytest.mark.parametrize("value", [None, [], "obs", 5])
def test_each_observation_must_be_an_object(value: object) -> None:
    """An array element that is not an object is named by its index."""
    assert push_field(push(item("a"), value)) == "observations[1]"


@pytest.mark.parametrize("key", ["sync_id", "type", "title", "content", "updated_at"])
def test_required_observation_fields(key: str) -> None:
    """Each required observation field, when missing, is named with its index."""
    broken = item()
    del broken[key]
    assert push_field(push(item("a"), item("b"), broken)) == f"observations[2].{key}"


WRONG_VALUES: list[tuple[str, object]] = [
    ("sync_id", 5),
    ("sync_id", None),
    ("sync_id", ""),
    ("sync_id", " obs"),
    ("sync_id", "obs\t1"),
    ("type", []),
    ("type", None),
    ("type", "two\nlines"),
    ("project", 5),
    ("project", "other"),
    ("project", ""),
    ("title", None),
    ("title", 5),
    ("title", ["Use SQLite"]),
    ("content", None),
    ("content", {"text": "x"}),
    ("content", 1.5),
    ("topic_key", 5),
    ("topic_key", False),
    ("scope", "global"),
    ("scope", "Project"),
    ("scope", 1),
    ("scope", ["project"]),
    ("content_hash", "0" * 64),
    ("content_hash", content_hash(CONTENT).upper()),
    ("content_hash", 5),
    ("content_hash", ""),
    ("updated_at", None),
    ("updated_at", 1736937000),
    ("updated_at", "yesterday"),
    ("updated_at", "2025-13-01T00:00:00Z"),
    ("updated_at", "2025-01-15T10:30:00+25:00"),
    ("updated_at", "2025-01-15T10:30:00Z" + " " * 50),
    ("created_at", 5),
    ("created_at", "2025-02-30T00:00:00Z"),
    ("deleted_at", True),
    ("deleted_at", "deleted"),
    ("base_version", "3"),
    ("base_version", 3.0),
    ("base_version", True),
    ("base_version", 0),
    ("base_version", -1),
    ("base_version", 2**62 + 1),
    ("base_version", [3]),
]


def test_a_null_project_or_scope_takes_the_default_as_an_absent_one_does() -> None:
    """``"project": null`` is the request's project and ``"scope": null`` is 'project', as
    when the field is left out (as for the other optional fields, null means not given)."""
    second = item("b")
    second["project"] = None
    second["scope"] = None
    changes = parse_push_request(push(item("a"), second), LIMITS).changes
    assert (changes[1].observation.project, changes[1].observation.scope) == ("memento", "project")


@pytest.mark.parametrize(("key", "value"), WRONG_VALUES)
def test_wrong_observation_values_name_their_field(key: str, value: object) -> None:
    """A wrong type or value in one observation field names exactly that field."""
    second = item("b")
    second[key] = value
    assert push_field(push(item("a"), second)) == f"observations[1].{key}"


def test_type_error_message_names_json_types() -> None:
    """Type errors say what JSON type arrived."""
    cases: list[tuple[object, str]] = [
        (None, "null"),
        ([], "array"),
        ({}, "object"),
        (True, "boolean"),
    ]
    for value, name in cases:
        with pytest.raises(InvalidInput, match=f"not {name}"):
            parse_push_request(push(item(title=value)), LIMITS)
    with pytest.raises(InvalidInput, match="not integer"):
        parse_push_request(push(item(content=5)), LIMITS)
    with pytest.raises(InvalidInput, match="not number"):
        parse_push_request(push(item(content=5.5)), LIMITS)
    with pytest.raises(InvalidInput, match="not string"):
        parse_push_request(push(item(base_version="2")), LIMITS)


def test_duplicate_sync_id_names_the_second() -> None:
    """A sync_id sent twice in one push names the later occurrence."""
    assert push_field(push(item("a"), item("b"), item("a"))) == "observations[2].sync_id"


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("item", "sync_id"),
        ("item", "type"),
        ("item", "project"),
        ("item", "title"),
        ("item", "content"),
        ("item", "topic_key"),
        ("top", "project_id"),
        ("top", "device_id"),
        ("top", "cursor"),
    ],
)
def test_lone_surrogates_are_rejected(where: str, key: str) -> None:
    """A string with a lone surrogate (not encodable as UTF-8) is rejected naming its field."""
    bad = "abc\ud800def"
    if where == "item":
        body = push(item(**{key: bad}))
        if key == "project":
            body["project_id"] = bad
            assert push_field(body) == "project_id"
            return
        assert push_field(body) == f"observations[0].{key}"
    else:
        assert push_field(push(item(), **{key: bad})) == key


# --- limits ------------------------------------------------------------------------------


def test_batch_length_limit() -> None:
    """max_batch observations are accepted; one more is rejected as 'observations'."""
    small = Limits(max_batch=3)
    assert len(parse_push_request(push(*(item(f"o{n}") for n in range(3))), small).changes) == 3
    assert push_field(push(*(item(f"o{n}") for n in range(4))), small) == "observations"


def test_batch_limit_is_checked_before_items() -> None:
    """An oversize batch is refused before any element is looked at."""
    assert push_field(push(*([None] * 11)), Limits(max_batch=10)) == "observations"


def test_title_length_limit() -> None:
    """max_title_chars characters of title are fine; one more names the title."""
    small = Limits(max_title_chars=10)
    assert parse_push_request(push(item(title="\u00e9" * 10)), small).changes[0].observation.title
    assert push_field(push(item(title="t" * 11)), small) == "observations[0].title"


def test_topic_key_length_limit() -> None:
    """max_topic_key_chars characters of topic_key are fine; one more names the topic_key."""
    small = Limits(max_topic_key_chars=5)
    assert parse_push_request(push(item(topic_key="k" * 5)), small).changes
    assert push_field(push(item(topic_key="k" * 6)), small) == "observations[0].topic_key"


@pytest.mark.parametrize("key", ["sync_id", "type"])
def test_identifier_length_limit(key: str) -> None:
    """Identifiers longer than max_identifier_chars are rejected naming the field."""
    small = Limits(max_identifier_chars=8)
    assert parse_push_request(push(item(**{key: "x" * 8})), small).changes
    assert push_field(push(item(**{key: "x" * 9})), small) == f"observations[0].{key}"
    assert push_field(push(project_id="p" * 9), small) == "project_id"


def test_observation_size_counts_content_and_title_bytes() -> None:
    """Content plus title may total max_observation_bytes UTF-8 bytes, not one more."""
    small = Limits(max_observation_bytes=100)
    assert parse_push_request(push(item(content="a" * 90, title="t" * 10)), small).changes
    assert push_field(push(item(content="a" * 90, title="t" * 11)), small) == "observations[0]"


def test_observation_size_is_in_bytes_not_characters() -> None:
    """Multi-byte content under the limit in characters but over it in bytes is rejected."""
    small = Limits(max_observation_bytes=100)
    assert push_field(push(item(content="\u20ac" * 40, title="")), small) == "observations[0]"
    assert push_field(push(item(content="a" * 101, title="")), small) == "observations[0].content"


def test_observation_size_includes_topic_key() -> None:
    """topic_key counts toward the observation size."""
    small = Limits(max_observation_bytes=100)
    assert push_field(push(item(content="a" * 95, title="", topic_key="k" * 6)), small) == (
        "observations[0]"
    )


def test_observation_size_counts_topic_key_bytes() -> None:
    """A topic_key of multi-byte characters counts its UTF-8 bytes toward the size limit."""
    small = Limits(max_observation_bytes=100)
    body = push(item(content="a" * 60, title="", topic_key="\u20ac" * 20))  # 60 + 60 bytes
    assert push_field(body, small) == "observations[0]"


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_out_of_range_timestamp_is_invalid_input(stamp: str) -> None:
    """A timestamp whose UTC instant is out of range is InvalidInput naming the field."""
    assert push_field(push(item(updated_at=stamp))) == "observations[0].updated_at"


def test_early_year_timestamp_survives_a_round_trip() -> None:
    """A timestamp in year 999 is stored in a form that can be pushed back unchanged."""
    obs = parse_push_request(push(item(updated_at="0999-06-01T00:00:00Z")), LIMITS)
    wire = observation_to_wire(obs.changes[0].observation)
    assert wire["updated_at"] == "0999-06-01T00:00:00Z"
    assert parse_push_request(push(wire), LIMITS).changes[0].observation.updated_at == (
        "0999-06-01T00:00:00Z"
    )


# --- pull requests -----------------------------------------------------------------------


def test_pull_defaults() -> None:
    """A pull without cursor or limit starts at the beginning with the default page size."""
    assert parse_pull_request({"project_id": "memento"}, LIMITS) == PullRequest(
        cursor=None, project_id="memento", limit=LIMITS.default_page
    )


def test_pull_keeps_cursor_and_limit_and_ignores_unknown_fields() -> None:
    """A pull's cursor and limit are kept; unknown fields are ignored."""
    request = parse_pull_request(
        {"project_id": "memento", "cursor": "c1.x", "limit": 7, "since": "yesterday"}, LIMITS
    )
    assert request == PullRequest(cursor="c1.x", project_id="memento", limit=7)


@pytest.mark.parametrize(
    ("asked", "given_"), [(1, 1), (50, 50), (100, 100), (101, 100), (10**12, 100), (2**62, 100)]
)
def test_pull_limit_is_clamped_to_max_page(asked: int, given_: int) -> None:
    """A limit above max_page is lowered to it, not rejected."""
    small = Limits(max_page=100, default_page=20)
    assert parse_pull_request({"project_id": "p", "limit": asked}, small).limit == given_


def test_pull_null_limit_means_default() -> None:
    """An explicit null limit gets the default page size."""
    small = Limits(max_page=100, default_page=20)
    assert parse_pull_request({"project_id": "p", "limit": None}, small).limit == 20


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"),
        ([], "body"),
        ("memento", "body"),
        ({}, "project_id"),
        ({"project_id": None}, "project_id"),
        ({"project_id": 7}, "project_id"),
        ({"project_id": ""}, "project_id"),
        ({"project_id": "p\ud800"}, "project_id"),
        ({"project_id": "p", "limit": 0}, "limit"),
        ({"project_id": "p", "limit": -5}, "limit"),
        ({"project_id": "p", "limit": "10"}, "limit"),
        ({"project_id": "p", "limit": 10.0}, "limit"),
        ({"project_id": "p", "limit": True}, "limit"),
        ({"project_id": "p", "limit": 2**62 + 1}, "limit"),
        ({"project_id": "p", "cursor": 5}, "cursor"),
        ({"project_id": "p", "cursor": ["c1.x"]}, "cursor"),
        ({"project_id": "p", "cursor": "c" * 201}, "cursor"),
        ({"project_id": "p", "cursor": "c1.\udfff"}, "cursor"),
    ],
)
def test_pull_rejections_name_the_field(body: object, field: str) -> None:
    """Each wrong pull field is named in the InvalidInput."""
    assert pull_field(body) == field


# --- identifiers and the wire form ------------------------------------------------------


def test_check_identifier_is_the_api_rule() -> None:
    """check_identifier accepts names and rejects blanks, controls and overlong text."""
    assert check_identifier("acme", "team") == "acme"
    for bad in ["", " acme", "acme\n", "ac\u0085me", "x" * 201, 5, None]:
        with pytest.raises(InvalidInput) as info:
            check_identifier(bad, "team")
        assert info.value.field == "team"
    assert check_identifier("x" * 10, "team", max_chars=10) == "x" * 10


def test_observation_to_wire_has_exactly_the_wire_fields() -> None:
    """The wire object of an observation has every wire field and nothing else."""
    obs = parse_push_request(push(full_item()), LIMITS).changes[0].observation
    wire = observation_to_wire(obs)
    assert tuple(wire) == WIRE_FIELDS
    assert wire["created_at"] == "2025-01-14T07:00:00Z"
    assert wire["content_hash"] == content_hash(CONTENT)
    assert json.loads(json.dumps(wire)) == wire


# --- properties ----------------------------------------------------------------------------

titles = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)


@RELAXED
@given(content=valid_text, title=titles)
@example(content="", title="")
@example(content="\x00\r\n\u2028\ufeff\U0010ffff\u0301", title="\U0001f600")
def test_any_valid_text_round_trips_byte_for_byte(content: str, title: str) -> None:
    """Any UTF-8-encodable content parses and comes back out of the wire form unchanged."""
    body = json.loads(json.dumps(push(item(content=content, title=title))))
    obs = parse_push_request(body, LIMITS).changes[0].observation
    wire = json.loads(json.dumps(observation_to_wire(obs), ensure_ascii=False))
    assert wire["content"].encode("utf-8") == content.encode("utf-8")
    assert wire["title"] == title
    assert wire["content_hash"] == hashlib.sha256(content.encode("utf-8")).hexdigest()


@RELAXED
@given(content=valid_text, topic=st.one_of(st.none(), titles), personal=st.booleans())
def test_wire_form_reparses_to_the_same_observation(
    content: str, topic: str | None, personal: bool
) -> None:
    """Pushing an observation's own wire form parses back to an equal observation."""
    fields: dict[str, Any] = {"topic_key": topic, "scope": "personal" if personal else "project"}
    first = parse_push_request(push(item(content=content, **fields)), LIMITS)
    obs = first.changes[0].observation
    again = parse_push_request(push(observation_to_wire(obs)), LIMITS)
    assert again.changes[0].observation == obs


def _rejected_field(body: object) -> str | None:
    """Parse a push body; the field its InvalidInput names, or None if it parsed."""
    try:
        parse_push_request(body, LIMITS)
    except InvalidInput as exc:
        return exc.field
    return None


def _parse_any(body: object) -> None:
    """Parse a push body that may be rejected, but only ever with InvalidInput naming a field."""
    field = _rejected_field(body)
    assert field is None or isinstance(field, str)


@RELAXED
@given(json_values)
def test_push_on_arbitrary_json_raises_only_invalid_input(body: object) -> None:
    """Any JSON value either parses or raises InvalidInput; nothing else escapes."""
    _parse_any(body)


@RELAXED
@given(st.dictionaries(st.sampled_from(["project_id", "observations", "x"]), json_values))
def test_push_on_arbitrary_objects_raises_only_invalid_input(body: dict[str, Any]) -> None:
    """Objects with the right keys but arbitrary values parse or raise InvalidInput."""
    _parse_any(body)


@RELAXED
@given(json_values)
def test_pull_on_arbitrary_json_raises_only_invalid_input(body: object) -> None:
    """Any JSON value either parses as a pull or raises InvalidInput."""
    for candidate in (body, {"project_id": "p", "limit": body, "cursor": body}):
        with contextlib.suppress(InvalidInput):
            parse_pull_request(candidate, LIMITS)


TOP_KEYS = ["project_id", "observations", "device_id", "cursor", "unknown"]
ITEM_KEYS = [*WIRE_FIELDS, "base_version", "unknown"]


def _valid_request() -> dict[str, Any]:
    """A valid push using every top-level and observation field."""
    return push(full_item(), item("obs-2"), device_id="laptop", cursor="c1.abc")


@RELAXED
@pytest.mark.parametrize("key", TOP_KEYS)
@given(value=json_values, remove=st.booleans())
def test_mutating_a_top_level_field_raises_only_invalid_input(
    key: str, value: object, remove: bool
) -> None:
    """Replacing or removing one top-level field of a valid push parses or is InvalidInput."""
    body = _valid_request()
    if remove:
        body.pop(key, None)
    else:
        body[key] = value
    _parse_any(body)


@RELAXED
@pytest.mark.parametrize("key", ITEM_KEYS)
@given(value=json_values, remove=st.booleans())
def test_mutating_an_observation_field_raises_only_invalid_input(
    key: str, value: object, remove: bool
) -> None:
    """Replacing or removing one observation field fails, if at all, inside that observation."""
    body = _valid_request()
    target = body["observations"][0]
    if remove:
        target.pop(key, None)
    else:
        target[key] = value
    field = _rejected_field(body)
    assert field is None or field.startswith("observations[0]")


TYPE_RULES: dict[str, Callable[[object], bool]] = {
    "sync_id": lambda v: isinstance(v, str),
    "type": lambda v: isinstance(v, str),
    "project": lambda v: v is None or isinstance(v, str),
    "title": lambda v: isinstance(v, str),
    "content": lambda v: isinstance(v, str),
    "topic_key": lambda v: v is None or isinstance(v, str),
    "updated_at": lambda v: isinstance(v, str),
    "created_at": lambda v: v is None or isinstance(v, str),
    "deleted_at": lambda v: v is None or isinstance(v, str),
    "scope": lambda v: v is None or v in ("project", "personal"),
    "base_version": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
}


@RELAXED
@pytest.mark.parametrize("key", sorted(TYPE_RULES))
@given(value=json_values)
def test_wrong_json_type_names_exactly_the_field(key: str, value: object) -> None:
    """A value of the wrong JSON type in one observation field is InvalidInput naming it."""
    if TYPE_RULES[key](value):
        return
    body = _valid_request()
    body["observations"][1][key] = copy.deepcopy(value)
    assert push_field(body) == f"observations[1].{key}"


@RELAXED
@pytest.mark.parametrize("key", ["project_id", "observations", "device_id", "cursor"])
@given(value=json_values)
def test_wrong_top_level_json_type_names_exactly_the_field(key: str, value: object) -> None:
    """A value of the wrong JSON type in a top-level field is InvalidInput naming it."""
    allowed: dict[str, Callable[[object], bool]] = {
        "project_id": lambda v: isinstance(v, str),
        "observations": lambda v: isinstance(v, list),
        "device_id": lambda v: v is None or isinstance(v, str),
        "cursor": lambda v: v is None or isinstance(v, str),
    }
    if allowed[key](value):
        return
    body = _valid_request()
    body[key] = value
    assert push_field(body) == key
