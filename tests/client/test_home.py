"""The local Memento directory on a real file system: paths, settings file and token file."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memento_syncd.client.home import (
    Home,
    TokenError,
    load_config,
    load_token,
    memento_home,
    save_token,
    update_sync_config,
)
from memento_syncd.core.config import ConfigError, SyncConfig, parse_config

TOKEN = "tok_0123456789abcdef.secret"  # noqa: S105 - a made-up token for tests
NO_ENV: dict[str, str] = {}


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A Memento directory that exists and is empty."""
    root = tmp_path / "memento"
    root.mkdir(mode=0o700)
    return Home(root)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Run with umask 000, so that only explicit modes keep files private."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def write(path: Path, text: str, mode: int) -> None:
    """Create ``path`` holding ``text`` with exactly ``mode``."""
    path.write_text(text)
    path.chmod(mode)


def leftovers(root: Path) -> list[str]:
    """Temporary files left behind in ``root``."""
    return [p.name for p in root.iterdir() if p.name.endswith(".tmp")]


# --- where things are --------------------------------------------------------


def test_memento_home_from_environment(tmp_path: Path) -> None:
    """MEMENTO_HOME wins; unset or empty falls back to ~/.memento; ~ in it is expanded."""
    assert memento_home({"MEMENTO_HOME": str(tmp_path / "m")}) == tmp_path / "m"
    assert memento_home({"HOME": str(tmp_path)}) == tmp_path / ".memento"
    assert memento_home({"HOME": str(tmp_path), "MEMENTO_HOME": ""}) == tmp_path / ".memento"
    assert memento_home({"HOME": str(tmp_path), "MEMENTO_HOME": "~/mem"}) == tmp_path / "mem"
    assert Home.from_env({"MEMENTO_HOME": str(tmp_path)}).root == tmp_path


def test_memento_home_relative_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative MEMENTO_HOME is taken from the current directory, once, as an absolute path."""
    monkeypatch.chdir(tmp_path)
    assert memento_home({"MEMENTO_HOME": "rel"}) == tmp_path / "rel"


def test_memento_home_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an explicit mapping, the process environment is read."""
    monkeypatch.setenv("MEMENTO_HOME", str(tmp_path))
    assert memento_home() == tmp_path


def test_home_file_names(tmp_path: Path) -> None:
    """The database, settings, token and socket have the names of the contract."""
    home = Home(tmp_path)
    assert home.db == tmp_path / "memento.db"
    assert home.config == tmp_path / "config.json"
    assert home.token_file == tmp_path / "sync-token"
    assert home.socket == tmp_path / "syncd.sock"


def test_socket_path_honours_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sync.socket_path overrides the default; ~ is expanded and a relative path is in the home."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    home = Home(tmp_path / "m")
    assert home.socket_path(SyncConfig()) == home.socket
    assert home.socket_path(SyncConfig(socket_path="/run/s.sock")) == Path("/run/s.sock")
    assert home.socket_path(SyncConfig(socket_path="~/s.sock")) == tmp_path / "user" / "s.sock"
    assert home.socket_path(SyncConfig(socket_path="run/s.sock")) == home.root / "run/s.sock"


# --- reading settings ---------------------------------------------------------


def test_missing_config_gives_defaults(home: Home) -> None:
    """No config.json means the default settings."""
    assert load_config(home) == SyncConfig()


def test_config_is_read_and_validated(home: Home) -> None:
    """A valid file is read; a bad one raises a ConfigError naming the file."""
    write(home.config, '{"sync": {"enabled": true}}', 0o600)
    assert load_config(home).enabled is True
    write(home.config, '{"sync": {"pull_interval_seconds": -1}}', 0o600)
    with pytest.raises(ConfigError) as caught:
        load_config(home)
    assert str(caught.value).startswith(f"{home.config}: sync.pull_interval_seconds = -1: ")


def test_unreadable_or_undecodable_config_is_a_config_error(home: Home) -> None:
    """A directory in its place or bytes that are not UTF-8 give a ConfigError, not a crash."""
    home.config.mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(home)
    home.config.rmdir()
    home.config.write_bytes(b'{"sync": {"server_url": "\xff"}}')
    with pytest.raises(ConfigError, match="not UTF-8 text: byte 0xff"):
        load_config(home)


# --- writing settings ---------------------------------------------------------


def test_update_keeps_every_other_setting(home: Home) -> None:
    """Other top-level keys, other sync keys and key order survive an update."""
    before: dict[str, Any] = {
        "theme": "dark",
        "sync": {"auto_pull": False, "projects": {"a": {"conflict_strategy": "manual"}}, "x": 1},
        "search": {"limit": 20, "names": ["é", None, 1.5]},
    }
    write(home.config, json.dumps(before), 0o600)
    config = update_sync_config(home, server_url="https://sync.example.com", enabled=True)
    after = json.loads(home.config.read_text())
    assert list(after) == ["theme", "sync", "search"]
    assert after["search"] == before["search"]
    assert after["sync"] == {
        **before["sync"],
        "server_url": "https://sync.example.com",
        "enabled": True,
    }
    assert config == load_config(home)
    assert config.strategy_for("a") == "manual"
    assert config.unknown_keys == ("sync.x",)


def test_update_with_none_removes_the_key(home: Home) -> None:
    """Passing None removes a key, which brings back its default."""
    write(home.config, '{"sync": {"server_url": "http://h", "enabled": true}}', 0o600)
    config = update_sync_config(home, server_url=None)
    assert json.loads(home.config.read_text()) == {"sync": {"enabled": True}}
    assert config.server_url is None


@pytest.mark.usefixtures("loose_umask")
def test_update_creates_a_private_file_and_home(tmp_path: Path) -> None:
    """A new config.json is mode 0600, in a home created 0700, even with umask 000."""
    home = Home(tmp_path / "new" / "memento")
    update_sync_config(home, enabled=True)
    assert mode_of(home.config) == 0o600
    assert mode_of(home.root) == 0o700
    assert parse_config(home.config.read_text(), "x").enabled is True


def test_update_keeps_the_mode_of_an_existing_file(home: Home) -> None:
    """An existing file keeps its permission bits across the replace."""
    write(home.config, "{}", 0o640)
    update_sync_config(home, enabled=True)
    assert mode_of(home.config) == 0o640


def test_update_replaces_the_file_atomically(home: Home) -> None:
    """The update writes a new file and renames it over the old: a new inode, no leftovers."""
    write(home.config, '{"a": 1}', 0o600)
    old_inode = home.config.stat().st_ino
    update_sync_config(home, enabled=True)
    assert home.config.stat().st_ino != old_inode
    assert leftovers(home.root) == []


def test_failed_replace_leaves_the_old_file(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the rename fails, the old file is untouched and the temporary file is removed."""
    write(home.config, '{"a": 1}', 0o600)

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        update_sync_config(home, enabled=True)
    assert home.config.read_text() == '{"a": 1}'
    assert leftovers(home.root) == []


def test_update_follows_a_symlinked_config(home: Home, tmp_path: Path) -> None:
    """A config.json that is a symlink stays a symlink; the file it points to is updated."""
    real = tmp_path / "dotfiles" / "memento.json"
    real.parent.mkdir()
    write(real, '{"a": 1}', 0o600)
    home.config.symlink_to(real)
    update_sync_config(home, enabled=True)
    assert home.config.is_symlink()
    assert json.loads(real.read_text()) == {"a": 1, "sync": {"enabled": True}}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"sync": {"enabled": true,}}', "(file)"),
        ('{"a": NaN}', "a"),
        ("[]", "(top level)"),
        ('{"sync": "on"}', "sync"),
    ],
)
def test_update_refuses_a_file_it_cannot_merge(home: Home, text: str, key: str) -> None:
    """Invalid JSON, a non-object top level or sync section is never overwritten."""
    write(home.config, text, 0o600)
    with pytest.raises(ConfigError, match="fix or move") as caught:
        update_sync_config(home, enabled=True)
    assert caught.value.key == key
    assert str(home.config) in str(caught.value)
    assert home.config.read_text() == text


def test_update_refuses_an_invalid_result(home: Home) -> None:
    """A change that would make the settings invalid raises and writes nothing."""
    write(home.config, '{"sync": {"enabled": true}}', 0o600)
    with pytest.raises(ConfigError, match=r'sync\.server_url = "ftp://h"'):
        update_sync_config(home, server_url="ftp://h")
    with pytest.raises(TypeError, match="server_ulr"):
        update_sync_config(home, server_ulr="http://h")
    assert home.config.read_text() == '{"sync": {"enabled": true}}'


def test_update_can_repair_a_bad_value(home: Home) -> None:
    """A bad value in the file can be overwritten by an update (login fixes a wrong URL)."""
    write(home.config, '{"sync": {"server_url": "localhost:8765"}}', 0o600)
    assert update_sync_config(home, server_url="http://localhost:8765").server_url


# --- the token ---------------------------------------------------------------


def test_token_file_0600_is_read(home: Home) -> None:
    """A private token file is read and stripped of its newline; 0400 is fine too."""
    write(home.token_file, TOKEN + "\n", 0o600)
    assert load_token(home, NO_ENV) == TOKEN
    home.token_file.chmod(0o400)
    assert load_token(home, NO_ENV) == TOKEN


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_token_file_readable_by_others_is_refused(home: Home, mode: int) -> None:
    """Like ssh, a token file open to group or others is refused with the chmod that fixes it."""
    write(home.token_file, TOKEN, mode)
    with pytest.raises(TokenError) as caught:
        load_token(home, NO_ENV)
    message = str(caught.value)
    assert f"chmod 600 {home.token_file}" in message
    assert f"{mode:04o}" in message
    assert TOKEN not in message
    assert "\n" not in message


def test_chmod_hint_quotes_a_path_with_spaces(tmp_path: Path) -> None:
    """The chmod hint can be pasted into a shell even when the path has a space."""
    home = Home(tmp_path / "my memento")
    home.root.mkdir()
    write(home.token_file, TOKEN, 0o644)
    with pytest.raises(TokenError, match=r"chmod 600 '.*my memento/sync-token'"):
        load_token(home, NO_ENV)


def test_environment_token_wins(home: Home) -> None:
    """MEMENTO_SYNC_TOKEN (stripped) wins over the file, even a file that would be refused."""
    write(home.token_file, "from-file", 0o644)
    assert load_token(home, {"MEMENTO_SYNC_TOKEN": " from-env\n"}) == "from-env"


def test_blank_environment_token_falls_back_to_the_file(home: Home) -> None:
    """An empty or blank MEMENTO_SYNC_TOKEN is as if unset."""
    write(home.token_file, TOKEN, 0o600)
    assert load_token(home, {"MEMENTO_SYNC_TOKEN": "  "}) == TOKEN


def test_missing_token_says_how_to_log_in(home: Home) -> None:
    """With neither variable nor file, the error says to log in or set the variable."""
    with pytest.raises(TokenError) as caught:
        load_token(home, NO_ENV)
    assert str(caught.value) == (
        "no sync token: run 'memento-syncd login --server URL --token TOKEN'"
        " or set MEMENTO_SYNC_TOKEN"
    )


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "is empty"), (b" \n", "is empty"), (b"two words", "not a valid"), (b"\xff", "not a")],
)
def test_unusable_token_file_is_refused(home: Home, content: bytes, match: str) -> None:
    """An empty file or one that cannot be a bearer token gives a one-line TokenError."""
    home.token_file.write_bytes(content)
    home.token_file.chmod(0o600)
    with pytest.raises(TokenError, match=match) as caught:
        load_token(home, NO_ENV)
    assert str(home.token_file) in str(caught.value)


def test_token_path_that_is_a_directory_is_refused(home: Home) -> None:
    """A directory where the token file should be is a TokenError, not a crash."""
    home.token_file.mkdir(mode=0o700)
    with pytest.raises(TokenError, match="sync-token"):
        load_token(home, NO_ENV)


@pytest.mark.usefixtures("loose_umask")
def test_save_token_is_private(tmp_path: Path) -> None:
    """save_token creates the home 0700 and a 0600 token file, even with umask 000."""
    home = Home(tmp_path / "fresh")
    save_token(home, TOKEN)
    assert mode_of(home.root) == 0o700
    assert mode_of(home.token_file) == 0o600
    assert load_token(home, NO_ENV) == TOKEN
    assert leftovers(home.root) == []


def test_save_token_tightens_a_loose_file(home: Home) -> None:
    """Saving over a 0644 token file leaves a 0600 one."""
    write(home.token_file, "old", 0o644)
    save_token(home, TOKEN)
    assert mode_of(home.token_file) == 0o600
    assert home.token_file.read_text() == TOKEN + "\n"


@pytest.mark.usefixtures("loose_umask")
def test_token_is_never_readable_by_others_while_written(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file already holds the token at mode 0600 when it is renamed into place."""
    seen: list[tuple[int, str]] = []
    real_replace: Callable[[str, str], None] = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append((stat.S_IMODE(os.stat(src).st_mode), Path(src).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    save_token(home, TOKEN)
    assert seen == [(0o600, TOKEN + "\n")]


@pytest.mark.parametrize("token", ["", "  ", "has space", "tab\there"])
def test_save_token_refuses_what_cannot_be_a_token(home: Home, token: str) -> None:
    """An empty or blank-containing token is refused before anything is written."""
    with pytest.raises(TokenError):
        save_token(home, token)
    assert not home.token_file.exists()
