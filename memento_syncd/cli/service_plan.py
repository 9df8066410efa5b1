"""What ``memento-syncd service install|uninstall|status`` would do, as data.

Pure planning: given the platform, the executable, the Memento directory and the user's
directories, the functions here render the service file from the templates shipped in
the package (``service/`` at the top of the repository, ``memento_syncd/units`` in the
package) and list the steps (directories, files, commands) in order. Nothing here
touches the file system except reading those templates, and nothing runs a command;
``service_cmds`` carries the steps out or prints them (``--dry-run``).
"""

from __future__ import annotations

import os
import plistlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePath
from typing import Any, Literal

USER_UNIT = "memento-syncd.service"
SERVER_UNIT = "memento-syncd-server.service"
PLIST = "io.memento.syncd.plist"
LABEL = "io.memento.syncd"

Manager = Literal["systemd", "launchd"]


class PlanError(ValueError):
    """The service cannot be planned: unsupported platform or a path a unit cannot hold."""


@dataclass(frozen=True)
class Target:
    """Where and what to install: everything the plan depends on, gathered by the caller."""

    platform: str  # sys.platform
    executable: PurePath  # absolute path of the memento-syncd command
    memento_home: PurePath  # MEMENTO_HOME for the daemon
    home: PurePath  # the user's home directory
    config_dir: PurePath  # $XDG_CONFIG_HOME or ~/.config
    uid: int


@dataclass(frozen=True)
class MakeDir:
    """Create a directory (and its parents) if missing; ``mode`` applies to a new one."""

    path: PurePath
    mode: int


@dataclass(frozen=True)
class WriteFile:
    """Write ``content`` to ``path`` atomically, replacing what was there."""

    path: PurePath
    content: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class RemoveFile:
    """Remove ``path`` if it exists."""

    path: PurePath


@dataclass(frozen=True)
class Run:
    """Run a command; ``may_fail`` when a failure means "nothing to do" (not loaded...)."""

    argv: tuple[str, ...]
    may_fail: bool = False


Step = MakeDir | WriteFile | RemoveFile | Run


@dataclass(frozen=True)
class Plan:
    """The steps of one action, in order, after ``probe`` shows the service manager works."""

    manager: Manager
    service_file: PurePath
    probe: Run
    steps: tuple[Step, ...]


def manager_for(platform: str) -> Manager:
    """The service manager used on ``platform`` (a ``sys.platform`` value)."""
    if platform.startswith("linux"):
        return "systemd"
    if platform == "darwin":
        return "launchd"
    raise PlanError(
        f"no supported service manager on {platform} (systemd or launchd); run"
        " 'memento-syncd run' under your own supervisor"
    )


@cache
def template(name: str) -> bytes:
    """The packaged template ``name`` (one of the files in the top-level ``service/``)."""
    return resources.files("memento_syncd").joinpath("units", name).read_bytes()


# --- systemd --------------------------------------------------------------------------

# systemd refuses an executable whose name holds quotes or backslashes ("Executable name
# contains special characters"), even when escaped.
_BAD_IN_EXECUTABLE = frozenset("\"'\\")
_PLACEHOLDER = re.compile(r"@(EXECUTABLE|MEMENTO_HOME)@")
_PROGRAM = '"@EXECUTABLE@"'
# What may stand before the program of an Exec*= command: "-", "@", ":", "+", "!", "!!".
_EXEC_PREFIXES = "-@:+!"


def _not_clean_utf8(value: str) -> bool:
    """Whether systemd would call ``value`` "not UTF-8 clean" and ignore the setting.

    A lone surrogate is an undecodable byte of the file system name (no UTF-8 at all);
    noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) are refused by systemd's UTF-8 check.
    """
    return any(
        0xD800 <= code <= 0xDFFF or 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
        for code in map(ord, value)
    )


def systemd_quoted(value: str, what: str, *, command: bool = False) -> str:
    """``value`` escaped for the inside of a double-quoted unit-file word.

    The templates put every placeholder between double quotes, so spaces need nothing;
    ``\\`` and ``"`` are C-escaped and ``%`` (the specifier sign) doubled. In a command
    line (``command``: an argument of ``Exec*=``) systemd also expands ``$NAME`` and
    ``${NAME}`` when it runs the command, so ``$`` is doubled there; elsewhere
    (``Environment=``, ``ReadWritePaths=``) ``$`` means nothing and stays as it is.
    Control characters and text systemd refuses as not UTF-8 cannot be written and are
    refused.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise PlanError(f"{what} {value!r} holds a control character; a unit file cannot")
    if _not_clean_utf8(value):
        raise PlanError(
            f"{what} {value!r} is not clean UTF-8 (an undecodable byte or a noncharacter),"
            " which systemd refuses; use a plainer path"
        )
    quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return quoted.replace("$", "$$") if command else quoted


def render_unit(template_text: str, executable: PurePath, memento_home: PurePath) -> str:
    """A systemd unit template with ``@EXECUTABLE@`` and ``@MEMENTO_HOME@`` filled in.

    Each value is escaped for the line it lands in (see ``systemd_quoted``). The program
    of a command is the exception: systemd runs that path exactly as written, with no
    ``$`` expansion, but expands ``$`` in the argv[0] it makes of the same word; so an
    executable holding ``$`` is written as ``@"path" "argv[0]"`` (the ``@`` prefix gives
    argv[0] separately), the path as it is and argv[0] escaped like any argument.
    """
    exe = str(executable)
    if not executable.is_absolute():
        raise PlanError(f"the executable {exe!r} is not an absolute path")
    if not memento_home.is_absolute():
        raise PlanError(f"MEMENTO_HOME {str(memento_home)!r} is not an absolute path")
    if _BAD_IN_EXECUTABLE & set(exe):
        raise PlanError(
            f"systemd refuses to run {exe!r} (quotes or backslashes in the name);"
            " install memento-syncd under a plainer path"
        )
    values = {
        "EXECUTABLE": (exe, "executable"),
        "MEMENTO_HOME": (str(memento_home), "MEMENTO_HOME"),
    }

    def fill(text: str, command: bool) -> str:
        def one(match: re.Match[str]) -> str:
            value, what = values[match.group(1)]
            return systemd_quoted(value, what, command=command)

        # One pass, so that a value holding "@MEMENTO_HOME@" is not filled in again.
        return _PLACEHOLDER.sub(one, text)

    lines = []
    for line in template_text.splitlines(keepends=True):
        key, equals, value = line.partition("=")
        if not (equals and key.strip().startswith("Exec")):
            lines.append(fill(line, command=False))
            continue
        prefixes = value[: len(value) - len(value.lstrip(_EXEC_PREFIXES))]
        rest = value[len(prefixes) :]
        if rest.startswith(_PROGRAM):
            program = f'"{systemd_quoted(exe, "executable")}"'
            if "$" in exe and "@" not in prefixes:
                argv0 = systemd_quoted(exe, "executable", command=True)
                prefixes, program = f"{prefixes}@", f'{program} "{argv0}"'
            rest = program + fill(rest[len(_PROGRAM) :], command=True)
        else:
            rest = fill(rest, command=True)
        lines.append(f"{key}={prefixes}{rest}")
    return "".join(lines)


def _user_unit_dir(target: Target) -> PurePath:
    return target.config_dir / "systemd" / "user"


def _systemctl(*args: str, may_fail: bool = False) -> Run:
    return Run(("systemctl", "--user", *args), may_fail)


def _systemd_install(target: Target) -> Plan:
    unit = _user_unit_dir(target) / USER_UNIT
    text = render_unit(template(USER_UNIT).decode("utf-8"), target.executable, target.memento_home)
    steps: tuple[Step, ...] = (
        MakeDir(target.memento_home, 0o700),  # ReadWritePaths= needs it to exist
        MakeDir(_user_unit_dir(target), 0o755),
        WriteFile(unit, text.encode("utf-8")),
        _systemctl("daemon-reload"),
        _systemctl("enable", USER_UNIT),
        # restart, not start: a second install must run the new file and executable.
        _systemctl("restart", USER_UNIT),
    )
    return Plan("systemd", unit, _systemd_probe(), steps)


def _systemd_uninstall(target: Target) -> Plan:
    unit = _user_unit_dir(target) / USER_UNIT
    steps: tuple[Step, ...] = (
        _systemctl("disable", "--now", USER_UNIT),
        RemoveFile(unit),
        _systemctl("daemon-reload"),
        # Forget an earlier failure; systemctl complains when there is none.
        _systemctl("reset-failed", USER_UNIT, may_fail=True),
    )
    return Plan("systemd", unit, _systemd_probe(), steps)


def _systemd_status(target: Target) -> Plan:
    unit = _user_unit_dir(target) / USER_UNIT
    steps: tuple[Step, ...] = (
        # Both exit non-zero for "disabled" and "inactive": the answer is the output.
        _systemctl("is-enabled", USER_UNIT, may_fail=True),
        _systemctl("is-active", USER_UNIT, may_fail=True),
    )
    return Plan("systemd", unit, _systemd_probe(), steps)


def _systemd_probe() -> Run:
    # Succeeds only when a systemd user instance answers (it fails with "Failed to
    # connect to bus" in containers and sessions without one).
    return _systemctl("show-environment")


# --- launchd --------------------------------------------------------------------------


_PLIST_PLACEHOLDER = re.compile(r"@(?:EXECUTABLE|MEMENTO_HOME|LOG_DIR)@")


def log_dir(home: PurePath) -> PurePath:
    """Where the launchd agent's output goes: ``~/Library/Logs``."""
    return home / "Library" / "Logs"


def render_plist(
    template_bytes: bytes, executable: PurePath, memento_home: PurePath, logs: PurePath
) -> bytes:
    """The launchd plist with its placeholders filled in, XML-escaped by plistlib.

    launchd runs no shell and expands nothing (no ``$``, ``%`` or ``~``), so a value is
    written exactly as it is; XML escaping (``&``, ``<``, ``>``) is all it needs.
    """
    values = {
        "@EXECUTABLE@": str(executable),
        "@MEMENTO_HOME@": str(memento_home),
        "@LOG_DIR@": str(logs),
    }
    for placeholder, value in values.items():
        if not PurePath(value).is_absolute():
            raise PlanError(f"{placeholder.strip('@')} {value!r} is not an absolute path")
        # XML 1.0 cannot carry most control characters at all, escaped or not.
        if any(ord(c) < 0x20 for c in value):
            raise PlanError(f"{value!r} holds a control character; a plist cannot")
        # Nor U+FFFE, U+FFFF, or a lone surrogate (an undecodable byte of a file name).
        if any(0xD800 <= ord(c) <= 0xDFFF or c in "\ufffe\uffff" for c in value):
            raise PlanError(f"{value!r} is not UTF-8 text that XML can hold; a plist cannot")

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            # One pass, so that a value holding "@LOG_DIR@" is not filled in again.
            return _PLIST_PLACEHOLDER.sub(lambda match: values[match.group()], node)
        if isinstance(node, dict):
            return {key: fill(item) for key, item in node.items()}
        if isinstance(node, list):
            return [fill(item) for item in node]
        return node

    return plistlib.dumps(fill(plistlib.loads(template_bytes)), sort_keys=False)


def _agents_dir(target: Target) -> PurePath:
    return target.home / "Library" / "LaunchAgents"


def _domain(target: Target) -> str:
    return f"gui/{target.uid}"


def _launchd_probe(target: Target) -> Run:
    # The per-user GUI domain exists once the user is logged in at the console.
    return Run(("launchctl", "print", _domain(target)))


def _launchd_install(target: Target) -> Plan:
    plist = _agents_dir(target) / PLIST
    service = f"{_domain(target)}/{LABEL}"
    logs = log_dir(target.home)
    content = render_plist(template(PLIST), target.executable, target.memento_home, logs)
    steps: tuple[Step, ...] = (
        MakeDir(target.memento_home, 0o700),
        MakeDir(logs, 0o755),
        MakeDir(_agents_dir(target), 0o755),
        # Unload an earlier install first, so a second install runs the new file.
        Run(("launchctl", "bootout", service), may_fail=True),
        WriteFile(plist, content),
        # Undo an earlier `launchctl disable`, which would make bootstrap fail.
        Run(("launchctl", "enable", service)),
        Run(("launchctl", "bootstrap", _domain(target), str(plist))),
    )
    return Plan("launchd", plist, _launchd_probe(target), steps)


def _launchd_uninstall(target: Target) -> Plan:
    plist = _agents_dir(target) / PLIST
    steps: tuple[Step, ...] = (
        # Fails when the agent is not loaded, which is what we want anyway.
        Run(("launchctl", "bootout", f"{_domain(target)}/{LABEL}"), may_fail=True),
        RemoveFile(plist),
    )
    return Plan("launchd", plist, _launchd_probe(target), steps)


def _launchd_status(target: Target) -> Plan:
    plist = _agents_dir(target) / PLIST
    # Exits 113 when the agent is not loaded.
    steps: tuple[Step, ...] = (
        Run(("launchctl", "print", f"{_domain(target)}/{LABEL}"), may_fail=True),
    )
    return Plan("launchd", plist, _launchd_probe(target), steps)


# --- entry points -----------------------------------------------------------------------

_PLANNERS: dict[tuple[Manager, str], Callable[[Target], Plan]] = {
    ("systemd", "install"): _systemd_install,
    ("systemd", "uninstall"): _systemd_uninstall,
    ("systemd", "status"): _systemd_status,
    ("launchd", "install"): _launchd_install,
    ("launchd", "uninstall"): _launchd_uninstall,
    ("launchd", "status"): _launchd_status,
}


def plan(action: Literal["install", "uninstall", "status"], target: Target) -> Plan:
    """The steps of ``action`` on ``target``'s platform."""
    return _PLANNERS[manager_for(target.platform), action](target)


def config_dir(home: PurePath, environ: Mapping[str, str]) -> PurePath:
    """``$XDG_CONFIG_HOME`` if set to an absolute path (as systemd reads it), else ``~/.config``."""
    named = environ.get("XDG_CONFIG_HOME", "")
    return PurePath(named) if named and os.path.isabs(named) else home / ".config"


def launchd_state(printed: str) -> str | None:
    """The ``state = ...`` line of ``launchctl print gui/UID/LABEL`` (``running``...)."""
    for line in printed.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep and key == "state":
            return value.strip()
    return None
