"""The installed ``memento-syncd server`` commands, run as a user would."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import obs
from tests.server.proc import EXE, ServerProcess, run, start_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server subprocess on a fresh database."""
    proc = start_server(tmp_path / "server.db", tmp_path / "server.log")
    yield proc
    proc.stop(signal.SIGKILL)


def _token(db: Path, team: str = "acme", member: str = "alice") -> str:
    result = run("server", "create-token", "--db", str(db), "--team", team, "--member", member)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_token_push_pull_revoke_through_the_commands(server: ServerProcess, tmp_path: Path) -> None:
    """create-token's last line works as a bearer token until revoke-token."""
    db = tmp_path / "server.db"
    token = _token(db)
    status, body = server.request(
        "/api/sync/push", token, {"project_id": "my-app", "observations": [obs("a")]}
    )
    assert (status, body["synced"]) == (200, 1)
    status, body = server.request("/api/sync/pull", token, {"project_id": "my-app"})
    assert [o["sync_id"] for o in body["observations"]] == ["a"]
    revoked = run("server", "revoke-token", "--db", str(db), token)
    assert revoked.returncode == 0, revoked.stderr
    status, body = server.request("/api/sync/pull", token, {"project_id": "my-app"})
    assert (status, body["error"]["code"]) == (401, "unauthorized")


def test_sigterm_stops_the_server_with_status_zero(server: ServerProcess) -> None:
    """A service manager's SIGTERM ends the server cleanly."""
    assert server.stop(signal.SIGTERM) == 0


def test_request_log_has_one_line_per_request_and_never_a_token(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Each request logs team, project, counts and duration as JSON, and no token."""
    token = _token(tmp_path / "server.db")
    server.request("/api/sync/push", token, {"project_id": "p", "observations": [obs("a")]})
    server.request("/api/sync/pull", token, {"project_id": "p"})
    server.request("/api/sync/pull", token + "x", {"project_id": "p"})
    server.stop()
    log = server.log()
    secret = token.rsplit("_", 1)[1]
    assert secret not in log
    lines = [line for line in log.splitlines() if '"event": "request"' in line]
    assert len(lines) == 3
    assert '"team": "acme"' in lines[0]
    assert '"project": "p"' in lines[0]
    assert '"synced": 1' in lines[0]
    assert '"returned": 1' in lines[1]
    assert '"status": 401' in lines[2]
    assert all('"duration_ms"' in line for line in lines)


def test_token_table_holds_no_plaintext(tmp_path: Path) -> None:
    """The database file (and its WAL) never contains a token or its secret."""
    db = tmp_path / "server.db"
    tokens = [_token(db, member=f"m{n}") for n in range(3)]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("server.db"))
    for token in tokens:
        secret = token.rsplit("_", 1)[1]
        assert token.encode() not in raw
        assert secret.encode() not in raw
    with sqlite3.connect(db) as conn:
        hashes = [row[0] for row in conn.execute("SELECT secret_hash FROM tokens")]
    assert len(hashes) == 3
    assert all(len(h) == 64 for h in hashes)


def test_tokens_carry_at_least_128_random_bits(tmp_path: Path) -> None:
    """The secret part is long and tokens never repeat."""
    tokens = {_token(tmp_path / "s.db", member=f"m{n}") for n in range(5)}
    assert len(tokens) == 5
    for token in tokens:
        assert len(token.rsplit("_", 1)[1]) >= 32  # hex digits: 4 bits each


def test_list_tokens_shows_ids_not_secrets(tmp_path: Path) -> None:
    """list-tokens names team, member and state but no secret."""
    db = tmp_path / "s.db"
    token = _token(db)
    run("server", "revoke-token", "--db", str(db), token)
    listing = run("server", "list-tokens", "--db", str(db))
    assert listing.returncode == 0
    assert "acme/alice" in listing.stdout
    assert "revoked" in listing.stdout
    assert token.rsplit("_", 1)[1] not in listing.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["server", "revoke-token", "--db", "{tmp}/missing.db", "msd_x_y"], "no server database"),
        (
            ["server", "create-token", "--db", "{tmp}/s.db", "--team", " ", "--member", "a"],
            "--team",
        ),
        (
            ["server", "create-token", "--db", "/proc/nope/s.db", "--team", "t", "--member", "a"],
            "cannot use database",
        ),
        (["server", "serve", "--db", "{tmp}/s.db", "--port", "70000"], "--port"),
    ],
)
def test_errors_are_one_line_without_traceback(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """A user's mistake exits non-zero with one line on stderr naming the cause."""
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    """Serving on a taken port says so in one line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("server", "serve", "--db", str(tmp_path / "s.db"), "--port", str(port))
    assert result.returncode != 0
    assert "cannot serve on 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help_work(tmp_path: Path) -> None:
    """--version and --help answer with status zero."""
    assert run("--version").stdout.startswith("memento-syncd ")
    for args in (
        ["--help"],
        ["server", "--help"],
        ["server", "serve", "--help"],
        ["server", "create-token", "--help"],
    ):
        assert run(*args).returncode == 0, args


@pytest.mark.parametrize(
    "command",
    [
        ("create-token", "--team", "t", "--member", "m"),
        ("list-tokens",),
        ("serve", "--port", "0"),
    ],
)
@pytest.mark.parametrize(
    "content", [b"not a database at all\n", b"SQLite format 3\x00" + b"\x01" * 80]
)
def test_a_file_that_is_not_a_server_database_is_an_error_that_exits(
    tmp_path: Path, command: tuple[str, ...], content: bytes
) -> None:
    """Pointed at a file that is not SQLite, each server command says so and exits."""
    db = tmp_path / "garbage.db"
    db.write_bytes(content)
    result = run("server", command[0], "--db", str(db), *command[1:], timeout=20)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("memento-syncd: error: cannot ")
    assert str(db) in result.stderr


def test_a_server_database_of_a_newer_version_is_an_error_that_exits(tmp_path: Path) -> None:
    """A database written by a newer server is refused with advice, not a traceback."""
    db = tmp_path / "server.db"
    assert run("server", "list-tokens", "--db", str(db)).returncode != 0  # no such file yet
    assert (
        run("server", "create-token", "--db", str(db), "--team", "t", "--member", "m").returncode
        == 0
    )
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    result = run("server", "list-tokens", "--db", str(db), timeout=20)
    assert result.returncode != 0
    assert "newer than this server knows" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_whose_output_nobody_reads_keeps_serving_and_stops(tmp_path: Path) -> None:
    """Its output pipe closed (``serve | head -1``), it still answers and exits on SIGTERM."""
    proc = subprocess.Popen(
        [EXE, "server", "serve", "--db", str(tmp_path / "s.db"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        proc.stdout.close()  # the reader goes away
        for _ in range(3):  # each request logs a line into the closed pipe
            with urllib.request.urlopen(url + "/api/health", timeout=10) as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
