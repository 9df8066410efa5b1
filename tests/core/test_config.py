"""Parsing and validation of the ``sync`` section of config.json."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from memento_syncd.core.config import (
    MISSING,
    STRATEGIES,
    SYNC_KEYS,
    ConfigError,
    ProjectConfig,
    SyncConfig,
    parse_config,
)
from tests.core.strategies import RELAXED, json_values

PATH = "/home/ann/.memento/config.json"


def outcome(text: str) -> SyncConfig | ConfigError:
    """The config parsed from ``text``, or the ConfigError it raised."""
    try:
        return parse_config(text, PATH)
    except ConfigError as error:
        return error


def sync(**section: Any) -> str:
    """The text of a config file whose ``sync`` section holds ``section``."""
    return json.dumps({"sync": section})


def test_defaults_match_the_contract() -> None:
    """An absent section means: disabled, last_write_wins, auto pull every 300 s at 0.85."""
    config = SyncConfig()
    assert config.enabled is None
    assert config.server_url is None
    assert config.conflict_strategy == "last_write_wins"
    assert config.auto_pull is True
    assert config.pull_interval_seconds == 300
    assert config.similarity_threshold == 0.85
    assert dict(config.projects) == {}
    assert config.socket_path is None
    assert config.realtime is True
    assert config.push_batch_size == 500
    assert config.unknown_keys == ()


@pytest.mark.parametrize(
    "text", ["", "  \n\t", "\ufeff", "{}", '{"theme": "dark"}', '\ufeff{"sync": {}}']
)
def test_empty_file_or_missing_section_gives_defaults(text: str) -> None:
    """An empty file, a bare BOM, ``{}`` or a file without ``sync`` all mean the defaults."""
    assert parse_config(text, PATH) == SyncConfig()


def test_the_documented_example_parses() -> None:
    """The example of the interfaces contract, section 3, parses to what it says."""
    text = """{
      "sync": {
        "enabled": true,
        "server_url": "http://127.0.0.1:8765",
        "conflict_strategy": "last_write_wins",
        "auto_pull": true,
        "pull_interval_seconds": 300,
        "similarity_threshold": 0.85,
        "projects": { "my-app": { "conflict_strategy": "manual" } }
      }
    }"""
    config = parse_config(text, PATH)
    assert config.enabled is True
    assert config.server_url == "http://127.0.0.1:8765"
    assert config.pull_interval_seconds == 300.0
    assert isinstance(config.pull_interval_seconds, float)
    assert config.projects == {"my-app": ProjectConfig("manual")}
    assert config.unknown_keys == ()


def test_every_key_can_be_set() -> None:
    """Each documented key, given a valid non-default value, is taken as given."""
    config = parse_config(
        sync(
            enabled=True,
            server_url="https://sync.example.com/memento/",
            conflict_strategy="merge",
            auto_pull=False,
            pull_interval_seconds=0.5,
            similarity_threshold=1,
            projects={},
            socket_path="~/run/syncd.sock",
            realtime=False,
            push_batch_size=1000,
        ),
        PATH,
    )
    assert config == SyncConfig(
        enabled=True,
        server_url="https://sync.example.com/memento",
        conflict_strategy="merge",
        auto_pull=False,
        pull_interval_seconds=0.5,
        similarity_threshold=1.0,
        socket_path="~/run/syncd.sock",
        realtime=False,
        push_batch_size=1000,
    )


def test_null_means_the_default_where_the_default_is_null() -> None:
    """``server_url``, ``socket_path`` and a project's strategy accept null as "not set"."""
    text = sync(server_url=None, socket_path=None, projects={"a": {"conflict_strategy": None}})
    config = parse_config(text, PATH)
    assert config.server_url is None
    assert config.socket_path is None
    assert config.strategy_for("a") == "last_write_wins"


def test_strategy_per_project() -> None:
    """A project's own strategy wins; other projects, or one without its own, get the global."""
    text = sync(
        conflict_strategy="merge",
        projects={"my-app": {"conflict_strategy": "manual"}, "docs": {}},
    )
    config = parse_config(text, PATH)
    assert config.strategy_for("my-app") == "manual"
    assert config.strategy_for("docs") == "merge"
    assert config.strategy_for("elsewhere") == "merge"


def test_strategy_names_are_those_of_the_conflicts_module() -> None:
    """Every accepted name converts to ``Strategy`` and every ``Strategy`` is accepted."""
    from memento_syncd.core.conflicts import Strategy

    assert set(STRATEGIES) == {member.value for member in Strategy}


def test_unknown_keys_are_kept_aside() -> None:
    """Unknown sync and project keys are listed, not fatal; other top-level keys are ignored."""
    text = json.dumps(
        {
            "theme": "dark",
            "sync": {"enabled": True, "pul_interval": 5, "projects": {"a": {"colour": 1}}},
            "editor": {"enabled": "yes"},
        }
    )
    config = parse_config(text, PATH)
    assert config.enabled is True
    assert config.unknown_keys == ("sync.pul_interval", "sync.projects.a.colour")


def test_projects_are_read_only() -> None:
    """The parsed projects mapping cannot be changed behind the frozen config's back."""
    config = parse_config(sync(projects={"a": {}}), PATH)
    with pytest.raises(TypeError):
        config.projects["b"] = ProjectConfig()  # type: ignore[index]


# The text of the file, the key and value the error names, and the value as the message
# shows it: the JSON text (null, true, "text"), not Python's repr.
BAD_CONFIGS: list[tuple[str, str, object, str]] = [
    ("[1, 2]", "(top level)", [1, 2], "[1, 2]"),
    ('"sync"', "(top level)", "sync", '"sync"'),
    ("null", "(top level)", None, "null"),
    ('{"sync": [true]}', "sync", [True], "[true]"),
    ('{"sync": null}', "sync", None, "null"),
    ('{"sync": "on"}', "sync", "on", '"on"'),
    (sync(enabled=1), "sync.enabled", 1, "1"),
    (sync(enabled="true"), "sync.enabled", "true", '"true"'),
    (sync(auto_pull=None), "sync.auto_pull", None, "null"),
    (sync(realtime=0), "sync.realtime", 0, "0"),
    (
        sync(server_url="ftp://example.com"),
        "sync.server_url",
        "ftp://example.com",
        '"ftp://example.com"',
    ),
    (
        sync(server_url="example.com:8765"),
        "sync.server_url",
        "example.com:8765",
        '"example.com:8765"',
    ),
    (sync(server_url="http://"), "sync.server_url", "http://", '"http://"'),
    (sync(server_url="http://h:99999"), "sync.server_url", "http://h:99999", '"http://h:99999"'),
    (sync(server_url="http://a b"), "sync.server_url", "http://a b", '"http://a b"'),
    (sync(server_url="https://u:p@h"), "sync.server_url", "https://u:p@h", '"https://u:p@h"'),
    (sync(server_url=8765), "sync.server_url", 8765, "8765"),
    (sync(server_url={"host": "h"}), "sync.server_url", {"host": "h"}, '{"host": "h"}'),
    (sync(conflict_strategy="newest"), "sync.conflict_strategy", "newest", '"newest"'),
    (sync(conflict_strategy=["merge"]), "sync.conflict_strategy", ["merge"], '["merge"]'),
    (sync(conflict_strategy="dernière"), "sync.conflict_strategy", "dernière", '"dernière"'),
    (sync(conflict_strategy='a "b"'), "sync.conflict_strategy", 'a "b"', '"a \\"b\\""'),
    (sync(pull_interval_seconds=-5), "sync.pull_interval_seconds", -5, "-5"),
    (sync(pull_interval_seconds=0), "sync.pull_interval_seconds", 0, "0"),
    (sync(pull_interval_seconds=True), "sync.pull_interval_seconds", True, "true"),
    (sync(pull_interval_seconds=False), "sync.pull_interval_seconds", False, "false"),
    (sync(pull_interval_seconds=None), "sync.pull_interval_seconds", None, "null"),
    (sync(pull_interval_seconds="300"), "sync.pull_interval_seconds", "300", '"300"'),
    (sync(pull_interval_seconds=604801), "sync.pull_interval_seconds", 604801, "604801"),
    (
        '{"sync": {"pull_interval_seconds": 1e999}}',
        "sync.pull_interval_seconds",
        float("inf"),
        "Infinity",
    ),
    (sync(similarity_threshold=0), "sync.similarity_threshold", 0, "0"),
    (sync(similarity_threshold=1.5), "sync.similarity_threshold", 1.5, "1.5"),
    (sync(push_batch_size=0), "sync.push_batch_size", 0, "0"),
    (sync(push_batch_size=1001), "sync.push_batch_size", 1001, "1001"),
    (sync(push_batch_size=10.0), "sync.push_batch_size", 10.0, "10.0"),
    (sync(socket_path=""), "sync.socket_path", "", '""'),
    (sync(projects=["my-app"]), "sync.projects", ["my-app"], '["my-app"]'),
    (sync(projects={"my-app": "manual"}), "sync.projects.my-app", "manual", '"manual"'),
    (
        sync(projects={"my-app": {"conflict_strategy": "lww"}}),
        "sync.projects.my-app.conflict_strategy",
        "lww",
        '"lww"',
    ),
    (sync(projects={" app": {}}), 'sync.projects[" app"]', " app", '" app"'),
]


@pytest.mark.parametrize(("text", "key", "value", "shown"), BAD_CONFIGS)
def test_bad_config_names_file_key_and_value(
    text: str, key: str, value: object, shown: str
) -> None:
    """Each fault raises one ConfigError whose single line names the file, the key and the
    value written as JSON text."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, PATH)
    error = caught.value
    assert (error.path, error.key) == (PATH, key)
    assert error.value == value
    line = str(error)
    assert line == f"{PATH}: {key} = {shown}: {error.message}"
    assert "\n" not in line


def test_unknown_strategy_lists_the_valid_ones() -> None:
    """The error for an unknown strategy names every accepted strategy."""
    with pytest.raises(ConfigError, match="last_write_wins, merge, manual"):
        parse_config(sync(conflict_strategy="newest"), PATH)


def test_json_error_gives_the_position_and_the_text_there() -> None:
    """Malformed JSON is reported with its line and column and the text around them."""
    with pytest.raises(ConfigError, match="line 3 column 15") as caught:
        parse_config('{\n  "sync": {\n    "enabled" true\n  }\n}', PATH)
    assert caught.value.key == "(file)"
    assert caught.value.value is MISSING
    assert str(caught.value) == (
        f"{PATH}: (file): not valid JSON: Expecting ':' delimiter at line 3 column 15,"
        ' near: c": {\\n    "enabled" true\\n  }\\n}'
    )


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ('{"sync": {"similarity_threshold": NaN}}', "sync.similarity_threshold", "NaN"),
        ('{"sync": {"pull_interval_seconds": Infinity}}', "sync.pull_interval_seconds", "Infinity"),
        ('{"a": -Infinity}', "a", "-Infinity"),
        ('{"my app": [1, {"b": NaN}]}', '["my app"][1].b', "NaN"),
        ('{"sync": {"projects": {"x.y": {"k": NaN}}}}', 'sync.projects["x.y"].k', "NaN"),
        ("[0, NaN]", "[1]", "NaN"),
        ("NaN", "(top level)", "NaN"),
        ('{"a": 1, "b": NaN, "c": Infinity}', "b", "NaN"),
        ('{"a": NaN, "a": 1}', "(file)", "NaN"),  # replaced by a duplicate key, still not JSON
    ],
)
def test_non_standard_constants_are_named_by_key(text: str, key: str, shown: str) -> None:
    """NaN and Infinity, which Python's json reads but JSON has not, are refused naming the
    key that holds the first of them and what to write instead."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, PATH)
    error = caught.value
    assert error.key == key
    assert isinstance(error.value, float)
    assert not math.isfinite(error.value)
    assert str(error) == (
        f"{PATH}: {key} = {shown}: not valid JSON (it has no NaN or Infinity);"
        " write a finite number"
    )


def test_deep_nesting_and_huge_numbers_are_config_errors() -> None:
    """Nesting past the recursion limit and integers past the digit limit are not crashes."""
    for text in ["[" * 100_000, '{"a": ' + "9" * 5000 + "}"]:
        with pytest.raises(ConfigError):
            parse_config(text, PATH)


def test_long_values_are_shortened_and_controls_escaped() -> None:
    """A long bad value is cut in the message; a project name with a newline stays on one line."""
    with pytest.raises(ConfigError) as caught:
        parse_config(sync(conflict_strategy="x" * 500), PATH)
    assert "x" * 100 not in str(caught.value)
    assert "..." in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config(sync(projects={"a\nb": {"conflict_strategy": "no"}}), PATH)
    assert "\n" not in str(caught.value)


def test_a_long_value_is_cut_json_text() -> None:
    """A long array is shown as the start of its JSON text (null, true), cut at 60 characters."""
    with pytest.raises(ConfigError) as caught:
        parse_config(sync(push_batch_size=[None, True] * 50_000), PATH)
    assert str(caught.value) == (
        f"{PATH}: sync.push_batch_size = [null, true, null, true, null, true, null, true,"
        " null, tr...: must be an integer, not array"
    )


def test_a_value_with_line_breaking_or_unprintable_characters_stays_one_line() -> None:
    """C1 controls, Unicode line separators and lone surrogates in a value are shown as JSON
    escapes, so the message is one printable line."""
    with pytest.raises(ConfigError) as caught:
        parse_config(sync(conflict_strategy="a\nb\x85c\u2028d\ud800é"), PATH)
    line = str(caught.value)
    assert line.startswith(
        f'{PATH}: sync.conflict_strategy = "a\\nb\\u0085c\\u2028d\\ud800é": must be one of '
    )
    assert len(line.splitlines()) == 1
    line.encode("utf-8")  # printable: no lone surrogate left


sync_sections = st.dictionaries(
    st.one_of(st.sampled_from(SYNC_KEYS), st.text(max_size=8)),
    st.one_of(
        json_values,
        st.sampled_from([*STRATEGIES, "http://h", "https://h:1/x", 0.5, 300, 1000]),
        st.dictionaries(
            st.text(max_size=8), st.dictionaries(st.just("conflict_strategy"), json_values)
        ),
    ),
    max_size=6,
)


@RELAXED
@given(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet=st.sampled_from('{}[]",:0123456789.eE+-truefalsnNI \n\\u'), max_size=60),
    )
)
@example("[" * 5000)
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    """Whatever the file holds, parsing returns a config or raises ConfigError, nothing else."""
    result = outcome(text)
    assert isinstance(result, SyncConfig) or "\n" not in str(result)


@RELAXED
@given(st.one_of(json_values, sync_sections))
@example({"pull_interval_seconds": 10**400})
@example({"projects": {"": {}}})
def test_any_sync_value_gives_a_config_or_a_config_error(section: Any) -> None:
    """Any JSON value under ``sync`` parses or fails with a one-line ConfigError naming the file."""
    result = outcome(json.dumps({"sync": section}))
    if isinstance(result, ConfigError):
        assert result.path == PATH
        assert str(result).startswith(f"{PATH}: sync")
        assert "\n" not in str(result)
    else:
        assert result.conflict_strategy in STRATEGIES
        assert all(key.startswith("sync") for key in result.unknown_keys)


def test_the_unknown_keys_warning_names_the_file_and_every_key() -> None:
    """One line naming the file and each ignored key; nothing when every key is known."""
    text = json.dumps({"sync": {"pul_interval": 5, "projects": {"a": {"colour": 1}}}})
    warning = parse_config(text, PATH).unknown_keys_warning(PATH)
    assert warning is not None
    assert str(PATH) in warning
    assert "sync.pul_interval" in warning
    assert "sync.projects.a.colour" in warning
    assert parse_config('{"sync": {}}', PATH).unknown_keys_warning(PATH) is None
