"""The ``memento-syncd`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from memento_syncd import __version__
from memento_syncd.cli.common import OneLineParser, run


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``memento-syncd`` subcommand."""
    parser = OneLineParser(
        prog="memento-syncd", description="Sync daemon and cloud sync server for Memento."
    )
    parser.add_argument("--version", action="version", version=f"memento-syncd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    server = commands.add_parser("server", help="run and administer the cloud sync server")
    from memento_syncd.cli import server_cmds

    server_cmds.add_commands(server)
    from memento_syncd.cli import client_cmds

    client_cmds.add_commands(commands)
    from memento_syncd.cli import daemon_cmds

    daemon_cmds.add_commands(commands)
    from memento_syncd.cli import service_cmds

    service_cmds.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``memento-syncd``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run(args.handler, args, "memento-syncd")


if __name__ == "__main__":
    sys.exit(main())
