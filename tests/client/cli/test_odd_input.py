"""What the application or the shell may hand over that is not text: rows holding bytes
that are not UTF-8 or a BLOB, a table missing columns, arguments that are not UTF-8.

Each is named (a row by its id, set aside while the rest syncs; the rest in one error
line), never a traceback. Real server subprocess, devices as separate ``MEMENTO_HOME``s
run through the installed commands, the application simulated by raw SQL.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.client.cli.commands import Device, DeviceFactory, one_line_error
from tests.server.proc import ServerProcess

NOT_UTF8 = "CAST(X'61ff62' AS TEXT)"  # 'a', a byte 0xff, 'b': SQLite stores it as is
BLOB = b"\x00\xff\xfe"


def app_insert(device: Device, project: str, title: str, content_sql: str, *params: Any) -> int:
    """Insert a row with plain SQL, as the application does; returns its id."""
    conn = sqlite3.connect(device.home / "memento.db", isolation_level=None, timeout=5)
    try:
        at = "'2025-01-15T10:30:00Z'"
        # content_sql: one of this module's constants, never outside input
        sql = (
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"  # noqa: S608
            f" VALUES (?, 'note', ?, {content_sql}, {at}, {at})"
        )
        cur = conn.execute(sql, (project, title, *params))
        assert cur.lastrowid is not None
        return cur.lastrowid
    finally:
        conn.close()


@pytest.fixture
def odd_rows(make_device: DeviceFactory, server: ServerProcess, token: str) -> dict[str, Any]:
    """Device A holding a good row in each of two projects, and between them a row whose
    content is not UTF-8 and one whose content is a BLOB; device B, empty."""
    a, b = make_device("A"), make_device("B")
    a.configure(server.url, token)
    b.configure(server.url, token)
    a.save("before", "a good row", project="aa")
    bad = app_insert(a, "types", "not utf-8", NOT_UTF8)
    blob = app_insert(a, "types", "a blob", "?", BLOB)
    a.save("after", "another good row", project="zz")
    return {"a": a, "b": b, "bad": bad, "blob": blob}


def test_rows_that_are_not_text_are_set_aside_by_id_and_the_rest_syncs(
    odd_rows: dict[str, Any],
) -> None:
    """A push sets the non-UTF-8 row and the BLOB row aside, naming each id and why, and
    pushes every other row, of every project; another device gets exactly those."""
    a, b = odd_rows["a"], odd_rows["b"]
    pushed = a.memento("sync", "push")
    a.ok(pushed)
    assert re.search(rf"row {odd_rows['bad']} skipped: content: .*not UTF-8", pushed.stderr)
    assert re.search(rf"row {odd_rows['blob']} skipped: content: .*not a BLOB", pushed.stderr)
    b.pull()
    assert [(row[0], row[2]) for row in b.live()] == [("aa", "before"), ("zz", "after")]
    status = a.ok(a.memento("sync", "status"))
    assert f"row {odd_rows['bad']} cannot be synced" in status
    assert f"row {odd_rows['blob']} cannot be synced" in status


def test_pulls_still_work_beside_rows_that_are_not_text(odd_rows: dict[str, Any]) -> None:
    """The device holding those rows indexes its rows for dedup at its pull (those two left
    out) and takes in what another device pushed."""
    a, b = odd_rows["a"], odd_rows["b"]
    a.pull()  # indexes A's rows, the odd ones included, before anything else
    b.save("from b", "written on b", project="aa")
    b.push()
    a.pull()
    assert ("aa", "note", "from b", "written on b", None, "project") in a.live()


def test_list_prints_rows_that_are_not_text(odd_rows: dict[str, Any]) -> None:
    """``memento list`` and ``memento list --json`` print every row, bytes that are not
    UTF-8 escaped: the JSON still parses."""
    a = odd_rows["a"]
    assert "not utf-8" in a.ok(a.memento("list"))
    found = {row["id"]: row for row in json.loads(a.ok(a.memento("list", "--json")))}
    assert found[odd_rows["bad"]]["content"] == "a\udcffb"
    assert found[odd_rows["blob"]]["content"] == "\x00\udcff\udcfe"


@pytest.mark.parametrize(
    "argv",
    [
        ("list",),
        ("save", "--project", "p", "--type", "note", "--title", "t", "--content", "c"),
        ("sync", "push"),
        ("sync", "status"),
    ],
)
def test_a_table_missing_columns_is_named_in_one_line(
    make_device: DeviceFactory, argv: tuple[str, ...]
) -> None:
    """An ``observations`` table without ``type`` and ``content``: the command fails in one
    line naming them, and adds nothing of memento-syncd's to the database."""
    device = make_device("old")
    device.configure("http://127.0.0.1:9", "mst_unused")
    db = device.home / "memento.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE observations (id INTEGER PRIMARY KEY, project TEXT, title TEXT)")
    line = one_line_error(device.memento(*argv))
    assert "observations has no column type, content" in line, line
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
    assert tables == ["observations"]


@pytest.mark.parametrize(
    "argv",
    [
        ("save", "--project", "p", "--type", "note", "--title", "bad\udcffbyte", "--content", "c"),
        ("save", "--project", "p\udcff", "--type", "note", "--title", "t", "--content", "c"),
        ("list", "--project", "p\udcff"),
        ("sync", "status", "--project", "p\udcff"),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_in_one_line(
    make_device: DeviceFactory, argv: tuple[str, ...]
) -> None:
    """An argument holding a byte that is not UTF-8 (0xff here) is refused in one line that
    shows it, and nothing is written."""
    device = make_device("d")
    line = one_line_error(device.memento(*argv))
    assert "is not valid UTF-8 text" in line, line
    assert "\\xff" in line, line
    assert not (device.home / "memento.db").exists()


def test_a_login_with_an_argument_that_is_not_utf8_writes_nothing(
    make_device: DeviceFactory,
) -> None:
    """``memento-syncd login`` with such a server URL fails in one line and leaves neither
    a token file nor a config behind."""
    device = make_device("d")
    result = device.syncd("login", "--server", "http://\udcff", "--token", "mst_x")
    assert "is not valid UTF-8 text" in one_line_error(result)
    assert not Path(device.home, "sync-token").exists()
    assert not device.config.exists()


@pytest.mark.parametrize("project", ["", " padded ", "tab\there"])
def test_save_refuses_a_project_name_no_server_would_take(
    make_device: DeviceFactory, project: str
) -> None:
    """``memento save`` with a blank, padded or control-character project name fails in
    one line naming ``--project``, rather than saving a row that could never sync."""
    device = make_device("d")
    line = one_line_error(device.memento("save", "--project", project, "--type", "note",
                                         "--title", "t", "--content", "c"))  # fmt: skip
    assert "--project: must" in line, line


def test_a_home_created_by_memento_is_private(make_device: DeviceFactory) -> None:
    """The ``MEMENTO_HOME`` that ``memento save`` creates is readable by its owner only."""
    device = make_device("new")
    device.save("t", "c")
    assert device.home.stat().st_mode & 0o777 == 0o700


def _raw_content(device: Device, obs_id: int) -> bytes:
    """The bytes SQLite holds in a row's content."""
    with sqlite3.connect(device.home / "memento.db") as conn:
        row = conn.execute("SELECT CAST(content AS BLOB) FROM observations WHERE id = ?", (obs_id,))
        found: bytes = row.fetchone()[0]
    return found


@pytest.mark.parametrize("push_first", [False, True], ids=["pending", "set-aside"])
def test_a_pulled_edit_never_overwrites_a_row_that_cannot_sync(
    make_device: DeviceFactory, server: ServerProcess, token: str, push_first: bool
) -> None:
    """When the application wrote bytes that are not UTF-8 into a synced row (whether a push
    set it aside already or not) and another device's edit of it is pulled, the row keeps
    the application's bytes; the pulled version is kept in the history, and restoring it
    makes both devices agree."""
    a, b = make_device("A"), make_device("B")
    for device in (a, b):
        device.configure(server.url, token)
    shared = a.save("shared", "first words")
    a.push()
    b.pull()
    with sqlite3.connect(a.home / "memento.db") as conn:
        conn.execute(f"UPDATE observations SET content = {NOT_UTF8} WHERE id = ?", (shared,))  # noqa: S608
    if push_first:
        pushed = a.memento("sync", "push")
        a.ok(pushed)
        assert f"row {shared} skipped" in pushed.stderr
    b_id = next(row["id"] for row in b.listing() if row["title"] == "shared")
    b.edit(b_id, "edited on b", "2030-01-01T00:00:00Z")
    b.push()
    a.pull()
    assert _raw_content(a, shared) == b"a\xffb"
    settled = json.loads(a.ok(a.syncd("conflicts", "list", "--history", "--json")))
    assert [(e["strategy"], e["lost"]["content"]) for e in settled] == [
        ("unsyncable_local", "edited on b")
    ]
    shown = a.ok(a.syncd("conflicts", "list", "--history"))  # both texts, not titles alone
    assert "'edited on b'" in shown
    assert "'a\\udcffb'" in shown
    a.ok(a.syncd("conflicts", "restore", str(settled[0]["id"])))
    a.push()
    b.pull()
    assert a.live() == b.live()
    assert ("p", "note", "shared", "edited on b", None, "project") in a.live()


@pytest.mark.parametrize("project_sql", [NOT_UTF8, "?"], ids=["not-utf8", "blob"])
def test_a_project_name_that_is_not_text_is_set_aside_and_the_rest_syncs(
    make_device: DeviceFactory, server: ServerProcess, token: str, project_sql: str
) -> None:
    """A row whose project the application wrote as bytes that are not UTF-8, or as a BLOB,
    is set aside by id when pushing everything; rows of every other project still push,
    and ``status`` works and names the row."""
    a, b = make_device("A"), make_device("B")
    for device in (a, b):
        device.configure(server.url, token)
    a.save("before", "a good row", project="aa")
    with sqlite3.connect(a.home / "memento.db") as conn:
        odd = conn.execute(
            "INSERT INTO observations (project, type, title, content, created_at, updated_at)"  # noqa: S608
            f" VALUES ({project_sql}, 'note', 't', 'c', '2025-01-15T10:30:00Z',"
            " '2025-01-15T10:30:00Z')",
            (b"p\xff",) if project_sql == "?" else (),
        ).lastrowid
    a.save("after", "another good row", project="zz")
    pushed = a.memento("sync", "push")
    a.ok(pushed)
    assert re.search(rf"row {odd} skipped: project: ", pushed.stderr), pushed.stderr
    b.pull()
    assert [(row[0], row[2]) for row in b.live()] == [("aa", "before"), ("zz", "after")]
    status = a.ok(a.memento("sync", "status"))
    assert f"row {odd} cannot be synced" in status
    assert a.ok(a.memento("sync", "status", "--json"))
