"""The planner as a pure function: the files and commands for each platform and action."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from memento_syncd.cli.service_plan import (
    PLIST,
    USER_UNIT,
    MakeDir,
    PlanError,
    RemoveFile,
    Run,
    Step,
    Target,
    WriteFile,
    config_dir,
    launchd_state,
    manager_for,
    plan,
    render_plist,
    render_unit,
    template,
)

EXE = PurePath("/opt/memento/bin/memento-syncd")


def target(platform: str, uid: int = 501) -> Target:
    """A made-up user on ``platform``."""
    home = PurePath("/home/ann")
    return Target(
        platform=platform,
        executable=EXE,
        memento_home=home / "sync data",
        home=home,
        config_dir=PurePath("/xdg/config"),
        uid=uid,
    )


def runs(steps: tuple[Step, ...]) -> list[tuple[tuple[str, ...], bool]]:
    """The commands among ``steps``, with whether each may fail."""
    return [(s.argv, s.may_fail) for s in steps if isinstance(s, Run)]


def test_linux_install_writes_the_unit_under_xdg_config_then_reloads_enables_restarts() -> None:
    """Home first (0700), then the unit in $XDG_CONFIG_HOME, then reload, enable, restart."""
    t = target("linux")
    p = plan("install", t)
    unit = PurePath("/xdg/config/systemd/user") / USER_UNIT
    assert p.manager == "systemd"
    assert p.service_file == unit
    assert p.probe == Run(("systemctl", "--user", "show-environment"))
    assert p.steps[0] == MakeDir(t.memento_home, 0o700)
    written = [s for s in p.steps if isinstance(s, WriteFile)]
    expected = render_unit(template(USER_UNIT).decode(), EXE, t.memento_home).encode()
    assert written == [WriteFile(unit, expected, 0o644)]
    assert runs(p.steps) == [
        (("systemctl", "--user", "daemon-reload"), False),
        (("systemctl", "--user", "enable", USER_UNIT), False),
        (("systemctl", "--user", "restart", USER_UNIT), False),
    ]
    assert p.steps.index(written[0]) < p.steps.index(Run(("systemctl", "--user", "daemon-reload")))


def test_linux_uninstall_stops_before_removing_and_reloads_after() -> None:
    """disable --now, remove the file, daemon-reload; clearing a failed state may fail."""
    p = plan("uninstall", target("linux"))
    unit = PurePath("/xdg/config/systemd/user") / USER_UNIT
    assert p.steps == (
        Run(("systemctl", "--user", "disable", "--now", USER_UNIT)),
        RemoveFile(unit),
        Run(("systemctl", "--user", "daemon-reload")),
        Run(("systemctl", "--user", "reset-failed", USER_UNIT), may_fail=True),
    )


def test_linux_status_asks_is_enabled_and_is_active() -> None:
    """Status only asks; both questions exit non-zero for a negative answer."""
    p = plan("status", target("linux"))
    assert runs(p.steps) == [
        (("systemctl", "--user", "is-enabled", USER_UNIT), True),
        (("systemctl", "--user", "is-active", USER_UNIT), True),
    ]


def test_macos_install_boots_out_an_old_agent_then_bootstraps_the_new_plist() -> None:
    """The plist goes to ~/Library/LaunchAgents; bootout may fail, enable and bootstrap not."""
    t = target("darwin", uid=502)
    p = plan("install", t)
    plist = PurePath("/home/ann/Library/LaunchAgents") / PLIST
    assert p.manager == "launchd"
    assert p.service_file == plist
    assert p.probe == Run(("launchctl", "print", "gui/502"))
    logs = PurePath("/home/ann/Library/Logs")
    content = render_plist(template(PLIST), EXE, t.memento_home, logs)
    assert p.steps == (
        MakeDir(t.memento_home, 0o700),
        MakeDir(logs, 0o755),
        MakeDir(PurePath("/home/ann/Library/LaunchAgents"), 0o755),
        Run(("launchctl", "bootout", "gui/502/io.memento.syncd"), may_fail=True),
        WriteFile(plist, content, 0o644),
        Run(("launchctl", "enable", "gui/502/io.memento.syncd")),
        Run(("launchctl", "bootstrap", "gui/502", str(plist))),
    )


def test_macos_uninstall_boots_out_and_removes_the_plist() -> None:
    """Uninstall unloads the agent (fine if it was not loaded) and deletes the file."""
    p = plan("uninstall", target("darwin"))
    assert p.steps == (
        Run(("launchctl", "bootout", "gui/501/io.memento.syncd"), may_fail=True),
        RemoveFile(PurePath("/home/ann/Library/LaunchAgents") / PLIST),
    )


def test_macos_status_reads_the_state_line_of_launchctl_print() -> None:
    """`launchctl print` may fail (not loaded); its `state =` line says whether it runs."""
    p = plan("status", target("darwin"))
    assert runs(p.steps) == [(("launchctl", "print", "gui/501/io.memento.syncd"), True)]
    printed = "gui/501/io.memento.syncd = {\n\tactive count = 1\n\tstate = running\n}\n"
    assert launchd_state(printed) == "running"
    assert launchd_state("nothing useful") is None


def test_an_unsupported_platform_gets_a_clear_refusal() -> None:
    """Windows has neither systemd nor launchd: the message says what to do instead."""
    with pytest.raises(PlanError, match="memento-syncd run"):
        manager_for("win32")


@pytest.mark.parametrize(
    ("xdg", "expected"),
    [("/xdg/conf", "/xdg/conf"), ("", "/home/ann/.config"), ("rel/conf", "/home/ann/.config")],
)
def test_config_dir_follows_xdg_config_home_when_absolute(xdg: str, expected: str) -> None:
    """$XDG_CONFIG_HOME counts only when absolute, as the XDG spec and systemd say."""
    assert config_dir(PurePath("/home/ann"), {"XDG_CONFIG_HOME": xdg}) == PurePath(expected)
