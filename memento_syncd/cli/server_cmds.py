"""``memento-syncd server ...``: the parser; the work is in ``server_admin``, imported late.

Other commands (``status`` above all) build this parser too, so it imports nothing heavy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_PORT = 8765


def add_commands(server: argparse.ArgumentParser) -> None:
    """Register the server subcommands."""
    sub = server.add_subparsers(dest="server_command", metavar="SUBCOMMAND", required=True)

    serve = sub.add_parser("serve", help="run the sync server in the foreground")
    serve.add_argument("--db", required=True, type=Path, help="SQLite database file")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", default=DEFAULT_PORT, type=int, help="port (0 = any free)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.set_defaults(handler=run_serve)

    create = sub.add_parser("create-token", help="create a bearer token for a team member")
    create.add_argument("--db", required=True, type=Path, help="SQLite database file")
    create.add_argument("--team", required=True, help="team name (created if new)")
    create.add_argument("--member", required=True, help="member name (created if new)")
    create.set_defaults(handler=run_create_token)

    revoke = sub.add_parser("revoke-token", help="revoke a token at once")
    revoke.add_argument("--db", required=True, type=Path, help="SQLite database file")
    revoke.add_argument("token", help="the token, or its id as shown by list-tokens")
    revoke.set_defaults(handler=run_revoke_token)

    listing = sub.add_parser("list-tokens", help="list tokens (ids only, never secrets)")
    listing.add_argument("--db", required=True, type=Path, help="SQLite database file")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list_tokens)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from memento_syncd.cli import server_admin

    return server_admin.run_serve(args)


def run_create_token(args: argparse.Namespace) -> int:
    """Print a new token as the last line of stdout."""
    from memento_syncd.cli import server_admin

    return server_admin.run_create_token(args)


def run_revoke_token(args: argparse.Namespace) -> int:
    """Revoke a token by plaintext or id."""
    from memento_syncd.cli import server_admin

    return server_admin.run_revoke_token(args)


def run_list_tokens(args: argparse.Namespace) -> int:
    """List tokens without their secrets."""
    from memento_syncd.cli import server_admin

    return server_admin.run_list_tokens(args)
