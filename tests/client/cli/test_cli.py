"""The installed ``memento`` and ``memento-syncd`` client commands, run as a user would.

Each device is a separate ``MEMENTO_HOME``; the server is a real ``memento-syncd server
serve`` subprocess shared by the module, and every test gets its own team so that tests
never see each other's observations.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.client.cli.commands import (
    BOGUS_TOKEN,
    LIVE_FIELDS,
    MEMENTO,
    STATUS_KEYS,
    SYNCD,
    Device,
    DeviceFactory,
    closed_port_url,
    create_token,
    one_line_error,
    run_command,
)
from tests.server.proc import ServerProcess, start_server

# 1. login


def test_login_writes_the_config_and_a_private_token_file(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """login exits 0, sets sync.server_url and sync.enabled, keeps other settings, token 0600."""
    device = make_device("A")
    device.home.mkdir()
    device.config.write_text(
        json.dumps({"theme": "dark", "sync": {"conflict_strategy": "merge"}}), encoding="utf-8"
    )
    device.ok(device.syncd("login", "--server", server.url + "/", "--token", token))
    config = json.loads(device.config.read_text(encoding="utf-8"))
    assert config["sync"]["server_url"] == server.url
    assert config["sync"]["enabled"] is True
    assert config["sync"]["conflict_strategy"] == "merge"
    assert config["theme"] == "dark"
    assert stat.S_IMODE(device.token_file.stat().st_mode) == 0o600
    assert device.token_file.read_text(encoding="ascii").strip() == token


def test_login_warns_when_the_environment_token_will_still_win(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """With MEMENTO_SYNC_TOKEN set, login still stores the token and says the variable wins."""
    device = make_device("A", MEMENTO_SYNC_TOKEN=BOGUS_TOKEN)
    result = device.syncd("login", "--server", server.url, "--token", token, "--no-check")
    assert result.returncode == 0, result.stderr
    assert "MEMENTO_SYNC_TOKEN is set" in result.stderr
    assert device.token_file.read_text(encoding="ascii").strip() == token
    quiet = make_device("B")
    result = quiet.syncd("login", "--server", server.url, "--token", token, "--no-check")
    assert "MEMENTO_SYNC_TOKEN" not in result.stderr


def test_login_with_a_refused_token_fails_in_one_line(
    make_device: DeviceFactory, server: ServerProcess
) -> None:
    """A token the server refuses makes login exit non-zero with one line, storing no token."""
    device = make_device("A")
    message = one_line_error(device.syncd("login", "--server", server.url, "--token", "nope_bad"))
    assert "refused" in message
    assert server.url in message
    assert not device.token_file.exists()


@pytest.mark.parametrize(
    "extra", [(), ("--no-check",)], ids=["refused-by-server", "malformed-no-check"]
)
def test_a_failed_login_saves_nothing(
    make_device: DeviceFactory, server: ServerProcess, extra: tuple[str, ...]
) -> None:
    """A login that fails (token refused, or malformed) leaves no config.json behind."""
    device = make_device("A")
    token = "nope bad" if extra else "nope_bad"
    one_line_error(device.syncd("login", "--server", server.url, "--token", token, *extra))
    assert not device.config.exists()


def test_login_no_check_saves_without_contacting_the_server(make_device: DeviceFactory) -> None:
    """--no-check stores URL and token for a server that is not reachable now, with exit 0."""
    device = make_device("A")
    url = closed_port_url()
    device.ok(device.syncd("login", "--server", url, "--token", "abc_def", "--no-check"))
    config = json.loads(device.config.read_text(encoding="utf-8"))
    assert (config["sync"]["server_url"], config["sync"]["enabled"]) == (url, True)
    assert stat.S_IMODE(device.token_file.stat().st_mode) == 0o600
    assert device.token_file.read_text(encoding="ascii").strip() == "abc_def"


# 2. save, list, push, pull


def test_save_prints_the_new_local_id_and_list_shows_it(make_device: DeviceFactory) -> None:
    """memento save prints each new row's id, and memento list --json shows those rows."""
    device = make_device("A")
    first = device.save("Use SQLite", "Embedded and fast.", topic_key="arch/db")
    second = device.save("Mine", "private notes", scope="personal")
    assert second > first
    listed = {row["id"]: row for row in device.listing()}
    assert set(listed) == {first, second}
    assert listed[first]["title"] == "Use SQLite"
    assert listed[first]["content"] == "Embedded and fast."
    assert listed[first]["topic_key"] == "arch/db"
    assert listed[first]["scope"] == "project"
    assert listed[second]["scope"] == "personal"
    assert listed[first]["deleted_at"] is None


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--type", "", "--type"),
        ("--title", "x" * 2001, "--title"),
        ("--topic-key", "k" * 1001, "--topic-key"),
    ],
)
def test_save_refuses_a_row_no_server_would_take(
    make_device: DeviceFactory, option: str, value: str, named: str
) -> None:
    """memento save refuses, in one line naming the option, a value a push would set aside
    (an empty type, an over-long title or topic key), and writes nothing."""
    device = make_device("A")
    device.save("first", "kept")
    args = {"--project": "p", "--type": "note", "--title": "t", "--content": "c", option: value}
    line = one_line_error(device.memento("save", *(x for kv in args.items() for x in kv)))
    assert line.startswith(f"memento: error: {named}: "), line
    assert [row["title"] for row in device.listing()] == ["first"]


def test_list_shows_escape_sequences_and_newlines_escaped(make_device: DeviceFactory) -> None:
    """Text output never passes a title's terminal escape sequence, newline or bidi
    override to the terminal (a teammate's data): they show escaped, as repr shows them;
    --json keeps the text exact."""
    device = make_device("A")
    title = "clear\x1b[2J\x1b]0;owned\x07 two\nlines \u202eevil"
    device.save(title, "c")
    out = device.ok(device.memento("list"))
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert len(out.splitlines()) == 1, out
    assert "clear\\x1b[2J\\x1b]0;owned\\x07 two\\nlines \\u202eevil" in out
    assert device.listing()[0]["title"] == title


def test_reading_commands_answer_while_the_application_holds_its_write_lock(
    make_device: DeviceFactory,
) -> None:
    """memento list, memento sync status and conflicts list read while the application
    sits in a write transaction (they used to wait for its lock, then fail)."""
    device = make_device("A")
    device.save("Use SQLite", "Embedded and fast.")
    app = sqlite3.connect(device.home / "memento.db", isolation_level=None, timeout=5)
    try:
        app.execute("BEGIN IMMEDIATE")
        app.execute(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES ('p', 'note', 'in flight', 'x', '2025-01-01T00:00:00Z',"
            " '2025-01-01T00:00:00Z')"
        )
        assert [row["title"] for row in device.listing()] == ["Use SQLite"]
        assert [p["project_id"] for p in device.status()] == ["p"]
        assert json.loads(device.ok(device.syncd("conflicts", "list", "--json"))) == []
        assert app.in_transaction
    finally:
        app.execute("COMMIT")
        app.close()
    assert [row["title"] for row in device.listing()] == ["Use SQLite", "in flight"]


def test_memento_list_sets_up_a_new_home(make_device: DeviceFactory) -> None:
    """memento list on a home with no database creates it, with the application's table."""
    device = make_device("A")
    assert device.listing() == []
    assert (device.home / "memento.db").is_file()


def test_an_observation_saved_on_one_device_reaches_another(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """A row saved on A and pushed is listed on B after B pulls, with the same fields."""
    a, b = make_device("A"), make_device("B")
    for device in (a, b):
        device.ok(device.syncd("login", "--server", server.url, "--token", token))
    a.save("Use SQLite", "Embedded and fast.\nSecond line é 🧠", topic_key="arch/db")
    assert "pushed 1" in a.push()
    assert "pulled 1" in b.pull()
    (row,) = b.listing()
    assert tuple(row[f] for f in LIVE_FIELDS) == (
        "p", "note", "Use SQLite", "Embedded and fast.\nSecond line é 🧠", "arch/db", "project"
    )  # fmt: skip


def test_sync_enabled_false_turns_sync_off_and_unset_means_on(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """``sync.enabled: false`` refuses push and pull in one line; without the key, sync runs."""
    a = make_device("A")
    a.configure(server.url, token, enabled=False)
    a.save("kept while off", "local only")
    for action in ("push", "pull"):
        result = a.memento("sync", action)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert "sync is disabled" in result.stderr
        assert "sync.enabled" in result.stderr
    a.config.write_text(json.dumps({"sync": {"server_url": server.url}}), encoding="utf-8")
    assert "pushed 1" in a.push()


# 3. sync status


def test_sync_status_json_counts_observations_sent_and_received(
    device_pair: list[Device],
) -> None:
    """status --json is an array of per-project objects whose counts are observations moved."""
    a, b = device_pair
    assert a.status() == []
    for n in range(3):
        a.save(f"o{n}", f"content {n}")
    a.save("other", "x", project="q")
    a.push()
    b.pull()
    a.save("o3", "content 3")
    a.push()
    b.pull()
    sent = {s["project_id"]: s for s in a.status()}
    received = {s["project_id"]: s for s in b.status()}
    for item in [*sent.values(), *received.values()]:
        assert set(STATUS_KEYS) <= set(item)
        assert isinstance(item["project_id"], str)
        for key in ("last_push", "last_pull"):
            assert item[key] is None or isinstance(item[key], str)
        for key in ("push_count", "pull_count"):
            assert isinstance(item[key], int)
            assert not isinstance(item[key], bool)
    assert set(sent) == set(received) == {"p", "q"}
    assert (sent["p"]["push_count"], sent["q"]["push_count"]) == (4, 1)
    assert (received["p"]["pull_count"], received["q"]["pull_count"]) == (4, 1)
    assert sent["p"]["last_push"] is not None
    assert sent["p"]["last_pull"] is None
    assert sent["p"]["pull_count"] == 0
    assert received["p"]["last_pull"] is not None
    assert received["p"]["last_push"] is None
    assert received["p"]["push_count"] == 0


# 4. errors


def test_a_stopped_server_is_reported_in_one_line_naming_its_url(
    make_device: DeviceFactory, tmp_path: Path
) -> None:
    """Push to a server that went away fails in one line with its URL, and loses nothing."""
    own = start_server(tmp_path / "own.db", tmp_path / "own.log")
    try:
        device = make_device("A")
        device.configure(own.url, create_token(tmp_path / "own.db", "solo"))
        device.save("kept", "still here")
    finally:
        own.stop()
    message = one_line_error(device.memento("sync", "push"))
    assert own.url in message
    assert "reach" in message
    (item,) = device.status()
    assert (item["push_count"], item["pending"]) == (0, 1)


def test_a_closed_port_is_reported_in_one_line_naming_the_url(
    make_device: DeviceFactory,
) -> None:
    """Pull from a URL where nothing listens fails in one line that shows the URL."""
    device = make_device("A")
    url = closed_port_url()
    device.configure(url, "abc_def")
    message = one_line_error(device.memento("sync", "pull"))
    assert url in message


def test_an_unreachable_server_message_says_what_to_do(make_device: DeviceFactory) -> None:
    """The unreachable-server line also tells the user what to check or do next."""
    device = make_device("A")
    device.configure(closed_port_url(), "abc_def")
    message = one_line_error(device.memento("sync", "pull")).lower()
    hints = ("check", "try again", "retry", "running", "config.json", "login")
    assert any(hint in message for hint in hints), message


def test_a_missing_token_says_how_to_set_one(
    make_device: DeviceFactory, server: ServerProcess
) -> None:
    """With no token file and no MEMENTO_SYNC_TOKEN, the line names both ways to set one."""
    device = make_device("A")
    device.configure(server.url, None)
    message = one_line_error(device.memento("sync", "pull"))
    assert "token" in message
    assert "memento-syncd login" in message
    assert "MEMENTO_SYNC_TOKEN" in message


def test_no_server_configured_says_to_log_in(make_device: DeviceFactory) -> None:
    """A push with no server_url at all fails in one line pointing at memento-syncd login."""
    device = make_device("A")
    message = one_line_error(device.memento("sync", "push"))
    assert "memento-syncd login" in message


def test_a_token_the_server_refuses_is_reported(
    make_device: DeviceFactory, server: ServerProcess
) -> None:
    """A 401 from the server becomes one line saying the token was refused and how to fix it."""
    device = make_device("A")
    device.configure(server.url, BOGUS_TOKEN)
    message = one_line_error(device.memento("sync", "pull"))
    assert "refused the token" in message
    assert server.url in message
    assert "memento-syncd login" in message


def test_a_refused_token_from_the_environment_says_to_fix_or_unset_it(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """When the refused token came from MEMENTO_SYNC_TOKEN (the file's token is good), the
    line says so and to set or unset the variable: logging in again would not help."""
    device = make_device("A")
    device.configure(server.url, token)
    env_device = Device(device.home, {"MEMENTO_SYNC_TOKEN": BOGUS_TOKEN})
    message = one_line_error(env_device.memento("sync", "pull"))
    assert "refused the token" in message
    assert "comes from MEMENTO_SYNC_TOKEN" in message
    assert "unset it" in message
    assert "login" not in message
    device.ok(device.memento("sync", "pull"))


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ('{"sync": {"enabled": true,', "(file)", "not valid JSON"),
        ('{"sync": {"pull_interval_seconds": "soon"}}', "sync.pull_interval_seconds", '"soon"'),
        ('{"sync": {"conflict_strategy": "coinflip"}}', "sync.conflict_strategy", '"coinflip"'),
        ('{"sync": {"pull_interval_seconds": -5}}', "sync.pull_interval_seconds", "-5"),
        (
            '{"sync": {"projects": {"app": {"conflict_strategy": "vote"}}}}',
            "sync.projects.app.conflict_strategy",
            '"vote"',
        ),
    ],
    ids=["not-json", "wrong-type", "unknown-strategy", "negative-interval", "project-strategy"],
)
def test_a_bad_config_names_the_file_the_key_and_the_value(
    make_device: DeviceFactory, token: str, text: str, key: str, value: str
) -> None:
    """A bad config.json makes sync push, pull and status fail in one line naming the file,
    the key and the value."""
    device = make_device("A")
    device.configure(None, token)
    device.config.write_text(text, encoding="utf-8")
    for action in ("pull", "push", "status"):
        message = one_line_error(device.memento("sync", action))
        assert str(device.config) in message
        assert key in message
        assert value in message


def test_a_misspelt_key_is_warned_about_and_the_command_still_runs(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """An unknown key of the sync section is named in a warning on stderr; the pull goes on."""
    device = make_device("A")
    device.configure(server.url, token)
    document = json.loads(device.config.read_text(encoding="utf-8"))
    document["sync"]["conflict_stratgy"] = "merge"
    document["editor"] = {"theme": "dark"}  # the application's own settings are not ours
    device.config.write_text(json.dumps(document), encoding="utf-8")
    result = device.memento("sync", "pull")
    assert result.returncode == 0, result.stderr
    assert "memento: warning:" in result.stderr
    assert "sync.conflict_stratgy" in result.stderr
    assert "editor" not in result.stderr


def test_a_bad_config_is_reported_by_memento_syncd_too(make_device: DeviceFactory) -> None:
    """memento-syncd conflicts resolve reads the settings and reports a bad file the same way."""
    device = make_device("A")
    device.home.mkdir()
    device.config.write_text('{"sync": {"similarity_threshold": 7}}', encoding="utf-8")
    message = one_line_error(device.syncd("conflicts", "resolve", "1", "--keep", "local"))
    assert str(device.config) in message
    assert "sync.similarity_threshold = 7" in message


def test_conflicts_list_and_restore_need_no_settings(make_device: DeviceFactory) -> None:
    """With a config.json that cannot be read as settings, the conflicts can still be
    listed (and a lost version restored, which names only a history entry)."""
    device = make_device("A")
    device.home.mkdir()
    device.config.write_text('{"sync": {', encoding="utf-8")
    assert json.loads(device.ok(device.syncd("conflicts", "list", "--json"))) == []
    assert device.ok(device.syncd("conflicts", "list", "--history")).strip() == (
        "no settled conflicts"
    )
    message = one_line_error(device.syncd("conflicts", "restore", "7"))
    assert "config.json" not in message
    assert "7" in message


def test_a_token_file_readable_by_others_is_refused_with_chmod_advice(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """A 0644 token file is refused in one line that says chmod 600 and names the file."""
    device = make_device("A")
    device.configure(server.url, token)
    device.token_file.chmod(0o644)
    message = one_line_error(device.memento("sync", "pull"))
    assert "chmod 600" in message
    assert str(device.token_file) in message


def test_the_token_environment_variable_overrides_the_file(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """MEMENTO_SYNC_TOKEN wins over the token file, whether the file is good, bad or unsafe."""
    good_env = make_device("A", MEMENTO_SYNC_TOKEN=token)
    good_env.configure(server.url, BOGUS_TOKEN)
    good_env.token_file.chmod(0o644)
    good_env.save("via env", "x")
    assert "pushed 1" in good_env.push()
    bad_env = make_device("B", MEMENTO_SYNC_TOKEN=BOGUS_TOKEN)
    bad_env.configure(server.url, token)
    assert "refused the token" in one_line_error(bad_env.memento("sync", "pull"))


# 5. conflicts


def test_conflicts_list_on_a_fresh_home_is_empty(make_device: DeviceFactory) -> None:
    """conflicts list --json on a new home prints an empty JSON array."""
    device = make_device("A")
    assert json.loads(device.ok(device.syncd("conflicts", "list", "--json"))) == []


def test_a_manual_conflict_is_listed_and_resolving_remote_converges(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """Two edits under the manual strategy make a listed conflict; keep remote converges."""
    a, b = make_device("A"), make_device("B")
    for device in (a, b):
        device.configure(server.url, token, conflict_strategy="manual")
    a_id = a.save("shared", "base content", topic_key="k")
    a.push()
    b.pull()
    (b_row,) = b.listing()
    a.edit(a_id, "A edit", "2030-01-02T00:00:00Z")
    b.edit(b_row["id"], "B edit", "2030-01-03T00:00:00Z")
    a.push()
    b.push()
    (conflict,) = json.loads(b.ok(b.syncd("conflicts", "list", "--json")))
    assert conflict["local"]["content"] == "B edit"
    assert conflict["remote"]["content"] == "A edit"
    assert conflict["local_id"] == b_row["id"]
    assert json.loads(a.ok(a.syncd("conflicts", "list", "--json"))) == []

    b.ok(b.syncd("conflicts", "resolve", str(conflict["id"]), "--keep", "remote"))
    assert json.loads(b.ok(b.syncd("conflicts", "list", "--json"))) == []
    for device in (b, a):
        device.push()
        device.pull()
    assert a.live() == b.live()
    assert [row[3] for row in a.live()] == ["A edit"]
    assert all(s["pending"] == 0 for s in a.status() + b.status())


def test_resolving_an_unknown_conflict_fails_in_one_line(make_device: DeviceFactory) -> None:
    """conflicts resolve with an id that names no open conflict fails in one line."""
    device = make_device("A")
    message = one_line_error(device.syncd("conflicts", "resolve", "999", "--keep", "remote"))
    assert "999" in message
    assert "conflicts list" in message


# 6. --help


@pytest.mark.parametrize(
    "argv",
    [
        (MEMENTO, "--help"),
        (MEMENTO, "sync", "--help"),
        (MEMENTO, "sync", "push", "--help"),
        (SYNCD, "login", "--help"),
        (SYNCD, "conflicts", "resolve", "--help"),
    ],
    ids=["memento", "memento-sync", "memento-sync-push", "syncd-login", "syncd-conflicts-resolve"],
)
def test_help_works(make_device: DeviceFactory, argv: tuple[str, ...]) -> None:
    """--help prints usage on stdout and exits 0, touching no home."""
    device = make_device("A")
    result = run_command(argv[0], argv[1:], device.env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
    assert result.stderr == ""
    assert not device.home.exists()


@pytest.mark.parametrize(
    "command",
    [(MEMENTO, "list", "--json"), (MEMENTO, "list")],
)
def test_output_into_a_reader_that_stops_early_ends_quietly(
    make_device: DeviceFactory, command: tuple[str, ...]
) -> None:
    """``... | head -1``: the command stops without a traceback once the reader is gone."""
    device = make_device("A")
    device.configure(None, None)
    with sqlite3.connect(device.home / "memento.db") as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS observations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " sync_id TEXT, session_id TEXT, type TEXT NOT NULL, title TEXT NOT NULL,"
            " content TEXT NOT NULL, project TEXT, scope TEXT NOT NULL DEFAULT 'project',"
            " topic_key TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT)"
        )
        conn.executemany(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES ('p', 'note', ?, ?, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')",
            ((f"row {n}", "words " * 100) for n in range(3000)),
        )
    exe, *args = command
    proc = subprocess.Popen(
        [exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=device.env
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # the reader goes away, as head does after its line
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=30)
    assert "Traceback" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


def test_pulling_a_mistyped_project_leaves_no_trace_in_status(
    device_pair: list[Device],
) -> None:
    """``sync pull --project`` of a name that holds nothing does not add it to status."""
    device = device_pair[0]
    device.ok(device.memento("sync", "pull", "--project", "no-such-project"))
    device.ok(device.memento("sync", "push", "--project", "no-such-project"))
    shown = json.loads(device.ok(device.memento("sync", "status", "--json")))
    assert "no-such-project" not in [p["project_id"] for p in shown]


@pytest.mark.parametrize(
    "argv",
    [
        (MEMENTO, "save", "--title", "t", "--content", "c", "--scope", "world"),
        (MEMENTO, "frobnicate"),
        (SYNCD, "conflicts", "resolve", "1", "--keep", "neither"),
        (SYNCD,),
    ],
)
def test_a_bad_argument_is_one_line_naming_help(
    make_device: DeviceFactory, argv: tuple[str, ...]
) -> None:
    """Argument errors are one line on stderr, exit 2, and point at --help."""
    exe, *args = argv
    result = run_command(exe, tuple(args), make_device("A").env)
    assert result.returncode == 2
    line = one_line_error(result)
    assert "error:" in line
    assert "--help" in line


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ((MEMENTO, "sync", "push", "extra"), "memento sync push"),
        ((MEMENTO, "list", "x", "y"), "memento list"),
        ((SYNCD, "conflicts", "list", "--bogus"), "memento-syncd conflicts list"),
    ],
)
def test_a_leftover_argument_names_its_subcommands_help(
    make_device: DeviceFactory, argv: tuple[str, ...], named: str
) -> None:
    """An argument no option takes is reported by the subcommand given it, pointing at
    that subcommand's --help (not the top-level one)."""
    exe, *args = argv
    result = run_command(exe, tuple(args), make_device("A").env)
    assert result.returncode == 2
    line = one_line_error(result)
    assert line.startswith(f"{named}: error: unrecognized arguments: "), line
    assert line.endswith(f"(see '{named} --help')"), line


@pytest.mark.parametrize(
    ("argv", "named", "missing"),
    [
        ((MEMENTO, "--bogus"), "memento", "COMMAND"),
        ((SYNCD, "--bogus=1"), "memento-syncd", "COMMAND"),
        ((MEMENTO, "sync", "--json"), "memento sync", "ACTION"),
    ],
)
def test_an_unknown_option_without_a_command_is_named(
    make_device: DeviceFactory, argv: tuple[str, ...], named: str, missing: str
) -> None:
    """An option the (sub)command does not know, given without the command it needs, is
    named beside the missing command (argparse names only the command)."""
    exe, *args = argv
    result = run_command(exe, tuple(args), make_device("A").env)
    assert result.returncode == 2
    line = one_line_error(result)
    assert line == (
        f"{named}: error: the following arguments are required: {missing};"
        f" unrecognized arguments: {args[-1]} (see '{named} --help')"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("save", "--proj", "p", "--type", "note", "--title", "t"),  # an abbreviation
        ("save", "--project", "p", "--type", "note", "--title", "-5"),  # a negative number
    ],
)
def test_arguments_argparse_takes_are_not_called_unrecognized(
    make_device: DeviceFactory, args: tuple[str, ...]
) -> None:
    """A missing option is reported alone when every other argument was taken: an
    abbreviation of an option, or a value that looks like a negative number."""
    result = run_command(MEMENTO, args, make_device("A").env)
    assert one_line_error(result) == (
        "memento save: error: the following arguments are required: --content"
        " (see 'memento save --help')"
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ((SYNCD, "server", "serve"), "Run the sync server in the foreground."),
        ((MEMENTO, "sync", "push"), "Push local changes."),
    ],
)
def test_a_subcommands_help_starts_with_what_it_does(
    make_device: DeviceFactory, argv: tuple[str, ...], said: str
) -> None:
    """A subcommand's --help says what it does under its usage, as its parent lists it."""
    exe, *args = argv
    out = make_device("A").ok(run_command(exe, (*args, "--help"), make_device("B").env))
    assert said in out


@pytest.mark.parametrize(
    ("server", "token", "said"),
    [
        ("ftp://x", "msd_a_b", '--server "ftp://x": must be an http:// or https:// URL'),
        ("CLOSED", "", "the token is empty"),
    ],
)
def test_login_refuses_a_bad_server_or_token_before_asking_any_server(
    make_device: DeviceFactory, server: str, token: str, said: str
) -> None:
    """login names a malformed --server or an empty --token in one line without
    contacting a server (a closed port would otherwise be tried), and saves nothing."""
    device = make_device("A")
    url = closed_port_url() if server == "CLOSED" else server
    line = one_line_error(device.syncd("login", "--server", url, "--token", token))
    assert said in line, line
    assert "could not" not in line
    assert not device.config.exists()
    assert not device.token_file.exists()


def _insert_bad_row(device: Device) -> int:
    """A row whose timestamps the server would refuse, written with plain SQL."""
    conn = sqlite3.connect(device.home / "memento.db", isolation_level=None, timeout=5)
    try:
        cur = conn.execute(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"
            " VALUES ('p', 'note', 'bad', 'x', 'yesterday-ish', 'yesterday-ish')"
        )
    finally:
        conn.close()
    assert cur.lastrowid is not None
    return cur.lastrowid


def test_a_row_set_aside_by_a_push_is_named_on_stderr(
    make_device: DeviceFactory, server: ServerProcess, token: str
) -> None:
    """A push that sets a row aside succeeds, sends the rest, and names the row on stderr."""
    device = make_device("A")
    device.configure(server.url, token)
    device.save("good", "fine")
    bad = _insert_bad_row(device)
    result = device.memento("sync", "push")
    assert "p: pushed 1" in device.ok(result)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"p: row {bad} skipped: ")
    assert "updated_at" in line


def test_a_row_set_aside_by_a_push_that_then_fails_is_still_told(
    make_device: DeviceFactory,
) -> None:
    """The push fails after setting a row aside: its one error line names the server and
    the row (later pushes do not read it again), and status keeps it."""
    device = make_device("A")
    url = closed_port_url()
    device.configure(url, "abc_def")
    device.save("good", "fine")
    bad = _insert_bad_row(device)
    error = one_line_error(device.memento("sync", "push"))
    assert url in error
    assert f"also set aside 1 row(s) that cannot sync: {bad};" in error
    assert f"row {bad} cannot be synced" in device.ok(device.memento("sync", "status"))


def test_a_socket_path_too_long_for_unix_sockets_is_one_line_naming_a_way_out(
    tmp_path: Path, server: ServerProcess, token: str
) -> None:
    """A MEMENTO_HOME so deep that its control socket's path is over the Unix limit makes
    ``run`` exit in one line naming the path and a shorter place outside /tmp."""
    device = Device(tmp_path / ("d" * 60) / ("e" * 60), {})
    device.configure(server.url, token)
    line = one_line_error(device.syncd("run"))
    assert str(device.home / "syncd.sock") in line
    assert "too long for a Unix socket" in line
    assert "outside /tmp" in line
    assert "sync.socket_path" in line
