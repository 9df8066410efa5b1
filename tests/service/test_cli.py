"""`memento-syncd service ...` as a user runs it, in a private HOME with no user manager.

No systemd user instance is reachable from these tests (a private, empty runtime
directory and no session bus), so real installs go down the error path, on a
developer's desktop as well as in CI. Carrying a plan out is tested on its own with
real commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePath

import pytest

from memento_syncd.cli.common import CommandError
from memento_syncd.cli.service_cmds import apply_plan
from memento_syncd.cli.service_plan import (
    USER_UNIT,
    MakeDir,
    Plan,
    RemoveFile,
    Run,
    WriteFile,
    render_unit,
    template,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="these runs expect systemd paths")

SYNCD = Path(sys.executable).parent / "memento-syncd"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private HOME, XDG_CONFIG_HOME and MEMENTO_HOME, and no reachable user manager."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    (tmp_path / "home").mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "MEMENTO_HOME": str(tmp_path / "memento home"),
        "XDG_RUNTIME_DIR": str(runtime),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/no-bus",
        "LANG": "C.UTF-8",
    }


def syncd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed memento-syncd command."""
    return subprocess.run(
        [str(SYNCD), *args],
        capture_output=True,
        encoding="utf-8",
        env=env,
        timeout=60,
        check=False,
    )


def unit_path(env: dict[str, str]) -> Path:
    """Where install puts the user unit for ``env``."""
    return Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / USER_UNIT


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `memento-syncd: error:` line of a failed run (and no traceback)."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("memento-syncd: error: ")
    return lines[0]


def test_install_dry_run_prints_the_unit_and_the_commands_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The dry run shows the rendered unit at its path and every command, and creates
    neither the unit nor MEMENTO_HOME."""
    result = syncd(env, "service", "install", "--dry-run")
    assert result.returncode == 0, result.stderr
    home = PurePath(env["MEMENTO_HOME"])
    expected = render_unit(template(USER_UNIT).decode("utf-8"), SYNCD, home)
    assert f"would write {unit_path(env)} (mode 0644):\n{expected}" in result.stdout
    assert f"would create directory {home} (mode 0700) if missing" in result.stdout
    assert "would check: systemctl --user show-environment" in result.stdout
    for command in ("daemon-reload", f"enable {USER_UNIT}", f"restart {USER_UNIT}"):
        assert f"would run: systemctl --user {command}\n" in result.stdout
    assert not (tmp_path / "config").exists()
    assert not (tmp_path / "memento home").exists()


def test_install_dry_run_escapes_a_hostile_memento_home_for_each_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    """With `$`, `%`, quotes, a backslash and non-ASCII in MEMENTO_HOME, the printed unit
    doubles `$` in the mkdir command only, and escapes quotes, backslash and `%` everywhere."""
    env["MEMENTO_HOME"] = f'{tmp_path}/x $HOME ${{HOME}} %h "q" \\b é'
    result = syncd(env, "service", "install", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        f'ExecStartPre=+/bin/mkdir -p -m 0700 "{tmp_path}/x $$HOME $${{HOME}} %%h \\"q\\" \\\\b é"'
        in lines
    )
    assert f'Environment="MEMENTO_HOME={tmp_path}/x $HOME ${{HOME}} %%h \\"q\\" \\\\b é"' in lines
    assert f'ReadWritePaths="{tmp_path}/x $HOME ${{HOME}} %%h \\"q\\" \\\\b é"' in lines


def test_uninstall_dry_run_lists_stop_removal_and_reload_and_keeps_the_file(
    env: dict[str, str],
) -> None:
    """With a unit installed, the dry run names the stop, the removal and the reload only."""
    unit = unit_path(env)
    unit.parent.mkdir(parents=True)
    unit.write_text("[Unit]\n")
    result = syncd(env, "service", "uninstall", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would run: systemctl --user disable --now {USER_UNIT}\n" in result.stdout
    assert f"would remove {unit}\n" in result.stdout
    assert "would run: systemctl --user daemon-reload\n" in result.stdout
    assert unit.read_text() == "[Unit]\n"


def test_uninstall_when_not_installed_says_so_and_succeeds(env: dict[str, str]) -> None:
    """Uninstalling twice is fine: the second time there is nothing to do, exit 0."""
    result = syncd(env, "service", "uninstall")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"not installed: {unit_path(env)} does not exist; nothing to do\n"


def test_status_dry_run_shows_the_file_state_and_the_questions(env: dict[str, str]) -> None:
    """The dry status says whether the unit file exists and what it would ask systemd."""
    result = syncd(env, "service", "status", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"service file: {unit_path(env)} (not installed)",
        "would check: systemctl --user show-environment",
        f"would run: systemctl --user is-enabled {USER_UNIT}",
        f"would run: systemctl --user is-active {USER_UNIT}",
    ]


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="systemctl is not installed")
def test_install_without_a_user_instance_fails_in_one_line_and_changes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    """systemctl exists but no user manager answers: one clear line, exit 1, nothing written."""
    result = syncd(env, "service", "install")
    line = one_error_line(result)
    assert "no systemd user instance" in line
    assert "systemctl --user show-environment" in line
    assert "memento-syncd run" in line
    assert "--dry-run" in line
    assert not (tmp_path / "config").exists()
    assert not (tmp_path / "memento home").exists()


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="systemctl is not installed")
def test_status_without_a_user_instance_reports_the_file_then_fails(env: dict[str, str]) -> None:
    """Status still says whether the file is there, then fails naming the missing manager."""
    result = syncd(env, "service", "status")
    assert result.stdout == f"service file: {unit_path(env)} (not installed)\n"
    assert "no systemd user instance" in one_error_line(result)


def test_install_without_systemctl_fails_naming_the_missing_program(
    env: dict[str, str], tmp_path: Path
) -> None:
    """With no systemctl on PATH the error names it and says how to run the daemon instead."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = syncd({**env, "PATH": str(empty)}, "service", "install")
    line = one_error_line(result)
    assert "systemctl not found" in line
    assert "memento-syncd run" in line
    assert not (tmp_path / "memento home").exists()


def test_service_help_lists_the_three_actions(env: dict[str, str]) -> None:
    """`memento-syncd service --help` names install, uninstall and status."""
    result = syncd(env, "service", "--help")
    assert result.returncode == 0
    for action in ("install", "uninstall", "status"):
        assert action in result.stdout


def python(code: str) -> Run:
    """A real command: this Python running ``code``."""
    return Run((sys.executable, "-c", code))


def test_carrying_out_a_plan_writes_files_with_their_modes_and_runs_commands(
    tmp_path: Path,
) -> None:
    """Directories get their mode, the file its content and mode, and commands run in order."""
    home, unit, log = tmp_path / "m" / "home", tmp_path / "u" / "x.service", tmp_path / "log"
    plan = Plan(
        "systemd",
        unit,
        python("pass"),
        (
            MakeDir(home, 0o700),
            MakeDir(unit.parent, 0o755),
            WriteFile(unit, b"[Unit]\n"),
            python(f"open({str(log)!r}, 'a').write('first ')"),
            Run((sys.executable, "-c", "raise SystemExit(3)"), may_fail=True),
            python(f"open({str(log)!r}, 'a').write('second')"),
        ),
    )
    apply_plan(plan, "install")
    assert home.stat().st_mode & 0o777 == 0o700
    assert unit.read_bytes() == b"[Unit]\n"
    assert unit.stat().st_mode & 0o777 == 0o644
    assert log.read_text() == "first second"
    assert sorted(p.name for p in unit.parent.iterdir()) == ["x.service"]  # no temp file left


def test_a_failing_command_stops_the_plan_and_says_what_was_already_done(
    tmp_path: Path,
) -> None:
    """The failing command, its message and the file already written are in the error;
    later steps do not run."""
    unit = tmp_path / "x.service"
    plan = Plan(
        "systemd",
        unit,
        python("pass"),
        (
            WriteFile(unit, b"[Unit]\n"),
            python("import sys; sys.exit('Unit x.service failed to start')"),
            RemoveFile(unit),
        ),
    )
    with pytest.raises(CommandError) as caught:
        apply_plan(plan, "install")
    message = str(caught.value)
    assert "failed: Unit x.service failed to start" in message
    assert f"(already wrote {unit})" in message
    assert "journalctl --user -u memento-syncd" in message
    assert unit.read_bytes() == b"[Unit]\n"


def test_a_file_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    """A unit directory that is really a file gives a CommandError naming the path."""
    blocker = tmp_path / "systemd"
    blocker.write_text("not a directory")
    plan = Plan(
        "systemd",
        blocker / "user" / USER_UNIT,
        python("pass"),
        (MakeDir(blocker / "user", 0o755),),
    )
    with pytest.raises(CommandError, match=r"cannot install the service: .*systemd"):
        apply_plan(plan, "install")
