"""What every command shares: one-line errors on stderr and exit codes."""

from __future__ import annotations

import sys


class CommandError(Exception):
    """A failure to report as one line on stderr; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1, prog: str = "memento-syncd") -> int:
    """Print ``message`` as the one error line and return the exit status."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def prog() -> str:
    """The name the user typed: ``memento`` or ``memento-syncd``."""
    name = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else ""
    return name if name in ("memento", "memento-syncd") else "memento-syncd"
