"""The launchd agent: rendered through plistlib, so any path comes out as valid XML."""

from __future__ import annotations

import plistlib
from pathlib import PurePath

import pytest

from memento_syncd.cli.service_plan import LABEL, PLIST, PlanError, render_plist, template

EXE = PurePath("/Users/ann/.local/bin/memento-syncd")
LOGS = PurePath("/Users/ann/Library/Logs")


def test_plist_has_the_keys_launchd_needs_with_the_right_types() -> None:
    """Label, program, environment, keep-alive, logs and throttling, each of its plist type."""
    home = PurePath("/Users/ann/.memento")
    agent = plistlib.loads(render_plist(template(PLIST), EXE, home, LOGS))
    assert agent["Label"] == LABEL
    assert agent["ProgramArguments"] == [str(EXE), "run"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["EnvironmentVariables"]["MEMENTO_HOME"] == str(home)
    assert agent["StandardOutPath"] == str(LOGS / "memento-syncd.log")
    assert agent["StandardErrorPath"] == str(LOGS / "memento-syncd.log")
    assert agent["ProcessType"] == "Background"
    assert isinstance(agent["ThrottleInterval"], int)
    assert isinstance(agent["ExitTimeOut"], int)
    assert agent["ExitTimeOut"] > 10  # the daemon needs up to 10 s after SIGTERM
    assert agent["Umask"] == 0o077


def test_a_hostile_home_path_is_xml_escaped_and_comes_back_intact() -> None:
    """`&<>"`, spaces and non-ASCII in the paths are escaped in the XML and read back exact."""
    home = PurePath('/Users/ann & <bob> "quoted"/Ünïcödé dir/.memento')
    logs = PurePath('/Users/ann & <bob> "quoted"/Library/Logs')
    raw = render_plist(template(PLIST), EXE, home, logs)
    assert b"&amp; &lt;bob&gt;" in raw
    assert "Ünïcödé".encode() in raw
    agent = plistlib.loads(raw)
    assert agent["EnvironmentVariables"]["MEMENTO_HOME"] == str(home)
    assert agent["StandardErrorPath"] == f"{logs}/memento-syncd.log"


def test_no_placeholder_is_left_after_rendering() -> None:
    """Every `@NAME@` of the template is replaced, wherever it sits in the plist."""
    raw = render_plist(template(PLIST), EXE, PurePath("/h/.memento"), LOGS)
    assert b"@" not in raw


@pytest.mark.parametrize("bad", ["/Users/ann/\x01odd", "relative/path"])
def test_a_path_a_plist_cannot_carry_is_refused(bad: str) -> None:
    """A control character (XML cannot hold it) or a relative path is refused by name."""
    with pytest.raises(PlanError, match=r"control character|not an absolute path"):
        render_plist(template(PLIST), EXE, PurePath(bad), LOGS)


def test_dollar_percent_quote_and_backslash_paths_come_back_exact() -> None:
    """launchd runs no shell and expands nothing, so `$`, `%`, quotes and backslashes are
    written as they are (only XML-escaped) and every path reads back exactly."""
    exe = PurePath('/Users/a $HOME ${HOME} %h "q" \\b é/bin/memento-syncd')
    home = PurePath('/tmp/x $HOME ${HOME} $$ %h "q" \\b é & <y>')
    logs = PurePath("/Users/a $HOME %h/Library/Logs")
    raw = render_plist(template(PLIST), exe, home, logs)
    assert b"$$HOME" not in raw
    assert b"%%" not in raw
    assert b"&amp; &lt;y&gt;" in raw
    agent = plistlib.loads(raw)
    assert agent["ProgramArguments"] == [str(exe), "run"]
    assert agent["EnvironmentVariables"]["MEMENTO_HOME"] == str(home)
    assert agent["StandardOutPath"] == f"{logs}/memento-syncd.log"


def test_a_path_holding_a_placeholder_name_is_not_filled_in_twice() -> None:
    """A path that happens to contain `@LOG_DIR@` keeps it: each placeholder is filled once."""
    home = PurePath("/Users/ann/@LOG_DIR@ @EXECUTABLE@")
    agent = plistlib.loads(render_plist(template(PLIST), EXE, home, LOGS))
    assert agent["EnvironmentVariables"]["MEMENTO_HOME"] == str(home)


@pytest.mark.parametrize("bad", ["/Users/ann/\udcff", "/Users/ann/\ufffe"])
def test_a_path_xml_cannot_hold_is_refused(bad: str) -> None:
    """An undecodable file-name byte (not UTF-8) or U+FFFE is refused by name, not crashed on
    or written as a plist launchd cannot parse."""
    with pytest.raises(PlanError, match="XML"):
        render_plist(template(PLIST), EXE, PurePath(bad), LOGS)
