"""The ``sync`` section of ``$MEMENTO_HOME/config.json``: defaults, then parse, then validate.

Pure: the caller passes the file's text. Errors name the file, the dotted key and the value
(as JSON text) on one line. Unknown keys are ignored (Memento keeps other settings in the
same file) and listed in ``SyncConfig.unknown_keys`` so that the caller can warn about typos.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

# The accepted names; the same values as ``memento_syncd.core.conflicts.Strategy``.
STRATEGIES = ("last_write_wins", "merge", "manual")
WEEK_SECONDS = 7 * 24 * 3600
MAX_PUSH_BATCH = 1000
_MAX_VALUE_TEXT = 60
_T = TypeVar("_T")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What would break a message's single line: controls and the Unicode line separators.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What json.dumps leaves raw in a string (it escapes only \x00-\x1f) but a shown value must
# not hold: C1 controls and DEL, line separators, lone surrogates (they cannot be printed).
_UNSHOWABLE = re.compile(r"[\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# NaN and +-Infinity are shown as Python's json writes them (there is no JSON for them).
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, allow_nan=True)


class _Missing:
    """The value of an error that concerns the whole file rather than one value."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


class ConfigError(ValueError):
    """A config file breaks the contract; ``str()`` is ``{path}: {key} = {value}: {message}``.

    ``key`` is dotted (``sync.pull_interval_seconds``); ``(file)`` and ``(top level)``
    name the file as a whole. ``value`` is shown as its JSON text (``null``, ``true``,
    ``"text"``), shortened if long; it is ``MISSING`` when there is no value to show.
    """

    def __init__(self, path: str, key: str, value: object, message: str) -> None:
        self.path = path
        self.key = key
        self.value = value
        self.message = message
        shown = "" if value is MISSING else f" = {shown_value(value)}"
        super().__init__(_one_line(f"{path}: {key}{shown}: {message}"))


def shown_value(value: object) -> str:
    """``value`` as JSON text (``null``, ``true``, ``"text"``, ``[1, 2]``), cut if long.

    Only the start of a big value is encoded. Characters that would break the line or
    cannot be printed are written as JSON ``\\u`` escapes.
    """
    text = ""
    try:
        for chunk in _JSON_TEXT.iterencode(value):
            text += chunk
            if len(text) > _MAX_VALUE_TEXT:
                break
    except (TypeError, ValueError):  # not JSON data (a caller's own object)
        text = repr(value)
    text = _UNSHOWABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= _MAX_VALUE_TEXT else text[: _MAX_VALUE_TEXT - 3] + "..."


def _one_line(text: str) -> str:
    return _LINE_BREAKING.sub(lambda m: repr(m.group())[1:-1], text)


@dataclass(frozen=True)
class ProjectConfig:
    """Settings for one project; ``None`` means "as the global setting"."""

    conflict_strategy: str | None = None


@dataclass(frozen=True)
class SyncConfig:
    """Validated sync settings; the defaults are what an absent file means."""

    # None (not set) syncs whenever a server is set; ``false`` turns sync off, keeping it.
    enabled: bool | None = None
    server_url: str | None = None
    conflict_strategy: str = "last_write_wins"
    auto_pull: bool = True
    pull_interval_seconds: float = 300.0
    similarity_threshold: float = 0.85
    projects: Mapping[str, ProjectConfig] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    socket_path: str | None = None
    realtime: bool = True
    push_batch_size: int = 500
    unknown_keys: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether to sync at all: a server is set and ``enabled`` is not false."""
        return self.server_url is not None and self.enabled is not False

    def unknown_keys_warning(self, path: object) -> str | None:
        """One line about keys of the ``sync`` section that were ignored, if any (typos)."""
        if not self.unknown_keys:
            return None
        keys = ", ".join(self.unknown_keys)
        return f"{path}: ignoring unknown key(s) {keys}; see the sample config for the names"

    def strategy_for(self, project: str) -> str:
        """The conflict strategy of ``project``: its own if set, else the global one."""
        own = self.projects.get(project)
        if own is not None and own.conflict_strategy is not None:
            return own.conflict_strategy
        return self.conflict_strategy


# The keys of the ``sync`` section, in the order of ``SyncConfig``.
SYNC_KEYS = tuple(f.name for f in fields(SyncConfig) if f.name != "unknown_keys")


def key_name(parent: str, name: str) -> str:
    """Join a dotted key, quoting a name that is not plain (``sync.projects["a.b"]``).

    An empty ``parent`` is the top level: ``sync``, ``["my key"]``.
    """
    if _PLAIN_NAME.fullmatch(name):
        return f"{parent}.{name}" if parent else name
    return f"{parent}[{json.dumps(name)}]"


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    return "null" if value is None else names.get(type(value), "number")


class _NotJSON(float):
    """A ``NaN``, ``Infinity`` or ``-Infinity`` of the file: Python's json reads them, but
    JSON has no such values. Parsed as this marker so that the error can name its key."""


def _first_not_json(document: object) -> tuple[str, float] | None:
    """The key and value of the first ``_NotJSON`` in ``document``, in the file's order."""
    pending: list[tuple[str, object]] = [("", document)]
    while pending:  # depth first without recursion: the document may nest deeply
        where, node = pending.pop()
        if isinstance(node, _NotJSON):
            return where or "(top level)", float(node)
        if isinstance(node, dict):
            children = [(key_name(where, key), item) for key, item in node.items()]
        elif isinstance(node, list):
            children = [(f"{where}[{index}]", item) for index, item in enumerate(node)]
        else:
            continue
        pending.extend(reversed(children))
    return None


def load_document(text: str, path: str) -> object:
    """Decode strict JSON; ``ConfigError`` if it is not.

    ``NaN`` and ``Infinity`` (which Python's json accepts) are refused naming the key that
    holds the first of them; other faults name ``(file)``.
    """
    seen: list[str] = []

    def flag(name: str) -> _NotJSON:
        seen.append(name)
        return _NotJSON(name)

    try:
        document = json.loads(text, parse_constant=flag)
    except json.JSONDecodeError as exc:
        near = exc.doc[max(0, exc.pos - 20) : exc.pos + 20]
        where = f"line {exc.lineno} column {exc.colno}"
        shown = f", near: {near}" if near.strip() else ""
        raise ConfigError(
            path, "(file)", MISSING, f"not valid JSON: {exc.msg} at {where}{shown}"
        ) from exc
    except (ValueError, RecursionError) as exc:  # huge integers, deep nesting
        raise ConfigError(path, "(file)", MISSING, f"not valid JSON: {exc}") from exc
    if seen:
        found = _first_not_json(document)
        # None when a later duplicate key replaced it; the file is still not JSON.
        key, value = found if found is not None else ("(file)", float(seen[0]))
        raise ConfigError(
            path, key, value, "not valid JSON (it has no NaN or Infinity); write a finite number"
        )
    return document


def parse_config(text: str, path: str) -> SyncConfig:
    """Parse and validate the text of config.json; raises ``ConfigError`` on the first fault."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return SyncConfig()
    document = load_document(text, path)
    if not isinstance(document, dict):
        raise ConfigError(
            path, "(top level)", document, f"must be a JSON object, not {_json_type(document)}"
        )
    if "sync" not in document:
        return SyncConfig()
    return _Parser(path).sync(document["sync"])


def server_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be ``sync.server_url`` (None if it can): for a command line."""
    try:
        _Parser("").url(value, "sync.server_url")
    except ConfigError as exc:
        return exc.message
    return None


class _Parser:
    """Field checkers bound to a file name, so each error can name the file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, value: object, message: str) -> ConfigError:
        return ConfigError(self.path, key, value, message)

    def obj(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, value, f"must be a JSON object, not {_json_type(value)}")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, value, f"must be true or false, not {_json_type(value)}")
        return value

    def number(self, value: object, key: str) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, value, f"must be a number, not {_json_type(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, value, "must be a finite number")
        return value

    def interval(self, value: object, key: str) -> float:
        seconds = self.number(value, key)
        if not 0 < seconds <= WEEK_SECONDS:
            raise self.fail(key, value, f"must be more than 0 and at most {WEEK_SECONDS} (a week)")
        return float(seconds)

    def threshold(self, value: object, key: str) -> float:
        number = self.number(value, key)
        if not 0 < number <= 1:
            raise self.fail(key, value, "must be more than 0 and at most 1")
        return float(number)

    def batch(self, value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, value, f"must be an integer, not {_json_type(value)}")
        if not 1 <= value <= MAX_PUSH_BATCH:
            raise self.fail(key, value, f"must be between 1 and {MAX_PUSH_BATCH}")
        return value

    def strategy(self, value: object, key: str) -> str:
        if not isinstance(value, str) or value not in STRATEGIES:
            raise self.fail(key, value, f"must be one of {', '.join(STRATEGIES)}")
        return value

    def url(self, value: object, key: str) -> str | None:
        if value is None:
            return None
        wanted = "must be an http:// or https:// URL such as https://sync.example.com"
        if not isinstance(value, str):
            raise self.fail(key, value, wanted)
        if _CONTROL.search(value) or value != value.strip() or " " in value:
            raise self.fail(key, value, "must not contain blanks or control characters")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise self.fail(key, value, f"is not a valid URL: {exc}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(key, value, wanted)
        if parts.username is not None or parts.password is not None:
            raise self.fail(key, value, "must not hold a user or password; use the token file")
        if parts.query or parts.fragment:
            raise self.fail(key, value, "must not have a query (?) or fragment (#)")
        return value.rstrip("/")

    def socket(self, value: object, key: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value or "\x00" in value:
            raise self.fail(key, value, "must be a non-empty path")
        return value

    def projects(self, value: object, key: str, unknown: list[str]) -> Mapping[str, ProjectConfig]:
        projects: dict[str, ProjectConfig] = {}
        for name, raw in self.obj(value, key).items():
            where = key_name(key, name)
            if not name or name != name.strip() or _CONTROL.search(name):
                raise self.fail(
                    where, name, "must be a non-empty name without blanks or control characters"
                )
            settings = self.obj(raw, where)
            strategy = settings.get("conflict_strategy")
            where_strategy = key_name(where, "conflict_strategy")
            projects[name] = ProjectConfig(
                None if strategy is None else self.strategy(strategy, where_strategy)
            )
            unknown.extend(key_name(where, k) for k in settings if k != "conflict_strategy")
        return MappingProxyType(projects)

    def sync(self, raw: object) -> SyncConfig:
        section = self.obj(raw, "sync")
        unknown = [key_name("sync", k) for k in section if k not in SYNC_KEYS]
        default = SyncConfig()

        def pick(name: str, check: Callable[[object, str], _T], fallback: _T) -> _T:
            return check(section[name], f"sync.{name}") if name in section else fallback

        projects = default.projects
        if "projects" in section:
            projects = self.projects(section["projects"], "sync.projects", unknown)
        return SyncConfig(
            enabled=pick("enabled", self.boolean, None),
            server_url=pick("server_url", self.url, default.server_url),
            conflict_strategy=pick("conflict_strategy", self.strategy, default.conflict_strategy),
            auto_pull=pick("auto_pull", self.boolean, default.auto_pull),
            pull_interval_seconds=pick(
                "pull_interval_seconds", self.interval, default.pull_interval_seconds
            ),
            similarity_threshold=pick(
                "similarity_threshold", self.threshold, default.similarity_threshold
            ),
            projects=projects,
            socket_path=pick("socket_path", self.socket, default.socket_path),
            realtime=pick("realtime", self.boolean, default.realtime),
            push_batch_size=pick("push_batch_size", self.batch, default.push_batch_size),
            unknown_keys=tuple(unknown),
        )
