"""The local Memento directory: where the database, settings, token and socket live.

This is the edge where files are read and written; the rules for what they hold are
in ``memento_syncd.core.config``. Writes are atomic (a temporary file in the same
directory, fsync, rename), so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memento_syncd.core.config import (
    MISSING,
    SYNC_KEYS,
    ConfigError,
    SyncConfig,
    load_document,
    parse_config,
)

LOGIN_HINT = "run 'memento-syncd login --server URL --token TOKEN' or set MEMENTO_SYNC_TOKEN"
TOKEN_ENV = "MEMENTO_SYNC_TOKEN"  # noqa: S105 - a variable name, not a secret
HOME_ENV = "MEMENTO_HOME"


def memento_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$MEMENTO_HOME`` (``~`` expanded) if set and non-empty, else ``~/.memento``."""
    env = os.environ if environ is None else environ
    named = env.get(HOME_ENV, "")
    if named:
        return Path(_expand_user(named, env)).absolute()
    return Path(env.get("HOME") or Path.home()) / ".memento"


def _expand_user(path: str, env: Mapping[str, str]) -> str:
    if (path == "~" or path.startswith("~/")) and env.get("HOME"):
        return env["HOME"] + path[1:]
    return os.path.expanduser(path)


@dataclass(frozen=True)
class Home:
    """The files of one Memento directory."""

    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Home:
        """The Memento directory named by the environment (see ``memento_home``)."""
        return cls(memento_home(environ))

    @property
    def db(self) -> Path:
        """The application's SQLite database."""
        return self.root / "memento.db"

    @property
    def config(self) -> Path:
        """The settings file (JSON)."""
        return self.root / "config.json"

    @property
    def token_file(self) -> Path:
        """The bearer token, mode 0600."""
        return self.root / "sync-token"

    @property
    def socket(self) -> Path:
        """The daemon's default control socket."""
        return self.root / "syncd.sock"

    def socket_path(self, config: SyncConfig) -> Path:
        """``sync.socket_path`` (``~`` expanded, relative to the home) or the default."""
        if config.socket_path is None:
            return self.socket
        return self.root / os.path.expanduser(config.socket_path)


def _read_config_text(path: Path) -> str | None:
    """The text of config.json, None if it does not exist; ``ConfigError`` otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", MISSING, f"cannot read: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        raise ConfigError(str(path), "(file)", MISSING, message) from exc


def load_config(home: Home) -> SyncConfig:
    """Read and validate the sync settings; a missing file means the defaults."""
    text = _read_config_text(home.config)
    return SyncConfig() if text is None else parse_config(text, str(home.config))


def update_sync_config(home: Home, **changes: Any) -> SyncConfig:
    """Set keys of the ``sync`` section, keeping every other setting; returns the result.

    A value of None removes the key (back to its default). The result is validated
    before anything is written; a file that is not a JSON object is never overwritten.
    """
    unknown = sorted(set(changes) - set(SYNC_KEYS))
    if unknown:
        raise TypeError(f"unknown sync settings: {', '.join(unknown)}")
    target = Path(os.path.realpath(home.config))
    text = _read_config_text(target)
    where = str(home.config)
    document: dict[str, Any] = {}
    fix = "fix or move the file, then try again"
    if text is not None and text.removeprefix("\ufeff").strip():
        try:
            loaded = load_document(text.removeprefix("\ufeff"), where)
        except ConfigError as exc:
            raise ConfigError(where, exc.key, exc.value, f"{exc.message}; {fix}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(where, "(top level)", loaded, f"is not a JSON object; {fix}")
        document = loaded
    section = document.get("sync", {})
    if not isinstance(section, dict):
        raise ConfigError(where, "sync", section, f"is not a JSON object; {fix}")
    section = dict(section)
    for key, value in changes.items():
        if value is None:
            section.pop(key, None)
        else:
            section[key] = value
    document["sync"] = section
    new_text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    config = parse_config(new_text, where)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    _atomic_write(target, new_text.encode("utf-8"), mode)
    return config


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data``; the file is created 0600 and never shown half-written."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; some file systems cannot open a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class TokenError(Exception):
    """No usable sync token; the message is one line that says what to do."""


def _check_token(token: str, source: str, hint: str = LOGIN_HINT) -> str:
    """A token is one word of visible ASCII, as an HTTP ``Authorization`` header needs."""
    if not token:
        raise TokenError(f"{source} is empty: {hint}")
    if not all("!" <= char <= "~" for char in token):
        raise TokenError(f"{source} is not a valid token (blanks or non-ASCII): {hint}")
    return token


def load_token(home: Home, environ: Mapping[str, str] | None = None) -> str:
    """``$MEMENTO_SYNC_TOKEN`` if set, else the token file, which must be mode 0600 or stricter."""
    env = os.environ if environ is None else environ
    from_env = env.get(TOKEN_ENV, "").strip()
    if from_env:
        return _check_token(from_env, TOKEN_ENV)
    path = home.token_file
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise TokenError(f"no sync token: {LOGIN_HINT}") from None
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TokenError(f"token file {path} is not a regular file: remove it and log in again")
        if info.st_mode & 0o077:
            raise TokenError(
                f"token file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): run 'chmod 600 {shlex.quote(str(path))}'"
            )
        data = os.read(fd, 64 * 1024)
    finally:
        os.close(fd)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise TokenError(f"token file {path} is not a valid token: {LOGIN_HINT}") from None
    return _check_token(text.strip(), f"token file {path}")


def check_new_token(token: str) -> str:
    """``token`` (stripped) if it is shaped like a token, else ``TokenError`` (for login)."""
    return _check_token(token.strip(), "the token", "pass the token printed by 'create-token'")


def save_token(home: Home, token: str) -> None:
    """Store the token in its file, mode 0600 from the first byte; creates the home (0700)."""
    check_new_token(token)
    home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _atomic_write(home.token_file, (token.strip() + "\n").encode("ascii"), 0o600)
