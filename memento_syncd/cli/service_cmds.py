"""``memento-syncd service install|uninstall|status [--dry-run]``: the daemon as a service.

A systemd user unit on Linux, a launchd agent on macOS. ``service_plan`` decides what
to write and run; this module gathers the facts it needs (paths, uid), checks that the
service manager answers before changing anything, and carries the plan out or prints
it. Standard library only, imported when the command runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from memento_syncd.cli.common import CommandError, OneLineParser

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path, PurePath

    from memento_syncd.cli.service_plan import Plan, Run, Target

# Long enough for `systemctl restart` of a Type=notify unit, which waits for READY=1.
COMMAND_TIMEOUT = 150.0
SUPERVISOR_HINT = (
    "run 'memento-syncd run' under your own supervisor"
    " ('memento-syncd service install --dry-run' shows the service file)"
)


def add_commands(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    """Register ``service install|uninstall|status``."""
    service = commands.add_parser(
        "service", help="run the daemon as a systemd user service or launchd agent"
    )
    sub = service.add_subparsers(dest="service_command", metavar="SUBCOMMAND", required=True)
    for name, helptext in (
        ("install", "write the service file, enable it and (re)start the daemon"),
        ("uninstall", "stop and disable the daemon and remove the service file"),
        ("status", "whether the service is installed, enabled and running"),
    ):
        action = sub.add_parser(name, help=helptext, description=helptext)
        action.add_argument(
            "--dry-run", action="store_true", help="print the files and commands, change nothing"
        )
        action.set_defaults(handler=run_service, action=name)


def find_executable() -> Path:
    """The absolute path of the running ``memento-syncd`` command.

    Not resolved through symlinks on purpose: ``/opt/homebrew/bin/memento-syncd`` or
    ``~/.local/bin/memento-syncd`` (pipx) stay valid across upgrades; the version
    directory they point into does not.
    """
    import os
    import shutil
    import sys
    from pathlib import Path

    candidates = [sys.argv[0] if sys.argv else ""]
    candidates.append(str(Path(sys.executable).parent / "memento-syncd"))
    candidates.append(shutil.which("memento-syncd") or "")
    for candidate in candidates:
        path = Path(os.path.abspath(candidate)) if candidate else None
        if (
            path is not None
            and path.name == "memento-syncd"
            and path.is_file()
            and os.access(path, os.X_OK)
        ):
            return path
    raise CommandError(
        "cannot find the memento-syncd executable (not beside this Python, not on PATH);"
        " install the package with pipx or pip so the command exists"
    )


def current_target() -> Target:
    """The facts of this machine and user that the plan needs."""
    import os
    import sys
    from pathlib import Path

    from memento_syncd.cli.service_plan import Target, config_dir
    from memento_syncd.client.home import memento_home

    home = Path.home()
    return Target(
        platform=sys.platform,
        executable=find_executable(),
        memento_home=Path(os.path.normpath(memento_home())),
        home=home,
        config_dir=config_dir(home, os.environ),
        uid=os.getuid(),
    )


def run_service(args: argparse.Namespace) -> int:
    """Install, uninstall or report the service (or print what that would do)."""
    from memento_syncd.cli import service_plan

    target = current_target()
    try:
        plan = service_plan.plan(args.action, target)
    except service_plan.PlanError as exc:
        raise CommandError(str(exc)) from exc
    if args.action == "status":
        return _status(plan, args.dry_run)
    if args.action == "uninstall" and not _exists(plan.service_file):
        print(f"not installed: {plan.service_file} does not exist; nothing to do")
        return 0
    if args.dry_run:
        _print_plan(plan)
        return 0
    _probe(plan)
    apply_plan(plan, args.action)
    if args.action == "install":
        print(f"installed {plan.service_file}")
        if plan.manager == "systemd":
            print("memento-syncd runs now; see 'systemctl --user status memento-syncd'")
        else:
            logs = service_plan.log_dir(target.home) / "memento-syncd.log"
            print(f"memento-syncd runs now; it logs to {logs}")
    else:
        print(f"stopped the daemon and removed {plan.service_file}")
    return 0


def _exists(path: PurePath) -> bool:
    import os

    return os.path.lexists(path)


def _shown(argv: tuple[str, ...]) -> str:
    import shlex

    return shlex.join(argv)


def _print_plan(plan: Plan) -> None:
    from memento_syncd.cli.service_plan import MakeDir, RemoveFile, Run, WriteFile

    print("dry run: nothing is written and nothing is run")
    print(f"would check: {_shown(plan.probe.argv)}")
    for step in plan.steps:
        if isinstance(step, MakeDir):
            print(f"would create directory {step.path} (mode {step.mode:04o}) if missing")
        elif isinstance(step, WriteFile):
            print(f"would write {step.path} (mode {step.mode:04o}):")
            print(step.content.decode("utf-8"), end="")
            print(f"(end of {step.path})")
        elif isinstance(step, RemoveFile):
            print(f"would remove {step.path}")
        elif isinstance(step, Run):
            suffix = " (a failure is fine)" if step.may_fail else ""
            print(f"would run: {_shown(step.argv)}{suffix}")


def _call(argv: tuple[str, ...]) -> subprocess.CompletedProcess[str] | None:
    """Run ``argv``; None when its program does not exist."""
    import subprocess

    try:
        return subprocess.run(  # noqa: S603 - fixed argv from the plan, no shell
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired as exc:
        raise CommandError(
            f"'{_shown(argv)}' did not finish in {COMMAND_TIMEOUT:.0f} s; check the service"
            " manager, then run the command again"
        ) from exc
    except OSError as exc:
        raise CommandError(f"cannot run '{_shown(argv)}': {exc}") from exc


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    for text in (result.stderr, result.stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return f"exit status {result.returncode}"


def _probe(plan: Plan) -> None:
    """Fail with what is missing and what to do when the service manager does not answer."""
    probe = plan.probe
    result = _call(probe.argv)
    program = probe.argv[0]
    if result is None:
        what = "systemd" if plan.manager == "systemd" else "launchd"
        raise CommandError(
            f"{program} not found: this system does not run {what}; {SUPERVISOR_HINT}"
        )
    if result.returncode == 0:
        return
    if plan.manager == "systemd":
        raise CommandError(
            f"no systemd user instance to talk to ('{_shown(probe.argv)}' says:"
            f" {_last_line(result)}); log in to a session that has one (or enable lingering:"
            f" 'loginctl enable-linger'), or {SUPERVISOR_HINT}"
        )
    raise CommandError(
        f"launchd has no GUI session for this user ('{_shown(probe.argv)}' says:"
        f" {_last_line(result)}); log in at the Mac, or {SUPERVISOR_HINT}"
    )


def apply_plan(plan: Plan, action: str) -> None:
    """Carry out the steps in order; stop at the first failure and say what was done."""
    from pathlib import Path

    from memento_syncd.cli.service_plan import MakeDir, RemoveFile, WriteFile

    done: list[str] = []
    for step in plan.steps:
        try:
            if isinstance(step, MakeDir):
                Path(step.path).mkdir(mode=step.mode, parents=True, exist_ok=True)
            elif isinstance(step, WriteFile):
                _write(Path(step.path), step.content, step.mode)
                done.append(f"wrote {step.path}")
            elif isinstance(step, RemoveFile):
                Path(step.path).unlink(missing_ok=True)
                done.append(f"removed {step.path}")
            else:
                _run_step(plan, step, action, done)
        except OSError as exc:
            raise CommandError(
                f"cannot {action} the service: {exc.filename}: {exc.strerror};"
                " fix that and run the command again"
            ) from exc


def _run_step(plan: Plan, step: Run, action: str, done: list[str]) -> None:
    result = _call(step.argv)
    if result is None:
        raise CommandError(f"{step.argv[0]} not found; {SUPERVISOR_HINT}")
    if result.returncode == 0 or step.may_fail:
        return
    if plan.manager == "systemd":
        see = "see 'systemctl --user status memento-syncd' and 'journalctl --user -u memento-syncd'"
    else:
        see = f"see 'launchctl print {plan.probe.argv[2]}/io.memento.syncd' and the log"
    so_far = f" (already {', '.join(done)})" if done else ""
    raise CommandError(
        f"'{_shown(step.argv)}' failed: {_last_line(result)}{so_far}; {see}, then run"
        f" 'memento-syncd service {action}' again"
    )


def _write(path: Path, content: bytes, mode: int) -> None:
    """Replace ``path`` atomically: a reader sees the old file or the new one, never half."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _status(plan: Plan, dry_run: bool) -> int:
    """Print whether the file is there and what the service manager says about it."""
    from memento_syncd.cli.service_plan import Run, launchd_state

    installed = _exists(plan.service_file)
    print(f"service file: {plan.service_file} ({'installed' if installed else 'not installed'})")
    runs = [step for step in plan.steps if isinstance(step, Run)]
    if dry_run:
        print(f"would check: {_shown(plan.probe.argv)}")
        for step in runs:
            print(f"would run: {_shown(step.argv)}")
        return 0
    _probe(plan)
    for step in runs:
        result = _call(step.argv)
        if result is None:
            raise CommandError(f"{step.argv[0]} not found; {SUPERVISOR_HINT}")
        if plan.manager == "systemd":
            # `is-enabled` / `is-active` print one word: enabled, disabled, active, ...
            label = step.argv[2].removeprefix("is-")
            print(f"{label}: {result.stdout.strip() or _last_line(result)}")
        elif result.returncode == 0:
            print(f"loaded: yes, state {launchd_state(result.stdout) or 'unknown'}")
        else:
            print("loaded: no")
    return 0
