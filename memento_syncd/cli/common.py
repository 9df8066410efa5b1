"""What every command shares: one-line errors on stderr and exit codes."""

from __future__ import annotations

import argparse
import io
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

# A reader that went away (``... | head``) stops a command as SIGPIPE stops a Unix tool.
EXIT_BROKEN_PIPE = 128 + 13
# Set, a command's unexpected error shows its traceback (for a bug report).
TRACEBACK_ENV = "MEMENTO_SYNCD_TRACEBACK"


# What could drive a terminal or reorder a line: C0 and C1 controls and DEL, the line
# and paragraph separators, and the bidi embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal as one line: control characters (newlines and
    escape sequences included) and bidi overrides are shown escaped, as ``repr`` shows
    them; other text (CJK spaces, emoji sequences) is left as it is. Titles, project
    names and reasons come from other devices' data."""
    return _UNSAFE.sub(lambda m: repr(m[0])[1:-1], text)


_LEAF = "_memento_parser"  # where parse_known_args notes which parser parsed last


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]  # argparse's own hook
    """Subcommands whose ``--help`` starts with the one-line help the parent lists."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """``add_parser``, with ``help`` as the description when none is given."""
        said = kwargs.get("help")
        if isinstance(said, str) and said and kwargs.get("description") is None:
            kwargs["description"] = said[0].upper() + said[1:] + "."
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        return parser


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit 2), naming --help.

    argparse's own print a usage block first; every other error of the commands is
    one line, and scripts read the last line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` and exit 2.

        argparse reports a missing (sub)command before an option it does not know, as in
        ``memento --bogus``: the options this parser does not know are named too."""
        unknown = [arg for arg in getattr(self, "_given", ()) if self._unknown_option(arg)]
        if unknown and message.startswith("the following arguments are required"):
            message = f"{message}; unrecognized arguments: {' '.join(unknown)}"
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _unknown_option(self, arg: str) -> bool:
        """Whether argparse reads ``arg`` as an option this parser does not know (not a
        known one, an abbreviation of one, a negative number, or ``--``)."""
        if arg == "--" or not arg.startswith("-"):
            return False
        found: Any = self._parse_optional(arg)  # (action, ...) or, from Python 3.12, [(...)]
        if found is None:
            return False
        first = found[0] if isinstance(found, list) else found
        return first[0] is None

    def parse_known_args(  # type: ignore[override]  # (typeshed overloads on namespace)
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Refuse an argument holding bytes that are not UTF-8 (the shell passes them
        through; nothing could store or send them), then parse as argparse does."""
        for n, arg in enumerate(sys.argv[1:] if args is None else args, start=1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                shown = repr(arg.encode("utf-8", "surrogateescape"))[1:]
                self.error(f"argument {n} ({shown}) is not valid UTF-8 text; pass it as UTF-8")
        self._given = list(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(args, namespace)
        if not hasattr(parsed, _LEAF):  # the innermost (sub)command's parser returns first
            setattr(parsed, _LEAF, self)
        return parsed, extras

    def parse_args(  # type: ignore[override]  # (typeshed overloads on namespace)
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but arguments left over are named by the subcommand that was
        given them, so the error points at that subcommand's ``--help``."""
        parsed, extras = self.parse_known_args(args, namespace)
        leaf = vars(parsed).pop(_LEAF, self)
        if extras:
            leaf.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


class CommandError(Exception):
    """A failure to report as one line on stderr; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1, prog: str = "memento-syncd") -> int:
    """Print ``message`` as the one error line and return the exit status."""
    one_line = " ".join(line.strip() for line in message.splitlines())
    print(f"{prog}: error: {one_line}", file=sys.stderr)
    return code


def prog() -> str:
    """The name the user typed: ``memento`` or ``memento-syncd``."""
    name = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else ""
    return name if name in ("memento", "memento-syncd") else "memento-syncd"


def run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace, name: str) -> int:
    """Run a command's handler: its errors as one line, Ctrl-C as 130, a closed pipe quietly."""
    for stream in (sys.stdout, sys.stderr):  # text the application stored as non-UTF-8
        if isinstance(stream, io.TextIOWrapper):  # bytes prints escaped, not as a crash
            stream.reconfigure(errors="backslashreplace")
    try:
        result = handler(args)
        sys.stdout.flush()  # here, so that a closed pipe is met inside the try
    except CommandError as exc:
        return fail(str(exc), exc.code, prog=name)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (sqlite3.Error, OSError) as exc:  # the disk, the file, the system: not a bug
        if _traceback_wanted():
            raise
        kind = "database" if isinstance(exc, sqlite3.Error) else "system"
        return fail(f"{kind} error: {exc}", prog=name)
    except Exception as exc:  # a bug: still one line, never a traceback (unless asked for)
        if _traceback_wanted():
            raise
        return fail(
            f"unexpected {type(exc).__name__}: {exc}; this is a bug in memento-syncd, please"
            f" report it ({TRACEBACK_ENV}=1 shows where it happened)",
            prog=name,
        )
    return result


def _traceback_wanted() -> bool:
    return os.environ.get(TRACEBACK_ENV, "").lower() in ("1", "true", "yes")
