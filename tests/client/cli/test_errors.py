"""The commands' error boundary (``cli.common.run``): whatever a command's handler
raises ends as one line on stderr with a non-zero exit, never a traceback, unless
``MEMENTO_SYNCD_TRACEBACK`` asks for one."""

from __future__ import annotations

import argparse
import sqlite3

import pytest

from memento_syncd.cli.common import TRACEBACK_ENV, CommandError, printable, run


def _raising(exc: BaseException) -> int:
    raise exc


def _run(exc: BaseException) -> int:
    return run(lambda _: _raising(exc), argparse.Namespace(), "memento")


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (CommandError("no sync token\nrun login", 3), 3, "no sync token run login"),
        (sqlite3.OperationalError("disk I/O error"), 1, "database error: disk I/O error"),
        (OSError(28, "No space left"), 1, "system error: [Errno 28] No space left"),
    ],
    ids=["command-error", "database", "system"],
)
def test_an_error_is_one_line_with_its_exit_code(
    capsys: pytest.CaptureFixture[str], exc: BaseException, code: int, line: str
) -> None:
    """A command's own error keeps its exit code, a database or system error says which,
    and a message of several lines is printed as one."""
    assert _run(exc) == code
    assert capsys.readouterr().err == f"memento: error: {line}\n"


def test_an_unexpected_error_is_one_line_asking_for_a_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any other exception is one line naming it as a bug and how to see the traceback;
    ``MEMENTO_SYNCD_TRACEBACK=0`` does not ask for one."""
    monkeypatch.setenv(TRACEBACK_ENV, "0")
    assert _run(KeyError("lost")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("memento: error: unexpected KeyError: 'lost'; this is a bug")
    assert f"{TRACEBACK_ENV}=1" in err


def test_the_traceback_variable_lets_the_error_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``MEMENTO_SYNCD_TRACEBACK=1`` the exception propagates, for a bug report."""
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(KeyError, match="lost"):
        _run(KeyError("lost"))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("clear\x1b[2J", "clear\\x1b[2J"),
        ("two\nlines\r", "two\\nlines\\r"),
        ("c1\x85 del\x7f", "c1\\x85 del\\x7f"),
        ("bidi \u202e and \u2067", "bidi \\u202e and \\u2067"),
        ("sep\u2028", "sep\\u2028"),
        ("日本\u3000語 👩\u200d💻 a\u00a0b", "日本\u3000語 👩\u200d💻 a\u00a0b"),
    ],
)
def test_printable_escapes_what_drives_a_terminal_and_keeps_other_text(
    text: str, shown: str
) -> None:
    """Controls, line separators and bidi overrides show escaped; CJK spaces, emoji
    sequences and no-break spaces print as they are."""
    assert printable(text) == shown
